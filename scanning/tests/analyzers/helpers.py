"""Build AnalysisContext objects from small files written by the tests (no pipeline, no database)."""

from __future__ import annotations

from pathlib import Path

from scanning.analyzers.base import AnalysisContext, ArtifactFile, FindingDraft, PackageMetadata

KINDS = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".ts": "javascript",
         ".sh": "shell", ".json": "text", ".txt": "text", ".cfg": "text", ".toml": "text", ".yaml": "text",
         ".yml": "text", ".ini": "text", ".env": "text", ".lock": "text", ".md": "text", ".pem": "text"}


def make_context(root: Path, files: dict[str, str | bytes], *, ecosystem: str = "pypi", name: str = "sample",
                 version: str = "1.0.0", metadata: PackageMetadata | None = None) -> AnalysisContext:
    entries = []
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        suffix = Path(rel).suffix.lower()
        kind = KINDS.get(suffix, "text" if isinstance(content, str) else "binary")
        entries.append(ArtifactFile(path=rel, abs_path=path, size=path.stat().st_size, kind=kind))
    if metadata is None:
        metadata = PackageMetadata(ecosystem=ecosystem, name=name, version=version)
    return AnalysisContext(ecosystem=ecosystem, submitted_name=name, submitted_version=version, root=root,
                           files=entries, metadata=metadata)


def check_ids(findings: list[FindingDraft]) -> set[str]:
    return {f.check_id for f in findings}


def by_check(findings: list[FindingDraft], check_id: str) -> list[FindingDraft]:
    return [f for f in findings if f.check_id == check_id]
