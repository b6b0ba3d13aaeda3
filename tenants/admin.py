"""Staff admin for organizations (public host only: the admin is not routed on tenant hosts)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.context import Actor
from tenants import services
from tenants.models import Domain, Tenant
from tenants.tenant_settings import TenantSettingsSerializer
from tenants.validators import validate_slug


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ("domain", "is_primary", "created_at")
    readonly_fields = ("created_at",)


class TenantAddForm(forms.ModelForm):
    schema_name = forms.CharField(label="Slug", max_length=48, validators=[validate_slug],
                                  help_text="Also the schema name and the host label; it can never change.")
    owner_email = forms.EmailField(required=False, help_text="Invite this person as the first owner.")

    class Meta:
        model = Tenant
        fields = ("name", "schema_name", "subscription_tier")

    def clean_schema_name(self) -> str:
        slug = self.cleaned_data["schema_name"]
        if Tenant.objects.filter(schema_name=slug).exists():
            raise ValidationError("An organization with this slug already exists.")
        return slug

    def _post_clean(self) -> None:
        # Model validation of the slug happens in the form; the row is created by the service.
        pass


class TenantChangeForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ("name", "subscription_tier", "settings")

    def clean_settings(self) -> dict[str, Any]:
        value = self.cleaned_data.get("settings") or {}
        serializer = TenantSettingsSerializer(data=value)
        if not serializer.is_valid():
            raise ValidationError([f"{field}: {'; '.join(map(str, errs))}" for field, errs in serializer.errors.items()])
        return value


class ActiveOrganizationFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("suspended", "Suspended"), ("provisioning", "Provisioning")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> QuerySet[Tenant]:
        value = self.value()
        if value == "active":
            return queryset.filter(is_active=True, provisioning_state=Tenant.ProvisioningState.READY)
        if value == "suspended":
            return queryset.filter(is_active=False)
        if value == "provisioning":
            return queryset.filter(provisioning_state=Tenant.ProvisioningState.PROVISIONING)
        return queryset


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "schema_name", "subscription_tier", "status", "primary_domain", "created_at")
    list_filter = (ActiveOrganizationFilter, "subscription_tier", "created_at")
    search_fields = ("name", "schema_name", "domains__domain")
    ordering = ("name",)
    inlines = [DomainInline]
    actions = ["suspend_tenants", "reactivate_tenants"]
    readonly_fields = ("schema_name", "is_active", "provisioning_state", "provisioned_at", "suspended_at",
                       "suspended_reason", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return super().get_queryset(request).organizations().prefetch_related("domains")

    def get_form(self, request: HttpRequest, obj: Tenant | None = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = TenantChangeForm if obj is not None else TenantAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Tenant | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": ("name", "schema_name", "subscription_tier", "owner_email")})]
        return [
            (None, {"fields": ("name", "schema_name", "subscription_tier", "settings")}),
            ("Status", {"fields": ("is_active", "provisioning_state", "provisioned_at", "suspended_at",
                                   "suspended_reason", "created_at", "updated_at")}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Tenant | None = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_inlines(self, request: HttpRequest, obj: Tenant | None) -> Any:
        return self.inlines if obj is not None else []

    @admin.display(description="Status")
    def status(self, obj: Tenant) -> str:
        if not obj.is_active:
            return "suspended"
        return "active" if obj.is_ready else "provisioning"

    @admin.display(description="Primary host")
    def primary_domain(self, obj: Tenant) -> str:
        primary = next((d.domain for d in obj.domains.all() if d.is_primary), "")
        return primary

    def save_model(self, request: HttpRequest, obj: Tenant, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.tenant_update(tenant=obj, name=obj.name, tier=obj.subscription_tier,
                                   settings_changes=form.cleaned_data.get("settings") or {},
                                   actor=Actor.from_request(request))
            return
        result = services.tenant_create(
            slug=form.cleaned_data["schema_name"], name=form.cleaned_data["name"],
            tier=form.cleaned_data["subscription_tier"], owner_email=form.cleaned_data.get("owner_email") or None,
            fail_if_exists=True, actor=Actor.from_request(request),
        )
        # The admin continues with `obj` (inlines, the success message): make it the created row.
        obj.pk = result.tenant.pk
        obj.refresh_from_db()
        obj._state.adding = False
        messages.success(request, f"Provisioned {obj.schema_name} in {result.seconds:.2f} s at {obj.primary_host}.")

    def has_delete_permission(self, request: HttpRequest, obj: Tenant | None = None) -> bool:
        # Dropping a schema needs the typed confirmation of `manage.py tenant_delete`.
        return False

    @admin.action(description="Suspend selected organizations")
    def suspend_tenants(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.tenant_suspend(tenant=tenant, reason=f"suspended by {request.user}",
                                    actor=Actor.from_request(request))
        self.message_user(request, f"Suspended {queryset.count()} organization(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected organizations")
    def reactivate_tenants(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.tenant_reactivate(tenant=tenant, actor=Actor.from_request(request))
        self.message_user(request, f"Reactivated {queryset.count()} organization(s).", messages.SUCCESS)
