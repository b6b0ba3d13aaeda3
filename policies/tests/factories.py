"""Test data for the policies app: members, scans and findings made directly with the ORM.

Members get their role as the auth Group that provisioning seeded (accounts/roles.py);
dashboards and the API are reached with Django sessions. Scans and findings are rows,
not pipeline runs (one end-to-end test runs the real pipeline in a worker).
Call these inside the organization's schema (`with in_tenant(tenant): ...`).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from accounts.middleware import SESSION_MFA_OK, SESSION_TENANT
from scanning.models import Finding, Scan

_counter = itertools.count(1)


def make_user(tenant: Any, role: str | None, *, email: str | None = None) -> Any:
    """A member of `tenant` holding `role` (a seeded system role group), or no role at all."""
    with schema_context(tenant.schema_name):
        user = get_user_model().objects.create_user(
            email=email or f"{role or 'nobody'}{next(_counter)}@{tenant.schema_name}.example.test",
            password=None, full_name=f"Test {role or 'nobody'}")
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user


def login(tenant: Any, user: Any) -> Client:
    """A Django test client on the organization's host with a session for `user`."""
    client = Client(HTTP_HOST=tenant.primary_host)
    with schema_context(tenant.schema_name):
        client.force_login(user)
        session = client.session
        session[SESSION_TENANT] = str(tenant.pk)
        session[SESSION_MFA_OK] = True
        session.save()
    return client


class ScanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scan

    source = Scan.Source.REFERENCE
    ecosystem = "pypi"
    name = factory.Sequence(lambda n: f"package-{n}")
    version = "1.0.0"
    target = factory.LazyAttribute(lambda o: f"{o.ecosystem}:{o.name}=={o.version}")
    submitted_name = factory.SelfAttribute("name")
    submitted_version = factory.SelfAttribute("version")
    status = Scan.StatusChoices.COMPLETED
    stage = factory.LazyAttribute(lambda o: Scan.Stage.COMPLETE if o.status == "completed" else Scan.Stage.SUBMITTED)
    progress = factory.LazyAttribute(lambda o: 100 if o.status == "completed" else 0)
    score = 80
    grade = "B"
    sha256 = factory.LazyFunction(lambda: hashlib.sha256(uuid.uuid4().bytes).hexdigest())
    finished_at = factory.LazyAttribute(lambda o: timezone.now() if o.status == "completed" else None)
    package_metadata = factory.LazyFunction(lambda: {"found": True, "license": "MIT"})


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    scan = factory.SubFactory(ScanFactory)
    check_id = "VULN-PKG-001"
    title = factory.LazyAttribute(lambda o: f"{o.check_id} finding")
    category = "vulnerability"
    severity = "high"
    status = "failed"
    evidence = factory.LazyFunction(dict)
    fingerprint = factory.LazyFunction(lambda: hashlib.sha256(uuid.uuid4().bytes).hexdigest())
    weight = 10


def vuln(scan: Scan, advisory: str = "GHSA-aaaa-bbbb-cccc", *, severity: str = "critical",
         aliases: tuple[str, ...] = ("CVE-2024-0001",), cvss: float | None = 9.8, **kw: Any) -> Finding:
    return FindingFactory(scan=scan, check_id="VULN-PKG-001", category="vulnerability", severity=severity,
                          evidence={"advisory": advisory, "aliases": list(aliases), "cvss_score": cvss}, **kw)
