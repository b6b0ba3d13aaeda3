"""Secrets shipped inside a package: cloud keys, service tokens, private keys, passwords in config.

Detectors combine known formats (prefixes, lengths, alphabets) with an entropy
test for free-form values, and skip placeholders (`changeme`, `${VAR}`, `<token>`,
`xxxx`, the AWS documentation keys...). Evidence never contains a secret: the
value is masked to its first four characters and its length, the snippet is
masked the same way, and the finding's key is a hash.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

from scanning.analyzers.base import (
    AnalysisContext,
    ArtifactFile,
    Category,
    Check,
    FindingDraft,
    Severity,
    register_analyzer,
)
from scanning.analyzers.indicators import Haystack, Screen, entropy

SECRET_CLOUD = Check(
    id="SEC-CLOUD-001", title="Cloud provider credential", category=Category.SECRETS, severity=Severity.HIGH,
    weight=8,
    description="An AWS access key id (AKIA/ASIA...) or secret access key, a Google API key or service-account "
                "key, or an Azure storage account key is embedded in the package.",
    fix="Revoke the key at the provider now (it is public), then remove it from the package and publish a new "
        "release; load credentials from the environment or a secret store instead.",
)
SECRET_TOKEN = Check(
    id="SEC-TOKEN-001", title="Service access token", category=Category.SECRETS, severity=Severity.HIGH, weight=8,
    description="A token with a known format is embedded: GitHub, GitLab, Slack, Stripe live keys, npm, PyPI, "
                "SendGrid, Twilio, OpenAI, Anthropic, Mailgun, Shopify, DigitalOcean, HashiCorp Vault, Discord or "
                "Telegram bot tokens.",
    fix="Revoke the token with its issuer, remove it from the package and publish a new release.",
)
SECRET_PRIVATE_KEY = Check(
    id="SEC-KEY-001", title="Private key", category=Category.SECRETS, severity=Severity.HIGH, weight=8,
    description="A PEM or OpenSSH private key (RSA, EC, DSA, Ed25519, PGP) is shipped. Keys inside test-fixture "
                "folders are reported with low severity.",
    fix="Treat the key as compromised: replace it wherever it is trusted, and remove it from the package.",
)
SECRET_PASSWORD = Check(
    id="SEC-PASS-001", title="Password or secret in configuration", category=Category.SECRETS,
    severity=Severity.MEDIUM, weight=5,
    description="A setting named like a password, secret, API key or token is given a literal value that is not a "
                "placeholder (enough length and entropy), in a config file (.env, .ini, .cfg, .toml, .yaml, .json, "
                ".properties) or a code assignment.",
    fix="Move the value to the environment or a secret store; rotate it if it was ever real.",
)
SECRET_URL = Check(
    id="SEC-URL-001", title="Credentials in a URL", category=Category.SECRETS, severity=Severity.MEDIUM, weight=5,
    description="A URL carries a user name and password (scheme://user:password@host), e.g. a database or broker "
                "connection string.",
    fix="Take the password out of the URL and read it from the environment; rotate it.",
)

TOKEN_PATTERNS: tuple[tuple[Check, str, re.Pattern[str]], ...] = (
    (SECRET_CLOUD, "AWS access key id", re.compile(r"(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Z0-9])")),
    (SECRET_CLOUD, "AWS secret access key", re.compile(
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")),
    (SECRET_CLOUD, "Google API key", re.compile(r"(?<![\w-])(AIza[0-9A-Za-z_-]{35})(?![\w-])")),
    (SECRET_CLOUD, "Azure storage account key", re.compile(r"AccountKey=([A-Za-z0-9+/]{86}==)")),
    (SECRET_TOKEN, "GitHub token", re.compile(r"(?<![\w])(gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{82})")),
    (SECRET_TOKEN, "GitLab token", re.compile(r"(?<![\w-])(glpat-[A-Za-z0-9_-]{20,})")),
    (SECRET_TOKEN, "Slack token", re.compile(r"(?<![\w-])(xox[baprs]-[0-9]{8,}-[A-Za-z0-9-]{10,})")),
    (SECRET_TOKEN, "Stripe live key", re.compile(r"(?<![\w])((?:sk|rk)_live_[A-Za-z0-9]{24,})")),
    (SECRET_TOKEN, "npm token", re.compile(r"(?<![\w])(npm_[A-Za-z0-9]{36})(?![\w])")),
    (SECRET_TOKEN, "PyPI token", re.compile(r"(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})")),
    (SECRET_TOKEN, "SendGrid key", re.compile(r"(SG\.[\w-]{22}\.[\w-]{43})")),
    (SECRET_TOKEN, "Twilio key", re.compile(r"(?<![\w])(SK[0-9a-f]{32})(?![\w])")),
    (SECRET_TOKEN, "OpenAI key", re.compile(r"(sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})")),
    (SECRET_TOKEN, "Anthropic key", re.compile(r"(sk-ant-(?:api|admin)\d{2}-[\w-]{80,})")),
    (SECRET_TOKEN, "Mailgun key", re.compile(r"(?<![\w])(key-[0-9a-f]{32})(?![\w])")),
    (SECRET_TOKEN, "Shopify token", re.compile(r"(shp(?:at|ss|ca|pa)_[0-9a-fA-F]{32})")),
    (SECRET_TOKEN, "DigitalOcean token", re.compile(r"(do[por]_v1_[a-f0-9]{64})")),
    (SECRET_TOKEN, "HashiCorp Vault token", re.compile(r"(?<![\w])(hvs\.[A-Za-z0-9_-]{90,})")),
    (SECRET_TOKEN, "Discord bot token", re.compile(r"(?<![\w-])([MN][A-Za-z\d]{23,25}\.[\w-]{6}\.[\w-]{27,38})(?![\w-])")),
    (SECRET_TOKEN, "Telegram bot token", re.compile(r"(?<![\w])(\d{8,10}:AA[\w-]{33})(?![\w-])")),
)
PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----\s*"
    r"((?:[A-Za-z0-9+/=:\-, ]+\s*){3,}?)-----END"
)
GCP_SERVICE_ACCOUNT = re.compile(r'"type"\s*:\s*"service_account"')
URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]{1,20})://([^/\s:@\"'`]{1,64}):([^/\s@\"'`]{4,128})@([\w.-]+)",
                             re.I)
SECRET_NAMES = (r"(?:password|passwd|pwd|pass|secret|secret_?key|api_?key|apikey|access_?key|access_?token|"  # noqa: S105
                r"auth_?token|private_?key|client_?secret|token|credentials?)")
ASSIGNMENT = re.compile(
    r"(?i)(?:^|[\s{,;(])[\"']?([\w.-]*" + SECRET_NAMES + r")[\"']?\s*(?:=|:|:=|=>)\s*"
    r"(?:[\"']([^\"'\n]{8,200})[\"']|([^\s\"';,\n]{12,200}))"
)
CONFIG_SUFFIXES = (".env", ".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml", ".json", ".properties", ".config",
                   ".npmrc", ".pypirc", ".netrc", ".xml")
CODE_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".go", ".java", ".php", ".sh")
PLACEHOLDER = re.compile(
    r"^(?:\$\{?[\w.]+\}?|%\(?[\w.]+\)?s?|\{\{.*\}\}|<[^>]*>|\[[^\]]*\]|\*+|x{3,}|X{3,}|\.{3,}|_+|-+)$|"
    r"change[_-]?me|changeit|your[_-]|example|sample|dummy|placeholder|redacted|insecure|not[_-]?a[_-]?secret|"
    r"^(?:password|secret|passw0rd|p@ssw0rd|test\w*|none|null|true|false|undefined|admin|root|guest|default|"
    r"foo|bar|baz|qwerty|letmein|hunter2|12345678\d*|abcdefgh\w*)$|os\.environ|getenv|process\.env|env\(|"
    r"^[a-z_][a-z0-9_.]*\(|^self\.|^settings\.|^config\.|\bTODO\b|fake|mock|^https?://",
    re.I,
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$|^[a-z][a-z0-9]*$")  # a variable name or a plain word, not a secret
TEST_PATHS = re.compile(r"(?:^|/)(?:tests?|testing|testdata|test_data|fixtures?|examples?|docs?|spec|__tests__)/", re.I)
MAX_FILE_BYTES = 1024 * 1024
MAX_PER_FILE = 10


SECRET_WORD = re.compile(r"(?i)passw|passwd|pwd|pass\b|secret|api_?key|apikey|access_?key|token|private_?key|credential")

# Screens (literal prefilters, see indicators.Screen) so that most patterns never run on most files.
TOKEN_SCREENS = tuple((check, label, Screen(pattern)) for check, label, pattern in TOKEN_PATTERNS)
PRIVATE_KEY_SCREEN = Screen(PRIVATE_KEY)
SECRET_WORD_SCREEN = Screen(SECRET_WORD)
# Necessary parts of patterns that have no selective literal (or only a very common one), written
# so that they start with a literal: the regex engine then jumps from one occurrence to the next
# instead of trying the whole pattern at every position. A text without them cannot match.
_CORES = {
    "Discord bot token": re.compile(r"\.[\w-]{6}\.[\w-]{27}"),
    "Twilio key": re.compile(r"SK[0-9a-f]{32}"),
}
_URL_CREDENTIALS_CORE = re.compile(r"://[^/\s:@\"'`]{1,64}:[^/\s@\"'`]{4,128}@")


def _assignment_matches(text: str, hay: Haystack | None = None) -> list[tuple[int, re.Match[str]]]:
    """(line number, match) of ASSIGNMENT, looked for only on lines that name a secret (the pattern is costly).

    Lines are those of str.splitlines(); only the lines holding one of SECRET_WORD's literals
    (found with str.find on the lower-cased text) are tested with SECRET_WORD itself.
    """
    hay = hay or Haystack(text)
    if not SECRET_WORD_SCREEN.possible(hay):
        return []
    lines = text.splitlines(keepends=True)
    lower = hay.lower
    if lower is None or len(lower) != len(text) or len(SECRET_WORD_SCREEN.groups) != 1:
        candidates: Iterable[int] = range(len(lines))
    else:
        starts = list(accumulate((len(line) for line in lines), initial=0))
        found: set[int] = set()
        for literal in SECRET_WORD_SCREEN.groups[0]:
            at = lower.find(literal)
            while at >= 0:
                index = bisect_right(starts, at) - 1
                found.add(index)
                at = lower.find(literal, starts[index + 1] if index + 1 < len(starts) else len(lower))
        candidates = sorted(found)
    matches = []
    for index in candidates:
        line = lines[index]
        if SECRET_WORD.search(line):
            matches.extend((index + 1, m) for m in ASSIGNMENT.finditer(line))
    return matches


@dataclass
class _Found:
    check: Check
    label: str
    secret: str
    line: int
    severity: Severity | None = None
    note: str = ""


def mask(secret: str) -> str:
    """First four characters and the length: enough to recognise a key, not to use it."""
    if len(secret) <= 8:
        return "*" * len(secret)
    return f"{secret[:4]}…({len(secret)} chars)"


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _plausible_password(value: str) -> bool:
    value = value.strip()
    if len(value) < 8 or PLACEHOLDER.search(value) or ENV_NAME.match(value) or " " in value.strip():
        return False
    if len(set(value)) < 5 or UUID.match(value) or not re.search(r"\d", value):
        return False
    if re.search(r"[(){}\[\]<>`]|\.\w+\(|^\w+\.\w+$|::", value):
        return False  # code, a template or an attribute path, not a value
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return entropy(value) >= (3.0 if len(value) < 20 else 3.5) and classes >= 2


class SecretsAnalyzer:
    name = "secrets"
    checks = (SECRET_CLOUD, SECRET_TOKEN, SECRET_PRIVATE_KEY, SECRET_PASSWORD, SECRET_URL)

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]:
        drafts: list[FindingDraft] = []
        seen: set[tuple[str, str]] = set()
        for f in ctx.files:
            if f.kind not in ("python", "javascript", "shell", "text") or f.size > MAX_FILE_BYTES:
                continue
            text = ctx.read_text(f)
            if "\x00" in text[:4096]:
                continue
            found = self.scan_text(text, f.path)
            lines = text.splitlines()
            for item in found[:MAX_PER_FILE]:
                digest = hashlib.sha256(item.secret.encode()).hexdigest()[:16]
                if (item.check.id, digest) in seen:
                    continue
                seen.add((item.check.id, digest))
                drafts.append(self._draft(f, item, lines, digest))
        return drafts

    def scan_text(self, text: str, path: str) -> list[_Found]:
        found: list[_Found] = []
        in_tests = bool(TEST_PATHS.search(path))
        hay = Haystack(text)
        for check, label, screen in TOKEN_SCREENS:
            core = _CORES.get(label)
            if core is not None and not core.search(text):
                continue
            for match in screen.finditer(hay):
                secret = match.group(1)
                if "EXAMPLE" in secret.upper() or re.search(r"(.)\1{7,}", secret) or entropy(secret) < 3.0:
                    continue
                found.append(_Found(check, label, secret, _line_of(text, match.start(1)),
                                    Severity.LOW if in_tests else None, "in a test or example folder" if in_tests else ""))
        for match in PRIVATE_KEY_SCREEN.finditer(hay):
            body = re.sub(r"\s+", "", match.group(2))
            if len(body) < 64 or "..." in match.group(2) or entropy(body) < 4.0:
                continue
            found.append(_Found(SECRET_PRIVATE_KEY, match.group(1).title(), body, _line_of(text, match.start()),
                                Severity.LOW if in_tests else None, "in a test or example folder" if in_tests else ""))
        if '"private_key"' in text and GCP_SERVICE_ACCOUNT.search(text):
            match = re.search(r'"private_key_id"\s*:\s*"([0-9a-f]{40})"', text)
            if match:
                found.append(_Found(SECRET_CLOUD, "Google service-account key", match.group(1),
                                    _line_of(text, match.start(1))))
        for match in (URL_CREDENTIALS.finditer(text) if _URL_CREDENTIALS_CORE.search(text) else ()):
            password = match.group(3)
            if PLACEHOLDER.search(password) or re.fullmatch(r"\d{1,5}", password) \
                    or len(set(password)) < 4 or "{" in password or "$" in password or "%" in password:
                continue
            found.append(_Found(SECRET_URL, f"{match.group(1)} URL", password, _line_of(text, match.start(3))))
        lower = path.lower()
        name = lower.rsplit("/", 1)[-1]
        is_code = lower.endswith(CODE_SUFFIXES)
        if (lower.endswith(CONFIG_SUFFIXES) or is_code or name.startswith(".env") or name in ("credentials",)) \
                and "example" not in name and "sample" not in name:
            for line_number, match in _assignment_matches(text, hay):
                if is_code and not match.group(2):
                    continue  # in code only a quoted literal is a value; the rest is an expression
                value = match.group(2) or match.group(3) or ""
                key = match.group(1)
                if not _plausible_password(value) or any(value in f.secret or f.secret in value for f in found):
                    continue
                if key.lower().endswith(("_file", "_path", "_env", "_name", "_url", "_type", "_id", "_length")):
                    continue
                found.append(_Found(SECRET_PASSWORD, key, value, line_number,
                                    Severity.LOW if in_tests else None, "in a test or example folder" if in_tests else ""))
        return sorted(found, key=lambda f: f.line)

    def _draft(self, f: ArtifactFile, item: _Found, lines: list[str], digest: str) -> FindingDraft:
        snippet = lines[item.line - 1].strip() if 0 < item.line <= len(lines) else ""
        snippet = snippet.replace(item.secret, mask(item.secret))[:240]
        if item.check is SECRET_PRIVATE_KEY:
            snippet = snippet[:80]
        detail = f"{item.label} in {f.path} line {item.line}: {mask(item.secret)}"
        if item.note:
            detail += f" ({item.note})"
        return FindingDraft(
            check_id=item.check.id,
            severity=item.severity,
            title=f"{item.check.title}: {item.label}",
            detail=detail,
            file_path=f.path,
            line=item.line,
            key=f"{item.label}:{digest}",
            evidence={"file": f.path, "line": item.line, "kind": item.label, "masked": mask(item.secret),
                      "snippet": snippet, "sha256_prefix": digest},
        )


register_analyzer(SecretsAnalyzer())
