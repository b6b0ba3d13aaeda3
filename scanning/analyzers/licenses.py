"""Declared license, normalised to an SPDX expression; missing or unrecognised licenses are findings.

Sources, in order: PEP 639 `License-Expression`, the metadata's license field
(METADATA `License`, package.json `license`, Debian copyright `License:`, RPM
`License`, APK `license`), then PyPI trove classifiers. Values are normalised with
`license-expression` (SPDX ids and expressions, `+` suffixes, case), after mapping
the common free-form spellings (`Apache 2.0`, `GPLv3+`, `BSD 3-Clause`, `Expat`,
`ASL 2.0`...) and recognising full license texts pasted into the field.

Policies decide what is allowed: this analyzer reports the normalised expression
(LIC-DECLARED-001, informational) for them, and flags what cannot be decided.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from license_expression import ExpressionError, Licensing, get_spdx_licensing

from scanning.analyzers.base import (
    AnalysisContext,
    Category,
    Check,
    FindingDraft,
    Severity,
    Status,
    register_analyzer,
)

LICENSE_DECLARED = Check(
    id="LIC-DECLARED-001", title="Declared license", category=Category.LICENSE, severity=Severity.INFO, weight=0,
    description="The license the package declares, normalised to an SPDX expression (recorded as passed, with the "
                "expression in the evidence, so that policies can allow or deny it).",
    fix="Nothing to do here; a policy decides whether this license is acceptable.",
)
LICENSE_MISSING = Check(
    id="LIC-MISSING-001", title="No license declared", category=Category.LICENSE, severity=Severity.MEDIUM, weight=4,
    description="The package's metadata declares no license (no License-Expression, License field, classifier or "
                "license entry). Without one, nobody is granted the right to use the code. When a LICENSE file is "
                "shipped, the license it appears to contain is given in the evidence.",
    fix="Ask the maintainers to declare the license in the package metadata, or get a written grant.",
)
LICENSE_UNKNOWN = Check(
    id="LIC-UNKNOWN-001", title="License not recognised", category=Category.LICENSE, severity=Severity.MEDIUM,
    weight=3,
    description="The declared license is neither an SPDX identifier or expression nor a known spelling of one, so "
                "policies cannot evaluate it (e.g. 'BSD' without a clause count, 'Custom', 'see LICENSE').",
    fix="Read the license text shipped with the package and record a decision (a waiver), or ask the maintainers "
        "to declare an SPDX identifier.",
)

# Free-form spellings -> SPDX (keys are compared lower-cased, with runs of spaces/underscores collapsed).
ALIASES = {
    "apache 2": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache-2": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0", "apache license version 2.0": "Apache-2.0", "asl 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache software license 2.0": "Apache-2.0", "apache2": "Apache-2.0",
    "apache v2": "Apache-2.0", "apache-2.0 license": "Apache-2.0", "apache license": "Apache-2.0",
    "mit license": "MIT", "the mit license": "MIT", "mit/x11": "MIT", "x11": "X11", "expat": "MIT", "mit-0": "MIT-0",
    "bsd 3-clause": "BSD-3-Clause", "bsd-3": "BSD-3-Clause", "3-clause bsd": "BSD-3-Clause", "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause", "modified bsd": "BSD-3-Clause", "bsd 3-clause license": "BSD-3-Clause",
    "revised bsd": "BSD-3-Clause", "bsd 2-clause": "BSD-2-Clause", "bsd-2": "BSD-2-Clause", "simplified bsd": "BSD-2-Clause",
    "2-clause bsd": "BSD-2-Clause", "freebsd": "BSD-2-Clause", "bsd 2-clause license": "BSD-2-Clause",
    "isc license": "ISC", "isc license (iscl)": "ISC", "iscl": "ISC",
    "gplv2": "GPL-2.0-only", "gpl v2": "GPL-2.0-only", "gpl-2": "GPL-2.0-only", "gpl2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later", "gpl-2+": "GPL-2.0-or-later", "gpl-2.0+": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only", "gpl v3": "GPL-3.0-only", "gpl-3": "GPL-3.0-only", "gpl3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later", "gpl-3+": "GPL-3.0-or-later", "gpl-3.0+": "GPL-3.0-or-later",
    "lgplv2": "LGPL-2.0-only", "lgpl-2": "LGPL-2.0-only", "lgplv2+": "LGPL-2.0-or-later", "lgpl-2+": "LGPL-2.0-or-later",
    "lgplv2.1": "LGPL-2.1-only", "lgpl-2.1": "LGPL-2.1-only", "lgplv2.1+": "LGPL-2.1-or-later",
    "lgpl-2.1+": "LGPL-2.1-or-later", "lgplv3": "LGPL-3.0-only", "lgpl-3": "LGPL-3.0-only",
    "lgplv3+": "LGPL-3.0-or-later", "lgpl-3+": "LGPL-3.0-or-later", "agplv3": "AGPL-3.0-only",
    "agpl-3": "AGPL-3.0-only", "agplv3+": "AGPL-3.0-or-later", "agpl-3+": "AGPL-3.0-or-later",
    "mpl 2.0": "MPL-2.0", "mpl-2": "MPL-2.0", "mplv2.0": "MPL-2.0", "mozilla public license 2.0": "MPL-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0", "epl-1": "EPL-1.0", "epl 2.0": "EPL-2.0",
    "psf": "PSF-2.0", "psfl": "PSF-2.0", "psf license": "PSF-2.0", "python software foundation license": "PSF-2.0",
    "python": "Python-2.0", "zlib/libpng": "Zlib", "zlib license": "Zlib", "boost": "BSL-1.0",
    "boost software license": "BSL-1.0", "unlicense": "Unlicense", "the unlicense": "Unlicense",
    "the unlicense (unlicense)": "Unlicense", "wtfpl": "WTFPL", "cc0": "CC0-1.0", "cc0 1.0": "CC0-1.0",
    "public domain": "LicenseRef-Public-Domain", "public-domain": "LicenseRef-Public-Domain",
    "artistic-1": "Artistic-1.0", "artistic-2": "Artistic-2.0", "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "ofl": "OFL-1.1", "openssl": "OpenSSL", "curl": "curl", "hpnd": "HPND",
    "proprietary": "LicenseRef-Proprietary", "commercial": "LicenseRef-Proprietary",
    "all rights reserved": "LicenseRef-Proprietary", "other/proprietary license": "LicenseRef-Proprietary",
}
# PyPI trove classifiers (the part after "License :: ").
CLASSIFIERS = {
    "OSI Approved :: MIT License": "MIT", "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "OSI Approved :: Apache Software License": "Apache-2.0", "OSI Approved :: BSD License": "LicenseRef-BSD",
    "OSI Approved :: ISC License (ISCL)": "ISC", "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "OSI Approved :: GNU Library or Lesser General Public License (LGPL)": "LGPL-2.0-or-later",
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "OSI Approved :: Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0", "OSI Approved :: zlib/libpng License": "Zlib",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense", "OSI Approved :: Artistic License": "Artistic-2.0",
    "OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",
    "OSI Approved :: Academic Free License (AFL)": "AFL-3.0", "OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0", "Public Domain": "LicenseRef-Public-Domain",
    "Other/Proprietary License": "LicenseRef-Proprietary", "Freeware": "LicenseRef-Freeware",
    "OSI Approved :: GNU General Public License (GPL)": "GPL-2.0-or-later",
}
# Recognising a full license text pasted into the license field (or a LICENSE file).
TEXT_FINGERPRINTS = (
    (re.compile(r"Apache License,?\s+Version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"Permission is hereby granted, free of charge, to any person", re.I), "MIT"),
    (re.compile(r"GNU AFFERO GENERAL PUBLIC LICENSE\s+Version 3", re.I), "AGPL-3.0-only"),
    (re.compile(r"GNU LESSER GENERAL PUBLIC LICENSE\s+Version 3", re.I), "LGPL-3.0-only"),
    (re.compile(r"GNU LESSER GENERAL PUBLIC LICENSE\s+Version 2\.1", re.I), "LGPL-2.1-only"),
    (re.compile(r"GNU GENERAL PUBLIC LICENSE\s+Version 3", re.I), "GPL-3.0-only"),
    (re.compile(r"GNU GENERAL PUBLIC LICENSE\s+Version 2", re.I), "GPL-2.0-only"),
    (re.compile(r"Mozilla Public License,?\s+(?:Version|v\.?)\s*2\.0", re.I), "MPL-2.0"),
    (re.compile(r"Permission to use, copy, modify, and(?:/or)? distribute this software for any", re.I), "ISC"),
    (re.compile(r"This is free and unencumbered software released into the public domain", re.I), "Unlicense"),
    (re.compile(r"PYTHON SOFTWARE FOUNDATION LICENSE", re.I), "PSF-2.0"),
)
_BSD_TEXT = re.compile(r"Redistribution and use in source and binary forms", re.I)
_BSD_THIRD = re.compile(r"Neither the name|name of the copyright holder", re.I)
LICENSE_FILE = re.compile(r"(?:^|/)(?:LICEN[CS]E|COPYING|COPYRIGHT)(?:[.-][\w.-]*)?$", re.I)


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    return get_spdx_licensing()


def _clean(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip()).strip(" .;,").lower()


def license_from_text(text: str) -> str | None:
    """The SPDX id of a full license text, when it is one of the common ones."""
    for pattern, spdx in TEXT_FINGERPRINTS:
        if pattern.search(text):
            return spdx
    if _BSD_TEXT.search(text):
        return "BSD-3-Clause" if _BSD_THIRD.search(text) else "BSD-2-Clause"
    return None


def _validate(expression: str) -> str | None:
    try:
        info = _licensing().validate(expression)
    except (ExpressionError, AttributeError, TypeError, ValueError):
        return None
    if info.errors or not info.normalized_expression:
        return None
    return str(info.normalized_expression)


def normalize_license(value: str) -> str | None:
    """An SPDX expression for a declared license, or None when it cannot be recognised."""
    text = value.strip().strip("\"'")
    if not text or text.upper() in ("UNKNOWN", "NONE", "N/A", "NOASSERTION", "UNLICENSED"):
        return None
    if "\n" in text.strip() or len(text) > 200:
        return license_from_text(text)
    if text.lower().startswith("see license"):
        return None
    alias = ALIASES.get(_clean(text))
    if alias:
        return alias if alias.startswith("LicenseRef-") else (_validate(alias) or alias)
    direct = _validate(text)
    if direct:
        return direct
    # Expressions written with other separators: "MIT/Apache-2.0", "GPLv2+ or BSD", "MIT, Apache 2.0".
    parts = re.split(r"\s+(?:or|OR)\s+|\s*/\s*|\s*\|\s*|\s*,\s*(?:or\s+)?", text)
    joiner = " OR "
    if len(parts) == 1:
        parts = re.split(r"\s+(?:and|AND)\s+|\s*&\s*", text)
        joiner = " AND "
    if len(parts) > 1:
        normalised = [normalize_license(p) for p in parts if p.strip()]
        if all(normalised):
            combined = joiner.join(f"({p})" if " " in p else p for p in normalised if p)
            return _validate(combined) or combined
    return None


def _classifier_licenses(raw: dict[str, Any]) -> list[str]:
    classifiers = raw.get("Classifier", [])
    if isinstance(classifiers, str):
        classifiers = [classifiers]
    return [c.split("::", 1)[1].strip() for c in classifiers if isinstance(c, str) and c.startswith("License ::")]


class LicenseAnalyzer:
    name = "licenses"
    checks = (LICENSE_DECLARED, LICENSE_MISSING, LICENSE_UNKNOWN)

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]:
        metadata = ctx.metadata
        raw = metadata.raw if metadata else {}
        candidates: list[tuple[str, str]] = []
        expression = raw.get("License-Expression") if isinstance(raw.get("License-Expression"), str) else ""
        if expression:
            candidates.append(("License-Expression", expression))
        if metadata and metadata.license and metadata.license != expression:
            candidates.append(("license field", metadata.license))
        classifiers = _classifier_licenses(raw)
        for source, value in candidates:
            spdx = normalize_license(value)
            if spdx:
                return [self._declared(spdx, value, source, classifiers)]
        if classifiers:
            mapped = [CLASSIFIERS.get(c) for c in classifiers]
            known = [m for m in mapped if m]
            if known:
                findings: list[FindingDraft] = []
                if "LicenseRef-BSD" in known:
                    # "BSD License" does not say which BSD; the shipped license text usually does.
                    inferred = self._file_license(ctx)
                    if inferred and inferred[0].startswith("BSD-"):
                        known = [inferred[0] if k == "LicenseRef-BSD" else k for k in known]
                    else:
                        findings.append(self._unknown("BSD License (classifier without a clause count)",
                                                      "classifiers", inferred))
                spdx = " OR ".join(dict.fromkeys(known))
                return [self._declared(spdx, "; ".join(classifiers), "classifiers", classifiers), *findings]
        if candidates:
            source, value = candidates[0]
            return [self._unknown(value, source, self._file_license(ctx))]
        inferred = self._file_license(ctx)
        detail = "The package declares no license."
        evidence: dict[str, Any] = {"declared": None}
        if inferred:
            detail += f" Its {inferred[1]} looks like {inferred[0]}."
            evidence.update({"inferred_spdx": inferred[0], "license_file": inferred[1]})
        return [FindingDraft(check_id=LICENSE_MISSING.id, severity=Severity.LOW if inferred else None, detail=detail,
                             evidence=evidence, key="missing")]

    def _file_license(self, ctx: AnalysisContext) -> tuple[str, str] | None:
        files = sorted((f for f in ctx.files if LICENSE_FILE.search(f.path) and f.size < 256 * 1024),
                       key=lambda f: (f.path.count("/"), f.path))
        for f in files[:5]:
            spdx = license_from_text(ctx.read_text(f))
            if spdx:
                return spdx, f.path
        return None

    def _declared(self, spdx: str, value: str, source: str, classifiers: list[str]) -> FindingDraft:
        return FindingDraft(
            check_id=LICENSE_DECLARED.id, status=Status.PASSED, severity=Severity.INFO,
            title=f"License: {spdx}", detail=f"Declared license ({source}): {value[:200]!r}, normalised to {spdx}.",
            evidence={"spdx": spdx, "declared": value[:500], "source": source, "classifiers": classifiers},
            key="declared",
        )

    def _unknown(self, value: str, source: str, inferred: tuple[str, str] | None) -> FindingDraft:
        evidence: dict[str, Any] = {"declared": value[:500], "source": source}
        detail = f"The declared license ({source}) {value[:200]!r} is not an SPDX identifier or a known spelling of one."
        if inferred:
            evidence.update({"inferred_spdx": inferred[0], "license_file": inferred[1]})
            detail += f" The shipped {inferred[1]} looks like {inferred[0]}."
        return FindingDraft(check_id=LICENSE_UNKNOWN.id, detail=detail, evidence=evidence, key="unknown")


register_analyzer(LicenseAnalyzer())
