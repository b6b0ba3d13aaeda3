"""Dashboard forms: they parse and validate input; the views hand it to the services."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.roles import PERMISSIONS
from accounts.scopes import scope_choices


class LoginForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "username",
                                                                          "autofocus": True}))
    password = forms.CharField(max_length=4096, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class OtpForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class EmailForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(label="New password", max_length=4096, strip=False,
                                   widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                   help_text="At least 12 characters, with 3 of: lowercase, uppercase, digits, symbols.")
    new_password_again = forms.CharField(label="New password again", max_length=4096, strip=False,
                                         widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("new_password") and cleaned.get("new_password") != cleaned.get("new_password_again"):
            self.add_error("new_password_again", "The two passwords differ.")
        return cleaned


class AcceptInvitationForm(NewPasswordForm):
    full_name = forms.CharField(label="Your name", max_length=150, required=False)
    field_order = ["full_name", "new_password", "new_password_again"]


class PasswordChangeForm(NewPasswordForm):
    current_password = forms.CharField(label="Current password", max_length=4096, strip=False,
                                       widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    field_order = ["current_password", "new_password", "new_password_again"]


class ProfileForm(forms.Form):
    full_name = forms.CharField(label="Name", max_length=150, required=False)


class MfaDisableForm(forms.Form):
    password = forms.CharField(max_length=4096, strip=False, widget=forms.PasswordInput)
    code = forms.CharField(label="Current code", max_length=32, help_text="From your app, or a recovery code.")


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    full_name = forms.CharField(label="Name (optional)", max_length=150, required=False)
    role = forms.ChoiceField()

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r, r) for r in roles]


class RoleChangeForm(forms.Form):
    role = forms.ChoiceField()

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r, r) for r in roles]


class RoleForm(forms.Form):
    name = forms.CharField(max_length=40, help_text="Lowercase letters, digits and underscores, e.g. auditor.")
    description = forms.CharField(max_length=255, required=False)
    permissions = forms.MultipleChoiceField(choices=sorted((p, f"{p} — {label}") for p, label in PERMISSIONS.items()),
                                            widget=forms.CheckboxSelectMultiple, required=False)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. “GitLab CI”.")
    scopes = forms.MultipleChoiceField(choices=scope_choices(), widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.IntegerField(label="Expires in (days)", min_value=1, max_value=730, required=False,
                                         initial=90, help_text="Leave empty for a key that does not expire.")


class TenantSettingsForm(forms.Form):
    name = forms.CharField(max_length=120)
    require_mfa = forms.BooleanField(label="Require two-factor authentication for every member", required=False)
    cors_allowed_origins = forms.CharField(
        label="Allowed CORS origins", required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One origin per line, e.g. https://ci.example.com.")
    audit_retention_days = forms.IntegerField(min_value=30, max_value=3650)
    scan_retention_days = forms.IntegerField(min_value=7, max_value=3650)
    waiver_max_days = forms.IntegerField(min_value=1, max_value=365)

    def settings_changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "require_mfa": data["require_mfa"],
            "cors_allowed_origins": [line.strip() for line in data["cors_allowed_origins"].splitlines() if line.strip()],
            "audit_retention_days": data["audit_retention_days"],
            "scan_retention_days": data["scan_retention_days"],
            "waiver_max_days": data["waiver_max_days"],
        }


def apply_service_errors(form: forms.Form, details: Any, *, field_map: dict[str, str] | None = None) -> None:
    """Put a service's ValidationFailed details next to the form's fields."""
    field_map = field_map or {}
    if not isinstance(details, dict):
        form.add_error(None, str(details))
        return
    for field, messages in details.items():
        target = field_map.get(field, field)
        if target not in form.fields:
            target = None
        if isinstance(messages, dict):
            for sub, sub_messages in messages.items():
                for message in (sub_messages if isinstance(sub_messages, list) else [sub_messages]):
                    form.add_error(field_map.get(sub, sub) if field_map.get(sub, sub) in form.fields else target,
                                   str(message))
            continue
        for message in (messages if isinstance(messages, list) else [messages]):
            form.add_error(target, str(message))
