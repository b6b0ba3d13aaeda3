"""The default report template: seeded in the template schema, so every organization starts with it."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from scanning.reports.models import SECTION_ORDER, ReportTemplate
from scanning.reports.services import default_template_seed
from tenants.hooks import provisioning_steps

pytestmark = pytest.mark.django_db


def test_the_step_runs_in_the_template_schema():
    [step] = [s for s in provisioning_steps() if s.name == "reports_default"]
    assert step.in_template
    with schema_context(settings.TEMPLATE_SCHEMA_NAME):
        assert ReportTemplate.objects.filter(is_default=True, name="Default").exists()


def test_every_organization_starts_with_the_default_template(tenant_a: Any, tenant_b: Any):
    for tenant in (tenant_a, tenant_b):
        with schema_context(tenant.schema_name):
            [template] = ReportTemplate.objects.all()
            assert template.is_default and template.sections == SECTION_ORDER and template.accent_color == "#1d4ed8"


def test_seeding_again_changes_nothing(tenant_a: Any):
    with schema_context(tenant_a.schema_name):
        before = ReportTemplate.objects.get()
        assert default_template_seed().pk == before.pk
        ReportTemplate.objects.update(is_default=False)
        assert default_template_seed().pk == before.pk, "a 'Default' without the flag gets it back"
        assert ReportTemplate.objects.count() == 1 and ReportTemplate.objects.get().is_default


def test_demo_data_adds_a_schedule_and_a_report(tenant_a: Any):
    from accounts.tests.factories import make_member
    from scanning.reports.models import Report, ReportSchedule
    from scanning.reports.provisioning import demo_reports
    from scanning.reports.tests.factories import make_scan
    from tenants.hooks import demo_data_steps

    assert "reports.demo" in dict(demo_data_steps())
    owner = make_member(tenant_a, "owner", email="owner@acme.localhost")
    with schema_context(tenant_a.schema_name):
        scan = make_scan(name="demo-pkg", version="1.0.0", submitted_by=owner)
        demo_reports(tenant_a, "unused")
        demo_reports(tenant_a, "unused")  # idempotent
        [schedule] = ReportSchedule.objects.all()
        [report] = Report.objects.all()
    assert schedule.recipients == ["owner@acme.localhost"] and schedule.next_run_at is not None
    assert report.scan_id == scan.pk and report.status == "completed" and report.format == "pdf"
