"""Version comparison per ecosystem and OSV range evaluation (pure, no database).

Comparators:

- PyPI: PEP 440 through `packaging` (epochs, pre/post/dev releases, local labels).
- npm: semantic versioning 2.0 precedence, including pre-release identifiers
  (numeric identifiers compare numerically and sort before alphanumeric ones, a
  release sorts after its pre-releases, build metadata is ignored).
- Debian: dpkg's algorithm (epoch, upstream version, revision; `~` sorts before
  everything, even the end of the string; letters sort before other characters).
- RPM: rpmvercmp over epoch, version and release (alphanumeric segments, numbers
  beat letters, `~` sorts before and `^` after the base version).
- Alpine: apk's rules (dotted numbers, one optional letter, `_alpha`/`_beta`/`_pre`/
  `_rc` before the release and `_cvs`/`_svn`/`_git`/`_hg`/`_p` after it, `-rN`).

`osv_affected()` evaluates an OSV `affected[]` entry (SEMVER and ECOSYSTEM range
events — `introduced` (including "0"), `fixed`, `last_affected`, `limit` — and the
explicit `versions` list) for one version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import cmp_to_key
from typing import Any

from packaging.version import InvalidVersion, Version


class VersionError(ValueError):
    """A version string that the ecosystem's rules cannot parse."""


# --- Names -----------------------------------------------------------------------

_PEP503 = re.compile(r"[-_.]+")


def normalize_name(ecosystem: str, name: str) -> str:
    """The name under which advisories are stored and looked up for this ecosystem."""
    name = name.strip()
    if ecosystem == "pypi":
        return _PEP503.sub("-", name).lower()
    return name.lower()


# --- PEP 440 ---------------------------------------------------------------------

def _pep440(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion as exc:
        raise VersionError(f"not a PEP 440 version: {version!r}") from exc


def compare_pep440(a: str, b: str) -> int:
    va, vb = _pep440(a), _pep440(b)
    return (va > vb) - (va < vb)


# --- Semantic versioning (npm) ------------------------------------------------------

_SEMVER = re.compile(
    r"^\s*[v=]?\s*(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\s*$"
)


def parse_semver(version: str) -> tuple[int, int, int, tuple[str, ...]]:
    match = _SEMVER.match(version)
    if not match:
        raise VersionError(f"not a semantic version: {version!r}")
    major, minor, patch, pre, _build = match.groups()
    return int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else ()


def _compare_prerelease(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if a == b:
        return 0
    # A version without pre-release identifiers has the higher precedence.
    if not a:
        return 1
    if not b:
        return -1
    for x, y in zip(a, b, strict=False):
        if x == y:
            continue
        x_num, y_num = x.isdigit(), y.isdigit()
        if x_num and y_num:
            return (int(x) > int(y)) - (int(x) < int(y))
        if x_num != y_num:
            # Numeric identifiers always have lower precedence than alphanumeric ones.
            return -1 if x_num else 1
        return (x > y) - (x < y)
    return (len(a) > len(b)) - (len(a) < len(b))


def compare_semver(a: str, b: str) -> int:
    pa, pb = parse_semver(a), parse_semver(b)
    if pa[:3] != pb[:3]:
        return (pa[:3] > pb[:3]) - (pa[:3] < pb[:3])
    return _compare_prerelease(pa[3], pb[3])


def is_exact_semver(spec: str) -> bool:
    """True for a package.json spec that names one version (`1.2.3`, `=1.2.3`, `v1.2.3-rc.1`)."""
    return bool(_SEMVER.match(spec))


# --- Debian (dpkg) -----------------------------------------------------------------

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _dpkg_order(c: str) -> int:
    if not c or c in _DIGITS:
        return 0
    if c in _LETTERS:
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _dpkg_verrevcmp(a: str, b: str) -> int:
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        first_diff = 0
        while (i < la and a[i] not in _DIGITS) or (j < lb and b[j] not in _DIGITS):
            ac = _dpkg_order(a[i]) if i < la else 0
            bc = _dpkg_order(b[j]) if j < lb else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < la and a[i] == "0":
            i += 1
        while j < lb and b[j] == "0":
            j += 1
        while i < la and a[i] in _DIGITS and j < lb and b[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < la and a[i] in _DIGITS:
            return 1
        if j < lb and b[j] in _DIGITS:
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def parse_debian(version: str) -> tuple[int, str, str]:
    version = version.strip()
    epoch = 0
    if ":" in version:
        head, rest = version.split(":", 1)
        if not head.isdigit():
            raise VersionError(f"not a Debian version (epoch must be a number): {version!r}")
        epoch, version = int(head), rest
    upstream, sep, revision = version.rpartition("-")
    if not sep:
        upstream, revision = version, ""
    if not upstream or upstream[0] not in _DIGITS:
        raise VersionError(f"not a Debian version (must start with a digit): {version!r}")
    if not re.fullmatch(r"[A-Za-z0-9.+~:-]+", upstream) or (revision and not re.fullmatch(r"[A-Za-z0-9.+~]+", revision)):
        raise VersionError(f"not a Debian version (bad characters): {version!r}")
    return epoch, upstream, revision


def compare_debian(a: str, b: str) -> int:
    ea, ua, ra = parse_debian(a)
    eb, ub, rb = parse_debian(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _dpkg_verrevcmp(ua, ub) or _dpkg_verrevcmp(ra, rb)


# --- RPM (rpmvercmp) ----------------------------------------------------------------

def _is_alnum(c: str) -> bool:
    return c in _DIGITS or c in _LETTERS


def rpmvercmp(a: str, b: str) -> int:
    """rpm's segment comparison of one version or release string."""
    if a == b:
        return 0
    i = j = 0
    la, lb = len(a), len(b)
    while i < la or j < lb:
        while i < la and not _is_alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < lb and not _is_alnum(b[j]) and b[j] not in "~^":
            j += 1
        a_tilde, b_tilde = i < la and a[i] == "~", j < lb and b[j] == "~"
        if a_tilde or b_tilde:
            if not a_tilde:
                return 1
            if not b_tilde:
                return -1
            i += 1
            j += 1
            continue
        a_caret, b_caret = i < la and a[i] == "^", j < lb and b[j] == "^"
        if a_caret or b_caret:
            if i >= la:
                return -1
            if j >= lb:
                return 1
            if not a_caret:
                return 1
            if not b_caret:
                return -1
            i += 1
            j += 1
            continue
        if i >= la or j >= lb:
            break
        numeric = a[i] in _DIGITS
        klass = _DIGITS if numeric else _LETTERS
        si = i
        while i < la and a[i] in klass:
            i += 1
        sj = j
        while j < lb and b[j] in klass:
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            # Segments of different kinds: the numeric one is newer.
            return 1 if numeric else -1
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= la and j >= lb:
        return 0
    return -1 if i >= la else 1


def parse_rpm(version: str) -> tuple[int, str, str | None]:
    """Split `[epoch:]version[-release]`; the release is None when absent."""
    version = version.strip()
    if not version:
        raise VersionError("empty RPM version")
    epoch = 0
    if ":" in version:
        head, version = version.split(":", 1)
        if not head.isdigit():
            raise VersionError(f"not an RPM version (epoch must be a number): {head!r}")
        epoch = int(head)
    ver, sep, release = version.rpartition("-")
    if not sep:
        return epoch, version, None
    if not ver:
        raise VersionError(f"not an RPM version: {version!r}")
    return epoch, ver, release


def compare_rpm(a: str, b: str) -> int:
    ea, va, ra = parse_rpm(a)
    eb, vb, rb = parse_rpm(b)
    if ea != eb:
        return -1 if ea < eb else 1
    result = rpmvercmp(va, vb)
    if result:
        return result
    if ra is None or rb is None:
        # rpm compares releases only when both sides carry one.
        return 0
    return rpmvercmp(ra, rb)


# --- Alpine (apk) -------------------------------------------------------------------

_APK_VERSION = re.compile(
    r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:~[0-9a-f]+)?(?:-r(\d+))?$"
)
_APK_SUFFIXES = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}
_APK_RELEASE_RANK = 4
_T_DIGIT, _T_LETTER, _T_SUFFIX, _T_REVISION, _T_END = 1, 2, 3, 4, 5


def _apk_tokens(version: str) -> list[tuple[int, Any]]:
    match = _APK_VERSION.match(version.strip())
    if not match:
        raise VersionError(f"not an Alpine version: {version!r}")
    numbers, letter, suffixes, revision = match.groups()
    tokens: list[tuple[int, Any]] = [(_T_DIGIT, part) for part in numbers.split(".")]
    if letter:
        tokens.append((_T_LETTER, letter))
    for name, number in re.findall(r"_([a-z]+)(\d*)", suffixes):
        tokens.append((_T_SUFFIX, (_APK_SUFFIXES[name], int(number or 0))))
    if revision is not None:
        tokens.append((_T_REVISION, int(revision)))
    tokens.append((_T_END, None))
    return tokens


def _apk_digit_cmp(x: str, y: str, first: bool) -> int:
    if not first and (x.startswith("0") or y.startswith("0")):
        # apk compares components with a leading zero as decimal fractions.
        return (x > y) - (x < y)
    return (int(x) > int(y)) - (int(x) < int(y))


def compare_alpine(a: str, b: str) -> int:
    ta, tb = _apk_tokens(a), _apk_tokens(b)
    for index, ((kind_a, val_a), (kind_b, val_b)) in enumerate(zip(ta, tb, strict=False)):
        if kind_a == kind_b:
            if kind_a == _T_END:
                return 0
            if kind_a == _T_DIGIT:
                result = _apk_digit_cmp(val_a, val_b, index == 0)
            else:
                result = (val_a > val_b) - (val_a < val_b)
            if result:
                return result
            continue
        # Different token kinds: a pre-release suffix sorts before anything; otherwise
        # the side whose next token kind ranks higher (letter > digit...) is older.
        if kind_a == _T_SUFFIX and val_a[0] < _APK_RELEASE_RANK:
            return -1
        if kind_b == _T_SUFFIX and val_b[0] < _APK_RELEASE_RANK:
            return 1
        return -1 if kind_a > kind_b else 1
    return 0


# --- Dispatch -----------------------------------------------------------------------

_generic_part = re.compile(r"\d+|[A-Za-z]+")


def compare_generic(a: str, b: str) -> int:
    """Last resort for ecosystems without rules of their own: numbers numerically, words lexically."""
    def key(v: str) -> list[tuple[int, Any]]:
        return [(0, int(p)) if p.isdigit() else (1, p) for p in _generic_part.findall(v)]
    ka, kb = key(a), key(b)
    return (ka > kb) - (ka < kb)


COMPARATORS: dict[str, Callable[[str, str], int]] = {
    "pypi": compare_pep440,
    "npm": compare_semver,
    "debian": compare_debian,
    "rpm": compare_rpm,
    "alpine": compare_alpine,
}


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1. Raises VersionError when either side is not valid for the ecosystem."""
    return COMPARATORS.get(ecosystem, compare_generic)(a, b)


def sort_versions(ecosystem: str, versions: Iterable[str]) -> list[str]:
    comparator = COMPARATORS.get(ecosystem, compare_generic)
    return sorted(versions, key=cmp_to_key(comparator))


def is_valid(ecosystem: str, version: str) -> bool:
    try:
        compare(ecosystem, version, version)
    except VersionError:
        return False
    return True


def versions_equal(ecosystem: str, a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return compare(ecosystem, a, b) == 0
    except VersionError:
        return False


# --- OSV ranges ---------------------------------------------------------------------

_EVENT_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}


def _range_comparator(range_type: str, ecosystem: str) -> Callable[[str, str], int]:
    if range_type == "SEMVER":
        return compare_semver
    return COMPARATORS.get(ecosystem, compare_generic)


def in_range(ecosystem: str, version: str, osv_range: dict[str, Any]) -> bool:
    """Whether `version` lies in one OSV range (types SEMVER and ECOSYSTEM; GIT never matches a version)."""
    range_type = str(osv_range.get("type", "")).upper()
    if range_type not in ("SEMVER", "ECOSYSTEM"):
        return False
    cmp = _range_comparator(range_type, ecosystem)
    events: list[tuple[str, str]] = []
    for event in osv_range.get("events") or ():
        if not isinstance(event, dict):
            continue
        for kind in _EVENT_ORDER:
            value = event.get(kind)
            if isinstance(value, str) and value:
                events.append((kind, value))
    if not events:
        return False

    def event_key(a: tuple[str, str], b: tuple[str, str]) -> int:
        (kind_a, va), (kind_b, vb) = a, b
        a_zero = kind_a == "introduced" and va == "0"
        b_zero = kind_b == "introduced" and vb == "0"
        if a_zero or b_zero:
            if a_zero and b_zero:
                return 0
            return -1 if a_zero else 1
        if va == "*" or vb == "*":
            return (va == "*") - (vb == "*")
        result = cmp(va, vb)
        return result or (_EVENT_ORDER[kind_a] - _EVENT_ORDER[kind_b])

    try:
        ordered = sorted(events, key=cmp_to_key(event_key))
        limits = [value for kind, value in ordered if kind == "limit" and value != "*"]
        if limits and all(cmp(version, limit) >= 0 for limit in limits):
            return False
        affected = False
        for kind, value in ordered:
            if kind == "introduced":
                if value == "0" or cmp(version, value) >= 0:
                    affected = True
            elif kind == "fixed":
                if cmp(version, value) >= 0:
                    affected = False
            elif kind == "last_affected":
                if cmp(version, value) > 0:
                    affected = False
        return affected
    except VersionError:
        return False


def osv_affected(ecosystem: str, version: str, ranges: Sequence[dict[str, Any]], versions: Sequence[str]) -> bool:
    """Whether `version` is affected: listed explicitly, or inside one of the ranges."""
    if any(versions_equal(ecosystem, version, listed) for listed in versions):
        return True
    return any(in_range(ecosystem, version, r) for r in ranges if isinstance(r, dict))


def describe_ranges(ranges: Sequence[dict[str, Any]], versions: Sequence[str] = ()) -> str:
    """A short human description: '>= 1.0, < 1.4.2; <= 0.9 (last affected)'."""
    parts: list[str] = []
    for osv_range in ranges:
        if not isinstance(osv_range, dict) or str(osv_range.get("type", "")).upper() not in ("SEMVER", "ECOSYSTEM"):
            continue
        current: list[str] = []
        for event in osv_range.get("events") or ():
            if not isinstance(event, dict):
                continue
            if "introduced" in event:
                if current:
                    parts.append(", ".join(current))
                current = [] if event["introduced"] == "0" else [f">= {event['introduced']}"]
            elif "fixed" in event:
                current.append(f"< {event['fixed']}")
                parts.append(", ".join(current))
                current = []
            elif "last_affected" in event:
                current.append(f"<= {event['last_affected']}")
                parts.append(", ".join(current))
                current = []
            elif "limit" in event and event["limit"] != "*":
                current.append(f"< {event['limit']} (limit)")
        if current:
            parts.append(", ".join(current))
    text = "; ".join(p if p else "all versions" for p in parts)
    if versions:
        listed = ", ".join(list(versions)[:10]) + (" ..." if len(versions) > 10 else "")
        text = f"{text}; versions {listed}" if text else f"versions {listed}"
    return text or "all versions"


def fixed_versions(ranges: Sequence[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for osv_range in ranges:
        if not isinstance(osv_range, dict):
            continue
        for event in osv_range.get("events") or ():
            if isinstance(event, dict) and isinstance(event.get("fixed"), str) and event["fixed"] not in seen:
                seen.append(event["fixed"])
    return seen


def best_fix(ecosystem: str, version: str, fixed: Sequence[str]) -> str | None:
    """The smallest fixed version above `version` (the upgrade that is enough)."""
    candidates = []
    for value in fixed:
        try:
            if compare(ecosystem, value, version) > 0:
                candidates.append(value)
        except VersionError:
            continue
    if not candidates:
        return None
    return sort_versions(ecosystem, candidates)[0]
