"""Staff admin (public host): platform staff users and their API keys for the tenant API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.http import HttpRequest

from accounts import services
from accounts.models import ApiKey, User
from accounts.scopes import scope_choices
from audit.context import Actor


class StaffCreationForm(forms.ModelForm):
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ("email", "full_name", "is_staff", "is_superuser")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return cleaned

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password1"])
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_superuser", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_login", "created_at", "updated_at", "password_changed_at")
    filter_horizontal = ("groups", "user_permissions")
    add_form = StaffCreationForm
    change_password_form = AdminPasswordChangeForm
    fieldsets = (
        (None, {"fields": ("email", "full_name", "password")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "password_changed_at", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "full_name", "password1", "password2", "is_staff",
                                        "is_superuser")}),)


class ApiKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=scope_choices(platform=True), widget=forms.CheckboxSelectMultiple)
    expires_at = forms.DateTimeField(required=False, help_text="Leave empty for a key that does not expire.")

    class Meta:
        model = ApiKey
        fields = ("name",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_by", "scopes", "status", "expires_at", "last_used_at")
    readonly_fields = ("name", "prefix", "scopes", "created_by", "created_at", "expires_at", "last_used_at",
                       "last_used_ip", "revoked_at", "revoked_by")
    exclude = ("secret_hash",)
    actions = ["revoke_keys"]

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return ("name", "scopes", "expires_at") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False if obj is not None and request.method == "POST" else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        key, secret = services.api_key_create(
            actor=Actor.from_request(request), name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data.get("expires_at"), platform=True,
        )
        obj.pk = key.pk
        obj.refresh_from_db()
        obj._state.adding = False
        messages.warning(request, f"Copy the key now; it is not shown again: {secret}")

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset: Any) -> None:
        for key in queryset:
            services.api_key_revoke(actor=Actor.from_request(request), key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
