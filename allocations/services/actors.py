"""Who did something: a user, a token's owner, a scheduled task or a command."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser


@dataclass(frozen=True)
class Actor:
    user: AbstractBaseUser | None
    label: str

    @classmethod
    def of_user(cls, user: AbstractBaseUser, *, via: str = "") -> Actor:
        label = f"user:{user.get_username()}"
        return cls(user=user, label=f"{label} via {via}" if via else label)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(user=None, label=f"system:{name}")

    @classmethod
    def command(cls, name: str) -> Actor:
        return cls(user=None, label=f"command:{name}")

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None
