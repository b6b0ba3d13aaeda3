"""Dashboard forms: the policy editor (a policy form, a formset of rules, one formset of
conditions per rule), the JSON editor, simulation and waivers.

The forms only carry text: the policy document they produce is validated by the
engine (through the services), and its errors — keyed by path such as
`rules[2].conditions[0].value` — are put back next to the matching field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.forms import formset_factory

from policies import engine
from policies.models import Mode, Waiver
from scanning.formats import ECOSYSTEMS

OPERATOR_CHOICES = list(dict.fromkeys(
    (op.name, op.name) for subject in engine.SUBJECTS.values() for op in subject.operators))


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(required=False, initial=True)
    mode = forms.ChoiceField(choices=Mode.choices, initial=Mode.ENFORCE,
                             help_text="Monitor records the verdict the policy would give without enforcing it.")
    priority = forms.IntegerField(min_value=0, max_value=10_000, initial=100,
                                  help_text="Lower runs first. Every enabled policy that covers a scan is evaluated; "
                                            "the strictest enforce-mode verdict wins.")
    ecosystems = forms.MultipleChoiceField(choices=[(e, e) for e in ECOSYSTEMS], required=False,
                                           widget=forms.CheckboxSelectMultiple, label="Ecosystems",
                                           help_text="None checked: every ecosystem.")
    package_patterns = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                       label="Packages",
                                       help_text="One pattern per line: a glob such as acme-*, or a regular "
                                                 "expression prefixed re:. Empty: every package.")
    summary = forms.CharField(required=False, max_length=300, label="Change note",
                              help_text="Kept with the revision this change records.")


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    action = forms.ChoiceField(choices=[("block", "block"), ("warn", "warn"), ("allow", "allow (exempt)")])
    match = forms.ChoiceField(choices=[("all", "all conditions"), ("any", "any condition")], label="Match")
    enabled = forms.BooleanField(required=False, initial=True)


class ConditionForm(forms.Form):
    subject = forms.ChoiceField(choices=[("", "—")] + [(s.name, s.label) for s in engine.SUBJECTS.values()])
    operator = forms.ChoiceField(choices=[("", "—")] + OPERATOR_CHOICES)
    value = forms.CharField(required=False, max_length=4000,
                            help_text="Lists: comma separated. Severity: critical, high, medium, low, info.")


RuleFormSet = formset_factory(RuleForm, extra=0, can_order=True, can_delete=True)
ConditionFormSet = formset_factory(ConditionForm, extra=0, can_delete=True)


# --- Values: form text <-> document JSON -------------------------------------------------------------

def parse_value(subject: str, operator: str, text: str) -> Any:
    spec = engine.SUBJECTS.get(subject)
    op = spec.operator(operator) if spec else None
    text = (text or "").strip()
    if op is None:
        return text
    if op.value == "true":
        return True if text.lower() in ("", "true", "yes", "on", "1") else text
    if op.value in engine.LIST_VALUES:
        return [part.strip() for part in text.split(",") if part.strip()]
    if op.value in engine.NUMBER_VALUES:
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        try:
            return float(text)
        except ValueError:
            return text
    return text


def format_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if value is True:
        return "true"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return "" if value is None else str(value)


# --- The editor -------------------------------------------------------------------------------------------

@dataclass
class RuleBlock:
    form: RuleForm
    conditions: Any  # ConditionFormSet
    index: int

    @property
    def deleted(self) -> bool:
        return _checked(self.form, "DELETE")


def _raw(form: forms.Form, name: str) -> str:
    if not form.is_bound:
        value = form.initial.get(name, "")
        return "" if value is None else str(value)
    return str(form.data.get(form.add_prefix(name), "") or "")


def _checked(form: forms.Form, name: str) -> bool:
    if not form.is_bound:
        return bool(form.initial.get(name))
    return form.data.get(form.add_prefix(name)) in ("on", "true", "True", "1")


class PolicyEditor:
    """The policy form and its nested rule/condition formsets, built from a document or a POST."""

    def __init__(self, policy_form: PolicyForm, rules: Any, blocks: list[RuleBlock]) -> None:
        self.policy_form = policy_form
        self.rules = rules
        self.blocks = blocks
        self.errors_placed = False

    @classmethod
    def from_document(cls, document: dict[str, Any] | None) -> PolicyEditor:
        document = document or {"name": "", "enabled": True, "mode": "enforce", "priority": 100,
                                "scope": {"ecosystems": [], "packages": []},
                                "rules": [{"action": "block", "match": "all",
                                           "conditions": [{"subject": "", "operator": "", "value": ""}]}]}
        scope = document.get("scope") or {}
        policy_form = PolicyForm(initial={
            "name": document.get("name", ""), "description": document.get("description", ""),
            "enabled": document.get("enabled", True), "mode": document.get("mode", "enforce"),
            "priority": document.get("priority", 100), "ecosystems": scope.get("ecosystems", []),
            "package_patterns": "\n".join(scope.get("packages", [])),
        })
        rules = document.get("rules", [])
        rule_set = RuleFormSet(prefix="rules", initial=[
            {"name": r.get("name", ""), "action": r.get("action", "block"), "match": r.get("match", "all"),
             "enabled": r.get("enabled", True), "ORDER": i + 1} for i, r in enumerate(rules)])
        blocks = []
        for i, (form, rule) in enumerate(zip(rule_set.forms, rules, strict=False)):
            conditions = ConditionFormSet(prefix=f"rules-{i}-conditions", initial=[
                {"subject": c.get("subject", ""), "operator": c.get("operator", ""),
                 "value": format_value(c.get("value"))} for c in rule.get("conditions", [])])
            blocks.append(RuleBlock(form=form, conditions=conditions, index=i))
        return cls(policy_form, rule_set, blocks)

    @classmethod
    def from_post(cls, data: Any, *, add: str = "") -> PolicyEditor:
        """Bind to a POST. `add` is "rule" or "condition:<i>": one more blank row is added."""
        data = data.copy()
        total = _int(data.get("rules-TOTAL_FORMS"))
        if add == "rule":
            data["rules-TOTAL_FORMS"] = str(total + 1)
            data[f"rules-{total}-action"] = "block"
            data[f"rules-{total}-match"] = "all"
            data[f"rules-{total}-enabled"] = "on"
            data[f"rules-{total}-ORDER"] = str(total + 1)
            data[f"rules-{total}-conditions-TOTAL_FORMS"] = "1"
            data[f"rules-{total}-conditions-INITIAL_FORMS"] = "0"
            total += 1
        elif add.startswith("condition:"):
            index = _int(add.split(":", 1)[1], -1)
            if 0 <= index < total:
                key = f"rules-{index}-conditions-TOTAL_FORMS"
                data[key] = str(_int(data.get(key)) + 1)
        policy_form = PolicyForm(data)
        rule_set = RuleFormSet(data, prefix="rules")
        blocks = [RuleBlock(form=form, conditions=ConditionFormSet(data, prefix=f"rules-{i}-conditions"), index=i)
                  for i, form in enumerate(rule_set.forms)]
        return cls(policy_form, rule_set, blocks)

    def ordered_blocks(self) -> list[RuleBlock]:
        def order(block: RuleBlock) -> tuple[int, int]:
            return _int(_raw(block.form, "ORDER"), 10_000 + block.index), block.index
        return sorted(self.blocks, key=order)

    def document(self) -> tuple[dict[str, Any], list[tuple[RuleBlock, list[forms.Form]]]]:
        """The document the forms describe, and which forms each rule and condition came from."""
        pf = self.policy_form
        pf.is_valid()
        data = pf.cleaned_data if hasattr(pf, "cleaned_data") else {}
        priority: Any = data.get("priority")
        if priority is None:
            raw = _raw(pf, "priority")
            priority = int(raw) if raw.lstrip("-").isdigit() else raw
        ecosystems = pf.data.getlist(pf.add_prefix("ecosystems")) if pf.is_bound and hasattr(pf.data, "getlist") \
            else list(pf.initial.get("ecosystems", []))
        patterns = [line.strip() for line in _raw(pf, "package_patterns").splitlines() if line.strip()]
        rules: list[dict[str, Any]] = []
        mapping: list[tuple[RuleBlock, list[forms.Form]]] = []
        for block in self.ordered_blocks():
            if block.deleted:
                continue
            block.form.is_valid()
            conditions = []
            condition_forms = []
            for form in block.conditions.forms:
                form.is_valid()
                if _checked(form, "DELETE"):
                    continue
                subject, operator, text = _raw(form, "subject"), _raw(form, "operator"), _raw(form, "value")
                if not subject and not operator and not text.strip():
                    continue
                conditions.append({"subject": subject, "operator": operator,
                                   "value": parse_value(subject, operator, text)})
                condition_forms.append(form)
            rule: dict[str, Any] = {"action": _raw(block.form, "action"), "match": _raw(block.form, "match") or "all",
                                    "enabled": _checked(block.form, "enabled"), "conditions": conditions}
            name = _raw(block.form, "name").strip()
            if name:
                rule["name"] = name
            rules.append(rule)
            mapping.append((block, condition_forms))
        document = {
            "name": _raw(pf, "name").strip(), "description": _raw(pf, "description").strip(),
            "enabled": _checked(pf, "enabled"), "mode": _raw(pf, "mode") or "enforce", "priority": priority,
            "scope": {"ecosystems": ecosystems, "packages": patterns}, "rules": rules,
        }
        return document, mapping

    def summary(self) -> str:
        return _raw(self.policy_form, "summary").strip()

    def place_errors(self, errors: dict[str, Any], mapping: list[tuple[RuleBlock, list[forms.Form]]]) -> None:
        """Put engine errors (keyed by path) next to the form fields they concern."""
        pf = self.policy_form
        pf.is_valid()
        for path, messages in errors.items():
            messages = messages if isinstance(messages, list) else [str(messages)]
            for message in messages:
                self._place(path, str(message), mapping)
        self.errors_placed = True

    def _place(self, path: str, message: str, mapping: list[tuple[RuleBlock, list[forms.Form]]]) -> None:
        pf = self.policy_form
        top = {"name": "name", "description": "description", "enabled": "enabled", "mode": "mode",
               "priority": "priority", "scope.ecosystems": "ecosystems", "scope.packages": "package_patterns"}
        if path in top:
            _add(pf, top[path], message)
            return
        match = re.match(r"^scope\.(ecosystems|packages)\[(\d+)\]$", path)
        if match:
            field = "ecosystems" if match.group(1) == "ecosystems" else "package_patterns"
            _add(pf, field, f"Line {int(match.group(2)) + 1}: {message}" if field == "package_patterns" else message)
            return
        match = re.match(r"^rules\[(\d+)\](?:\.conditions\[(\d+)\])?(?:\.(\w+))?$", path)
        if match and int(match.group(1)) < len(mapping):
            block, condition_forms = mapping[int(match.group(1))]
            if match.group(2) is not None and int(match.group(2)) < len(condition_forms):
                form = condition_forms[int(match.group(2))]
                field = match.group(3)
                _add(form, field if field in ("subject", "operator", "value") else None, message)
                return
            field = match.group(3)
            if field in ("name", "action", "match", "enabled"):
                _add(block.form, field, message)
            else:
                _add(block.form, None, f"Conditions: {message}" if field == "conditions" else message)
            return
        _add(pf, None, f"{path}: {message}" if path not in ("rules", "non_field_errors") else message)


def _add(form: forms.Form, field: str | None, message: str) -> None:
    if not hasattr(form, "cleaned_data"):
        form.is_valid()
    if field is not None and field in form.errors:
        if message in form.errors[field]:
            return
    form.add_error(field, message)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


class PolicyJsonForm(forms.Form):
    document = forms.CharField(widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false"}), label="Policy (JSON)")
    summary = forms.CharField(required=False, max_length=300, label="Change note")

    def clean_document(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["document"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") \
                from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The policy must be a JSON object.")
        value.pop("summary", None)
        return value


class SimulationForm(forms.Form):
    document = forms.CharField(widget=forms.Textarea(attrs={"rows": 20, "spellcheck": "false"}),
                               label="Draft policy (JSON)")
    replaces = forms.ChoiceField(required=False, label="In place of",
                                 help_text="The live policy the draft would replace; none: the draft is added.")
    scans = forms.IntegerField(min_value=1, max_value=1000, initial=100, label="Latest completed scans")

    def __init__(self, *args: Any, policies: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["replaces"].choices = [("", "— none: add the draft —")] + [
            (str(p.pk), p.name) for p in (policies or [])]

    def clean_document(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["document"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") \
                from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The policy must be a JSON object.")
        value.pop("summary", None)
        return value


class WaiverRequestForm(forms.Form):
    scope = forms.ChoiceField(choices=Waiver.Scope.choices)
    value = forms.CharField(max_length=128, help_text="The check id, the vulnerability id or alias, or the finding's "
                                                      "fingerprint.")
    ecosystem = forms.ChoiceField(choices=[(e, e) for e in ECOSYSTEMS])
    package_name = forms.CharField(max_length=214, label="Package")
    version_range = forms.CharField(max_length=400, required=False,
                                    help_text="Optional: only these versions, e.g. >=1.0,<1.4.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}),
                             help_text="Why the finding is acceptable; the approver reads this.")
    expires_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Expires (UTC)", help_text="Required; at most the organization's maximum away.")
    finding = forms.UUIDField(required=False, widget=forms.HiddenInput)


class WaiverDecisionForm(forms.Form):
    note = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class WaiverRevokeForm(forms.Form):
    reason = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class ReevaluateForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=3650, initial=30)
