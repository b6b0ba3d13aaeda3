"""CVSS base scores computed from the vector (v3.0, v3.1 and v2), and the severity they map to.

CVSS v4 vectors are recognised but not scored here (their score comes from a
look-up table of macro vectors); an advisory with only a v4 vector takes its
severity from the advisory's own rating instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache


class CvssError(ValueError):
    """A vector that is not a well-formed CVSS base vector."""


@dataclass(frozen=True)
class CvssScore:
    version: str  # "3.1", "3.0", "2.0"
    vector: str
    score: float
    severity: str  # critical/high/medium/low/info


_V3_WEIGHTS = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_V3_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}
_V3_REQUIRED = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")


def _roundup_31(value: float) -> float:
    integer = round(value * 100000)
    if integer % 10000 == 0:
        return integer / 100000.0
    return (math.floor(integer / 10000) + 1) / 10.0


def _roundup_30(value: float) -> float:
    return math.ceil(value * 10) / 10.0


def _metrics(parts: list[str], vector: str) -> dict[str, str]:
    metrics: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition(":")
        if not sep or not key or not value:
            raise CvssError(f"malformed CVSS metric {part!r} in {vector!r}")
        if key in metrics:
            raise CvssError(f"metric {key} given twice in {vector!r}")
        metrics[key] = value
    return metrics


def score_v3(vector: str) -> CvssScore:
    parts = vector.strip().split("/")
    head = parts[0]
    if head not in ("CVSS:3.0", "CVSS:3.1"):
        raise CvssError(f"not a CVSS v3 vector: {vector!r}")
    version = head.split(":")[1]
    metrics = _metrics(parts[1:], vector)
    missing = [m for m in _V3_REQUIRED if m not in metrics]
    if missing:
        raise CvssError(f"CVSS vector {vector!r} lacks {', '.join(missing)}")
    scope = metrics["S"]
    if scope not in ("U", "C"):
        raise CvssError(f"bad scope {scope!r} in {vector!r}")
    try:
        av = _V3_WEIGHTS["AV"][metrics["AV"]]
        ac = _V3_WEIGHTS["AC"][metrics["AC"]]
        ui = _V3_WEIGHTS["UI"][metrics["UI"]]
        c = _V3_WEIGHTS["C"][metrics["C"]]
        i = _V3_WEIGHTS["I"][metrics["I"]]
        a = _V3_WEIGHTS["A"][metrics["A"]]
        pr = _V3_PR[scope][metrics["PR"]]
    except KeyError as exc:
        raise CvssError(f"unknown metric value in {vector!r}") from exc
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    if scope == "U":
        impact = 6.42 * iss
    else:
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    exploitability = 8.22 * av * ac * pr * ui
    roundup = _roundup_31 if version == "3.1" else _roundup_30
    if impact <= 0:
        base = 0.0
    elif scope == "U":
        base = roundup(min(impact + exploitability, 10))
    else:
        base = roundup(min(1.08 * (impact + exploitability), 10))
    return CvssScore(version, vector.strip(), base, severity_from_score(base))


_V2_WEIGHTS = {
    "AV": {"L": 0.395, "A": 0.646, "N": 1.0},
    "AC": {"H": 0.35, "M": 0.61, "L": 0.71},
    "Au": {"M": 0.45, "S": 0.56, "N": 0.704},
    "C": {"N": 0.0, "P": 0.275, "C": 0.660},
    "I": {"N": 0.0, "P": 0.275, "C": 0.660},
    "A": {"N": 0.0, "P": 0.275, "C": 0.660},
}


def score_v2(vector: str) -> CvssScore:
    text = vector.strip()
    if text.startswith("("):
        text = text.strip("()")
    text = text.removeprefix("CVSS:2.0/")
    metrics = _metrics(text.split("/"), vector)
    try:
        values = {key: _V2_WEIGHTS[key][metrics[key]] for key in _V2_WEIGHTS}
    except KeyError as exc:
        raise CvssError(f"not a CVSS v2 base vector: {vector!r}") from exc
    impact = 10.41 * (1 - (1 - values["C"]) * (1 - values["I"]) * (1 - values["A"]))
    exploitability = 20 * values["AV"] * values["AC"] * values["Au"]
    f_impact = 0 if impact == 0 else 1.176
    base = round(((0.6 * impact) + (0.4 * exploitability) - 1.5) * f_impact + 1e-9, 1)
    base = max(base, 0.0)
    severity = "high" if base >= 7 else "medium" if base >= 4 else "low" if base > 0 else "info"
    return CvssScore("2.0", vector.strip(), base, severity)


def severity_from_score(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0:
        return "low"
    return "info"


@lru_cache(maxsize=4096)
def score_vector(vector: str) -> CvssScore:
    """Score any supported vector; raises CvssError for v4 or malformed vectors."""
    text = vector.strip()
    if text.startswith("CVSS:3."):
        return score_v3(text)
    if text.startswith("CVSS:4."):
        raise CvssError("CVSS v4 vectors are not scored; use the advisory's own severity")
    return score_v2(text)
