"""Rules are validated on save: every problem is reported with the path of the field it concerns."""

from __future__ import annotations

from typing import Any

import pytest

from policies import engine


def doc(*rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "P", "rules": list(rules), **fields}


def block(*conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"action": "block", "conditions": list(conditions), **extra}


def c(subject: str, operator: str, value: Any = True) -> dict[str, Any]:
    return {"subject": subject, "operator": operator, "value": value}


INVALID_TABLE: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown subject", doc(block(c("colour", "eq", "red"))), "rules[0].conditions[0].subject", "not a subject"),
    ("operator of another subject", doc(block(c("severity", "regex", "x"))), "rules[0].conditions[0].operator",
     "not an operator of severity"),
    ("missing operator", doc(block({"subject": "category", "value": "secrets"})), "rules[0].conditions[0].operator",
     "not an operator"),
    ("invalid regular expression", doc(block(c("ecosystem", "eq", "pypi")), block(c("package", "regex", "(["))),
     "rules[1].conditions[0].value", "Invalid regular expression"),
    ("invalid scope regex", doc(block(c("severity", "gte", "high")), scope={"packages": ["re:*oops"]}),
     "scope.packages[0]", "Invalid regular expression"),
    ("unknown severity", doc(block(c("severity", "gte", "extreme"))), "rules[0].conditions[0].value",
     "not a severity"),
    ("unknown category in a list", doc(block(c("category", "in", ["secrets", "sorcery"]))),
     "rules[0].conditions[0].value", "'sorcery' is not a category"),
    ("empty list", doc(block(c("check_id", "in", []))), "rules[0].conditions[0].value", "Give one or more"),
    ("cvss out of range", doc(block(c("cvss", "gte", 11))), "rules[0].conditions[0].value", "from 0 to 10"),
    ("cvss not a number", doc(block(c("cvss", "gte", "high"))), "rules[0].conditions[0].value", "number"),
    ("score not whole", doc(block(c("score", "lt", 50.5))), "rules[0].conditions[0].value", "whole number"),
    ("finding count zero", doc(block(c("finding_count", "gte", 0))), "rules[0].conditions[0].value", "from 1"),
    ("typosquat false", doc(block(c("typosquat", "is", False))), "rules[0].conditions[0].value", "true"),
    ("not an SPDX id", doc(block(c("license", "denied", ["GPL-3.0-only", "Beerware-ish"]))),
     "rules[0].conditions[0].value", "Not SPDX license identifiers: Beerware-ish"),
    ("bad version range", doc(block(c("version", "in_range", ">>1.0"))), "rules[0].conditions[0].value",
     "is not a comparison"),
    ("version invalid for the rule's ecosystem", doc(block(c("ecosystem", "eq", "npm"),
                                                           c("version", "in_range", ">=1.0.0.0.0.x"))),
     "rules[0].conditions[1].value", "not a valid npm version"),
    ("unknown action", doc({"action": "quarantine", "conditions": [c("severity", "gte", "high")]}),
     "rules[0].action", "not an action"),
    ("unknown match", doc(block(c("severity", "gte", "high"), match="most")), "rules[0].match",
     "choose all or any"),
    ("no conditions", doc({"action": "warn", "conditions": []}), "rules[0].conditions", "at least one condition"),
    ("unknown rule field", doc(block(c("severity", "gte", "high"), colour="red")), "rules[0].colour",
     "Unknown field"),
    ("unknown condition field", doc(block({**c("severity", "gte", "high"), "negate": True})),
     "rules[0].conditions[0].negate", "Unknown field"),
    ("unknown policy field", doc(block(c("severity", "gte", "high")), owner="me"), "owner", "Unknown field"),
    ("missing name", {"rules": []}, "name", "Give the policy a name"),
    ("bad mode", doc(mode="audit"), "mode", "choose enforce or monitor"),
    ("bad priority", doc(priority=-1), "priority", "from 0 to 10000"),
    ("bad scope ecosystem", doc(scope={"ecosystems": ["cargo"]}), "scope.ecosystems[0]", "not an ecosystem"),
    ("rules not a list", doc(rules={"a": 1}), "rules", "as a list"),
    # Contradictory values (match: all).
    ("two ecosystems", doc(block(c("ecosystem", "eq", "pypi"), c("ecosystem", "eq", "npm"))),
     "rules[0].conditions[1].value", "Contradicts conditions[0]"),
    ("two categories", doc(block(c("category", "eq", "secrets"), c("category", "in", ["vulnerability"]))),
     "rules[0].conditions[1].value", "Contradicts conditions[0]"),
    ("category in and not_in", doc(block(c("category", "in", ["secrets"]), c("category", "not_in", ["secrets"]))),
     "rules[0].conditions[1].value", "excluded"),
    ("typosquat with another category", doc(block(c("typosquat", "is"), c("category", "eq", "secrets"))),
     "rules[0].conditions[1].value", "Contradicts conditions[0]"),
    ("cvss bounds", doc(block(c("cvss", "gte", 9), c("cvss", "lt", 7))), "rules[0].conditions[1].value",
     "nothing is at least 9 and below 7"),
    ("score bounds", doc(block(c("score", "gte", 80), c("score", "lt", 80))), "rules[0].conditions[1].value",
     "nothing is at least 80"),
    ("score below zero", doc(block(c("score", "lt", 0))), "rules[0].conditions[0].value", "No score is below 0"),
    ("severity set vs minimum", doc(block(c("severity", "in", ["low", "info"]), c("severity", "gte", "high"))),
     "rules[0].conditions[1].value", "none of those severities"),
    ("version range empty", doc(block(c("ecosystem", "eq", "pypi"), c("version", "in_range", ">=2.0,<1.0"))),
     "rules[0].conditions[1].value", "No version satisfies"),
    ("version range equality", doc(block(c("version", "in_range", "==1.0,>=2.0")), scope={"ecosystems": ["pypi"]}),
     "rules[0].conditions[0].value", "No version satisfies"),
    ("license allowed and denied", doc(block(c("license", "not_allowed", ["MIT"]), c("license", "denied", ["MIT"]))),
     "rules[0].conditions[1].value", "both allowed and denied"),
    ("two packages", doc(block(c("package", "eq", "a"), c("package", "in", ["b", "c"]))),
     "rules[0].conditions[1].value", "Contradicts"),
]


@pytest.mark.parametrize(("document", "path", "message"), [r[1:] for r in INVALID_TABLE],
                         ids=[r[0] for r in INVALID_TABLE])
def test_invalid_documents_name_the_field(document: dict[str, Any], path: str, message: str) -> None:
    _normalised, errors = engine.validate(document)
    assert path in errors, errors
    assert any(message in m for m in errors[path]), errors[path]
    with pytest.raises(engine.PolicyInvalid):
        engine.compile_policy(document)


def test_contradictions_are_only_refused_when_all_must_hold() -> None:
    document = doc(block(c("ecosystem", "eq", "pypi"), c("ecosystem", "eq", "npm"), match="any"))
    assert engine.validate(document)[1] == {}


def test_several_errors_are_reported_at_once() -> None:
    _n, errors = engine.validate(doc(block(c("severity", "gte", "extreme")), block(c("nope", "x")),
                                     {"action": "warn", "conditions": []}, mode="x"))
    assert set(errors) == {"rules[0].conditions[0].value", "rules[1].conditions[0].subject", "rules[2].conditions",
                           "mode"}


def test_values_are_normalised() -> None:
    normalised, errors = engine.validate(doc(
        block(c("severity", "gte", " HIGH "), c("check_id", "in", ["pkg-hook-001", "PKG-HOOK-001"])),
        block(c("license", "denied", ["gpl-3.0", "mit"])), scope={"ecosystems": ["npm", "npm"], "packages": ["a*"]}))
    assert errors == {}
    assert normalised["rules"][0]["conditions"] == [c("severity", "gte", "high"),
                                                    c("check_id", "in", ["PKG-HOOK-001"])]
    assert normalised["rules"][1]["conditions"][0]["value"] == ["GPL-3.0-only", "MIT"]
    assert normalised["rules"][1]["name"] == "Rule 2"
    assert normalised["scope"] == {"ecosystems": ["npm"], "packages": ["a*"]}
    assert normalised["mode"] == "enforce" and normalised["priority"] == 100 and normalised["enabled"] is True


def test_the_default_policy_is_valid() -> None:
    assert engine.validate(engine.default_policy_document())[1] == {}
