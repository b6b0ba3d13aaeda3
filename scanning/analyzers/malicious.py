"""Malicious-code heuristics over every source file of the package.

Python goes through its AST (`pyscan`), JavaScript through a tokenizer (`jsscan`);
every text file is also checked for what needs no parsing: bidirectional control
characters, messenger webhooks, cryptominer markers and reverse-shell or
download-and-run one-liners in shell scripts. Each finding carries the file, the
line, the offending snippet and, where a payload was decoded, a preview of it.

Precision matters as much as recall: checks fire on data flows into sinks (decoded
data into exec, the environment into a network call), not on words in a file, and
the benign corpus of popular packages must give no high or critical finding.
"""

from __future__ import annotations

import re
from collections import defaultdict

from scanning.analyzers import indicators as ind
from scanning.analyzers.base import (
    AnalysisContext,
    ArtifactFile,
    Category,
    Check,
    FindingDraft,
    Severity,
    read_text,
    register_analyzer,
)
from scanning.analyzers.jsscan import scan_javascript
from scanning.analyzers.parallel import map_in_processes
from scanning.analyzers.pyscan import Hit, scan_python

C = Category.MALICIOUS_CODE


def _check(id: str, title: str, severity: Severity, weight: int, description: str, fix: str) -> Check:
    return Check(id=id, title=title, category=C, severity=severity, weight=weight, description=description, fix=fix)


_REMOVE = "Do not install this version; report the package to its registry's security team."
CHECKS = (
    _check("MAL-EXEC-001", "Executes decoded or obfuscated code", Severity.CRITICAL, 10,
           "exec/eval/compile (Python) or eval/Function/vm (JavaScript), or a process spawn, receives data that is "
           "decoded at run time: base64, hex, zlib/bz2/lzma, marshal, chr()/fromCharCode chains, reversed strings, "
           "rot13, escaped string literals. The decoded payload is shown when it could be decoded statically.",
           _REMOVE),
    _check("MAL-IMPORT-001", "Imports a module or looks up a function by an encoded name", Severity.HIGH, 8,
           "__import__/importlib/getattr/globals()[...] (Python) or require()/import()/obj[...] (JavaScript) with a "
           "name built by concatenation or decoding, which hides what is really loaded.", _REMOVE),
    _check("MAL-DOWNLOAD-001", "Downloads and executes code", Severity.CRITICAL, 10,
           "Data fetched from the network reaches exec/eval or a process spawn, a downloaded file is made executable "
           "or run, or a process is started with a download-and-run command (curl | sh, iwr | iex, certutil "
           "-urlcache...).", _REMOVE),
    _check("MAL-DOWNLOAD-002", "Contains a download-and-run command line", Severity.MEDIUM, 4,
           "A string or script holds a download-and-run command (curl ... | sh, wget -O x && chmod +x x, "
           "powershell DownloadString | iex) that was not seen being executed.",
           "Check what the command fetches and when it runs; pin and verify what it downloads."),
    _check("MAL-SHELL-001", "Reverse shell", Severity.CRITICAL, 10,
           "A socket is connected and wired to a shell (os.dup2 of the socket, a socket piped into a spawned "
           "/bin/sh), or a reverse-shell one-liner (bash -i >& /dev/tcp/..., nc -e /bin/sh, mkfifo | nc).",
           _REMOVE),
    _check("MAL-EXFIL-001", "Sends credentials or the environment over the network", Severity.CRITICAL, 10,
           "Data read from credential stores (SSH keys, cloud credentials, browser profiles, wallets, /etc/passwd) "
           "or the whole process environment flows into a network call (HTTP request, socket, DNS lookup, mail).",
           _REMOVE),
    _check("MAL-CRED-001", "Reads credential stores", Severity.MEDIUM, 4,
           "Code refers to a credential store as a path it uses: ~/.ssh, ~/.aws/credentials, gcloud/azure/kube "
           "configs, .npmrc/.pypirc/.git-credentials/.netrc, browser profile databases, wallet files, messenger "
           "session tokens, /etc/passwd or /etc/shadow. Cloud SDKs legitimately read their own credentials.",
           "Confirm the package has a reason to read these files; block it if it does not."),
    _check("MAL-WEBHOOK-001", "Embedded messenger webhook or bot token", Severity.HIGH, 8,
           "A Discord webhook URL, a Telegram bot token or a Slack incoming-webhook URL is embedded in the code: a "
           "classic channel for exfiltrated data.", _REMOVE),
    _check("MAL-URL-001", "Link to a shady host", Severity.MEDIUM, 3,
           "Code (not documentation) links to a URL shortener, a paste or file-drop site, a tunnel / dynamic DNS / "
           "request-catcher host, or a raw public IP address.",
           "Check what is fetched from or sent to that host; prefer pinned, verifiable sources."),
    _check("MAL-MINER-001", "Cryptominer markers", Severity.HIGH, 8,
           "Mining-pool URLs (stratum+tcp://), miner names (xmrig, cryptonight, coinhive) or miner flags "
           "(--donate-level) appear in the package.", _REMOVE),
    _check("MAL-SPAWN-001", "Starts hidden or detached processes", Severity.MEDIUM, 4,
           "A process is spawned detached from the parent with its output discarded (start_new_session / "
           "CREATE_NO_WINDOW / setsid with DEVNULL; detached:true with stdio:'ignore' or unref(); nohup ... &), so it "
           "keeps running unseen after installation or import.",
           "Check what the background process does and why it must outlive the caller."),
    _check("MAL-CLIP-001", "Reads the clipboard", Severity.MEDIUM, 4,
           "The clipboard is read (pyperclip.paste, win32clipboard, clipboardy.read, navigator.clipboard.readText, "
           "pbpaste/xclip -o/Get-Clipboard), the way clipboard hijackers steal or swap wallet addresses.",
           "Make sure reading the clipboard is the package's documented purpose."),
    _check("MAL-UNICODE-001", "Bidirectional control characters in source code", Severity.HIGH, 8,
           "Unicode bidirectional overrides/isolates (U+202A-U+202E, U+2066-U+2069) in a source file make the code "
           "display differently from how it runs (the 'Trojan Source' attack).",
           "Review the file in an editor that shows control characters; reject it unless they are explained."),
    _check("MAL-UNICODE-002", "Homoglyph or invisible characters in identifiers", Severity.HIGH, 8,
           "An identifier or host name mixes Latin letters with look-alike letters of another script (Cyrillic 'а' "
           "for 'a'), uses letters Python silently normalises to ASCII (𝐞𝐱𝐞𝐜 -> exec) or contains invisible "
           "characters, so the code reads differently from what it does.", _REMOVE),
    _check("MAL-STEGO-001", "Loads code hidden in an image", Severity.CRITICAL, 10,
           "Data read from an image (pixels, EXIF, bytes of a .png/.jpg) reaches exec/eval or Function(): a "
           "steganography loader.", _REMOVE),
    _check("MAL-OBF-001", "Obfuscated code", Severity.HIGH, 7,
           "Output of a code obfuscator: javascript-obfuscator's hexadecimal identifiers (_0x1a2b), the p,a,c,k,e,d "
           "packer, JSFuck; or Python protected with PyArmor-style runtimes. Obfuscation hides what the code does.",
           "Ask the maintainers for the readable source; do not install code nobody can review."),
    _check("MAL-OBF-002", "Minified or encoded blob out of place", Severity.MEDIUM, 4,
           "A file unlike the rest of the package: minified code in a Python package or in an npm package whose "
           "other files are readable (outside dist/, build/ and *.min.js), or a very long encoded string literal.",
           "Check where the blob comes from and whether a readable source is published."),
)
CHECK_IDS = {c.id for c in CHECKS}
_SEVERITY_BY_ID = {c.id: c.severity for c in CHECKS}

PY_EXTENSIONS = (".py", ".pyw")
JS_EXTENSIONS = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts")
SHELL_EXTENSIONS = (".sh", ".bash", ".zsh", ".ps1", ".bat", ".cmd", ".psm1")
TEXT_KINDS = ("python", "javascript", "shell", "text")
DIST_DIRS = re.compile(r"(?:^|/)(?:dist|build|bundles?|umd|cdn|min|browser|vendor|esm|cjs|static|assets|"
                       r"public|_next|prebuilt)/", re.I)
MAX_HITS_PER_CHECK_PER_FILE = 5


def _is_python(f: ArtifactFile) -> bool:
    return f.path.lower().endswith(PY_EXTENSIONS) or f.kind == "python"


def _is_js(f: ArtifactFile) -> bool:
    return f.path.lower().endswith(JS_EXTENSIONS) and not f.path.lower().endswith(".d.ts") or f.kind == "javascript"


def _is_shell(f: ArtifactFile) -> bool:
    return f.path.lower().endswith(SHELL_EXTENSIONS) or f.kind == "shell"


def _minified(text: str) -> bool:
    if len(text) < 3000:
        return False
    lines = text.splitlines() or [""]
    longest = max(len(line) for line in lines)
    average = len(text) / len(lines)
    sample = min(len(text), 200_000)
    whitespace = sum(text.count(c, 0, sample) for c in " \t\n") / sample
    return (longest > 5000 or average > 400) and whitespace < 0.12


def _long_lines(text: str, length: int) -> list[tuple[int, str]]:
    """(number, line) of the lines of at least `length` characters."""
    if len(text) < length:
        return []
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if len(line) >= length]


def _python_minified_line(text: str, long_lines: list[tuple[int, str]] | None = None) -> int:
    """Line number of a long line of packed Python statements (not a data literal), or 0."""
    for number, line in _long_lines(text, 3000) if long_lines is None else long_lines:
        code_marks = line.count(";") + line.count("lambda") + line.count("def ") + line.count("exec(")
        quotes = (line.count("'") + line.count('"')) / len(line)
        if code_marks >= 30 and quotes < 0.05:
            return number
    return 0


class MaliciousCodeAnalyzer:
    name = "malicious_code"
    checks = CHECKS

    def analyze(self, ctx: AnalysisContext) -> list[FindingDraft]:
        findings: list[FindingDraft] = []
        js_files = [f for f in ctx.files if _is_js(f)]
        minified_js: dict[str, bool] = {}
        candidates = [f for f in ctx.files if (f.kind in TEXT_KINDS or _is_python(f) or _is_js(f) or _is_shell(f))
                      and f.size <= ctx.max_file_bytes * 4]
        code_bytes = sum(f.size for f in candidates if _is_python(f) or _is_js(f))
        processes = ctx.analysis_processes if code_bytes >= ctx.parallel_min_bytes else 1
        outcomes = map_in_processes(_analyze_files, [(f, ctx.max_file_bytes) for f in candidates],
                                    weights=[f.size for f in candidates], processes=processes)
        for f, outcome in zip(candidates, outcomes, strict=True):
            if outcome is None:
                continue
            hits, minified = outcome
            if minified is not None:
                minified_js[f.path] = minified
            if hits:
                findings += self._drafts(f, ctx.read_text(f), hits)
        findings += self._misplaced_minified(ctx, js_files, minified_js)
        return findings

    def file_hits(self, f: ArtifactFile, max_file_bytes: int) -> tuple[list[Hit], bool | None] | None:
        """Hits in one file, and for JavaScript whether it is minified; None for a file not read as text."""
        text = read_text(f.abs_path, max_file_bytes)
        if "\x00" in text[:4096]:
            return None
        hay = ind.Haystack(text)
        hits: list[Hit] = []
        minified = None
        if _is_python(f):
            hits += self._python(text, f)
        elif _is_js(f):
            minified = _minified(text)
            hits += scan_javascript(text, f.path)
        elif _is_shell(f):
            hits += self._shell(text, hay)
        if _is_python(f) or _is_js(f) or _is_shell(f):
            hits += self._text_checks(text, hay)
        elif f.kind == "text" and f.size < 1024 * 1024:
            hits += self._text_checks(text, hay, bidi=False)
        return hits, minified

    # --- per file --------------------------------------------------------------------------

    def _python(self, text: str, f: ArtifactFile) -> list[Hit]:
        hits: list[Hit] = []
        try:
            hits = scan_python(text, f.path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            # Python 2 or broken code: fall back to the string-level checks below.
            hits = []
        if "__pyarmor__" in text or "pyarmor_runtime" in text or "__pyarmor_" in text:
            line = next((i for i, ln in enumerate(text.splitlines(), 1) if "pyarmor" in ln.lower()), 1)
            hits.append(Hit("MAL-OBF-001", line, "protected with PyArmor (the real code is encrypted)",
                            indicator="pyarmor"))
        long_lines = _long_lines(text, 3000)
        minified_line = _python_minified_line(text, long_lines)
        if minified_line:
            hits.append(Hit("MAL-OBF-002", minified_line, "minified Python: a very long line of packed statements"))
        else:
            for number, line in long_lines:
                if len(line) > 20_000:
                    match = re.search(r"[\"']([A-Za-z0-9+/=]{10000,}|[0-9a-fA-F]{10000,})[\"']", line)
                    if match:
                        decoded, layers = ind.peel(match.group(1))
                        hits.append(Hit("MAL-OBF-002", number, f"encoded string literal of {len(match.group(1))} "
                                        "characters", preview=ind.preview(decoded) if layers else "", layers=layers))
                        break
        return hits

    def _shell(self, text: str, hay: ind.Haystack | None = None) -> list[Hit]:
        hits: list[Hit] = []
        hay = hay or ind.Haystack(text)
        # A pattern whose literals are nowhere in the file matches on none of its lines.
        shell, download = ind.REVERSE_SHELL_SCREEN.possible(hay), ind.DOWNLOAD_EXEC_SCREEN.possible(hay)
        url = ind.URL_SCREEN.possible(hay)
        if not (shell or download or url):
            return hits
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "REM ", "rem ", "::")):
                continue
            if shell and ind.REVERSE_SHELL_PATTERNS.search(stripped):
                hits.append(Hit("MAL-SHELL-001", number, "reverse-shell command", preview=ind.short(stripped, 200)))
            elif download and ind.DOWNLOAD_EXEC_PATTERNS.search(stripped):
                hits.append(Hit("MAL-DOWNLOAD-002", number, "download-and-run command", preview=ind.short(stripped, 200)))
            for match in ind.URL_RE.finditer(stripped) if url else ():
                category = ind.host_category(match.group(1))
                if category:
                    hits.append(Hit("MAL-URL-001", number, f"link to a {category}: {ind.short(match.group(0), 100)}",
                                    indicator=category))
        return hits

    def _text_checks(self, text: str, hay: ind.Haystack | None = None, *, bidi: bool = True) -> list[Hit]:
        """Bidirectional controls (source files only), webhooks and cryptominer markers."""
        hits: list[Hit] = []
        hay = hay or ind.Haystack(text)
        if bidi and not text.isascii() and any(c in text for c in ind.BIDI_CONTROLS):
            for number, line in enumerate(text.splitlines(), 1):
                found = sorted({f"U+{ord(c):04X}" for c in ind.bidi_controls(line)})
                if found:
                    hits.append(Hit("MAL-UNICODE-001", number, f"bidirectional control characters {', '.join(found)}",
                                    preview=line.encode("unicode_escape").decode("ascii")[:200]))
        for label, screen in ind.WEBHOOK_SCREENS:
            for match in screen.finditer(hay):
                line = text.count("\n", 0, match.start()) + 1
                hits.append(Hit("MAL-WEBHOOK-001", line, f"{label} embedded in the code",
                                preview=_mask(match.group(0)), indicator=label))
        match = ind.MINER_SCREEN.search(hay)  # the first marker is enough
        if match:
            line = text.count("\n", 0, match.start()) + 1
            hits.append(Hit("MAL-MINER-001", line, f"cryptominer marker {match.group(0)!r}", indicator=match.group(0)))
        return hits

    def _misplaced_minified(self, ctx: AnalysisContext, js_files: list[ArtifactFile],
                            minified: dict[str, bool]) -> list[FindingDraft]:
        """Minified JavaScript where the rest of the package is readable, outside the usual build folders."""
        outside = {path: flag for path, flag in minified.items() if not DIST_DIRS.search(path)}
        if len(outside) < 3:
            return []
        readable = sum(1 for flag in outside.values() if not flag)
        if readable / len(outside) < 0.75:
            return []
        drafts = []
        for f in js_files:
            if minified.get(f.path) and not DIST_DIRS.search(f.path) and not re.search(r"[.-]min\.[cm]?js$|\.bundle\.js$|"
                                                                                       r"\.umd\.js$|\.prod\.js$", f.path):
                drafts.append(self._draft(f, Hit("MAL-OBF-002", 1, "minified JavaScript among readable files, outside "
                                                 "the build folders"), ""))
        return drafts

    def _drafts(self, f: ArtifactFile, text: str, hits: list[Hit]) -> list[FindingDraft]:
        lines = text.splitlines()
        per_check: dict[str, int] = defaultdict(int)
        seen: set[tuple[str, int, str]] = set()
        drafts = []
        for hit in sorted(hits, key=lambda h: (h.line, h.check)):
            if hit.check not in CHECK_IDS:
                continue
            key = (hit.check, hit.line, hit.indicator)
            if key in seen or per_check[hit.check] >= MAX_HITS_PER_CHECK_PER_FILE:
                continue
            seen.add(key)
            per_check[hit.check] += 1
            drafts.append(self._draft(f, hit, ind.snippet_at(lines, hit.line)))
        return drafts

    def _draft(self, f: ArtifactFile, hit: Hit, snippet: str) -> FindingDraft:
        evidence: dict[str, object] = {"file": f.path, "line": hit.line, "snippet": _mask_secrets(snippet)}
        if hit.preview:
            evidence["decoded_preview"] = hit.preview
        if hit.layers:
            evidence["decoding"] = hit.layers
        if hit.indicator:
            evidence["indicator"] = hit.indicator
        return FindingDraft(
            check_id=hit.check,
            severity=_SEVERITY_BY_ID[hit.check],
            detail=hit.message,
            evidence=evidence,
            file_path=f.path,
            line=hit.line or None,
            key=f"{hit.check}:{hit.indicator or hit.message[:80]}",
        )


def _mask(text: str) -> str:
    """Keep the shape of a webhook URL or token but not its secret part."""
    return re.sub(r"([\w-]{6})[\w-]{12,}$", r"\1…", text)


def _mask_secrets(snippet: str) -> str:
    snippet = re.sub(r"(webhooks/\d+/)[\w-]{10,}", r"\1…", snippet)
    return re.sub(r"(bot\d+:)[\w-]{10,}", r"\1…", snippet)


_ANALYZER = MaliciousCodeAnalyzer()
register_analyzer(_ANALYZER)


def _analyze_files(batch: list[tuple[ArtifactFile, int]]) -> list[tuple[list[Hit], bool | None] | None]:
    """One batch of `file_hits`, run here or in an analysis process (see `parallel`)."""
    return [_ANALYZER.file_hits(f, max_file_bytes) for f, max_file_bytes in batch]
