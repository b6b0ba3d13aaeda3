"""The benign corpus: popular packages fetched by `make corpus` (scripts/fetch_corpus.py) into .cache/corpus/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CORPUS_DIR = ROOT / ".cache" / "corpus"
MIN_PYPI, MIN_NPM = 30, 20


class CorpusMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class CorpusEntry:
    path: Path
    ecosystem: str
    name: str
    version: str


def corpus_entries() -> list[CorpusEntry]:
    manifest = CORPUS_DIR / "manifest.json"
    if not manifest.exists():
        raise CorpusMissing(f"The benign corpus is missing ({manifest}); run `make corpus` (network needed once).")
    entries = [CorpusEntry(CORPUS_DIR / e["file"], e["ecosystem"], e["name"], e["version"])
               for e in json.loads(manifest.read_text())]
    missing = [str(e.path) for e in entries if not e.path.exists()]
    counts = {eco: sum(1 for e in entries if e.ecosystem == eco) for eco in ("pypi", "npm")}
    if missing or counts["pypi"] < MIN_PYPI or counts["npm"] < MIN_NPM:
        raise CorpusMissing(f"The benign corpus is incomplete ({counts}, missing files: {missing[:5]}); "
                            "run `make corpus`.")
    return entries


def setup_django() -> None:
    """Worker-process initializer: a spawned interpreter configures Django before analysing."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()


# Filled by the corpus test, printed by this folder's conftest in the terminal summary.
REPORT: dict[str, object] = {}


def analyze_entry(entry: CorpusEntry) -> list[tuple[str, str, str, str, str, int | None, str]]:
    """Run every registered analyzer on one corpus artifact, through the pipeline's own context builder.

    Returns plain tuples (check, category, severity, status, file, line, detail) so that it can run in a worker
    process.
    """
    import tempfile

    from scanning.analyzers import registry
    from scanning.pipeline import analysis_context_for

    rows = []
    with tempfile.TemporaryDirectory(prefix="gh-corpus-") as workdir, analysis_context_for(
            entry.path, entry.ecosystem, workdir, name=entry.name, version=entry.version) as ctx:
        for analyzer in registry.analyzers():
            checks = {c.id: c for c in analyzer.checks}
            if not any(c.applies_to(ctx.ecosystem) for c in checks.values()):
                continue
            for draft in analyzer.analyze(ctx):
                check = checks.get(draft.check_id)
                severity = draft.severity or (check.severity if check else "")
                category = check.category if check else ""
                rows.append((draft.check_id, str(category), str(severity), str(draft.status), draft.file_path,
                             draft.line, draft.detail[:200]))
    return rows
