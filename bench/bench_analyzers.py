"""Analyzers: pipeline time of every analyzer on ≈1 MB and ≈10 MB artifacts; advisory import and matching
time with 100,000 synthetic advisories loaded.

BENCH_ADVISORIES (default 100000) advisories are generated in the OSV format (PyPI, npm, Debian,
RPM and Alpine packages, one to three ranges each, CVSS vectors, aliases), written to a zip and
imported with `advisories_import`; then matching (enricher query + vulnerability analyzer) is
timed for a package with 200 pinned dependencies.
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from bench.common import figure, report, section

ECOSYSTEMS = [("PyPI", "pypi"), ("npm", "npm"), ("Debian:12", "debian"), ("Red Hat", "rpm"), ("Alpine:v3.19", "alpine")]
VECTORS = ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
           "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N"]


def _version(eco: str, rnd: random.Random) -> str:
    major, minor, patch = rnd.randint(0, 9), rnd.randint(0, 30), rnd.randint(0, 20)
    return {"pypi": f"{major}.{minor}.{patch}", "npm": f"{major}.{minor}.{patch}",
            "debian": f"{major}.{minor}.{patch}-{rnd.randint(1, 5)}+deb12u{rnd.randint(1, 9)}",
            "rpm": f"{major}.{minor}.{patch}-{rnd.randint(1, 40)}.el9", "alpine": f"{major}.{minor}.{patch}-r{rnd.randint(0, 9)}"}[eco]


def synthetic_advisories(count: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    docs = []
    for i in range(count):
        osv_eco, eco = ECOSYSTEMS[i % len(ECOSYSTEMS)]
        package = f"pkg{rnd.randint(0, 20000)}"
        ranges = []
        for _ in range(rnd.randint(1, 3)):
            low, high = sorted([_version(eco, rnd), _version(eco, rnd)])
            ranges.append({"type": "ECOSYSTEM", "events": [{"introduced": rnd.choice(["0", low])}, {"fixed": high}]})
        docs.append({
            "schema_version": "1.6.0", "id": f"BENCH-{i:06d}", "modified": "2024-01-01T00:00:00Z",
            "published": "2023-01-01T00:00:00Z", "aliases": [f"CVE-2023-{i:06d}"],
            "summary": f"Synthetic flaw {i} in {package}", "details": "Generated for the benchmark. " * 5,
            "severity": [{"type": "CVSS_V3", "score": rnd.choice(VECTORS)}],
            "affected": [{"package": {"ecosystem": osv_eco, "name": package}, "ranges": ranges,
                          "versions": [_version(eco, rnd) for _ in range(rnd.randint(0, 5))]}],
            "references": [{"type": "WEB", "url": f"https://example.test/{i}"}],
        })
    return docs


def _npm_artifact(path: Path, target_bytes: int, seed: int) -> None:
    """An npm tarball of readable JavaScript modules (plus a lockfile) of about `target_bytes`."""
    rnd = random.Random(seed)
    module = ("'use strict';\nconst path = require('path');\n\nfunction handler{n}(input, options = {{}}) {{\n"
              "  const value = String(input).trim();\n  if (!value) {{\n    throw new Error('empty input');\n  }}\n"
              "  return path.join(options.base || '.', value.split('/').map(s => s.toLowerCase()).join('/'));\n}}\n\n"
              "module.exports = {{ handler{n} }};\n")
    lock = {"name": "bench", "lockfileVersion": 3, "packages": {
        f"node_modules/pkg{rnd.randint(0, 20000)}": {"version": f"{rnd.randint(0, 9)}.{rnd.randint(0, 30)}.{rnd.randint(0, 20)}"}
        for _ in range(200)}}
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("package.json", json.dumps({"name": "bench", "version": "1.0.0", "license": "MIT"}).encode())
        add("package-lock.json", json.dumps(lock).encode())
        total, n = 0, 0
        while total < target_bytes:
            data = "".join(module.format(n=n * 100 + k) for k in range(100)).encode()
            add(f"lib/module{n}.js", data)
            total += len(data)
            n += 1


def _wheel_artifact(path: Path, target_bytes: int) -> None:
    source = ("import os\nimport json\n\n\ndef load_{n}(path):\n    with open(os.path.join(path, 'config.json')) as f:\n"
              "        return json.load(f)\n\n\nclass Handler{n}:\n    def __init__(self, value):\n        self.value = value\n\n"
              "    def run(self):\n        return [x * 2 for x in range(self.value)]\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bench-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: bench\nVersion: 1.0\nLicense: MIT\n"
                    + "".join(f"Requires-Dist: pkg{i}==1.{i % 30}.0\n" for i in range(200)))
        zf.writestr("bench-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        total, n = 0, 0
        while total < target_bytes:
            data = "".join(source.format(n=n * 50 + k) for k in range(50))
            zf.writestr(f"bench/mod{n}.py", data)
            total += len(data)
            n += 1


def run() -> None:
    from django.db import connection

    from audit.context import Actor
    from scanning.advisories.enricher import enrich_with_advisories
    from scanning.advisories.models import Advisory
    from scanning.advisories.services import advisories_import
    from scanning.analyzers import registry
    from scanning.analyzers.vulnerabilities import VulnerabilityAnalyzer
    from scanning.pipeline import analysis_context_for

    connection.set_schema_to_public()
    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-analyzers-"))
    analyzers = registry.analyzers()

    with section("Every analyzer on one artifact (extraction excluded)"):
        for label, size in (("≈1 MB", 1024 * 1024), ("≈10 MB", 10 * 1024 * 1024)):
            for kind in ("wheel", "npm"):
                artifact = workdir / (f"bench-{size}.whl" if kind == "wheel" else f"bench-{size}.tgz")
                if kind == "wheel":
                    _wheel_artifact(artifact, size)
                else:
                    _npm_artifact(artifact, size, seed=size)
                ecosystem = "pypi" if kind == "wheel" else "npm"
                samples = []
                per_analyzer: dict[str, float] = {}
                for _ in range(3):
                    with analysis_context_for(artifact, ecosystem, workdir, name="bench", version="1.0.0") as ctx:
                        started = time.perf_counter()
                        for analyzer in analyzers:
                            t0 = time.perf_counter()
                            analyzer.analyze(ctx)
                            per_analyzer[analyzer.name] = per_analyzer.get(analyzer.name, 0) + time.perf_counter() - t0
                        samples.append(time.perf_counter() - started)
                report(f"all analyzers, {label} {kind} ({artifact.stat().st_size // 1024} KB packed)", samples)
                slowest = sorted(per_analyzer.items(), key=lambda kv: -kv[1])[:3]
                print("    slowest: " + ", ".join(f"{name} {secs / 3 * 1000:.0f}ms" for name, secs in slowest))

    count = int(os.environ.get("BENCH_ADVISORIES", "100000"))
    with section(f"Advisory import: {count} synthetic OSV advisories"):
        archive = workdir / "osv.zip"
        docs = synthetic_advisories(count)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for doc in docs:
                zf.writestr(f"{doc['id']}.json", json.dumps(doc))
        figure("zip size", archive.stat().st_size / 1024 / 1024, "MB")
        started = time.perf_counter()
        result = advisories_import(paths=[archive], actor=Actor.system("bench"))
        elapsed = time.perf_counter() - started
        figure(f"first import ({result.created} created, {result.skipped} skipped)", elapsed, "s")
        figure("advisories per second", result.created / elapsed, "adv/s")
        started = time.perf_counter()
        again = advisories_import(paths=[archive], actor=Actor.system("bench"))
        figure(f"re-import, nothing changed ({again.unchanged} unchanged)", time.perf_counter() - started, "s")
        figure("advisories in the database", Advisory.objects.count(), "rows")

    with section(f"Matching with {count} advisories loaded"):
        artifact = workdir / "bench-match.whl"
        _wheel_artifact(artifact, 100 * 1024)
        analyzer = VulnerabilityAnalyzer()
        enrich, match = [], []
        found = 0
        for _ in range(20):
            with analysis_context_for(artifact, "pypi", workdir, name="bench", version="1.0") as ctx:
                started = time.perf_counter()
                enrich_with_advisories(ctx)
                enrich.append(time.perf_counter() - started)
                started = time.perf_counter()
                found = len(analyzer.analyze(ctx))
                match.append(time.perf_counter() - started)
        report("enricher: candidates for a package + 200 pinned deps (1 query)", enrich)
        report(f"vulnerability analyzer on those candidates ({found} findings)", match)
