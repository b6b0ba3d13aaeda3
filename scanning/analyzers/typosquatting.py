"""Typosquatting: package names that imitate a popular package of the same ecosystem.

The shipped lists `data/popular-<ecosystem>.txt` (docs/checks/typosquatting.md says
where they come from and how to refresh them) are the targets. A name that is
itself on its ecosystem's list is never flagged. Otherwise it is compared with the
most popular names:

- TYPO-NAME-001: one edit away (insertion, deletion, substitution or swap of two
  neighbours; two edits for long names): `reqeusts`, `lodahs`;
- TYPO-NAME-002: the same name once separators, case and look-alike characters are
  folded (`python_dateutil` vs `python-dateutil` on npm, `reque5ts`, `rnatplotlib`,
  Cyrillic letters);
- TYPO-NAME-003: a popular name with a meaningless prefix or suffix that pretends
  to be the same project (`requests-python`, `py-lodash`, `colorama2`), while real
  extensions such as `requests-toolbelt` or `django-filter` are left alone;
- TYPO-DEP-001: a dependency declared by the package is such an imitation.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from scanning.analyzers.base import (
    AnalysisContext,
    Category,
    Check,
    FindingDraft,
    Severity,
    register_analyzer,
)
from scanning.analyzers.versions import normalize_name

DATA_DIR = Path(__file__).resolve().parent / "data"
TARGETS_FOR_DISTANCE = 1500

TYPO_EDIT = Check(
    id="TYPO-NAME-001", title="Name is one typo away from a popular package", category=Category.TYPOSQUATTING,
    severity=Severity.HIGH, weight=8,
    description="The package name differs from a popular package's by one keystroke (a letter added, dropped, "
                "replaced, or two neighbours swapped; two for long names). Typosquats wait for someone to mistype "
                "the real name.",
    fix="Check that you meant this package and not the popular one named in the finding; install the real one.",
)
TYPO_VARIANT = Check(
    id="TYPO-NAME-002", title="Name imitates a popular package with separators, case or look-alike characters",
    category=Category.TYPOSQUATTING, severity=Severity.HIGH, weight=8,
    description="Folding separators (- _ .), case and look-alike characters (0/o, 1/l, 5/s, rn/m, vv/w, Cyrillic "
                "letters) turns the name into a popular package's name.",
    fix="Install the popular package under its real name instead.",
)
TYPO_AFFIX = Check(
    id="TYPO-NAME-003", title="Name is a popular package with a meaningless prefix or suffix",
    category=Category.TYPOSQUATTING, severity=Severity.MEDIUM, weight=5,
    description="The name is a popular package's name plus a prefix or suffix that adds no meaning (py-, python-, "
                "node-, -js, -lib, -official, -dev, -latest, a digit...), a common way to pass for the original.",
    fix="Make sure this is a real, separate project from the popular package before trusting it.",
)
TYPO_DEPENDENCY = Check(
    id="TYPO-DEP-001", title="Depends on a package that imitates a popular one", category=Category.TYPOSQUATTING,
    severity=Severity.HIGH, weight=7,
    description="A dependency the package declares is itself a typo, a separator/look-alike variant or an affix "
                "variant of a popular package name: installing this package pulls the imitation in.",
    fix="Do not install it until the dependency is explained; report it to the maintainers.",
)

NOISE_AFFIXES = frozenset({
    "py", "py3", "python", "python3", "js", "node", "nodejs", "npm", "lib", "official", "dev", "latest", "new",
    "secure", "fixed", "update", "updated", "real", "original", "free", "pro", "2", "3", "x", "io",
})
_SEPARATORS = re.compile(r"[-_.\s]+")
_LOOKALIKES = str.maketrans({
    "0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "$": "s", "3": "e", "4": "a", "@": "a", "7": "t", "8": "b",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "l", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ο": "o", "α": "a", "ν": "v", "ι": "l", "κ": "k", "τ": "t", "ρ": "p", "ѵ": "v", "ɡ": "g", "ı": "l",
})


@lru_cache(maxsize=8)
def popular(ecosystem: str) -> tuple[str, ...]:
    path = DATA_DIR / f"popular-{ecosystem}.txt"
    if not path.exists():
        return ()
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(normalize_name(ecosystem, line))
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=8)
def _indexes(ecosystem: str) -> tuple[frozenset[str], dict[str, str], dict[int, list[str]]]:
    names = popular(ecosystem)
    skeletons: dict[str, str] = {}
    for name in names:
        skeletons.setdefault(skeleton(name), name)
    by_length: dict[int, list[str]] = {}
    for name in names[:TARGETS_FOR_DISTANCE]:
        by_length.setdefault(len(name), []).append(name)
    return frozenset(names), skeletons, by_length


def skeleton(name: str) -> str:
    """The name with case, separators and look-alike characters folded away."""
    text = unicodedata.normalize("NFKC", name).lower()
    text = _SEPARATORS.sub("", text).translate(_LOOKALIKES)
    return text.replace("rn", "m").replace("vv", "w").replace("cl", "d")


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, cut off above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


@lru_cache(maxsize=20_000)
def find_imitation(ecosystem: str, name: str) -> tuple[str, str, str] | None:
    """(check id, popular name, how) when `name` imitates a popular package; None otherwise."""
    normalized = normalize_name(ecosystem, name)
    names, skeletons, by_length = _indexes(ecosystem)
    if not names or normalized in names:
        return None
    bare = normalized.rsplit("/", 1)[-1] if normalized.startswith("@") else normalized
    shape = skeleton(normalized)
    target = skeletons.get(shape)
    if target and target != normalized:
        return TYPO_VARIANT.id, target, "separators, case or look-alike characters"
    for length in range(len(normalized) - 2, len(normalized) + 3):
        for candidate in by_length.get(length, ()):
            if len(candidate) < 5 or (candidate[0] != normalized[:1] and candidate[-1] != normalized[-1:]):
                continue  # within one or two edits of a long name, the first or the last letter survives
            limit = 2 if len(candidate) >= 10 else 1
            distance = edit_distance(normalized, candidate, limit)
            if distance <= limit and not _plausibly_distinct(normalized, candidate):
                return TYPO_EDIT.id, candidate, f"{distance} edit{'s' if distance > 1 else ''} away"
    parts = [p for p in _SEPARATORS.split(bare) if p]
    for affix_first in (True, False):
        if len(parts) >= 2:
            affix, rest = (parts[0], parts[1:]) if affix_first else (parts[-1], parts[:-1])
            core = "-".join(rest)
            if affix in NOISE_AFFIXES and _popular_core(core, names):
                return TYPO_AFFIX.id, _popular_core(core, names) or core, f"'{affix}' added to the name"
    for affix in sorted(NOISE_AFFIXES, key=len, reverse=True):
        for core in (bare.removeprefix(affix), bare.removesuffix(affix)):
            if core != bare and len(core) >= 4 and _popular_core(core, names) and _popular_core(core, names) != normalized:
                return TYPO_AFFIX.id, _popular_core(core, names) or core, f"'{affix}' added to the name"
    return None


def _popular_core(core: str, names: frozenset[str]) -> str:
    for candidate in (core, core.replace("_", "-"), core.replace("-", "")):
        if candidate in names and len(candidate) >= 4:
            return candidate
    return ""


def _plausibly_distinct(name: str, target: str) -> bool:
    """Edits that make a different word rather than a typo: a trailing digit or version-like suffix."""
    if name.rstrip("0123456789") == target.rstrip("0123456789") and (name[-1:].isdigit() or target[-1:].isdigit()):
        return True  # boto vs boto3, jinja vs jinja2: different major lines, handled by the affix rule
    return False


def _optional_python_extras(ctx: AnalysisContext) -> set[str]:
    """Requires-Dist entries that only apply to an optional extra (`; extra == "test"`): not installed by default."""
    raw = ctx.metadata.raw.get("Requires-Dist", []) if ctx.metadata else []
    lines = [raw] if isinstance(raw, str) else list(raw)
    optional: set[str] = set()
    for line in lines:
        if isinstance(line, str) and re.search(r";.*\bextra\s*==", line):
            optional.add(re.split(r"[\s\[(;<>=!~^]", line.strip(), maxsplit=1)[0])
    return optional


class TyposquattingAnalyzer:
    name = "typosquatting"
    checks = (TYPO_EDIT, TYPO_VARIANT, TYPO_AFFIX, TYPO_DEPENDENCY)

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]:
        findings: list[FindingDraft] = []
        name = (ctx.metadata.name if ctx.metadata and ctx.metadata.name else "") or ctx.submitted_name
        if name:
            match = find_imitation(ctx.ecosystem, name)
            if match:
                check_id, target, how = match
                findings.append(FindingDraft(
                    check_id=check_id,
                    title=f"'{name}' imitates the popular package '{target}'",
                    detail=f"The name '{name}' looks like '{target}' ({how}), one of the most used {ctx.ecosystem} "
                           f"packages. Make sure you did not mean '{target}'.",
                    evidence={"name": name, "imitates": target, "how": how, "list": f"popular-{ctx.ecosystem}.txt"},
                    key=f"{name}:{target}",
                ))
        seen: set[str] = set(_optional_python_extras(ctx))
        for dep in ctx.metadata.dependencies if ctx.metadata else ():
            dep_name = re.split(r"[\s\[(;<>=!~^]", dep.name.strip(), maxsplit=1)[0]
            if not dep_name or dep_name in seen or re.search(r"\bextra\s*==", f"{dep.name} {dep.spec}"):
                continue  # optional extras are not installed by default

            seen.add(dep_name)
            match = find_imitation(ctx.ecosystem, dep_name)
            if match:
                _, target, how = match
                findings.append(FindingDraft(
                    check_id=TYPO_DEPENDENCY.id,
                    title=f"Dependency '{dep_name}' imitates '{target}'",
                    detail=f"The package depends on '{dep_name}' ({dep.source or 'dependency'}), which looks like the "
                           f"popular package '{target}' ({how}).",
                    file_path=ctx.metadata.source_file if ctx.metadata else "",
                    evidence={"dependency": dep_name, "spec": dep.spec, "imitates": target, "how": how},
                    key=f"dep:{dep_name}",
                ))
        return findings


register_analyzer(TyposquattingAnalyzer())
