"""What reports contribute to an organization's life: the default template, and demo data.

Registered in ReportsConfig.ready().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenants.hooks import ProvisioningOptions, demo_data_step, provisioning_step

if TYPE_CHECKING:
    from tenants.models import Tenant


@provisioning_step("reports_default", order=25, in_template=True)
def reports_default(tenant: Tenant, options: ProvisioningOptions) -> None:
    """Seed the default report template (idempotent; the template schema has it, so clones start with it)."""
    from scanning.reports.services import default_template_seed

    default_template_seed()


@demo_data_step("reports.demo", order=70)
def demo_reports(tenant: Tenant, password: str) -> None:
    """A weekly posture schedule for the owner, and a PDF report of the latest demo scan (generated inline)."""
    from django.contrib.auth import get_user_model

    from audit.context import Actor
    from scanning.models import Scan
    from scanning.reports.models import Report, ReportSchedule
    from scanning.reports.services import report_generate, report_request, schedule_create

    actor = Actor.system("demo")
    owner = get_user_model().objects.filter(email__startswith="owner@").order_by("created_at").first()
    if owner is not None and not ReportSchedule.objects.filter(name="Weekly posture").exists():
        schedule_create(actor=actor, data={"name": "Weekly posture", "frequency": "weekly", "weekday": 0, "hour": 7,
                                           "format": "pdf", "recipients": [owner.email]})
    if Report.objects.exists():
        return
    scan = Scan.objects.filter(status=Scan.StatusChoices.COMPLETED, verdict="block").order_by("-created_at").first() \
        or Scan.objects.filter(status=Scan.StatusChoices.COMPLETED).order_by("-created_at").first()
    if scan is None:
        return
    report = report_request(tenant=tenant, actor=Actor.for_user(owner) if owner is not None else actor,
                            scope=Report.Scope.SCAN, fmt="pdf", scan_id=scan.pk, enqueue_task=False)
    report_generate(report_id=str(report.pk))
