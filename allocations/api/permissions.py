"""Who may do what on a portfolio: the views ask here, the selectors answer.

``portfolio_for(request, slug, perm)`` (``allocations.access``, shared with the dashboard and the
admin) is the only way a view gets its portfolio: 404 when the user cannot view it (or it does not
exist), 403 when the user can view it but lacks ``perm``.
"""

from __future__ import annotations

import binascii
from hmac import compare_digest

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication

from accounts import roles
from accounts.authentication import TokenAuthentication
from allocations.access import actor_of, portfolio_for  # noqa: F401  (the views' one rule, imported here)
from allocations.selectors.current import PortfolioVersion, api_tokens_with_user, portfolio_version_for_user

VIEW = roles.VIEW
INGEST = roles.INGEST
REBALANCE = roles.REBALANCE
MANAGE_POLICY = roles.MANAGE_POLICY
APPROVE = roles.APPROVE


def portfolio_version_for(request, slug: str) -> PortfolioVersion:
    """The version of a portfolio the user may view (``selectors.current``), in one query; else ``Http404``
    as ``portfolio_for`` answers."""
    version = portfolio_version_for_user(user=request.user, slug=slug)
    if version is None:
        raise Http404(f"no portfolio {slug!r}")
    return version


class ReadTokenAuthentication(TokenAuthentication):
    """knox's token authentication (prefix ``Token`` or ``Bearer``) for a read on the hot path
    (``AllocationCurrentApi``); its OpenAPI scheme is ``accounts.authentication.TokenScheme``'s.

    The presented token gets knox's checks (digest, expiry: an expired token is deleted and refused,
    auto-refresh when configured, an active user), with two savings: knox's query is prepared once
    (``selectors.current.api_tokens_with_user``: building it cost more than running it), and knox's
    sweep of the user's *other* expired tokens on every request is left to the other endpoints: it
    loads every token of the user (one per login, so an integration that logs in from many clients
    holds many) to delete the expired ones, which never authenticate anyway.
    """

    def authenticate_credentials(self, token: bytes):
        message = _("Invalid token.")
        token = token.decode("utf-8")
        for auth_token in api_tokens_with_user(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(message) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(message)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


READ_AUTHENTICATION = [ReadTokenAuthentication, SessionAuthentication]
