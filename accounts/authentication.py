"""knox's token authentication that also takes the ``Bearer`` prefix.

knox reads ``Authorization: Token <token>`` only; clients send ``Bearer <token>`` by habit (it is
what OAuth libraries and most HTTP tools write) and got a 401 that named no reason. Both prefixes
carry the same knox token and get knox's checks; the challenge (``WWW-Authenticate``) still names
``Token``, the documented prefix.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.drainage import set_override
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import get_authorization_header

TOKEN_PREFIXES = (b"token", b"bearer")  # compared without case, as knox compares its own


class TokenAuthentication(KnoxTokenAuthentication):
    """``Authorization: Token <token>`` or ``Authorization: Bearer <token>``: a knox token either way."""

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in TOKEN_PREFIXES:
            return None  # no header, or one for another scheme (the session's request has none)
        if len(auth) == 1:
            raise exceptions.AuthenticationFailed(_("Invalid token header. No credentials provided."))
        if len(auth) > 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header. Token string should not contain spaces."))
        return self.authenticate_credentials(auth[1])


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of ``TokenAuthentication``: knox's (``knoxApiToken``), the same token."""

    target_class = "accounts.authentication.TokenAuthentication"
    match_subclasses = True  # ReadTokenAuthentication (the current allocation's fast read) is one too


# One scheme for knox's class and ours on purpose: no "identical names, different identities" warning.
set_override(TokenAuthentication, "suppress_collision_warning", True)
