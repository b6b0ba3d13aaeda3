"""SPDX license expressions for policy rules (pure; uses the `license-expression` package).

A package declares a license expression such as `MIT OR (Apache-2.0 AND GPL-3.0-only)`.
To decide whether it fits an allow list or hits a deny list, the expression is
expanded into its *choices*: the sets of licenses a user may pick to comply
(`{MIT}` or `{Apache-2.0, GPL-3.0-only}` above).

- allow list (`not_allowed`): the rule matches when **no** choice uses allowed
  licenses only;
- deny list (`denied`): the rule matches when **every** choice includes a denied
  license (the package cannot be used without one);
- `unknown`: no license declared, an expression that does not parse, or an
  identifier that is not on the SPDX list.

A `X WITH exception` term is allowed when the list names it in full or names `X`
(an exception only adds permissions), and denied when the list names it in full or
names `X`. Common non-SPDX spellings found in package metadata ("MIT License",
"Apache 2.0", "BSD-3") are mapped to their SPDX identifier first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from license_expression import ExpressionError, LicenseSymbol, LicenseWithExceptionSymbol, get_spdx_licensing

# Expanding `(A OR B) AND (C OR D) AND ...` multiplies choices; beyond this the
# expression is treated as unknown rather than spending unbounded time on it.
MAX_CHOICES = 256

_COMMON_NAMES = {
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit/x11": "MIT",
    "expat": "MIT",
    "apache 2.0": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache software license 2.0": "Apache-2.0",
    "asl 2.0": "Apache-2.0",
    "bsd-3": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "bsd-2": "BSD-2-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "simplified bsd license": "BSD-2-Clause",
    "isc license": "ISC",
    "mozilla public license 2.0": "MPL-2.0",
    "mpl 2.0": "MPL-2.0",
    "python software foundation license": "PSF-2.0",
    "psf": "PSF-2.0",
    "gplv2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "lgplv2+": "LGPL-2.0-or-later",
    "lgplv3": "LGPL-3.0-only",
    "lgplv3+": "LGPL-3.0-or-later",
    "agplv3": "AGPL-3.0-only",
    "public domain": "LicenseRef-Public-Domain",
    "unlicense": "Unlicense",
    "the unlicense": "Unlicense",
}


@lru_cache(maxsize=1)
def licensing() -> Any:
    return get_spdx_licensing()


@dataclass(frozen=True)
class LicenseInfo:
    expression: str
    known: bool
    # Each choice is a set of terms: "MIT", or "GPL-2.0-only WITH Classpath-exception-2.0".
    choices: tuple[frozenset[str], ...] = ()
    problem: str = ""


def _term(symbol: Any) -> str:
    if isinstance(symbol, LicenseWithExceptionSymbol):
        return f"{symbol.license_symbol.key} WITH {symbol.exception_symbol.key}"
    return str(symbol.key)


def _base(term: str) -> str:
    return term.split(" WITH ", 1)[0]


def _choices(node: Any) -> list[frozenset[str]]:
    if isinstance(node, LicenseSymbol | LicenseWithExceptionSymbol):
        return [frozenset({_term(node)})]
    args = getattr(node, "args", ())
    operator = type(node).__name__
    if operator == "OR":
        out: list[frozenset[str]] = []
        for arg in args:
            out.extend(_choices(arg))
            if len(out) > MAX_CHOICES:
                raise OverflowError
        return out
    if operator == "AND":
        result = [frozenset[str]()]
        for arg in args:
            result = [a | b for a in result for b in _choices(arg)]
            if len(result) > MAX_CHOICES:
                raise OverflowError
        return result
    raise ExpressionError(f"unexpected node {operator}")


def _normalise_spelling(text: str) -> str:
    cleaned = re.sub(r"\s+", " ", text.strip())
    return _COMMON_NAMES.get(cleaned.lower(), cleaned)


@lru_cache(maxsize=4096)
def analyse(expression: str) -> LicenseInfo:
    """What a declared license string means (cached: a few distinct strings recur across scans)."""
    text = _normalise_spelling(expression or "")
    if not text:
        return LicenseInfo(expression="", known=False, problem="no license declared")
    spdx = licensing()
    try:
        parsed = spdx.parse(text, validate=False)
    except ExpressionError as exc:
        return LicenseInfo(expression=text, known=False, problem=f"not an SPDX expression ({exc})")
    if parsed is None:
        return LicenseInfo(expression=text, known=False, problem="no license declared")
    unknown = [key for key in spdx.unknown_license_keys(parsed) if not key.startswith("LicenseRef-Public-Domain")]
    if unknown:
        return LicenseInfo(expression=text, known=False,
                           problem=f"not on the SPDX license list: {', '.join(sorted(unknown))}")
    try:
        choices = tuple(dict.fromkeys(_choices(parsed)))
    except OverflowError:
        return LicenseInfo(expression=text, known=False, problem="expression too complex to evaluate")
    except ExpressionError as exc:
        return LicenseInfo(expression=text, known=False, problem=str(exc))
    return LicenseInfo(expression=str(parsed), known=True, choices=choices)


def canonical_id(identifier: str) -> str | None:
    """The SPDX list's spelling of one license id (or `X WITH exception`), None when unknown."""
    info = analyse(identifier)
    if not info.known or len(info.choices) != 1 or len(info.choices[0]) != 1:
        return None
    return next(iter(info.choices[0]))


def _term_in(term: str, names: frozenset[str]) -> bool:
    return term in names or _base(term) in names


def violates_allow_list(info: LicenseInfo, allowed: frozenset[str]) -> bool:
    """True when no choice of the (known) expression uses allowed licenses only."""
    if not info.known:
        return False
    return not any(all(_term_in(term, allowed) for term in choice) for choice in info.choices)


def hits_deny_list(info: LicenseInfo, denied: frozenset[str]) -> bool:
    """True when every choice of the (known) expression includes a denied license."""
    if not info.known:
        return False
    return all(any(_term_in(term, denied) for term in choice) for choice in info.choices)


def canonical_list(identifiers: Iterable[str]) -> tuple[list[str], list[str]]:
    """(canonical ids, the inputs that are not SPDX ids)."""
    good: list[str] = []
    bad: list[str] = []
    for identifier in identifiers:
        canonical = canonical_id(str(identifier))
        if canonical is None:
            bad.append(str(identifier))
        elif canonical not in good:
            good.append(canonical)
    return good, bad
