"""API tokens: ``POST /api/v1/auth/token/`` (username and password in, an expiring token out),
``POST /api/v1/auth/logout/`` (revoke this token) and ``POST /api/v1/auth/logout-all/`` (revoke
every token of the user).

Tokens are django-rest-knox's: stored hashed, one per client (each login makes another),
valid for ``REST_KNOX["TOKEN_TTL"]`` (10 hours by default). Send ``Authorization: Token <token>``
(``Bearer <token>`` is taken too: ``accounts.authentication``).
A password change or a deactivated account revokes every token of the user (``accounts.signals``).
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_out
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from capital_allocation.api_schema import ApiAutoSchema
from capital_allocation.request_bodies import ReadsOnlyItsMediaTypes
from capital_allocation.throttles import LoginRateThrottle

from .authentication import TokenAuthentication
from .services import token_revoke, user_tokens_revoke


class TokenCreateApi(ReadsOnlyItsMediaTypes, APIView):
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


class LogoutApi(APIView):
    # A logout. Only a token names what to revoke; a browser session has none (and would need CSRF).
    # (No docstring: the schema would describe the views below by it.)
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    schema = ApiAutoSchema()

    @staticmethod
    def logged_out(request) -> Response:
        """Tell the user_logged_out receivers; answer 204."""
        user_logged_out.send(sender=type(request.user), request=request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenDeleteApi(LogoutApi):
    """Revoke the token this request carries (a logout): it answers 401 from now on."""

    @extend_schema(request=None, responses={204: None}, summary="Revoke this token")
    def post(self, request):
        token_revoke(token=request.auth)
        return self.logged_out(request)


class TokenDeleteAllApi(LogoutApi):
    """Revoke every token of the user this token belongs to (a logout everywhere), this one included."""

    @extend_schema(request=None, responses={204: None}, summary="Revoke every token of the user")
    def post(self, request):
        user_tokens_revoke(user=request.user)
        return self.logged_out(request)
