"""A changed password or a deactivated account revokes every API token of the user.

A signal rather than a call from one service, because there is no single write path for these
two fields: the admin's user and password forms, ``manage.py changepassword`` and
``createsuperuser``, and any ``set_password(...); save()`` all write them, and none of them is
ours to change. The receiver is narrow: it acts on saves of the user model only, and only when
the password was set or the account is inactive; the revocation itself is ``user_tokens_revoke``.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .services import user_tokens_revoke


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts.revoke_tokens_on_credential_change")
def revoke_tokens_on_credential_change(sender, instance, created, update_fields, **kwargs):
    if created:
        return
    # ``set_password`` keeps the raw password in ``_password`` until the save completes; Django
    # clears it before saving a mere hash upgrade at login, which is not a password change.
    password_changed = getattr(instance, "_password", None) is not None
    deactivated = not instance.is_active and (update_fields is None or "is_active" in update_fields)
    if password_changed or deactivated:
        user_tokens_revoke(user=instance)
