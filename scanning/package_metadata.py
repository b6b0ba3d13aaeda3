"""Parse an extracted package's own metadata into `PackageMetadata`, for every ecosystem.

| format | read from |
|---|---|
| wheel | `<name>.dist-info/METADATA` (core metadata, RFC 822 headers) |
| sdist | `<top>/PKG-INFO`, else `*.egg-info/PKG-INFO`; dependencies also from `requires.txt`, `pyproject.toml`, `setup.py` literals; `setup.py` is an install script |
| npm | `<top>/package.json` (+ `npm-shrinkwrap.json` / `package-lock.json`); install scripts `preinstall`, `install`, `postinstall` (and the implicit `node-gyp rebuild` of a `binding.gyp`) |
| deb | `DEBIAN/control` (deb822); maintainer scripts `DEBIAN/{preinst,postinst,prerm,postrm,config}`; licence from `usr/share/doc/<pkg>/copyright` |
| rpm | the main header: name, version, release, epoch, summary, licence, URL, requires; scriptlets |
| apk | `.PKGINFO`; scripts `.pre-install`, `.post-install`, `.pre-upgrade`, `.post-upgrade`, `.pre-deinstall`, `.post-deinstall`, `.trigger` |

Dependencies carry `version` only when the declaration pins one exact version.
Nothing here executes package code: `setup.py` and `pyproject.toml` are read as text.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from email.parser import HeaderParser
from typing import Any

from scanning.analyzers.base import ArtifactFile, Dependency, PackageMetadata
from scanning.formats import ArtifactFormat
from scanning.rpm import (
    ARCH,
    DESCRIPTION,
    LICENSE,
    PACKAGER,
    SENSE_EQUAL,
    SENSE_GREATER,
    SENSE_LESS,
    SUMMARY,
    URL,
    VENDOR,
    RpmHeader,
)

MAX_METADATA_BYTES = 5 * 1024 * 1024
MAX_DEPENDENCIES = 10_000

DEB_SCRIPTS = ("preinst", "postinst", "prerm", "postrm", "config")
APK_SCRIPTS = (".pre-install", ".post-install", ".pre-upgrade", ".post-upgrade", ".pre-deinstall",
               ".post-deinstall", ".trigger")
NPM_HOOKS = ("preinstall", "install", "postinstall")


def _read(f: ArtifactFile, limit: int = MAX_METADATA_BYTES) -> str:
    with open(f.abs_path, "rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _shallowest(files: dict[str, ArtifactFile], pattern: re.Pattern[str]) -> ArtifactFile | None:
    matches = [f for path, f in files.items() if pattern.fullmatch(path)]
    return min(matches, key=lambda f: (f.path.count("/"), f.path)) if matches else None


def parse_metadata(files: list[ArtifactFile], fmt: ArtifactFormat, rpm_header: RpmHeader | None = None
                   ) -> PackageMetadata | None:
    """The package's declared metadata, or None when the artifact carries none."""
    by_path = {f.path: f for f in files}
    parser = {"wheel": _wheel, "sdist": _sdist, "npm": _npm, "deb": _deb, "apk": _apk}.get(fmt.key)
    if fmt.key == "rpm":
        return _rpm(rpm_header) if rpm_header is not None else None
    if parser is None:
        return None
    return parser(by_path, fmt)


# --- Python -------------------------------------------------------------------------------

_PIN = re.compile(r"^\s*===?\s*([^\s,;*]+)\s*$")


def python_dependency(requirement: str, source: str) -> Dependency | None:
    """One PEP 508 requirement; `version` is set for `==X` / `===X` without wildcards."""
    text = requirement.strip()
    if not text or text.startswith("#"):
        return None
    try:
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            req = Requirement(text)
        except InvalidRequirement:
            return Dependency(name=re.split(r"[\s<>=!~;\[(@]", text, maxsplit=1)[0], spec=text, source=source)
        spec = str(req.specifier)
        if req.url:
            spec = f"@ {req.url}"
        pinned = _PIN.match(spec) if spec and "," not in spec else None
        return Dependency(name=req.name, spec=spec, version=pinned.group(1) if pinned else None, source=source)
    except ImportError:  # pragma: no cover - packaging ships with pip and is pinned in requirements
        return Dependency(name=text.split()[0], spec=text, source=source)


def _core_metadata(text: str, source_file: str) -> PackageMetadata:
    message = HeaderParser().parsestr(text)
    raw: dict[str, Any] = {}
    for key, value in message.items():
        raw.setdefault(key, []).append(value)
    first = {k: v[0].strip() for k, v in raw.items()}
    license_text = first.get("License-Expression") or first.get("License", "")
    if license_text in ("UNKNOWN",):
        license_text = ""
    if not license_text:
        classifiers = [c for c in raw.get("Classifier", []) if c.startswith("License ::")]
        license_text = classifiers[0].split("::")[-1].strip() if classifiers else ""
    homepage = first.get("Home-page", "")
    if not homepage or homepage == "UNKNOWN":
        urls = raw.get("Project-URL", [])
        homepage = urls[0].split(",", 1)[-1].strip() if urls else ""
    author = first.get("Author", "") or first.get("Author-email", "") or first.get("Maintainer", "") or \
        first.get("Maintainer-email", "")
    deps = [d for d in (python_dependency(r, "Requires-Dist") for r in raw.get("Requires-Dist", [])) if d]
    summary = first.get("Summary", "")
    return PackageMetadata(
        ecosystem="pypi", name=first.get("Name", ""), version=first.get("Version", ""),
        summary="" if summary == "UNKNOWN" else summary, license=license_text,
        author="" if author == "UNKNOWN" else author, homepage=homepage, dependencies=deps[:MAX_DEPENDENCIES],
        source_file=source_file, raw={k: v if len(v) > 1 else v[0] for k, v in raw.items()},
    )


def _wheel(files: dict[str, ArtifactFile], fmt: ArtifactFormat) -> PackageMetadata | None:
    meta = _shallowest(files, re.compile(r"[^/]+\.dist-info/METADATA"))
    if meta is None:
        return None
    result = _core_metadata(_read(meta), meta.path)
    wheel = files.get(meta.path.rsplit("/", 1)[0] + "/WHEEL")
    if wheel is not None:
        info = HeaderParser().parsestr(_read(wheel))
        result.raw["WHEEL"] = {"Root-Is-Purelib": info.get("Root-Is-Purelib", ""), "Tag": info.get_all("Tag") or []}
    return result


def _sdist(files: dict[str, ArtifactFile], fmt: ArtifactFormat) -> PackageMetadata | None:
    pkg_info = _shallowest(files, re.compile(r"[^/]+/PKG-INFO")) or \
        _shallowest(files, re.compile(r"(?:[^/]+/)*[^/]+\.egg-info/PKG-INFO")) or files.get("PKG-INFO")
    top = pkg_info.path.split("/", 1)[0] + "/" if pkg_info is not None and "/" in pkg_info.path else ""
    setup_py = files.get(f"{top}setup.py") or _shallowest(files, re.compile(r"[^/]+/setup\.py"))
    pyproject = files.get(f"{top}pyproject.toml") or _shallowest(files, re.compile(r"[^/]+/pyproject\.toml"))
    if pkg_info is not None:
        result = _core_metadata(_read(pkg_info), pkg_info.path)
    elif pyproject is not None:
        result = PackageMetadata(ecosystem="pypi", source_file=pyproject.path)
    else:
        return None
    project: dict[str, Any] = {}
    if pyproject is not None:
        try:
            project = tomllib.loads(_read(pyproject)).get("project", {}) or {}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            project = {}
        if not pkg_info:
            result.name = str(project.get("name", ""))
            result.version = str(project.get("version", ""))
            result.summary = str(project.get("description", ""))
            lic = project.get("license", "")
            result.license = lic if isinstance(lic, str) else str((lic or {}).get("text", ""))
            authors = project.get("authors") or []
            result.author = ", ".join(str(a.get("name") or a.get("email") or "") for a in authors
                                      if isinstance(a, dict))
    if not result.dependencies:
        requires = _shallowest(files, re.compile(r"(?:[^/]+/)*[^/]+\.egg-info/requires\.txt"))
        declared: list[tuple[str, str]] = []
        if requires is not None:
            for line in _read(requires).splitlines():
                if line.startswith("["):
                    break
                declared.append((line, "requires.txt"))
        if not declared and isinstance(project.get("dependencies"), list):
            declared = [(str(d), "pyproject.toml") for d in project["dependencies"]]
        if not declared and setup_py is not None:
            declared = [(d, "setup.py") for d in setup_py_requirements(_read(setup_py))]
        result.dependencies = [d for d in (python_dependency(r, s) for r, s in declared) if d][:MAX_DEPENDENCIES]
    if setup_py is not None:
        result.install_scripts["setup.py"] = _read(setup_py)
        result.raw["setup_py_path"] = setup_py.path
    return result


def setup_py_requirements(source: str) -> list[str]:
    """String literals passed as `install_requires=[...]` to a `setup()` call (never executed)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "install_requires" and isinstance(kw.value, ast.List | ast.Tuple):
                    found.extend(e.value for e in kw.value.elts
                                 if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return found


# --- npm ------------------------------------------------------------------------------------

_NPM_EXACT = re.compile(r"^[=v]?\s*(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?)$")


def npm_dependency(name: str, spec: Any, source: str) -> Dependency:
    text = str(spec).strip() if spec is not None else ""
    exact = _NPM_EXACT.match(text)
    return Dependency(name=name, spec=text, version=exact.group(1) if exact else None, source=source)


def _json(f: ArtifactFile) -> Any:
    try:
        return json.loads(_read(f))
    except (json.JSONDecodeError, ValueError):
        return None


def _person(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("email") or "")
    return str(value or "")


def _npm(files: dict[str, ArtifactFile], fmt: ArtifactFormat) -> PackageMetadata | None:
    manifest = _shallowest(files, re.compile(r"[^/]+/package\.json")) or files.get("package.json")
    if manifest is None:
        return None
    data = _json(manifest)
    if not isinstance(data, dict):
        return PackageMetadata(ecosystem="npm", source_file=manifest.path, raw={"error": "package.json is not an object"})
    top = manifest.path.rsplit("/", 1)[0] + "/" if "/" in manifest.path else ""
    license_value = data.get("license", "")
    if isinstance(license_value, dict):
        license_value = license_value.get("type", "")
    if not license_value and isinstance(data.get("licenses"), list) and data["licenses"]:
        first = data["licenses"][0]
        license_value = first.get("type", "") if isinstance(first, dict) else str(first)
    repository = data.get("repository", "")
    if isinstance(repository, dict):
        repository = repository.get("url", "")
    deps: list[Dependency] = []
    for section in ("dependencies", "optionalDependencies"):
        values = data.get(section)
        if isinstance(values, dict):
            deps.extend(npm_dependency(str(n), v, "package.json") for n, v in values.items())
    for lock_name in ("npm-shrinkwrap.json", "package-lock.json"):
        lock = files.get(top + lock_name)
        if lock is not None:
            deps.extend(_npm_lock_dependencies(_json(lock), lock_name))
    scripts = data.get("scripts") if isinstance(data.get("scripts"), dict) else {}
    hooks = {k: str(scripts[k]) for k in NPM_HOOKS if k in scripts and str(scripts[k]).strip()}
    if top + "binding.gyp" in files and "install" not in hooks and "preinstall" not in hooks:
        hooks["install"] = "node-gyp rebuild"
        data.setdefault("_gatehouse", {})["implicit_install"] = "binding.gyp"
    return PackageMetadata(
        ecosystem="npm", name=str(data.get("name", "") or ""), version=str(data.get("version", "") or ""),
        summary=str(data.get("description", "") or ""), license=str(license_value or ""),
        author=_person(data.get("author")) or ", ".join(_person(m) for m in data.get("maintainers", []) or []
                                                        if isinstance(data.get("maintainers"), list)),
        homepage=str(data.get("homepage", "") or repository or ""), dependencies=deps[:MAX_DEPENDENCIES],
        install_scripts=hooks, source_file=manifest.path,
        raw={k: data[k] for k in ("name", "version", "scripts", "bin", "main", "repository", "engines", "_gatehouse",
                                  "gypfile", "os", "cpu") if k in data},
    )


def _npm_lock_dependencies(lock: Any, source: str) -> list[Dependency]:
    if not isinstance(lock, dict):
        return []
    out: list[Dependency] = []
    packages = lock.get("packages")
    if isinstance(packages, dict):  # lockfile v2/v3
        for path, entry in packages.items():
            if not path or not isinstance(entry, dict) or "node_modules/" not in path:
                continue
            name = entry.get("name") or path.rsplit("node_modules/", 1)[1]
            version = entry.get("version")
            if isinstance(version, str) and _NPM_EXACT.match(version):
                out.append(Dependency(name=str(name), spec=version, version=version, source=source))
            if len(out) >= MAX_DEPENDENCIES:
                break
        return out

    def walk(deps: Any, depth: int) -> None:  # lockfile v1
        if not isinstance(deps, dict) or depth > 64:
            return
        for name, entry in deps.items():
            if len(out) >= MAX_DEPENDENCIES:
                return
            if isinstance(entry, dict):
                version = entry.get("version")
                if isinstance(version, str) and _NPM_EXACT.match(version):
                    out.append(Dependency(name=str(name), spec=version, version=version, source=source))
                walk(entry.get("dependencies"), depth + 1)

    walk(lock.get("dependencies"), 0)
    return out


# --- Debian ---------------------------------------------------------------------------------

def parse_deb822(text: str) -> dict[str, str]:
    """One deb822 paragraph: `Field: value` with continuation lines starting with a space."""
    fields: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        if line[0] in " \t" and current is not None:
            fields[current] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            current = key.strip()
            fields[current] = value.strip()
    return fields


_DEB_REL = re.compile(r"^\s*([a-z0-9][a-z0-9+.\-]*)(?::[a-z0-9-]+)?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?")


def debian_dependencies(value: str, source: str) -> list[Dependency]:
    out = []
    for clause in value.split(","):
        for alternative in clause.split("|"):
            match = _DEB_REL.match(alternative.strip())
            if not match:
                continue
            name, op, version = match.groups()
            spec = f"{op} {version}" if op else ""
            out.append(Dependency(name=name, spec=spec, version=version if op == "=" else None, source=source))
    return out


def _deb(files: dict[str, ArtifactFile], fmt: ArtifactFormat) -> PackageMetadata | None:
    control = files.get("DEBIAN/control")
    if control is None:
        return None
    fields = parse_deb822(_read(control))
    package = fields.get("Package", "")
    license_text = ""
    copyright_file = files.get(f"usr/share/doc/{package}/copyright") if package else None
    if copyright_file is not None:
        match = re.search(r"^License:\s*(\S.*)$", _read(copyright_file, 256 * 1024), re.MULTILINE)
        license_text = match.group(1).strip() if match else ""
    deps: list[Dependency] = []
    for key in ("Pre-Depends", "Depends"):
        if fields.get(key):
            deps.extend(debian_dependencies(fields[key], key))
    scripts = {name: _read(files[f"DEBIAN/{name}"]) for name in DEB_SCRIPTS if f"DEBIAN/{name}" in files}
    return PackageMetadata(
        ecosystem="debian", name=package, version=fields.get("Version", ""),
        summary=fields.get("Description", "").split("\n", 1)[0], license=license_text,
        author=fields.get("Maintainer", ""), homepage=fields.get("Homepage", ""),
        dependencies=deps[:MAX_DEPENDENCIES], install_scripts=scripts, source_file=control.path, raw=fields,
    )


# --- RPM ------------------------------------------------------------------------------------

def _rpm(header: RpmHeader) -> PackageMetadata:
    deps = []
    for name, flags, version in header.requires():
        if name.startswith(("rpmlib(", "config(")) or not name:
            continue
        op = ("<" if flags & SENSE_LESS else "") + (">" if flags & SENSE_GREATER else "") + \
            ("=" if flags & SENSE_EQUAL else "")
        exact = version if op == "=" and version else None
        deps.append(Dependency(name=name, spec=f"{op} {version}".strip() if op else "", version=exact,
                               source="Requires"))
    scripts = {}
    for label, (interpreter, body) in header.scriptlets().items():
        scripts[label] = body if interpreter in ("", "/bin/sh") else f"#!{interpreter}\n{body}"
    raw = {"release": header.release, "epoch": header.epoch, "arch": header.string(ARCH),
           "description": header.string(DESCRIPTION)[:2000], "vendor": header.string(VENDOR),
           "interpreters": {k: v[0] for k, v in header.scriptlets().items()}}
    return PackageMetadata(
        ecosystem="rpm", name=header.name, version=header.version, summary=header.string(SUMMARY),
        license=header.string(LICENSE), author=header.string(PACKAGER) or header.string(VENDOR),
        homepage=header.string(URL), dependencies=deps[:MAX_DEPENDENCIES], install_scripts=scripts,
        source_file="(rpm header)", raw=raw,
    )


# --- Alpine ---------------------------------------------------------------------------------

_APK_DEP = re.compile(r"^(!?)([^<>=~]+?)(?:(<=|>=|<|>|=|~)(.+))?$")


def _apk(files: dict[str, ArtifactFile], fmt: ArtifactFormat) -> PackageMetadata | None:
    info = files.get(".PKGINFO")
    if info is None:
        return None
    raw: dict[str, Any] = {}
    for line in _read(info).splitlines():
        if line.startswith("#") or " = " not in line:
            continue
        key, value = line.split(" = ", 1)
        raw.setdefault(key.strip(), []).append(value.strip())
    first = {k: v[0] for k, v in raw.items()}
    deps = []
    for dep in raw.get("depend", []):
        match = _APK_DEP.match(dep)
        if not match or match.group(1):
            continue
        _neg, name, op, version = match.groups()
        deps.append(Dependency(name=name, spec=f"{op}{version}" if op else "", version=version if op == "=" else None,
                               source="depend"))
    scripts = {name: _read(files[name]) for name in APK_SCRIPTS if name in files}
    return PackageMetadata(
        ecosystem="alpine", name=first.get("pkgname", ""), version=first.get("pkgver", ""),
        summary=first.get("pkgdesc", ""), license=first.get("license", ""),
        author=first.get("maintainer", "") or first.get("packager", ""), homepage=first.get("url", ""),
        dependencies=deps[:MAX_DEPENDENCIES], install_scripts=scripts, source_file=".PKGINFO",
        raw={k: v if len(v) > 1 else v[0] for k, v in raw.items()},
    )

