"""License normalisation to SPDX and the missing / unknown license findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanning.analyzers.base import PackageMetadata, Severity, Status
from scanning.analyzers.licenses import LicenseAnalyzer, normalize_license
from scanning.tests.analyzers.helpers import make_context

ANALYZER = LicenseAnalyzer()
MIT_TEXT = ("MIT License\n\nCopyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge, to any person "
            "obtaining a copy of this software...\n")


@pytest.mark.parametrize(("declared", "spdx"), [
    ("MIT", "MIT"), ("mit", "MIT"), ("MIT License", "MIT"), ("Apache 2.0", "Apache-2.0"),
    ("Apache License, Version 2.0", "Apache-2.0"), ("ASL 2.0", "Apache-2.0"), ("GPLv3+", "GPL-3.0-or-later"),
    ("GPL-2.0+", "GPL-2.0-or-later"), ("LGPLv2+", "LGPL-2.0-or-later"), ("BSD 3-Clause", "BSD-3-Clause"),
    ("Expat", "MIT"), ("MIT OR Apache-2.0", "MIT OR Apache-2.0"), ("MIT/Apache-2.0", "MIT OR Apache-2.0"),
    ("(MIT AND BSD-2-Clause)", "MIT AND BSD-2-Clause"), ("GPLv2+ or Artistic", None), ("PSF", "PSF-2.0"),
    ("Public Domain", "LicenseRef-Public-Domain"), ("Proprietary", "LicenseRef-Proprietary"),
    (MIT_TEXT, "MIT"), ("BSD", None), ("Custom", None), ("UNKNOWN", None), ("see LICENSE file", None),
])
def test_normalize_license(declared: str, spdx: str | None) -> None:
    assert normalize_license(declared) == spdx


def _ctx(tmp_path: Path, *, license: str = "", raw: dict | None = None, files: dict | None = None):  # noqa: ANN202
    metadata = PackageMetadata(ecosystem="pypi", name="sample", version="1.0", license=license, raw=raw or {})
    return make_context(tmp_path, files or {"sample/__init__.py": "x = 1\n"}, metadata=metadata)


def test_declared_license_is_reported_as_passed_with_spdx(tmp_path: Path) -> None:
    (finding,) = ANALYZER.analyze(_ctx(tmp_path, license="Apache License 2.0"))
    assert finding.check_id == "LIC-DECLARED-001" and finding.status == Status.PASSED
    assert finding.evidence["spdx"] == "Apache-2.0"


def test_license_expression_field_wins(tmp_path: Path) -> None:
    (finding,) = ANALYZER.analyze(_ctx(tmp_path, license="MIT", raw={"License-Expression": "MIT OR Apache-2.0"}))
    assert finding.evidence["spdx"] == "MIT OR Apache-2.0"


def test_classifiers_are_used_when_the_field_is_empty(tmp_path: Path) -> None:
    raw = {"Classifier": ["License :: OSI Approved :: MIT License", "Programming Language :: Python"]}
    (finding,) = ANALYZER.analyze(_ctx(tmp_path, raw=raw))
    assert finding.evidence["spdx"] == "MIT" and finding.evidence["source"] == "classifiers"


def test_bsd_classifier_resolved_by_the_license_file(tmp_path: Path) -> None:
    bsd3 = ("Redistribution and use in source and binary forms, with or without modification... Neither the name "
            "of the copyright holder nor the names of its contributors may be used...")
    raw = {"Classifier": "License :: OSI Approved :: BSD License"}
    findings = ANALYZER.analyze(_ctx(tmp_path, raw=raw, files={"sample/LICENSE.txt": bsd3}))
    assert [f.evidence["spdx"] for f in findings] == ["BSD-3-Clause"]
    ambiguous = ANALYZER.analyze(_ctx(tmp_path / "b", raw=raw))
    assert {f.check_id for f in ambiguous} == {"LIC-DECLARED-001", "LIC-UNKNOWN-001"}


def test_missing_license_is_a_finding(tmp_path: Path) -> None:
    (finding,) = ANALYZER.analyze(_ctx(tmp_path))
    assert finding.check_id == "LIC-MISSING-001" and finding.severity is None  # the check's own: medium


def test_missing_license_with_a_license_file_names_it(tmp_path: Path) -> None:
    (finding,) = ANALYZER.analyze(_ctx(tmp_path, files={"sample/LICENSE": MIT_TEXT}))
    assert finding.check_id == "LIC-MISSING-001" and finding.severity == Severity.LOW
    assert finding.evidence["inferred_spdx"] == "MIT"


def test_unknown_license_is_a_finding(tmp_path: Path) -> None:
    (finding,) = ANALYZER.analyze(_ctx(tmp_path, license="Company internal license v2"))
    assert finding.check_id == "LIC-UNKNOWN-001"
    assert finding.evidence["declared"] == "Company internal license v2"


def test_npm_and_debian_styles(tmp_path: Path) -> None:
    npm = PackageMetadata(ecosystem="npm", name="x", version="1.0.0", license="(MIT OR CC0-1.0)")
    (finding,) = ANALYZER.analyze(make_context(tmp_path, {"package/index.js": "1\n"}, ecosystem="npm", metadata=npm))
    assert finding.evidence["spdx"] == "MIT OR CC0-1.0"
    deb = PackageMetadata(ecosystem="debian", name="x", version="1.0-1", license="GPL-2+")
    (finding,) = ANALYZER.analyze(make_context(tmp_path / "d", {"usr/bin/x": "1\n"}, ecosystem="debian", metadata=deb))
    assert finding.evidence["spdx"] == "GPL-2.0-or-later"
