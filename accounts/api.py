"""``POST /api/v1/auth/token/``: username and password in, an expiring token out.

Tokens are django-rest-knox's: stored hashed, one per client (each login makes another),
valid for ``REST_KNOX["TOKEN_TTL"]`` (10 hours by default). Send ``Authorization: Token <token>``.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from capital_allocation.api_schema import ApiAutoSchema
from capital_allocation.throttles import LoginRateThrottle


class TokenCreateApi(APIView):
    authentication_classes: list = []  # no session, so no CSRF: the credentials are the proof
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]
    schema = ApiAutoSchema()

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=1000, style={"input_type": "password"}, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expiry = serializers.DateTimeField(allow_null=True)
        username = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, auth=[], summary="Get a token")
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request._request, **serializer.validated_data)
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                {
                    "non_field_errors": ["unable to log in with this username and password"],
                    "password": ["wrong username or password"],
                }
            )
        instance, token = AuthToken.objects.create(user)
        return Response(
            self.OutputSerializer({"token": token, "expiry": instance.expiry, "username": user.get_username()}).data
        )
