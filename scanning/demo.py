"""Demo data: each demo organization gets a few completed scans of generated packages.

Registered with `tenants.hooks.demo_data_step`; runs inside the tenant's schema and
a transaction (see `manage.py seed_demo`). The pipeline runs in-process, so no
worker is needed; the step is idempotent (it does nothing once the samples exist).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

DEMO_SAMPLES = [
    ("pypi-wheel", {"name": "acme-utils", "version": "1.4.0"}, False),
    ("pypi-sdist", {"name": "colourfull", "version": "0.0.3"}, True),
    ("npm", {"name": "left-padder", "version": "2.0.1"}, False),
    ("npm", {"name": "event-streamz", "version": "3.3.6"}, True),
    ("debian", {"name": "acme-agent", "version": "2.1-1"}, False),
    ("rpm", {"name": "acme-collector", "version": "1.0.2"}, False),
    ("alpine", {"name": "acme-cli", "version": "0.4.0-r0"}, True),
]


def seed_sample_scans(tenant: Any, password: str = "") -> list[str]:
    from audit.context import Actor
    from scanning import samples
    from scanning.models import Scan
    from scanning.pipeline import file_sha256, scan_run, tenant_root
    from scanning.services import scan_submit
    from scanning.uploads import StoredUpload

    if Scan.objects.filter(idempotency_key__startswith="demo:").exists():
        return []
    owner = _demo_user()
    actor = Actor.for_user(owner) if owner is not None and owner.has_perm("scanning.submit_scan") \
        else Actor.system("demo-data")
    created = []
    uploads = tenant_root(tenant.schema_name) / "uploads"
    uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key, identity, malicious in DEMO_SAMPLES:
        filename, data = samples.BUILDERS[key](malicious=malicious, **identity)
        handle = tempfile.NamedTemporaryFile(dir=uploads, delete=False)  # noqa: SIM115 - closed by StoredUpload
        handle.write(data)
        handle.flush()
        handle.seek(0)
        sha256, size = file_sha256(Path(handle.name))
        upload = StoredUpload(handle, filename, "application/octet-stream", size, sha256, handle.name)
        try:
            result = scan_submit(tenant=tenant, actor=actor, ecosystem=samples.ECOSYSTEM_OF[key], upload=upload,
                                 name=identity["name"], idempotency_key=f"demo:{key}:{identity['name']}",
                                 enqueue_task=False)
        finally:
            upload.close()
        scan_run(scan_id=str(result.scan.id))
        created.append(str(result.scan.id))
    return created


def _demo_user() -> Any:
    from django.contrib.auth import get_user_model

    User = get_user_model()  # noqa: N806
    return User.objects.filter(email__startswith="owner@").order_by("created_at").first() or \
        User.objects.filter(is_active=True).order_by("created_at").first()


def register() -> None:
    from tenants.hooks import demo_data_step

    demo_data_step("scanning.sample_scans", order=50)(seed_sample_scans)
