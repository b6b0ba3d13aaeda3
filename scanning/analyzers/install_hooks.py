"""Install-time execution: code a package runs when it is installed, and what that code does.

Sources, per ecosystem:

- npm: the `preinstall`, `install` and `postinstall` scripts of package.json (and the
  implicit `node-gyp rebuild` of a binding.gyp), plus the local files they run
  (`node install.js`, `sh ./setup.sh`, `python x.py`);
- PyPI: `setup.py` of a source distribution (all of it runs at build/install time)
  and `.pth` files, whose `import` lines run at every interpreter start;
- Debian: the maintainer scripts (preinst, postinst, prerm, postrm, config);
- RPM: the scriptlets (%pre, %post, %preun, %postun, %pretrans, %posttrans, triggers);
- Alpine: .pre-install, .post-install, .pre-upgrade, .post-upgrade, .pre-deinstall,
  .post-deinstall, .trigger.

Within them: download-and-execute, a download piped into a shell, decode-then-execute,
writes to shell start-up files, cron, systemd units, and SSH keys. Pure: reads the
sandbox's files, never the network. Documented in docs/checks/install-hooks.md.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass

from scanning.analyzers.base import (
    AnalysisContext,
    Category,
    Check,
    Ecosystem,
    FindingDraft,
    Severity,
    Status,
    register_analyzer,
)

HOOK_PRESENT = Check(
    id="PKG-HOOK-001", title="Runs code at install time", category=Category.INSTALL_HOOKS,
    severity=Severity.MEDIUM, weight=5,
    description="The package runs its own code while it is installed: npm install scripts, a setup.py that does "
                "more than declare the package, or maintainer scripts/scriptlets. That code runs with the "
                "installing user's rights before anyone has used the package. System packages (deb, rpm, apk) "
                "routinely have such scripts, so there the finding is informational.",
    fix="Prefer packages without install scripts; for npm, install with --ignore-scripts where possible and "
        "review what the script does.",
)
DOWNLOAD_EXEC = Check(
    id="PKG-HOOK-002", title="Downloads and executes code at install time", category=Category.INSTALL_HOOKS,
    severity=Severity.CRITICAL, weight=10,
    description="An install-time script downloads something and executes it: a file fetched with curl/wget and "
                "made executable, or code fetched over HTTP and passed to exec/eval/child_process. What runs is "
                "decided by a server at install time, not by the package you reviewed.",
    fix="Do not install this package. Legitimate packages ship their code or download only data and verify it.",
)
PIPE_TO_SHELL = Check(
    id="PKG-HOOK-003", title="Pipes a downloaded script into a shell", category=Category.INSTALL_HOOKS,
    severity=Severity.CRITICAL, weight=10,
    description="An install-time script runs `curl ... | sh` (or wget, bash <(curl ...), PowerShell "
                "`iwr ... | iex`): the remote script runs without ever being stored or checked.",
    fix="Do not install this package.",
)
DECODE_EXEC = Check(
    id="PKG-HOOK-004", title="Decodes and executes hidden code at install time", category=Category.INSTALL_HOOKS,
    severity=Severity.CRITICAL, weight=10,
    description="An install-time script decodes data (base64, hex, zlib, rot13, char codes...) and executes the "
                "result. Honest install scripts have no reason to hide what they run.",
    fix="Do not install this package; report it to the registry.",
)
SHELL_PROFILE = Check(
    id="PKG-HOOK-005", title="Modifies shell start-up files", category=Category.INSTALL_HOOKS,
    severity=Severity.HIGH, weight=8,
    description="An install-time script writes to ~/.bashrc, ~/.profile, ~/.zshrc, /etc/profile(.d) or similar, "
                "so its code runs in every future shell: a classic persistence technique.",
    fix="Remove the package and inspect the modified start-up files.",
)
CRON = Check(
    id="PKG-HOOK-006", title="Installs a cron job from an install script", category=Category.INSTALL_HOOKS,
    severity=Severity.HIGH, weight=8,
    description="An install-time script adds a crontab entry or writes to /etc/cron.*, so code keeps running "
                "on a schedule after installation.",
    fix="Remove the package, then check `crontab -l` and /etc/cron.* for entries it added.",
)
SYSTEMD = Check(
    id="PKG-HOOK-007", title="Creates or enables a systemd service from an install script",
    category=Category.INSTALL_HOOKS, severity=Severity.HIGH, weight=8,
    description="An install-time script writes a systemd unit (or, in a language package, enables/starts one) so "
                "that a service runs persistently. System packages ship their units as files instead.",
    fix="Remove the package and the unit it created; check `systemctl list-unit-files`.",
)
SSH_KEYS = Check(
    id="PKG-HOOK-008", title="Adds SSH keys or changes SSH configuration", category=Category.INSTALL_HOOKS,
    severity=Severity.CRITICAL, weight=10,
    description="An install-time script writes to ~/.ssh/authorized_keys or the SSH daemon's configuration: "
                "a backdoor that lets someone log in to the machine.",
    fix="Do not install this package. On machines where it ran, remove unknown keys from authorized_keys.",
)
PTH_STARTUP = Check(
    id="PKG-HOOK-009", title=".pth file runs code at interpreter start-up", category=Category.INSTALL_HOOKS,
    severity=Severity.MEDIUM, weight=5, ecosystems=frozenset({Ecosystem.PYPI}),
    description="A .pth file in site-packages whose lines start with `import` is executed by every Python "
                "process on start, whether or not the package is imported.",
    fix="Check what the .pth line runs; prefer packages that do not hook interpreter start-up.",
)

CHECKS = (HOOK_PRESENT, DOWNLOAD_EXEC, PIPE_TO_SHELL, DECODE_EXEC, SHELL_PROFILE, CRON, SYSTEMD, SSH_KEYS,
          PTH_STARTUP)

OS_ECOSYSTEMS = (Ecosystem.DEBIAN, Ecosystem.RPM, Ecosystem.ALPINE)
MAX_SNIPPET = 240


@dataclass
class HookSource:
    label: str  # "postinstall", "setup.py", "postinst", "%post", ".post-install", "x.pth"
    file_path: str
    text: str
    language: str  # shell, python, javascript
    line_offset: int = 0  # lines before `text` in `file_path`


# --- Patterns (line-level, case-insensitive) ------------------------------------------------

_FETCH = r"(?:\bcurl\b|\bwget\b|\bfetch\s+-o|\bInvoke-WebRequest\b|\biwr\b|\bInvoke-RestMethod\b|\birm\b|" \
         r"DownloadString|DownloadFile|\bbitsadmin\b|\bcertutil\b[^\n]*-urlcache)"
_SHELLS = r"(?:sudo\s+)?(?:/usr)?(?:/bin/)?(?:ba|da|z|k|c|tc|fi)?sh\b|\bpython[0-9.]*\b|\bperl\b|\bruby\b|\bnode\b|\biex\b|Invoke-Expression"
PIPE_PATTERNS = [
    re.compile(_FETCH + r"[^|\n;]*\|\s*(?:" + _SHELLS + r")", re.IGNORECASE),
    re.compile(r"\b(?:ba|z|k)?sh\s+<\(\s*(?:curl|wget)\b", re.IGNORECASE),
    re.compile(r"\b(?:source|\.)\s+<\(\s*(?:curl|wget)\b", re.IGNORECASE),
    re.compile(r"\b(?:ba|z|k)?sh\s+-c\s+[\"']?\$\(\s*(?:curl|wget)\b", re.IGNORECASE),
    re.compile(r"\b(?:iex|Invoke-Expression)\b[^\n]*(?:DownloadString|Invoke-WebRequest|iwr|irm)", re.IGNORECASE),
]
_DOWNLOAD_TO_FILE = re.compile(
    r"\b(?:curl\b[^\n]*\s(?:-o|--output|-O|--remote-name)\b|wget\b|Invoke-WebRequest\b[^\n]*-OutFile|"
    r"DownloadFile|certutil\b[^\n]*-urlcache)", re.IGNORECASE)
_MAKE_EXECUTABLE_OR_RUN = re.compile(
    r"\bchmod\s+(?:[0-7]*[1357][0-7]*|[ugoa]*\+[rw]*x)|(?:^|[;&|]\s*|\bthen\s+|\bsudo\s+)\./|"
    r"\b(?:ba|da|z)?sh\s+/tmp/|\bnohup\b|\bStart-Process\b|(?:^|[;&|]\s*)/tmp/\S+", re.IGNORECASE)
DECODE_SHELL = [
    re.compile(r"\bbase64\s+(?:-d|--decode|-D)\b[^\n]*\|\s*(?:" + _SHELLS + r")", re.IGNORECASE),
    re.compile(r"\beval\b[^\n]*\bbase64\s+(?:-d|--decode|-D)\b", re.IGNORECASE),
    re.compile(r"\b(?:xxd\s+-r|openssl\s+(?:enc\s+)?(?:-d|base64\s+-d))[^\n]*\|\s*(?:" + _SHELLS + r")",
               re.IGNORECASE),
    re.compile(r"\$\(\s*echo\b[^\n]*\|\s*(?:base64\s+(?:-d|--decode)|rev|xxd\s+-r)[^\n]*\)", re.IGNORECASE),
    re.compile(r"\bprintf\s+['\"](?:\\x[0-9a-f]{2}){8,}[^\n]*\|\s*(?:" + _SHELLS + r")", re.IGNORECASE),
    re.compile(r"-EncodedCommand\b|\bpowershell\b[^\n]*\s-e(?:nc)?\s+[A-Za-z0-9+/=]{16,}", re.IGNORECASE),
]
DECODE_JS = [
    re.compile(r"\b(?:eval|Function|execSync|exec)\s*\([^\n]*(?:atob\s*\(|Buffer\.from\s*\([^\n]*['\"](?:base64|hex)"
               r"['\"]|fromCharCode|unescape\s*\(|decodeURIComponent\s*\()", re.IGNORECASE),
    re.compile(r"new\s+Function\s*\([^\n]*(?:atob|Buffer\.from|fromCharCode)", re.IGNORECASE),
]
PROFILE_PATH = r"(?:\.bashrc|\.bash_profile|\.bash_login|\.profile\b|\.zshrc|\.zprofile|\.zshenv|/etc/profile|" \
               r"/etc/bash\.bashrc|/etc/environment|/etc/zsh/|config\.fish)"
CRON_PATTERNS = [
    re.compile(r"\|\s*(?:sudo\s+)?crontab\b", re.IGNORECASE),
    re.compile(r"\bcrontab\s+(?:-u\s+\S+\s+)?(?:-\s*$|-\s*[;&|<]|/\S+|[\w.-]+\.\w+|-\s*<<)", re.IGNORECASE),
    re.compile(r"(?:/etc/cron\.(?:d|hourly|daily|weekly|monthly)\b|/etc/crontab\b|/var/spool/cron\b)",
               re.IGNORECASE),
]
CRON_PATH = r"/etc/cron\.(?:d|hourly|daily|weekly|monthly)/|/etc/crontab\b|/var/spool/cron|/etc/crontabs/"
SSH_PATH = r"authorized_keys2?\b|/etc/ssh/sshd_config\b|\.ssh/config\b"
SYSTEMD_UNIT_PATH = r"(?:/etc/systemd/system|/lib/systemd/system|/usr/lib/systemd/system|\.config/systemd/user|" \
                    r"/run/systemd/system)\S*"
SYSTEMCTL_ENABLE = re.compile(r"\bsystemctl\s+(?:--user\s+|--now\s+|-q\s+)*(?:enable|start|restart|daemon-reload|"
                              r"link)\b", re.IGNORECASE)
SSH_PATTERNS = [
    re.compile(r"authorized_keys2?\b", re.IGNORECASE),
    re.compile(r"/etc/ssh/sshd_config\b|\bPermitRootLogin\s+yes\b", re.IGNORECASE),
]
_WRITE_OP = re.compile(r"(?:>>?|\btee\b|\bcp\b|\bmv\b|\binstall\b|\bln\b|\bopen\s*\(|appendFile|writeFile|"
                       r"write_text|write_bytes|\bsed\s+-i|Add-Content|Set-Content|Out-File|crontab)", re.IGNORECASE)


def writes_to(line: str, target: str) -> bool:
    """Does this line write to a path matching `target` (shell redirects, tee, cp, sed -i, open(), fs.*)?"""
    t = f"(?:{target})"
    patterns = (
        rf">>?\s*[\"']?[^\s\"';|&]*{t}",
        rf"\btee\b(?:\s+-a)?[^|;&\n]*{t}",
        rf"\b(?:cp|mv|install|ln)\b[^;&|\n]*\s[\"']?[^\s\"']*{t}",
        rf"\bsed\s+-i[^;&|\n]*{t}",
        rf"\bopen\s*\([^\n]*{t}[^\n]*[\"'](?:a|w|ab|wb|a\+|w\+)[\"']",
        rf"(?:appendFile|writeFile|createWriteStream)\w*\s*\([^;\n]*{t}",
        rf"{t}[^\n]*\.(?:write_text|write_bytes)\s*\(",
        rf"(?:Add-Content|Set-Content|Out-File)\b[^\n]*{t}",
    )
    return any(re.search(p, line, re.IGNORECASE) for p in patterns)


_JS_FETCH = re.compile(r"\b(?:https?\.get|https?\.request|fetch\s*\(|axios|got\s*\(|request\s*\(|XMLHttpRequest|"
                       r"net\.connect|needle|superagent|download\s*\()|require\s*\(\s*['\"](?:https?|net|"
                       r"node-fetch|axios|request|got)['\"]\s*\)|from\s+['\"](?:https?|node-fetch|axios)['\"]",
                       re.IGNORECASE)
_JS_EXEC = re.compile(r"\b(?:eval\s*\(|new\s+Function\s*\(|child_process|execSync|execFile|spawn\s*\(|"
                      r"\bexec\s*\(|vm\.run\w*\()", re.IGNORECASE)
# URLs in string literals only: comments often cite documentation sites.
_JS_URL = re.compile(r"""["'`](?:https?:)?//([A-Za-z0-9.-]+)""")
_JS_EVAL = re.compile(r"\b(?:eval\s*\(|new\s+Function\s*\(|vm\.run\w*\()")
NPM_REGISTRY_HOSTS = frozenset({"registry.npmjs.org", "registry.yarnpkg.com", "registry.npmmirror.com"})


def _fetches_only_from_registry(text: str) -> bool:
    """Whether every URL in a script names an npm registry and nothing is evaluated in-process."""
    hosts = {m.group(1).lower() for m in _JS_URL.finditer(text)}
    return bool(hosts) and hosts <= NPM_REGISTRY_HOSTS and not _JS_EVAL.search(text)


_PY_FETCH_NAMES = {"urlopen", "urlretrieve", "get", "post", "request", "Request", "create_connection",
                   "connect", "HTTPSConnection", "HTTPConnection", "download"}
_PY_FETCH_MODULES = ("urllib", "requests", "http.client", "httpx", "socket", "urllib3", "aiohttp", "wget", "pycurl")
_PY_EXEC_NAMES = {"exec", "eval", "compile", "system", "popen", "Popen", "run", "call", "check_call", "check_output",
                  "execv", "execve", "execvp", "spawnv", "startfile", "__import__", "import_module"}
_PY_DECODERS = {"b64decode", "b32decode", "b16decode", "b85decode", "a85decode", "decodebytes", "decodestring",
                "unhexlify", "fromhex", "decompress", "loads", "decode", "urlsafe_b64decode", "standard_b64decode"}

_NPM_RUNNER = re.compile(r"^(?:node|nodejs|sh|bash|dash|zsh|python[0-9.]*|perl|ruby)$")


def _snippet(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_SNIPPET else line[: MAX_SNIPPET - 1] + "…"


class InstallHooksAnalyzer:
    name = "install_hooks"
    checks = CHECKS

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]:
        sources, presence = self.sources(ctx)
        drafts = list(presence)
        seen: set[tuple[str, str]] = set()
        for source in sources:
            for draft in self._scan(ctx, source):
                marker = (draft.check_id, draft.key)
                if marker not in seen:
                    seen.add(marker)
                    drafts.append(draft)
        drafts.extend(self._pth_files(ctx))
        return drafts

    # --- What runs at install time ---------------------------------------------------------

    def sources(self, ctx: AnalysisContext) -> tuple[list[HookSource], list[FindingDraft]]:
        meta = ctx.metadata
        sources: list[HookSource] = []
        presence: list[FindingDraft] = []
        scripts = dict(meta.install_scripts) if meta else {}
        if ctx.ecosystem == Ecosystem.NPM:
            manifest = meta.source_file if meta else "package.json"
            top = manifest.rsplit("/", 1)[0] + "/" if "/" in manifest else ""
            for hook, command in scripts.items():
                sources.append(HookSource(label=hook, file_path=manifest, text=command, language="shell"))
                sources.extend(self._npm_referenced_files(ctx, top, hook, command))
                presence.append(FindingDraft(
                    check_id=HOOK_PRESENT.id, status=Status.WARNING, file_path=manifest,
                    detail=f"npm runs the '{hook}' script on install: {_snippet(command)}",
                    evidence={"hook": hook, "command": _snippet(command)}, key=hook,
                ))
        elif ctx.ecosystem == Ecosystem.PYPI:
            setup_source = scripts.get("setup.py")
            if setup_source is not None and ctx.artifact_format != "wheel":
                path = str(meta.raw.get("setup_py_path", "setup.py")) if meta else "setup.py"
                sources.append(HookSource(label="setup.py", file_path=path, text=setup_source, language="python"))
                reasons = setup_py_install_behaviour(setup_source)
                if reasons:
                    presence.append(FindingDraft(
                        check_id=HOOK_PRESENT.id, status=Status.WARNING, file_path=path,
                        detail="setup.py runs code beyond declaring the package: " + "; ".join(reasons[:5]) + ".",
                        evidence={"reasons": reasons[:20]}, key="setup.py",
                    ))
        elif ctx.ecosystem in OS_ECOSYSTEMS:
            for label, body in scripts.items():
                path = {Ecosystem.DEBIAN: f"DEBIAN/{label}", Ecosystem.ALPINE: label}.get(Ecosystem(ctx.ecosystem),
                                                                                           label)
                language = _script_language(body)
                sources.append(HookSource(label=label, file_path=path, text=body, language=language))
                presence.append(FindingDraft(
                    check_id=HOOK_PRESENT.id, status=Status.WARNING, severity=Severity.INFO, file_path=path,
                    detail=f"The package runs the '{label}' script when it is installed, upgraded or removed "
                           f"({len(body.splitlines())} lines).",
                    evidence={"hook": label, "lines": len(body.splitlines()), "interpreter": language}, key=label,
                ))
        return sources, presence

    def _npm_referenced_files(self, ctx: AnalysisContext, top: str, hook: str, command: str) -> list[HookSource]:
        out = []
        by_path = {f.path: f for f in ctx.files}
        for segment in re.split(r"&&|\|\||;|\|", command):
            try:
                words = shlex.split(segment)
            except ValueError:
                words = segment.split()
            if len(words) < 2 or not _NPM_RUNNER.match(words[0].rsplit("/", 1)[-1]):
                continue
            arg = next((w for w in words[1:] if not w.startswith("-")), None)
            if not arg:
                continue
            rel = re.sub(r"^\./", "", arg)
            candidates = [top + rel, top + rel + ".js"] if not rel.endswith((".js", ".cjs", ".mjs")) else [top + rel]
            f = next((by_path[c] for c in candidates if c in by_path), None)
            if f is None:
                continue
            runner = words[0].rsplit("/", 1)[-1]
            language = "javascript" if runner.startswith("node") else "python" if runner.startswith("python") else \
                "shell" if runner in ("sh", "bash", "dash", "zsh") else f.kind
            out.append(HookSource(label=f"{hook} → {f.path}", file_path=f.path, text=ctx.read_text(f),
                                  language=language))
        return out

    # --- What the install-time code does --------------------------------------------------

    def _scan(self, ctx: AnalysisContext, source: HookSource) -> list[FindingDraft]:
        drafts: list[FindingDraft] = []
        lines = source.text.splitlines()
        is_os = ctx.ecosystem in OS_ECOSYSTEMS

        def add(check: Check, index: int | None, detail: str, pattern: str, *,
                severity: Severity | None = None, status: Status = Status.FAILED) -> None:
            line_text = lines[index] if index is not None and index < len(lines) else ""
            drafts.append(FindingDraft(
                check_id=check.id, file_path=source.file_path, severity=severity, status=status,
                line=(index + 1 + source.line_offset) if index is not None else None,
                detail=f"{detail} (in {source.label}).",
                evidence={"script": source.label, "snippet": _snippet(line_text), "pattern": pattern},
                key=f"{source.label}:{pattern}",
            ))

        download_line = None
        exec_line = None
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or (source.language in ("shell",) and stripped.startswith("#")):
                continue
            if any(p.search(line) for p in PIPE_PATTERNS):
                add(PIPE_TO_SHELL, i, "A downloaded script is piped straight into an interpreter", "pipe-to-shell")
            if source.language in ("shell", "text") or source.label in ("preinstall", "install", "postinstall"):
                if any(p.search(line) for p in DECODE_SHELL):
                    add(DECODE_EXEC, i, "Encoded data is decoded and executed", "decode-exec-shell")
                if download_line is None and _DOWNLOAD_TO_FILE.search(line):
                    download_line = i
                if download_line is not None and exec_line is None and _MAKE_EXECUTABLE_OR_RUN.search(line):
                    exec_line = i
            if source.language == "javascript" and any(p.search(line) for p in DECODE_JS):
                add(DECODE_EXEC, i, "Encoded data is decoded and passed to eval/Function/exec", "decode-exec-js")
            if writes_to(line, PROFILE_PATH):
                add(SHELL_PROFILE, i, "A shell start-up file is written", "shell-profile")
            if CRON_PATTERNS[0].search(line) or CRON_PATTERNS[1].search(line) or writes_to(line, CRON_PATH):
                add(CRON, i, "A cron job is installed", "cron")
            if writes_to(line, SYSTEMD_UNIT_PATH):
                add(SYSTEMD, i, "A systemd unit file is written", "systemd-unit")
            elif not is_os and SYSTEMCTL_ENABLE.search(line):
                add(SYSTEMD, i, "A systemd service is enabled or started", "systemctl")
            if writes_to(line, SSH_PATH) or (SSH_PATTERNS[1].search(line) and "PermitRootLogin" in line
                                             and _WRITE_OP.search(line)):
                add(SSH_KEYS, i, "SSH keys or the SSH daemon configuration are written", "ssh")
        if download_line is not None and exec_line is not None and exec_line >= download_line:
            add(DOWNLOAD_EXEC, download_line, "A file is downloaded and then executed", "download-exec-shell")
        if source.language == "javascript":
            fetch = next((i for i, line in enumerate(lines) if _JS_FETCH.search(line)), None)
            run = next((i for i, line in enumerate(lines) if _JS_EXEC.search(line)), None)
            if fetch is not None and run is not None:
                if _fetches_only_from_registry(source.text):
                    # Binary installers (esbuild, sharp...) fetch their platform build from the npm
                    # registry itself: content pinned by version and reviewed like the package.
                    add(DOWNLOAD_EXEC, fetch, "A build fetched from the npm registry is run at install time "
                                              "(registry URLs only; review which package it fetches)",
                        "download-exec-js-registry", severity=Severity.MEDIUM, status=Status.WARNING)
                else:
                    add(DOWNLOAD_EXEC, fetch, "Code fetched over the network is executed (network access and "
                                              "eval/child_process in the same install script)", "download-exec-js")
        if source.language == "python":
            drafts.extend(self._python(source, add))
        return drafts

    def _python(self, source: HookSource, add: object) -> list[FindingDraft]:
        try:
            tree = ast.parse(source.text)
        except (SyntaxError, ValueError):
            return []
        analysis = _PythonFacts(tree)
        if analysis.decode_exec_line is not None:
            add(DECODE_EXEC, analysis.decode_exec_line - 1,  # type: ignore[operator]
                "Decoded data is passed to exec/eval/compile", "decode-exec-python")
        if analysis.fetch_line is not None and analysis.exec_line is not None:
            add(DOWNLOAD_EXEC, analysis.fetch_line - 1,  # type: ignore[operator]
                "Network access and code execution (exec/eval/subprocess) in code that runs at install time",
                "download-exec-python")
        return []

    def _pth_files(self, ctx: AnalysisContext) -> list[FindingDraft]:
        if ctx.ecosystem != Ecosystem.PYPI:
            return []
        drafts = []
        for f in ctx.files:
            if not f.path.endswith(".pth") or f.size > 1024 * 1024:
                continue
            text = ctx.read_text(f)
            executable = [(i, line) for i, line in enumerate(text.splitlines())
                          if line.startswith(("import ", "import\t"))]
            if not executable:
                continue
            index, line = executable[0]
            drafts.append(FindingDraft(
                check_id=PTH_STARTUP.id, status=Status.WARNING, file_path=f.path, line=index + 1,
                detail=f"'{f.path}' runs code whenever Python starts: {_snippet(line)}",
                evidence={"snippet": _snippet(line), "lines": len(executable)}, key=f.path,
            ))
            source = HookSource(label=f.path, file_path=f.path, text="\n".join(line for _, line in executable),
                                language="python")
            drafts.extend(d for d in self._scan(ctx, source) if d.check_id != HOOK_PRESENT.id)
        return drafts


def _script_language(body: str) -> str:
    first = body.lstrip().split("\n", 1)[0].lower()
    if first.startswith("#!"):
        if "python" in first:
            return "python"
        if "node" in first:
            return "javascript"
        if "lua" in first:
            return "lua"
    return "shell"


class _PythonFacts(ast.NodeVisitor):
    """What a Python module does, from its syntax tree: network access, execution, decode-then-exec."""

    def __init__(self, tree: ast.AST) -> None:
        self.fetch_line: int | None = None
        self.exec_line: int | None = None
        self.decode_exec_line: int | None = None
        self.decoded_names: set[str] = set()
        self.network_modules = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom)
                                                        and node.module else [])
                if any(n.startswith(_PY_FETCH_MODULES) for n in names):
                    self.network_modules = True
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.AST) and self._is_decode(node.value):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.decoded_names.add(target.id)
        self.visit(tree)

    @staticmethod
    def _name(func: ast.AST) -> str:
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
        return ""

    @staticmethod
    def _dotted(func: ast.AST) -> str:
        parts = []
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if isinstance(func, ast.Name):
            parts.append(func.id)
        return ".".join(reversed(parts))

    def _is_decode(self, node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                name = self._name(sub.func)
                dotted = self._dotted(sub.func)
                if name in _PY_DECODERS and (name != "decode" or any(
                        isinstance(a, ast.Constant) and str(a.value).lower() in ("rot13", "rot_13", "hex", "base64",
                                                                                  "zlib", "bz2")
                        for a in sub.args)) and (name not in ("loads",) or dotted.startswith("marshal")):
                    return True
                if name == "chr" and isinstance(node, ast.Call) and self._name(node.func) == "join":
                    return True
            if isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Slice) and isinstance(
                    sub.slice.step, ast.UnaryOp):
                return True  # s[::-1]
        return False

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802 - ast.NodeVisitor API
        name = self._name(node.func)
        dotted = self._dotted(node.func)
        if name in _PY_FETCH_NAMES and (self.network_modules or dotted.split(".")[0] in ("urllib", "requests",
                                                                                          "socket", "httpx")):
            if name not in ("get", "post", "request", "connect", "download") or dotted.split(".")[0] in (
                    "requests", "httpx", "socket", "urllib3", "http", "aiohttp", "wget") or "urlopen" in dotted:
                self.fetch_line = self.fetch_line or node.lineno
        if name in _PY_EXEC_NAMES and (name in ("exec", "eval", "compile", "__import__") or dotted.split(".")[0] in (
                "os", "subprocess", "importlib", "pty", "commands")):
            self.exec_line = self.exec_line or node.lineno
            if name in ("exec", "eval", "compile") and node.args:
                arg = node.args[0]
                if self._is_decode(arg) or (isinstance(arg, ast.Name) and arg.id in self.decoded_names):
                    self.decode_exec_line = self.decode_exec_line or node.lineno
        self.generic_visit(node)


_DECLARATIVE_CALLS = {"setup", "find_packages", "find_namespace_packages", "open", "read", "join", "dirname",
                      "abspath", "Extension", "Path", "read_text", "get", "format", "strip", "split", "replace",
                      "exists", "isfile", "glob", "search", "match", "compile", "group", "findall", "splitlines",
                      "startswith", "endswith", "getenv", "get_version", "read_file", "readlines", "lower",
                      "upper", "items", "keys", "append", "extend", "update", "sub", "int", "str", "list", "dict",
                      "tuple", "len", "sorted", "set", "print", "insert", "rstrip", "lstrip", "exit", "version",
                      "parse", "walk", "relpath", "realpath", "basename", "splitext", "listdir", "cythonize",
                      "Pybind11Extension", "get_include", "find_library", "partition", "load", "loads", "dumps",
                      "decode", "encode", "getattr", "hasattr", "isinstance", "main", "RustExtension",
                      "CMakeExtension", "dist", "resolve", "with_suffix", "parent", "is_file", "mkdir",
                      "fspath", "platform", "system", "machine", "python_version", "copy", "copyfile",
                      "exc_info", "warn", "range", "enumerate", "zip", "map", "filter", "any", "all",
                      "rglob", "iterdir", "check_output"}


def setup_py_install_behaviour(source: str) -> list[str]:
    """Why a setup.py counts as install-time code beyond `setup(...)`, or [] for a declarative one."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ["setup.py cannot be parsed"]
    reasons: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {_PythonFacts._name(b) for b in node.bases}
            overridden = bases & {"install", "develop", "egg_info", "build_py", "build", "sdist", "bdist_egg",
                                  "bdist_wheel", "install_lib", "install_scripts", "easy_install", "Command"}
            if overridden:
                reasons.append(f"custom '{node.name}' command overriding {', '.join(sorted(overridden))}")
        if isinstance(node, ast.keyword) and node.arg == "cmdclass" and isinstance(node.value, ast.Dict):
            keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
            hooked = [k for k in keys if k in ("install", "develop", "egg_info", "build_py", "bdist_wheel",
                                               "bdist_egg", "easy_install", "install_lib")]
            if hooked:
                reasons.append(f"cmdclass replaces {', '.join(hooked)}")
        if isinstance(node, ast.Call):
            dotted = _PythonFacts._dotted(node.func)
            root = dotted.split(".")[0]
            name = _PythonFacts._name(node.func)
            if root in ("os", "subprocess", "socket", "urllib", "requests", "pty", "ctypes", "shutil") and \
                    name in ("system", "popen", "Popen", "run", "call", "check_call", "urlopen", "urlretrieve",
                             "get", "post", "socket", "connect", "spawn", "execv", "execve", "rmtree", "CDLL",
                             "startfile"):
                reasons.append(f"calls {dotted}() (line {node.lineno})")
            elif name in ("exec", "eval") and isinstance(node.func, ast.Name):
                reasons.append(f"calls {name}() (line {node.lineno})")
    seen: list[str] = []
    for reason in reasons:
        if reason not in seen:
            seen.append(reason)
    return seen


register_analyzer(InstallHooksAnalyzer())
