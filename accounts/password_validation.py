"""Password rules beyond Django's: character classes, and no reuse of the last passwords."""

from __future__ import annotations

import string
from typing import Any

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError


class ComplexityValidator:
    """At least `min_classes` of: lowercase, uppercase, digits, symbols."""

    def __init__(self, min_classes: int = 3) -> None:
        self.min_classes = min_classes

    def validate(self, password: str, user: Any = None) -> None:
        classes = [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(c in string.punctuation or c.isspace() for c in password),
        ]
        if sum(classes) < self.min_classes:
            raise ValidationError(self.get_help_text(), code="password_too_simple")

    def get_help_text(self) -> str:
        return (f"Use at least {self.min_classes} of these: lowercase letters, uppercase letters, "
                "digits, symbols.")


class HistoryValidator:
    """The new password may not be any of the user's last `history` passwords (the current one included)."""

    def __init__(self, history: int = 5) -> None:
        self.history = history

    def validate(self, password: str, user: Any = None) -> None:
        if user is None or getattr(user, "pk", None) is None or user._state.adding:
            return
        from accounts.models import PasswordHistory

        recent = list(PasswordHistory.objects.filter(user=user).values_list("password", flat=True)[: self.history])
        if user.has_usable_password() and user.password not in recent:
            recent.insert(0, user.password)
        if any(check_password(password, encoded) for encoded in recent[: self.history]):
            raise ValidationError(
                f"You used this password recently; choose one different from your last {self.history}.",
                code="password_reused",
            )

    def get_help_text(self) -> str:
        return f"It must differ from your last {self.history} passwords."
