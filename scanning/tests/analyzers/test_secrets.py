"""Secrets: known formats and passwords in config are found, placeholders are not, evidence is masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanning.analyzers.base import Severity
from scanning.analyzers.secrets import SecretsAnalyzer, mask
from scanning.tests.analyzers.helpers import by_check, make_context

ANALYZER = SecretsAnalyzer()
AWS_ID = "AKIA" + "Q3EGRZLT7YNXM4PW"
AWS_SECRET = "kW9xtQ2vLr8ZbN5mY3pH" + "7sJ1dF6gA0cE4uK2iO9y"
GOOGLE = "AIza" + "SyD3kL9mQ2xW8vT5nB7cR1hJ4pF6gZ0sYeA"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc9ZkR"
NPM = "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
KEY_LINE = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
GITHUB = "ghp_" + "Xa8Lq2Zr5Tn9Vb3Mw7Kc1Yp4Hd6Jf0Gs8Re2Qu"
PRIVATE_KEY = ("-----BEGIN RSA PRIVATE KEY-----\n"
               + "\n".join(["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
                            "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
                            "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo"])
               + "\n-----END RSA PRIVATE KEY-----\n")

FLAGGED = [
    ("SEC-CLOUD-001", "config.py", f"AWS_ACCESS_KEY_ID = '{AWS_ID}'\n", AWS_ID),
    ("SEC-CLOUD-001", "settings.ini", f"[aws]\naws_secret_access_key = {AWS_SECRET}\n", AWS_SECRET),
    ("SEC-CLOUD-001", "maps.js", f"const key = '{GOOGLE}';\n", GOOGLE),
    ("SEC-TOKEN-001", "deploy.sh", f"export GITHUB_TOKEN={GITHUB}\n", GITHUB),
    ("SEC-TOKEN-001", "pay.py", f"stripe.api_key = '{STRIPE}'\n", STRIPE),
    ("SEC-TOKEN-001", ".npmrc", f"//registry.npmjs.org/:_authToken={NPM}\n", NPM),
    ("SEC-TOKEN-001", "bot.py", f"TOKEN = '{SLACK}'\n", SLACK),
    ("SEC-KEY-001", "id_rsa.pem", PRIVATE_KEY, KEY_LINE),
    ("SEC-PASS-001", ".env", "DATABASE_PASSWORD=Zq8#mT2!vR9xL4wp\n", "Zq8#mT2!vR9xL4wp"),
    ("SEC-PASS-001", "app.yaml", "smtp:\n  password: \"N7c$Kp2qWx9!Lm4z\"\n", "N7c$Kp2qWx9!Lm4z"),
    ("SEC-PASS-001", "settings.py", "SECRET_KEY = 'x8#Fq2@Lp9!mZ3vR7tW1yB5nC0kD4hJ6'\n", "x8#Fq2@Lp9!mZ3vR7tW1yB5nC0kD4hJ6"),
    ("SEC-URL-001", "db.py", "DB = 'postgres://app:Hq7vX2mZp9Lw@db.internal:5432/app'\n", "Hq7vX2mZp9Lw"),
]
BENIGN = [
    ("config.py", "AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE'\nAWS_SECRET = os.environ['AWS_SECRET_ACCESS_KEY']\n"),
    (".env.example", "DATABASE_PASSWORD=changeme\nAPI_KEY=${API_KEY}\nSECRET_KEY=<your-secret-key>\n"),
    ("settings.py", "PASSWORD = os.getenv('PASSWORD')\nSECRET_KEY = '{{ secret_key }}'\npassword_field = 'password'\n"),
    ("docs.md", "Use postgres://user:password@localhost/db as DATABASE_URL.\n"),
    ("keys.py", "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n"),
    ("app.json", '{"token_type": "bearer", "password_min_length": 12, "secret_name": "prod-db"}\n'),
    ("util.js", "const token = getToken();\nconst password = input.value;\n"),
]


@pytest.mark.parametrize(("check_id", "name", "content", "secret"), FLAGGED, ids=[f"{c}-{n}" for c, n, _, _ in FLAGGED])
def test_secret_is_found_and_masked(tmp_path: Path, check_id: str, name: str, content: str, secret: str) -> None:
    findings = ANALYZER.analyze(make_context(tmp_path, {f"pkg/{name}": content}))
    hits = by_check(findings, check_id)
    assert hits, [f.check_id for f in findings]
    hit = hits[0]
    expected_line = 1 if check_id == "SEC-KEY-001" else content[: content.index(secret)].count("\n") + 1
    assert hit.line == expected_line
    text = f"{hit.evidence} {hit.detail} {hit.title} {hit.key}"
    assert secret not in text, "the secret itself must never appear in a finding"


@pytest.mark.parametrize(("name", "content"), BENIGN, ids=[n for n, _ in BENIGN])
def test_placeholders_and_examples_are_not_secrets(tmp_path: Path, name: str, content: str) -> None:
    assert ANALYZER.analyze(make_context(tmp_path, {f"pkg/{name}": content})) == []


def test_keys_in_test_folders_are_low_severity(tmp_path: Path) -> None:
    findings = ANALYZER.analyze(make_context(tmp_path, {"pkg/tests/fixtures/key.pem": PRIVATE_KEY}))
    (hit,) = by_check(findings, "SEC-KEY-001")
    assert hit.severity == Severity.LOW


def test_same_secret_in_two_files_is_reported_once(tmp_path: Path) -> None:
    content = f"TOKEN = '{GITHUB}'\n"
    findings = ANALYZER.analyze(make_context(tmp_path, {"pkg/a.py": content, "pkg/b.py": content}))
    assert len(by_check(findings, "SEC-TOKEN-001")) == 1


def test_mask_keeps_only_a_prefix_and_the_length() -> None:
    assert mask(GITHUB) == f"ghp_…({len(GITHUB)} chars)"
    assert mask("short") == "*****"
