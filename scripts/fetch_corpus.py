#!/usr/bin/env python
"""Fetch the benign corpus: popular, honest PyPI and npm packages the analyzers must stay quiet on.

    .venv/bin/python scripts/fetch_corpus.py [--dest .cache/corpus]

Downloads each pinned package once (`pip download --no-deps`, `npm pack`) into
`<dest>/pypi/` and `<dest>/npm/` and writes `<dest>/manifest.json` (file, ecosystem,
name, version). Packages already present are not fetched again, so `make test`
only pays the download the first time. Exits non-zero, naming what is missing,
when a package cannot be fetched: the corpus test would fail without it anyway.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PYPI = [
    ("requests", "2.34.2"), ("urllib3", "2.8.0"), ("certifi", "2025.8.3"), ("idna", "3.20"),
    ("charset-normalizer", "3.5.2"), ("six", "1.17.0"), ("python-dateutil", "4.0.0"), ("pyyaml", "6.0.3"),
    ("packaging", "26.3"), ("setuptools", "84.2.1"), ("wheel", "0.48.0"), ("attrs", "26.1.0"), ("click", "8.5.1"),
    ("jinja2", "3.1.6"), ("markupsafe", "3.0.4"), ("flask", "3.1.3"), ("werkzeug", "3.1.9"), ("django", "5.2.19"),
    ("boto3", "1.44.5"), ("botocore", "1.44.5"), ("s3transfer", "0.19.3"), ("jmespath", "1.1.0"),
    ("pytz", "2026.6"), ("pydantic", "2.14.3"), ("typing-extensions", "4.16.0"), ("rich", "15.0.0"),
    ("pygments", "2.21.0"), ("tqdm", "4.70.1"), ("colorama", "0.4.6"), ("pyjwt", "2.15.1"), ("httpx", "0.28.1"),
    ("httpcore", "1.0.9"), ("anyio", "4.16.0"), ("h11", "0.16.0"), ("filelock", "4.2.11"),
    ("platformdirs", "4.14.5"), ("virtualenv", "21.15.7"), ("decorator", "5.3.1"), ("docutils", "0.23"),
    ("sqlalchemy", "2.1.9"), ("pytest", "9.2.0"), ("pluggy", "1.7.0"), ("psutil", "7.2.2"), ("paramiko", "5.1.0"),
]
NPM = [
    ("lodash", "4.18.1"), ("express", "5.3.0"), ("react", "19.3.1"), ("react-dom", "19.3.1"), ("chalk", "6.0.1"),
    ("commander", "15.1.0"), ("debug", "4.4.3"), ("axios", "1.21.1"), ("moment", "2.31.0"), ("uuid", "14.0.3"),
    ("semver", "7.8.6"), ("glob", "14.0.6"), ("minimatch", "11.0.9"), ("yargs", "18.2.0"), ("async", "3.2.6"),
    ("underscore", "1.13.8"), ("jquery", "4.0.0"), ("vue", "3.5.45"), ("body-parser", "2.4.0"), ("ws", "8.23.0"),
    ("dotenv", "18.0.10"), ("node-fetch", "3.3.2"), ("bluebird", "3.7.2"), ("fs-extra", "11.4.1"),
    ("cross-spawn", "7.0.6"), ("classnames", "2.5.1"), ("prop-types", "15.8.1"), ("core-js", "3.51.0"),
    ("esbuild", "0.28.2"), ("socket.io", "4.8.4"), ("rxjs", "7.8.2"), ("js-yaml", "5.5.0"),
    ("update-notifier", "7.3.1"),
]


def _pip() -> list[str]:
    venv_python = ROOT / ".venv" / "bin" / "python"
    return [str(venv_python if venv_python.exists() else Path(sys.executable)), "-m", "pip"]


def fetch_pypi(name: str, version: str, dest: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*_pip(), "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--dest", tmp,
               f"{name}=={version}"]
        result = subprocess.run(cmd, timeout=600, capture_output=True, text=True)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "pip failed")
        (artifact,) = list(Path(tmp).iterdir())
        target = dest / artifact.name
        shutil.move(str(artifact), target)
        return target


def fetch_npm(name: str, version: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [npm, "pack", "--silent", "--ignore-scripts", f"{name}@{version}", "--pack-destination", tmp]
        subprocess.run(cmd, check=True, timeout=600, stdout=subprocess.DEVNULL, cwd=tmp)  # noqa: S603
        (artifact,) = [p for p in Path(tmp).iterdir() if p.suffix == ".tgz"]
        target = dest / artifact.name
        shutil.move(str(artifact), target)
        return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", default=str(ROOT / ".cache" / "corpus"))
    args = parser.parse_args()
    dest = Path(args.dest)
    manifest_path = dest / "manifest.json"
    manifest: list[dict[str, str]] = json.loads(manifest_path.read_text()) if manifest_path.exists() else []
    present = {(e["ecosystem"], e["name"], e["version"]) for e in manifest if (dest / e["file"]).exists()}
    manifest = [e for e in manifest if (e["ecosystem"], e["name"], e["version"]) in present]
    failures: list[str] = []
    fetched = 0
    for ecosystem, packages, fetch in (("pypi", PYPI, fetch_pypi), ("npm", NPM, fetch_npm)):
        folder = dest / ecosystem
        folder.mkdir(parents=True, exist_ok=True)
        for name, version in packages:
            if (ecosystem, name, version) in present:
                continue
            try:
                path = fetch(name, version, folder)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, RuntimeError, ValueError, OSError) as exc:
                failures.append(f"{ecosystem}:{name}=={version} ({exc})")
                continue
            manifest.append({"file": str(path.relative_to(dest)), "ecosystem": ecosystem, "name": name,
                             "version": version})
            fetched += 1
            manifest_path.write_text(json.dumps(manifest, indent=1))
    manifest_path.write_text(json.dumps(manifest, indent=1))
    counts = {eco: sum(1 for e in manifest if e["ecosystem"] == eco) for eco in ("pypi", "npm")}
    print(f"corpus: {counts['pypi']} PyPI and {counts['npm']} npm packages in {dest} ({fetched} fetched now)")
    if failures:
        print("could not fetch:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
