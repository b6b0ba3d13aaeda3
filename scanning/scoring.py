"""Scores and grades from findings (the formula is documented in docs/scoring.md).

Per finding row: `earned = weight × (1 − severity_factor × status_factor)` for
failed/warning rows, `weight` for passed, 0 for not_applicable and error (which are
left out of every total).

Per check: the lowest `earned` of its rows (a check counts once, however many
times it fired). Per category: `score = round(100 × Σ earned / Σ weight)` over its
applicable checks (100 when none applied). Overall: the same ratio over every
applicable check, then capped by the worst failed severity: critical → at most
40, high → at most 65, medium → at most 85. Grade: A ≥ 90, B ≥ 80, C ≥ 70,
D ≥ 60, F below.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

SEVERITY_FACTOR = {"critical": 1.0, "high": 0.8, "medium": 0.5, "low": 0.25, "info": 0.0}
STATUS_FACTOR = {"failed": 1.0, "warning": 0.5}
CAPS = {"critical": 40, "high": 65, "medium": 85}
GRADES = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))
COUNTED = ("failed", "warning", "passed", "not_applicable", "error")


@dataclass(frozen=True)
class Row:
    check_id: str
    category: str
    severity: str
    status: str
    weight: int


@dataclass
class CategoryResult:
    category: str
    score: int
    max_score: int
    weight: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class ScoreResult:
    overall: int
    grade: str
    categories: list[CategoryResult]
    cap: int | None = None
    capped_by: str | None = None


def row_score(row: Row) -> float:
    if row.status == "passed":
        return float(row.weight)
    if row.status in STATUS_FACTOR:
        return row.weight * (1 - SEVERITY_FACTOR.get(row.severity, 0.0) * STATUS_FACTOR[row.status])
    return 0.0


def grade_for(score: int) -> str:
    return next(letter for floor, letter in GRADES if score >= floor)


def compute(rows: Iterable[Row]) -> ScoreResult:
    per_check: dict[str, tuple[str, int, float]] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTED, 0))
    worst_cap: int | None = None
    capped_by: str | None = None
    for row in rows:
        counts[row.category][row.status] = counts[row.category].get(row.status, 0) + 1
        if row.status == "failed" and row.severity in CAPS and (worst_cap is None or CAPS[row.severity] < worst_cap):
            worst_cap, capped_by = CAPS[row.severity], row.severity
        if row.status in ("not_applicable", "error"):
            per_check.setdefault(row.check_id, (row.category, 0, -1.0))
            continue
        earned = row_score(row)
        current = per_check.get(row.check_id)
        if current is None or current[2] < 0 or earned < current[2]:
            per_check[row.check_id] = (row.category, row.weight, earned)

    by_category: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for category, weight, earned in per_check.values():
        if earned >= 0:
            by_category[category].append((weight, earned))
        else:
            by_category.setdefault(category, [])
    categories = []
    total_weight = 0
    total_earned = 0.0
    for category in sorted(set(by_category) | set(counts)):
        entries = by_category.get(category, [])
        weight = sum(w for w, _ in entries)
        earned = sum(e for _, e in entries)
        total_weight += weight
        total_earned += earned
        score = round(100 * earned / weight) if weight else 100
        categories.append(CategoryResult(category=category, score=score, max_score=100, weight=weight,
                                         counts=dict(counts[category])))
    overall = round(100 * total_earned / total_weight) if total_weight else 100
    if worst_cap is not None and overall > worst_cap:
        overall = worst_cap
    else:
        capped_by = None if worst_cap is None or overall <= worst_cap else capped_by
    return ScoreResult(overall=overall, grade=grade_for(overall), categories=categories, cap=worst_cap,
                       capped_by=capped_by)
