"""Indicators shared by the malicious-code heuristics: suspicious hosts, credential paths,
miner markers, shell one-liners, decoding of payloads and their previews (pure functions).

It also holds the *screens* that keep the analyzers fast: for a regular expression,
`Screen` derives the literal substrings that every match must contain and checks them
with plain substring tests (C speed, no backtracking) before the expression itself is
run. A screen only ever answers "cannot match" when that is certain, so findings are
exactly those of running the expression everywhere.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import gzip
import ipaddress
import lzma
import math
import re
import re._constants as _sre
import re._parser as _sre_parse
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

PREVIEW_CHARS = 200
MAX_DECODED = 1024 * 1024

# --- Screens: literal prefilters for regular expressions ---------------------------------------

# Characters that re.IGNORECASE matches to an ASCII letter but whose str.lower() is not that
# letter (İ, ı, ſ and the Kelvin sign). A text holding one of them is never screened on its
# lower-cased form; everywhere else `literal in text.lower()` is exactly "the literal occurs,
# ignoring case" for the ASCII literals the screens use (tests check this over all of Unicode).
FOLD_SPECIALS = "\u0130\u0131\u017f\u212a"
# Largest set of alternative literals built by expanding classes and alternations ([34], (?:tcp|udp)).
_MAX_ALTERNATIVES = 16
_ZERO_WIDTH = frozenset({_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT})
_REPEATS = frozenset({_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT})


class Haystack:
    """A text to screen, with its lower-cased form computed once, on first use."""

    __slots__ = ("text", "_lower")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None | bool = False

    @property
    def lower(self) -> str | None:
        """text.lower(), or None when case-insensitive literal tests on it would not be exact."""
        if self._lower is False:
            text = self.text
            self._lower = text.lower() if text.isascii() or not any(c in text for c in FOLD_SPECIALS) else None
        return self._lower  # type: ignore[return-value]


def _requirements(items: list, ignorecase: bool) -> tuple[frozenset[str] | None, list[frozenset[str]]]:
    """(exact, needed) for a parsed sequence of regex items.

    `exact` is the small set of strings the sequence matches exactly, when it is a plain literal
    (possibly with a few alternatives); `needed` lists sets of literals such that every match
    contains at least one literal of each set. Anything not understood contributes nothing,
    which can only make a screen let more through, never less.
    """
    needed: list[frozenset[str]] = []
    run: set[str] = {""}
    exact = True

    def flush() -> None:
        if run and min(len(x) for x in run) >= 1:
            needed.append(frozenset(run))

    for op, av in items:
        if op in _ZERO_WIDTH:
            continue  # consumes nothing: the literals on either side stay adjacent
        item_exact, item_needed = _item_requirements(op, av, ignorecase)
        if item_exact is not None and len(run) * len(item_exact) <= _MAX_ALTERNATIVES:
            run = {a + b for a in run for b in item_exact}
            continue
        exact = False
        flush()
        if item_exact is not None:
            run = set(item_exact)
        else:
            needed.extend(item_needed)
            run = {""}
    if exact:
        return frozenset(run), []
    flush()
    return None, needed


def _best(exact: frozenset[str] | None, needed: list[frozenset[str]]) -> frozenset[str] | None:
    """The most selective single requirement: the set whose shortest literal is longest."""
    options = ([exact] if exact and min(len(x) for x in exact) >= 1 else []) + needed
    if not options:
        return None
    return max(options, key=lambda group: (min(len(x) for x in group), -len(group)))


def _item_requirements(op: object, av: object, ignorecase: bool) -> tuple[frozenset[str] | None, list[frozenset[str]]]:
    if op is _sre.LITERAL:
        char = chr(av)  # type: ignore[arg-type]
        return frozenset({char.lower() if ignorecase else char}), []
    if op is _sre.IN:
        chars: set[str] = set()
        for kind, value in av:  # type: ignore[attr-defined]
            if kind is _sre.LITERAL:
                chars.add(chr(value))
            elif kind is _sre.RANGE and value[1] - value[0] < _MAX_ALTERNATIVES:
                chars.update(chr(c) for c in range(value[0], value[1] + 1))
            else:
                return None, []  # negated, a category (\w, \s...) or a wide range
        if ignorecase:
            chars = {c.lower() for c in chars}
        return (frozenset(chars), []) if len(chars) <= _MAX_ALTERNATIVES else (None, [])
    if op is _sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = av  # type: ignore[misc]
        if (add_flags | del_flags) & re.IGNORECASE:
            return None, []  # a local (?i:...) or (?-i:...): not worth the bookkeeping
        return _requirements(sub.data, ignorecase)
    if op is _sre.ATOMIC_GROUP:
        return _requirements(av.data, ignorecase)  # type: ignore[attr-defined]
    if op is _sre.BRANCH:
        branches = [_requirements(branch.data, ignorecase) for branch in av[1]]  # type: ignore[index]
        if all(exact is not None for exact, _ in branches):
            union = frozenset().union(*(exact for exact, _ in branches))  # type: ignore[misc]
            if len(union) <= _MAX_ALTERNATIVES:
                return union, []
        # Every match goes through one branch, so it contains one literal of that branch's best set.
        best = [_best(exact, needed) for exact, needed in branches]
        if any(b is None for b in best):
            return None, []
        return None, [frozenset().union(*best)]  # type: ignore[arg-type]
    if op in _REPEATS:
        low, high, sub = av  # type: ignore[misc]
        if low == 0:
            return None, []
        exact, needed = _requirements(sub.data, ignorecase)
        if low == high == 1:
            return exact, needed
        best = _best(exact, needed)
        return None, ([best] if best is not None else []) + needed
    return None, []  # ANY, NOT_LITERAL, CATEGORY, group references...


@lru_cache(maxsize=None)
def literal_requirements(pattern: str, flags: int) -> tuple[tuple[str, ...], ...]:
    """Sets of literals (lower-cased for IGNORECASE) such that every match has one literal of each set.

    Empty when the expression has no usable literal. Sets with a one-character literal are
    dropped: such a character is nearly always present and testing it costs a scan.
    """
    parsed = _sre_parse.parse(pattern, flags)
    ignorecase = bool(parsed.state.flags & re.IGNORECASE)
    exact, needed = _requirements(parsed.data, ignorecase)
    groups = ([exact] if exact is not None else []) + needed
    usable = []
    for group in groups:
        if not group or min(len(x) for x in group) < 2:
            continue
        if ignorecase and not all(x.isascii() for x in group):
            continue  # non-ASCII case folding has more cases than str.lower(): not screened
        usable.append(tuple(sorted(group)))
    return tuple(dict.fromkeys(usable))


class Screen:
    """A cheap test that is False only when `pattern` certainly has no match in a text."""

    __slots__ = ("pattern", "groups", "ignorecase")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.groups = literal_requirements(pattern.pattern, pattern.flags)
        self.ignorecase = bool(pattern.flags & re.IGNORECASE)

    def possible(self, hay: Haystack) -> bool:
        if not self.groups:
            return True
        text = hay.lower if self.ignorecase else hay.text
        if text is None:
            return True
        return all(any(literal in text for literal in group) for group in self.groups)

    def search(self, hay: Haystack) -> re.Match[str] | None:
        return self.pattern.search(hay.text) if self.possible(hay) else None

    def finditer(self, hay: Haystack) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(hay.text) if self.possible(hay) else iter(())

# --- Hosts -----------------------------------------------------------------------------

URL_SHORTENERS = frozenset({
    "bit.ly", "bitly.com", "tinyurl.com", "goo.gl", "is.gd", "v.gd", "cutt.ly", "rb.gy", "shorturl.at", "ow.ly",
    "rebrand.ly", "tiny.cc", "bl.ink", "t.ly", "s.id", "shorte.st", "adf.ly", "clck.ru", "u.to", "qr.ae", "buff.ly",
    "soo.gd", "tiny.one", "lnkd.in", "iplogger.org", "iplogger.com", "grabify.link", "2no.co", "yip.su",
})
PASTE_SITES = frozenset({
    "pastebin.com", "paste.ee", "hastebin.com", "hastebin.skyra.pw", "ghostbin.com", "ghostbin.co", "rentry.co",
    "rentry.org", "termbin.com", "0x0.st", "pastes.io", "controlc.com", "dpaste.com", "dpaste.org", "paste.rs",
    "justpaste.it", "pastebin.pl", "transfer.sh", "file.io", "anonfiles.com", "bashupload.com", "temp.sh",
    "privatebin.net", "ix.io", "sprunge.us", "paste.c-net.org", "gofile.io", "catbox.moe", "files.catbox.moe",
})
TUNNELS_AND_DYNAMIC_DNS = frozenset({
    "ngrok.io", "ngrok-free.app", "ngrok.app", "ngrok-free.dev", "duckdns.org", "no-ip.com", "no-ip.org", "noip.com",
    "ddns.net", "hopto.org", "zapto.org", "sytes.net", "serveo.net", "localtunnel.me", "loca.lt", "trycloudflare.com",
    "portmap.io", "portmap.host", "pipedream.net", "requestbin.net", "requestbin.com", "webhook.site",
    "burpcollaborator.net", "oastify.com", "oast.fun", "oast.pro", "oast.live", "oast.site", "oast.online",
    "oast.me", "interact.sh", "canarytokens.com", "dnslog.cn", "ceye.io", "dyndns.org", "afraid.org", "freedns.org",
    "mooo.com", "3utilities.com", "bounceme.net", "serveftp.com", "servebeer.com", "myftp.biz", "myvnc.com",
    "playit.gg", "bore.pub", "pinggy.io", "localhost.run", "lhr.life", "beeceptor.com", "hookbin.com",
})
_CATEGORIES = (
    ("URL shortener", URL_SHORTENERS),
    ("paste or file-drop site", PASTE_SITES),
    ("tunnel, dynamic DNS or request catcher", TUNNELS_AND_DYNAMIC_DNS),
)
URL_RE = re.compile(r"\b(?:https?|wss?|ftp)://([^\s/\"'`<>()\\{}|^#?]+)([^\s\"'`<>\\]*)", re.IGNORECASE)
_PROSE_WORD = re.compile(r"(?<![\w/.-])[A-Za-z]{3,}(?![\w/.-])")
URL_SCREEN = Screen(URL_RE)
_COMMAND_HINT = re.compile(r"\||&&|;|\b(?:curl|wget|powershell|iwr|bash|sh|nc|python)\b|\s-[A-Za-z]\b")


def is_prose(text: str) -> bool:
    """A human sentence (an error message pointing at docs), not a URL used by code or a command line."""
    return len(_PROSE_WORD.findall(text)) >= 4 and not _COMMAND_HINT.search(text)


def bidi_controls(line: str) -> list[str]:
    """Bidirectional controls on a line, leaving out those that are ends of a character range (Unicode tables)."""
    found = []
    for k, ch in enumerate(line):
        if ch in BIDI_CONTROLS:
            before = line[k - 1] if k else ""
            after = line[k + 1] if k + 1 < len(line) else ""
            if before == "-" or after == "-":
                continue
            found.append(ch)
    return found


@lru_cache(maxsize=4096)
def host_category(host: str) -> str:
    """Why a host is shady ('' when it is not): shortener, paste site, tunnel/dynamic DNS or a raw public IP."""
    host = host.lower().rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    else:
        host = host.split(":", 1)[0]
    host = host.rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return "raw public IP address" if address.is_global else ""
    for label, hosts in _CATEGORIES:
        parts = host.split(".")
        for i in range(len(parts) - 1):
            if ".".join(parts[i:]) in hosts:
                return label
    return ""


def has_mixed_script_host(host: str) -> bool:
    """A host name mixing Latin with look-alike letters of another script (an IDN homograph)."""
    host = host.split(":", 1)[0]
    if host.isascii():
        return False
    return any(mixed_script(label) for label in host.split("."))


# --- Webhooks, miners, shell one-liners ---------------------------------------------------

WEBHOOK_PATTERNS = (
    ("Discord webhook", re.compile(r"discord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d{15,22}/[\w-]{30,}", re.I)),
    ("Telegram bot token", re.compile(r"api\.telegram\.org/bot\d{6,12}:[\w-]{30,}", re.I)),
    ("Telegram bot token", re.compile(r"\b\d{8,10}:AA[\w-]{33}\b")),
    ("Slack webhook", re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}")),
)
MINER_PATTERNS = re.compile(
    r"stratum\+(?:tcp|ssl|tls)://|\bxmrig\b|\bcoinhive\b|\bcryptonight\b|\bminergate\b|\bnicehash\b|"
    r"supportxmr\.com|moneroocean\.stream|minexmr\.com|nanopool\.org|--donate-level|2miners\.com|"
    r"hashvault\.pro|c3pool\.com|\bxmr-stak\b|\bcpuminer\b|\bethminer\b|herominers\.com|unmineable\.com",
    re.IGNORECASE,
)
DOWNLOAD_EXEC_PATTERNS = re.compile(
    r"(?:\b(?:curl|wget)\b[^\n|;&]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b)"
    r"|(?:\b(?:curl|wget)\b[^\n|;&]*\|\s*(?:sudo\s+)?python[23]?\b)"
    r"|(?:\b(?:curl|wget)\b[^\n;&]*(?:-o|-O|--output)\s*\S+[^\n]*(?:&&|;)\s*(?:sudo\s+)?(?:chmod\s+[+0-7]*x|\./|sh\s|bash\s))"
    r"|(?:\b(?:iwr|irm|Invoke-WebRequest|Invoke-RestMethod|DownloadString|DownloadFile|DownloadData)\b[^\n]*"
    r"(?:\biex\b|Invoke-Expression|Start-Process|\|\s*powershell))"
    r"|(?:\bcertutil(?:\.exe)?\s+-urlcache\b)|(?:\bbitsadmin(?:\.exe)?\s+/transfer\b)|(?:\bmshta(?:\.exe)?\s+https?://)"
    r"|(?:\bregsvr32\b[^\n]*/i:https?://)",
    re.IGNORECASE,
)
REVERSE_SHELL_PATTERNS = re.compile(
    r"/dev/(?:tcp|udp)/[\w.\-]+/\d+|\bbash\s+-i\s*>&|\b(?:nc|ncat|netcat)(?:\.exe)?\s[^\n]*-(?:e|c)\s*\S*(?:sh|cmd)"
    r"|\bmkfifo\b[^\n]*\b(?:nc|ncat|netcat)\b|\bsocat\b[^\n]*\bexec:|\btelnet\b[^\n]*\|\s*/bin/(?:ba)?sh",
    re.IGNORECASE,
)
SILENT_SHELL_PATTERNS = re.compile(
    r"^\s*nohup\b|&\s*$|>\s*/dev/null\s+2>&1\s*&|\bstart\s+/b\b|-WindowStyle\s+Hidden|\bpythonw(?:\.exe)?\b|"
    r"\bsetsid\b", re.IGNORECASE,
)
WEBHOOK_SCREENS = tuple((label, Screen(pattern)) for label, pattern in WEBHOOK_PATTERNS)
MINER_SCREEN = Screen(MINER_PATTERNS)
DOWNLOAD_EXEC_SCREEN = Screen(DOWNLOAD_EXEC_PATTERNS)
REVERSE_SHELL_SCREEN = Screen(REVERSE_SHELL_PATTERNS)
CLIPBOARD_COMMANDS = re.compile(r"\bpbpaste\b|\bxclip\b[^\n]*-o\b|\bxsel\b[^\n]*-o|\bxsel\s+-b\b|Get-Clipboard|wl-paste")

# --- Credential stores ---------------------------------------------------------------------

CREDENTIAL_PATHS = (
    ("SSH keys", re.compile(r"(?:^|[/\\*~])\.ssh(?:[/\\]|$)|\bid_(?:rsa|dsa|ecdsa|ed25519)\b", re.I)),
    ("cloud credentials", re.compile(r"\.aws[/\\](?:credentials|config)|\.config[/\\]gcloud|\.azure[/\\]|"
                                     r"application_default_credentials\.json|\.kube[/\\]config", re.I)),
    ("package-registry and git credentials", re.compile(r"(?:^|[/\\*~])\.(?:npmrc|pypirc|git-credentials|netrc|"
                                                        r"docker[/\\]config\.json)\b", re.I)),
    ("browser profile data", re.compile(
        r"google[/\\]chrome[/\\]user data|chromium[/\\](?:default|user data)|microsoft[/\\]edge[/\\]user data|"
        r"bravesoftware|opera software|yandex[/\\]yandexbrowser|mozilla[/\\]firefox[/\\]profiles|"
        r"\blogin data\b|\blocal state\b|\bkey[34]\.db\b|\blogins\.json\b|\bcookies\.sqlite\b|"
        r"\bweb data\b", re.I)),
    ("cryptocurrency wallets", re.compile(
        r"\bexodus[/\\]exodus\.wallet|\belectrum[/\\]wallets|\batomic[/\\]local storage|\bwallet\.dat\b|"
        r"nkbihfbeogaeaoehlefnkodbefgpgknn|ejbalbakoplchlghecdalmeeeajnimhm|bfnaelmomeimhlpmgjnjophhpkkoljpa|"
        r"\bethereum[/\\]keystore", re.I)),
    ("messenger session tokens", re.compile(r"discord(?:canary|ptb)?[/\\]local storage[/\\]leveldb|"
                                            r"telegram desktop[/\\]tdata", re.I)),
    ("system account databases", re.compile(r"^/etc/(?:passwd|shadow|master\.passwd)$|/etc/shadow\b", re.I)),
)


CREDENTIAL_SCREENS = tuple((label, Screen(pattern)) for label, pattern in CREDENTIAL_PATHS)


def credential_kind(path: str) -> str:
    """The kind of credential store `path` names ("SSH private keys", ...), or ""."""
    # Code repeats the same short strings (module names, messages) in many expressions.
    return _short_credential_kind(path) if len(path) <= 256 else _credential_kind(path)


def _credential_kind(path: str) -> str:
    hay = Haystack(path)
    for label, screen in CREDENTIAL_SCREENS:
        if screen.search(hay):
            return label
    return ""


_short_credential_kind = lru_cache(maxsize=8192)(_credential_kind)


def could_be_credential_path(hay: Haystack) -> bool:
    """False when no part of the text can be a credential-store path (whatever it is split into)."""
    return any(screen.possible(hay) for _, screen in CREDENTIAL_SCREENS)


# --- Unicode ------------------------------------------------------------------------------

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE_IDENTIFIER_CHARS = frozenset("\u200b\u200c\u200d\u2060\u3164\u115f\u1160\uffa0\u180e\ufeff")
_CONFUSABLE_SCRIPTS = frozenset({"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})
# Letters of other scripts that look like Latin letters.
LATIN_LOOKALIKES = frozenset(
    "аеорсухіјѕԁԛԝһӏԍјꙇАВЕКМНОРСТХІЈЅԜѴӀ"  # Cyrillic
    "οαρνικτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"  # Greek
    "օսոհցզ"  # Armenian
)


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return ""


def mixed_script(word: str) -> bool:
    """Latin letters mixed with letters of a look-alike script, or only look-alike letters."""
    if word.isascii():
        return False
    letters = [c for c in word if c.isalpha()]
    scripts = {_script(c) for c in letters}
    if "LATIN" in scripts and scripts & _CONFUSABLE_SCRIPTS:
        return True
    return any(c in LATIN_LOOKALIKES for c in letters) and all(c in LATIN_LOOKALIKES or c.isascii() for c in letters)


# --- Decoding -----------------------------------------------------------------------------

_B64_RE = re.compile(r"^[A-Za-z0-9+/=\s_-]+$")
_HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2}|\\x[0-9a-fA-F]{2})+$")


def entropy(text: str | bytes) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def try_b64(text: str | bytes) -> bytes | None:
    raw = text.decode("ascii", "ignore") if isinstance(text, bytes) else text
    compact = re.sub(r"\s+", "", raw)
    if len(compact) < 16 or not _B64_RE.match(compact):
        return None
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def try_hex(text: str) -> bytes | None:
    compact = text.strip()
    if len(compact) < 16 or not _HEX_RE.match(compact):
        return None
    try:
        return bytes.fromhex(compact.replace("\\x", ""))
    except ValueError:
        return None


def try_decompress(data: bytes) -> bytes | None:
    for func in (zlib.decompress, gzip.decompress, bz2.decompress, lzma.decompress):
        try:
            out = func(data)
        except Exception:  # noqa: S112 - any failure means "not this format"
            continue
        return out[:MAX_DECODED]
    try:
        return zlib.decompress(data, -15)[:MAX_DECODED]
    except zlib.error:
        return None


def looks_textual(data: bytes) -> bool:
    if not data:
        return False
    sample = data[:2000]
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable / len(sample) > 0.85


def peel(data: str | bytes, *, rounds: int = 6) -> tuple[bytes | str, list[str]]:
    """Undo layers of base64 / hex / compression / reversal on a payload; returns (result, layers)."""
    layers: list[str] = []
    current: str | bytes = data
    for _ in range(rounds):
        if isinstance(current, bytes):
            inflated = try_decompress(current)
            if inflated is not None:
                current, _ = inflated, layers.append("decompress")
                continue
            if not looks_textual(current):
                break
            current = current.decode("utf-8", "replace")
        text = current.strip()
        decoded = try_hex(text) or None
        if decoded is not None:
            current, _ = decoded, layers.append("hex")
            continue
        decoded = try_b64(text)
        if decoded is not None and (looks_textual(decoded) or try_decompress(decoded) is not None):
            current, _ = decoded, layers.append("base64")
            continue
        reversed_b64 = try_b64(text[::-1]) if len(text) >= 16 else None
        if reversed_b64 is not None and looks_textual(reversed_b64):
            current, _ = reversed_b64, layers.append("reverse+base64")
            continue
        break
    return current, layers


def preview(data: str | bytes, limit: int = PREVIEW_CHARS) -> str:
    """A short, printable rendering of a decoded payload for evidence."""
    if isinstance(data, bytes):
        if data.startswith(b"\x00<marshalled"):
            return data[1:].decode("ascii", "replace")
        if not looks_textual(data):
            return f"<{len(data)} bytes of binary data (compiled or marshalled code?)>"
        data = data.decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in data)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit] + ("…" if len(text) > limit else "")


@dataclass(frozen=True)
class Snippet:
    text: str
    line: int


def snippet_at(lines: list[str], line: int, limit: int = 240) -> str:
    if 1 <= line <= len(lines):
        text = lines[line - 1].strip()
        return text[:limit] + ("…" if len(text) > limit else "")
    return ""


SUSPICIOUS_NAMES = frozenset({
    "os", "subprocess", "socket", "base64", "builtins", "__builtin__", "ctypes", "urllib", "urllib.request",
    "requests", "marshal", "zlib", "pty", "exec", "eval", "system", "popen", "compile", "__import__", "getattr",
    "child_process", "http", "https", "net", "vm", "fs", "Function", "execSync", "spawn", "b64decode", "decompress", "loads", "urlopen", "Popen", "run", "call", "check_output", "startfile", "webbrowser",
    "shutil", "tempfile", "win32api", "win32con", "dns", "crypto", "request", "get", "post",
})


def short(text: str, limit: int = 120) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit] + ("…" if len(text) > limit else "")


def decode_rot13(text: str) -> str:
    return codecs.decode(text, "rot13")
