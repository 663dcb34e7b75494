"""Writes of the accounts app: roles (groups), per-portfolio grants and API token revocation."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from guardian.shortcuts import assign_perm
from knox.models import AuthToken

from . import roles


def roles_ensure() -> dict[str, Group]:
    """Create the role groups and their admin permissions; safe to run again."""
    groups = {}
    with transaction.atomic():
        for role in roles.ROLES:
            group, _ = Group.objects.get_or_create(name=role)
            wanted = roles.STAFF_MODEL_PERMISSIONS.get(role, ())
            perms = [
                Permission.objects.get(content_type__app_label=name.split(".")[0], codename=name.split(".")[1])
                for name in wanted
            ]
            group.permissions.add(*perms)
            groups[role] = group
    return groups


def user_ensure(*, username: str, role: str, password: str, email: str = ""):
    """The user with this name in this role; an existing user keeps its password."""
    if role not in roles.ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(roles.ROLES)}")
    User = get_user_model()
    with transaction.atomic():
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "email": email or f"{username}@example.com",
                "is_staff": role in roles.STAFF_MODEL_PERMISSIONS,
                "is_superuser": role == roles.ADMINISTRATOR,
            },
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(roles_ensure()[role])
    return user, created


def portfolio_grant(*, user, portfolio, role: str) -> None:
    """Give ``user`` the permissions of ``role`` on one portfolio (guardian object permissions)."""
    for codename in roles.PORTFOLIO_PERMISSIONS[role]:
        assign_perm(f"allocations.{codename}", user, portfolio)


def token_revoke(*, token: AuthToken) -> None:
    """Revoke one API token (a logout): requests carrying it answer 401 from now on."""
    with transaction.atomic():
        token.delete()


def user_tokens_revoke(*, user) -> int:
    """Revoke every API token of ``user``; the number revoked.

    Called on a logout of all sessions, and (``accounts.signals``) when the user's password changes
    or the user is deactivated.
    """
    with transaction.atomic():
        deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
