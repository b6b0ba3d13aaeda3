"""Staff admin: browse and search the shared advisory database (read-only; imports change it)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from scanning.advisories.models import Advisory, AffectedPackage
from scanning.advisories.selectors import advisory_search


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AffectedPackageInline(ReadOnlyMixin, admin.TabularInline):
    model = AffectedPackage
    extra = 0
    fields = ("osv_ecosystem", "name", "affected_range", "fixed", "versions_count", "purl")
    readonly_fields = fields

    @admin.display(description="affected")
    def affected_range(self, obj: AffectedPackage) -> str:
        from scanning.analyzers.versions import describe_ranges

        return describe_ranges(obj.ranges, obj.versions[:5])

    @admin.display(description="listed versions")
    def versions_count(self, obj: AffectedPackage) -> int:
        return len(obj.versions)


class EcosystemFilter(admin.SimpleListFilter):
    title = "ecosystem"
    parameter_name = "ecosystem"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pypi", "PyPI"), ("npm", "npm"), ("debian", "Debian"), ("rpm", "RPM"), ("alpine", "Alpine")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Advisory]) -> QuerySet[Advisory]:
        if self.value():
            return queryset.filter(affected__ecosystem=self.value()).distinct()
        return queryset


@admin.register(Advisory)
class AdvisoryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("osv_id", "severity", "cvss_score", "short_summary", "packages", "published", "modified")
    list_filter = ("severity", EcosystemFilter, "severity_source", ("withdrawn", admin.EmptyFieldListFilter))
    search_fields = ("osv_id",)
    search_help_text = "An id or alias (GHSA-..., CVE-...), a package name, or words of the summary."
    date_hierarchy = "modified"
    list_per_page = 50
    show_full_result_count = False
    inlines = [AffectedPackageInline]
    fieldsets = (
        (None, {"fields": ("osv_id", "aliases", "summary", "details")}),
        ("Severity", {"fields": ("severity", "severity_source", "cvss_vector", "cvss_score")}),
        ("Dates", {"fields": ("published", "modified", "withdrawn", "imported_at", "updated_at")}),
        ("Provenance", {"fields": ("references", "source", "schema_version")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Advisory]:
        return super().get_queryset(request).prefetch_related("affected")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Advisory], search_term: str
                           ) -> tuple[QuerySet[Advisory], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        by_text = advisory_search(query=term)
        by_package = Advisory.objects.filter(affected__normalized_name__in={term.lower(), term.lower().replace("_", "-")})
        ids = by_text.values("pk").union(by_package.values("pk"))
        return queryset.filter(pk__in=ids), False

    @admin.display(description="summary")
    def short_summary(self, obj: Advisory) -> str:
        return obj.summary[:100]

    @admin.display(description="packages")
    def packages(self, obj: Advisory) -> str:
        names = sorted({f"{a.osv_ecosystem}/{a.name}" for a in obj.affected.all()})
        return ", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")
