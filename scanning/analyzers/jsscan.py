"""Malicious-code heuristics for JavaScript, over the tokens of `jstokens` (never raw regexes on code).

Comments never trigger a check; strings are seen decoded. Calls are found as
`callee(args)` token runs, with module aliases resolved (`const cp =
require('child_process')`, `const {exec} = require(...)`, `import ... from`).
Values are followed through `const/let/var x = ...` assignments and callback
parameters with the same labels as the Python scanner — secret, network, image,
obfuscated — and a small static evaluator decodes `atob`, `Buffer.from(x, enc)`,
`String.fromCharCode`, `unescape`, `split('').reverse().join('')` and string
concatenation to show the payload.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from scanning.analyzers import indicators as ind
from scanning.analyzers.jstokens import NAME, NUMBER, PUNCT, REGEX, STRING, TEMPLATE, Token, tokenize
from scanning.analyzers.pyscan import Hit

PROCESS_CALLS = frozenset({"exec", "execSync", "spawn", "spawnSync", "execFile", "execFileSync", "fork"})
VM_CALLS = frozenset({"runInThisContext", "runInNewContext", "runInContext", "compileFunction", "Script"})
NET_MODULES = frozenset({"http", "https", "net", "dns", "tls", "dgram", "http2", "axios", "node-fetch", "got",
                         "request", "needle", "undici", "superagent", "ws", "socket.io-client", "cross-fetch"})
NET_SEND = frozenset({"request", "get", "post", "put", "patch", "fetch", "write", "send", "end", "lookup", "resolve",
                      "resolve4", "resolve6", "resolveTxt", "connect", "axios", "got", "needle", "sendBeacon", "ajax",
                      "createConnection"})
NET_READ = frozenset({"fetch", "axios", "got", "needle", "XMLHttpRequest", "superagent"})
DECODE_NAMES = frozenset({"atob", "fromCharCode", "unescape", "inflateSync", "gunzipSync", "inflateRawSync",
                          "brotliDecompressSync", "unzipSync", "fromCodePoint"})
SHELL_BINARIES = re.compile(r"^(?:/bin/|/usr/bin/)?(?:ba|z|da|k)?sh$|^cmd(?:\.exe)?$|^powershell(?:\.exe)?$", re.I)
IMAGE_NAME = re.compile(r"\.(?:png|jpe?g|gif|bmp|ico|webp|tiff?)$", re.I)
OBFUSCATOR_NAME = re.compile(r"^_0x[0-9a-f]{4,}$")
MAX_VALUE_TOKENS = 400
MAX_ARG_TOKENS = 2000
SINK_TAILS = PROCESS_CALLS | VM_CALLS | NET_SEND | {"eval", "Function", "execScript", "setTimeout", "setInterval",
                                                     "setImmediate", "require", "import"}
IMAGE_MODULES = ("jimp", "pngjs", "sharp", "steggy", "stegcloak")
# Names that can give a range a label by themselves (see `_range_facts`); module aliases count too.
_LABEL_NAMES = frozenset({
    "env", "atob", "inflateSync", "gunzipSync", "inflateRawSync", "brotliDecompressSync", "unzipSync", "fromCharCode",
    "fromCodePoint", "unescape", "decodeURIComponent", "decodeURI", "reverse", "from", "get", "request", "homedir",
    "readFileSync", "readFile", "createReadStream", "getImageData",
}) | NET_READ | frozenset(IMAGE_MODULES)
_BRACKETS = frozenset("()[]{}")
_OPENER = {")": "(", "]": "[", "}": "{"}
_BINDING_TOKENS = frozenset({"require", "import", "from", "=", "+="})
LOG_CALLEES = frozenset({"log", "warn", "error", "info", "debug", "Error", "TypeError", "trace", "write"})


class _Unknown(Exception):
    pass


@dataclass
class _Call:
    callee: str  # resolved dotted name: "child_process.exec", "eval", "https.get", "x.write"
    tail: str
    bare: bool  # called as a plain name or a resolved chain, not as a method of some expression
    start: int  # index of the callee's first token
    open: int  # index of '('
    close: int  # index of ')'
    line: int
    computed_key: tuple[int, int] | None = None  # token range of obj[...] when the callee is computed


@dataclass
class JsScan:
    source: str
    path: str
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.t: list[Token] = tokenize(self.source, keep_comments=False)
        self.n = len(self.t)
        # The scan passes below visit only the tokens they can act on, found with one
        # comprehension each: a Python-level test of every token is most of the cost on large files.
        self.brackets = [i for i, tok in enumerate(self.t) if tok[1] in _BRACKETS and tok[0] == PUNCT]
        self.match: dict[int, int] = {}
        stack: list[int] = []
        for i in self.brackets:
            value = self.t[i][1]
            if value in "([{":
                stack.append(i)
            else:
                while stack and self.t[stack[-1]][1] != _OPENER[value]:
                    stack.pop()
                if stack:
                    opener = stack.pop()
                    self.match[opener] = i
                    self.match[i] = opener
        self.names = {tok[1] for tok in self.t if tok[0] == NAME}
        self._facts: dict[tuple[int, int], tuple[frozenset[str], tuple[str, ...]]] = {}
        self._declared: set[str] | None = None
        self.aliases: dict[str, str] = {}
        self.assigns: dict[str, list[tuple[int, int]]] = {}
        self.labels: dict[str, set[str]] = {}
        self.modules: set[str] = set()
        self._collect_modules_and_assignments()
        self.calls = self._collect_calls()

    # --- structure -----------------------------------------------------------------------

    def v(self, i: int) -> str:
        return self.t[i].value if 0 <= i < self.n else ""

    def is_p(self, i: int, value: str) -> bool:
        return 0 <= i < self.n and self.t[i].kind == PUNCT and self.t[i].value == value

    def _statement_end(self, start: int) -> int:
        """Index just past the expression that starts at `start` (stops at ; or , at depth 0, or a new statement line)."""
        i = start
        line = self.t[start].line if start < self.n else 0
        while i < self.n:
            tok = self.t[i]
            if tok.kind == PUNCT and tok.value in "([{":
                i = self.match.get(i, i) + 1
                line = self.t[i - 1].line
                continue
            if tok.kind == PUNCT and tok.value in (";", ",", ")", "]", "}"):
                return i
            if tok.line > line and i > start:
                prev = self.t[i - 1]
                continues = (prev.kind == PUNCT and prev.value not in (")", "]", "}", "++", "--")) or (
                    tok.kind == PUNCT and tok.value in (".", "?.", "+", "-", "*", "/", "?", ":", "&&", "||", "??",
                                                        "(", "["))
                if not continues:
                    return i
            line = tok.line
            i += 1
        return i

    def _require_module(self, i: int) -> str:
        """Module name when tokens at i are require('x') / import('x'); else ''."""
        if self.v(i) in ("require", "import") and self.is_p(i + 1, "(") and i + 2 < self.n \
                and self.t[i + 2].kind == STRING and self.is_p(i + 3, ")"):
            return self.t[i + 2].value
        return ""

    def _collect_modules_and_assignments(self) -> None:
        t = self.t
        for i in [i for i, tok in enumerate(t) if tok[1] in _BINDING_TOKENS]:
            tok = t[i]
            if tok.kind == NAME and tok.value in ("require", "import") and self.is_p(i + 1, "(") and i + 2 < self.n \
                    and t[i + 2].kind == STRING:
                self.modules.add(t[i + 2].value.removeprefix("node:"))
            if tok.kind == NAME and tok.value == "from" and i + 1 < self.n and t[i + 1].kind == STRING:
                module = t[i + 1].value.removeprefix("node:")
                self.modules.add(module)
                self._bind_import(i, module)
            if tok.kind == PUNCT and tok.value == "=" and i > 0:
                start = i + 1
                if start >= self.n:
                    continue
                end = self._statement_end(start)
                module = ""
                j = start
                while self.v(j) in ("await",) and j < end:
                    j += 1
                module = self._require_module(j)
                target = t[i - 1]
                if target.kind == NAME:
                    self.assigns.setdefault(target.value, []).append((start, end))
                    if module:
                        rest = j + 4
                        attr = self.v(rest + 1) if self.is_p(rest, ".") else ""
                        self.aliases[target.value] = f"{module}.{attr}" if attr else module
                elif target.kind == PUNCT and target.value == "}" and module:
                    opener = self.match.get(i - 1)
                    if opener is not None:
                        self._bind_destructured(opener, i - 1, module)
            if tok.kind == PUNCT and tok.value in ("+=",) and i > 0 and t[i - 1].kind == NAME:
                self.assigns.setdefault(t[i - 1].value, []).append((i + 1, self._statement_end(i + 1)))

    def _bind_destructured(self, opener: int, closer: int, module: str) -> None:
        j = opener + 1
        while j < closer:
            if self.t[j].kind == NAME:
                name, local = self.t[j].value, self.t[j].value
                if self.is_p(j + 1, ":") and j + 2 < closer and self.t[j + 2].kind == NAME:
                    local = self.t[j + 2].value
                    j += 2
                self.aliases[local] = f"{module}.{name}"
            j += 1

    def _bind_import(self, from_index: int, module: str) -> None:
        # import x from 'm'; import * as x from 'm'; import {a as b, c} from 'm'
        j = from_index - 1
        while j >= 0 and self.v(j) != "import":
            j -= 1
        if j < 0:
            return
        k = j + 1
        while k < from_index:
            tok = self.t[k]
            if tok.kind == PUNCT and tok.value == "{":
                close = self.match.get(k, from_index)
                self._bind_destructured(k, close, module)
                k = close + 1
                continue
            if tok.kind == NAME and tok.value == "as" and k + 1 < from_index:
                self.aliases[self.t[k + 1].value] = module
                k += 2
                continue
            if tok.kind == NAME and tok.value not in ("type", "as"):
                self.aliases[tok.value] = module
            k += 1

    def _callee_at(self, name_index: int) -> tuple[str, int]:
        """Dotted callee ending at name_index, with aliases resolved, and the index of its first token."""
        parts = [self.t[name_index].value]
        i = name_index
        self._cut = False
        while i >= 1 and self.t[i - 1].kind == PUNCT and self.t[i - 1].value in (".", "?."):
            if i < 2:
                self._cut = True
                break
            prev = self.t[i - 2]
            if prev.kind == NAME:
                parts.append(prev.value)
                i -= 2
                continue
            if prev.kind == PUNCT and prev.value == ")":
                opener = self.match.get(i - 2)
                if opener is not None and opener >= 1:
                    module = self._require_module(opener - 1)
                    if module:
                        parts.append(module)
                        i = opener - 1
                        break
            self._cut = True
            break
        parts.reverse()
        head = parts[0]
        if head in self.aliases:
            parts[0] = self.aliases[head]
        if parts[0] in ("window", "global", "globalThis", "self") and len(parts) > 1:
            parts = parts[1:]
        return ".".join(parts), i

    def _collect_calls(self) -> list[_Call]:
        calls = []
        for paren in self.brackets:
            if paren == 0 or self.t[paren][1] != "(":
                continue
            i = paren - 1
            close = self.match.get(paren)
            if close is None:
                continue
            tok = self.t[i]
            if tok.kind == NAME:
                if i >= 1 and self.t[i - 1].kind == NAME and self.t[i - 1].value == "function":
                    continue
                callee, start = self._callee_at(i)
                calls.append(_Call(callee, callee.rsplit(".", 1)[-1], not self._cut, start, i + 1, close, tok.line))
            elif tok.kind == PUNCT and tok.value == "]":
                opener = self.match.get(i)
                if opener is None or opener == 0:
                    continue
                before = self.t[opener - 1]
                if before.kind == NAME or (before.kind == PUNCT and before.value in (")", "]")):
                    try:
                        key = self.evaluate(opener + 1, i)
                    except _Unknown:
                        key = None
                    name = key if isinstance(key, str) else ""
                    calls.append(_Call(name, name, False, opener - 1, i + 1, close, tok.line,
                                       computed_key=(opener + 1, i)))
        return calls

    def args_of(self, call: _Call) -> list[tuple[int, int]]:
        """Token ranges of each argument."""
        ranges, start, i = [], call.open + 1, call.open + 1
        while i < call.close:
            tok = self.t[i]
            if tok.kind == PUNCT and tok.value in "([{":
                i = self.match.get(i, i) + 1
                continue
            if tok.kind == PUNCT and tok.value == ",":
                ranges.append((start, i))
                start = i + 1
            i += 1
        if start < call.close:
            ranges.append((start, call.close))
        return ranges

    # --- evaluation -------------------------------------------------------------------------

    def evaluate(self, a: int, b: int, depth: int = 0) -> Any:
        if depth > 12 or a >= b:
            raise _Unknown
        self._pos, self._end, self._depth = a, b, depth
        value = self._sum()
        if self._pos != self._end:
            raise _Unknown
        return value

    def _sum(self) -> Any:
        value = self._postfix()
        while self._pos < self._end and self.is_p(self._pos, "+"):
            self._pos += 1
            right = self._postfix()
            if isinstance(value, str) and isinstance(right, (str, int)):
                value = value + str(right)
            elif isinstance(value, int) and isinstance(right, str):
                value = str(value) + right
            elif isinstance(value, int) and isinstance(right, int):
                value = value + right
            else:
                raise _Unknown
            if len(str(value)) > 2_000_000:
                raise _Unknown
        return value

    def _expect(self, value: str) -> None:
        if not self.is_p(self._pos, value):
            raise _Unknown
        self._pos += 1

    def _call_args(self) -> list[Any]:
        self._expect("(")
        close = self.match.get(self._pos - 1)
        if close is None or close > self._end:
            raise _Unknown
        values, end = [], self._end
        self._end = close
        while self._pos < close:
            values.append(self._sum())
            if self._pos < close:
                self._expect(",")
        self._end = end
        self._pos = close + 1
        return values

    def _primary(self) -> Any:
        if self._pos >= self._end:
            raise _Unknown
        tok = self.t[self._pos]
        self._pos += 1
        if tok.kind == STRING:
            return tok.value
        if tok.kind == TEMPLATE and self.source[tok.end - 1] == "`" and self.source[tok.start] == "`":
            return tok.value
        if tok.kind == NUMBER:
            try:
                return int(tok.value.replace("_", ""), 0)
            except ValueError:
                raise _Unknown from None
        if tok.kind == PUNCT and tok.value == "(":
            close = self.match.get(self._pos - 1)
            if close is None or close > self._end:
                raise _Unknown
            end = self._end
            self._end = close
            value = self._sum()
            self._end = end
            self._pos = close + 1
            return value
        if tok.kind == PUNCT and tok.value == "[":
            close = self.match.get(self._pos - 1)
            if close is None or close > self._end:
                raise _Unknown
            items, end = [], self._end
            self._end = close
            while self._pos < close:
                items.append(self._sum())
                if self._pos < close:
                    self._expect(",")
            self._end = end
            self._pos = close + 1
            return items
        if tok.kind == NAME:
            name = tok.value
            if name == "atob":
                (arg,) = self._call_args()
                return _b64(arg).decode("latin-1")
            if name in ("unescape", "decodeURIComponent", "decodeURI"):
                (arg,) = self._call_args()
                return urllib.parse.unquote(str(arg), encoding="latin-1")
            if name == "Buffer" and self.is_p(self._pos, ".") and self.v(self._pos + 1) == "from":
                self._pos += 2
                args = self._call_args()
                return _buffer_from(args)
            if name == "String" and self.is_p(self._pos, ".") and self.v(self._pos + 1) in ("fromCharCode", "fromCodePoint"):
                self._pos += 2
                args = self._call_args()
                if len(args) == 1 and isinstance(args[0], list):
                    args = args[0]
                return "".join(chr(int(x)) for x in args)
            if name in self.assigns and len(self.assigns[name]) == 1 and self._depth < 10:
                start, end = self.assigns[name][0]
                saved = (self._pos, self._end, self._depth)
                value = self.evaluate(start, end, saved[2] + 1)
                self._pos, self._end, self._depth = saved
                return value
        raise _Unknown

    def _postfix(self) -> Any:
        value = self._primary()
        while self._pos < self._end and self.is_p(self._pos, "."):
            method = self.v(self._pos + 1)
            self._pos += 2
            if method == "length":
                value = len(value)
                continue
            args = self._call_args()
            value = _method(value, method, args)
        return value

    # --- labels ---------------------------------------------------------------------------

    def range_labels(self, a: int, b: int, *, follow_names: bool = True) -> set[str]:
        """Labels of the values in tokens a..b; with follow_names, also those of the names used there."""
        facts = self._facts.get((a, b))
        if facts is None:
            facts = self._facts[(a, b)] = self._range_facts(a, b)
        own, followed = facts
        labels = set(own)
        if follow_names:
            for name in followed:
                more = self.labels.get(name)
                if more:
                    labels |= more
        return labels

    def _range_facts(self, a: int, b: int) -> tuple[frozenset[str], tuple[str, ...]]:
        """What range_labels needs of tokens a..b that never changes: the labels the tokens carry
        themselves, and the names whose labels flow in (the latter change while `propagate` runs)."""
        labels: set[str] = set()
        t = self.t
        strings: list[str] = []
        followed: dict[str, None] = {}
        reverse_called = False
        names_in_range: set[str] = set()
        triggers = _LABEL_NAMES
        for i in range(a, min(b, self.n)):
            tok = t[i]
            kind = tok[0]
            if kind == NAME:
                value = tok[1]
                names_in_range.add(value)
                is_property = i >= 1 and t[i - 1][0] == PUNCT and t[i - 1][1] in (".", "?.")
                if not is_property:
                    followed[value] = None
                if value not in triggers and value not in self.aliases and "." not in value and ":" not in value:
                    continue
                if value == "env" and i >= 2 and self.is_p(i - 1, ".") and t[i - 2].value == "process" \
                        and not (self.is_p(i + 1, ".") or self.is_p(i + 1, "[") or self.is_p(i + 1, "?.")):
                    labels.add("secret")
                if value in ("atob", "inflateSync", "gunzipSync", "inflateRawSync", "brotliDecompressSync",
                             "unzipSync"):
                    labels.add("obfuscated")
                if value in ("fromCharCode", "fromCodePoint") and self.is_p(i + 1, "("):
                    close = self.match.get(i + 1, i + 1)
                    if sum(1 for k in range(i + 2, close) if t[k].kind == NUMBER) >= 3:
                        labels.add("obfuscated")
                if value in ("unescape", "decodeURIComponent", "decodeURI") and self.is_p(i + 1, "(") \
                        and i + 2 < self.n and t[i + 2].kind == STRING \
                        and len(re.findall(r"%[0-9A-Fa-f]{2}", self.source[t[i + 2].start:t[i + 2].end])) >= 5:
                    labels.add("obfuscated")
                if value == "reverse" and is_property:
                    reverse_called = True
                if value == "from" and i >= 2 and t[i - 2].value == "Buffer" and self.is_p(i + 1, "("):
                    close = self.match.get(i + 1, i + 1)
                    if any(t[k].kind == STRING and t[k].value.lower() in ("base64", "hex", "base64url")
                           for k in range(i + 2, close)):
                        labels.add("obfuscated")
                if not is_property and value in NET_READ and self.is_p(i + 1, "(") and not self._declared_function(value):
                    labels.add("network")
                if value in ("get", "request") and is_property and i >= 2 \
                        and self._alias_root(t[i - 2].value) in NET_MODULES:
                    labels.add("network")
                if value == "homedir":
                    strings.append("~")
                if value in ("readFileSync", "readFile", "createReadStream") and self.is_p(i + 1, "("):
                    close = self.match.get(i + 1, i + 1)
                    text = "/".join(t[k].value for k in range(i + 2, close) if t[k].kind in (STRING, TEMPLATE))
                    if IMAGE_NAME.search(text.strip()):
                        labels.add("image")
                if value == "getImageData" or (not is_property and self._alias_root(value) in IMAGE_MODULES):
                    labels.add("image")
            elif kind == STRING or kind == TEMPLATE:
                strings.append(tok[1])
                if kind == STRING and _escape_heavy(self.source[tok.start:tok.end]):
                    labels.add("obfuscated")
        # `.reverse()` marks a payload only in the split('').reverse().join('') idiom.
        if reverse_called and {"split", "reverse", "join"} <= names_in_range:
            labels.add("obfuscated")
        if strings and ind.credential_kind("/".join(strings)):
            labels.add("secret")
        return frozenset(labels), tuple(name for name in followed if self._propagates(name))

    def _propagates(self, name: str) -> bool:
        """Labels follow a name only when it is assigned in few places (minified code reuses names)."""
        return len(self.assigns.get(name, ())) <= 3

    def _declared_function(self, name: str) -> bool:
        """A local `function fetch(...)` shadows the global network API of the same name."""
        if self._declared is None:
            self._declared = {self.t[i + 1][1] for i, t in enumerate(self.t[:-1])
                              if t[1] == "function" and self.t[i + 1][0] == NAME}
        return name in self._declared

    def _alias_root(self, name: str) -> str:
        return self.aliases.get(name, name).split(".")[0].removeprefix("node:")

    def _value_range(self, a: int, b: int) -> tuple[int, int] | None:
        """The part of an assigned value that can carry data (function bodies and huge literals do not)."""
        first = self.v(a)
        if first in ("function", "class") or (first == "async" and self.v(a + 1) in ("function", "(")):
            return None
        if self.is_p(a, "(") and self.is_p(self.match.get(a, a) + 1, "=>"):
            return None
        if a + 1 < self.n and self.t[a].kind == NAME and self.is_p(a + 1, "=>"):
            return None
        return a, min(b, a + MAX_VALUE_TOKENS)

    def propagate(self) -> None:
        value_ranges = {name: [r for r in (self._value_range(a, b) for a, b in ranges) if r]
                        for name, ranges in self.assigns.items()}
        for _ in range(4):
            changed = False
            for name, ranges in value_ranges.items():
                labels = set(self.labels.get(name, set()))
                for a, b in ranges:
                    labels |= self.range_labels(a, b)
                if labels != self.labels.get(name, set()):
                    self.labels[name] = labels
                    changed = True
            for call in self.calls:
                labels = self.range_labels(call.start, call.open) & {"network", "secret", "image"}
                if call.tail in ("readFile", "readFileSync", "createReadStream", "readdir", "get", "request"):
                    labels |= self.range_labels(call.open + 1, call.close, follow_names=False) & {"secret", "image"}
                if not labels:
                    continue
                for param in self._callback_params(call):
                    if labels - self.labels.get(param, set()):
                        self.labels.setdefault(param, set()).update(labels)
                        changed = True
            if not changed:
                break

    def _callback_params(self, call: _Call) -> list[str]:
        params: list[str] = []
        for i in range(call.open + 1, call.close):
            tok = self.t[i]
            if tok.kind == PUNCT and tok.value == "=>":
                if self.is_p(i - 1, ")"):
                    opener = self.match.get(i - 1, i - 1)
                    params += [self.t[k].value for k in range(opener + 1, i - 1) if self.t[k].kind == NAME]
                elif self.t[i - 1].kind == NAME:
                    params.append(self.t[i - 1].value)
            elif tok.kind == NAME and tok.value == "function":
                j = i + 1
                if j < call.close and self.t[j].kind == NAME:
                    j += 1
                if self.is_p(j, "("):
                    close = self.match.get(j, j)
                    params += [self.t[k].value for k in range(j + 1, close) if self.t[k].kind == NAME]
        return params

    # --- checks -----------------------------------------------------------------------------

    def add(self, check: str, line: int, message: str, *, preview: str = "", layers: list[str] | None = None,
            indicator: str = "") -> None:
        self.hits.append(Hit(check, line, message, preview, layers or [], indicator))

    def preview_of(self, a: int, b: int) -> tuple[str, list[str]]:
        try:
            value = self.evaluate(a, b)
        except (_Unknown, ValueError, TypeError, OverflowError, binascii.Error, RecursionError, IndexError):
            value = None
        if isinstance(value, (str, bytes)):
            peeled, layers = ind.peel(value)
            return ind.preview(peeled), layers
        best = ""
        todo = list(range(a, min(b, self.n)))
        seen_names: set[str] = set()
        while todo:
            i = todo.pop()
            tok = self.t[i]
            if tok.kind == STRING and len(tok.value) > len(best):
                best = tok.value
            elif tok.kind == NAME and tok.value in self.assigns and tok.value not in seen_names and len(seen_names) < 20:
                seen_names.add(tok.value)
                for x, y in self.assigns[tok.value]:
                    todo.extend(range(x, min(y, self.n)))
        if len(best) >= 16:
            peeled, layers = ind.peel(best)
            return ind.preview(peeled if layers else best), layers
        return "", []

    def uses_network(self) -> bool:
        if self.modules & NET_MODULES:
            return True
        return not self.names.isdisjoint(("fetch", "XMLHttpRequest", "WebSocket", "sendBeacon"))

    def run(self) -> list[Hit]:
        self.propagate()
        network = self.uses_network()
        has_child_process = "child_process" in self.modules or any(
            v.startswith("child_process") for v in self.aliases.values())
        socket_line = shell_line = pipe_line = 0
        written: set[str] = set()
        for call in self.calls:
            if call.tail in ("writeFile", "writeFileSync", "createWriteStream") and network:
                first = self.args_of(call)[:1]
                if first:
                    written.add(self._arg_key(*first[0]))
        for call in self.calls:
            callee, tail = call.callee, call.tail
            if tail not in SINK_TAILS and callee not in NET_MODULES and call.computed_key is None and not callee.startswith(
                    ("clipboardy", "navigator.clipboard", "net.", "tls.", "shelljs", "execa")) and tail != "pipe":
                continue
            args = self.args_of(call)
            arg_labels = set()
            for a, b in args:
                arg_labels |= self.range_labels(a, min(b, a + MAX_ARG_TOKENS))
            if call.computed_key is not None:
                ka, kb = call.computed_key
                if tail in ("eval", "Function", "require", "execSync", "exec") and not (
                        kb - ka == 1 and self.t[ka].kind == STRING):
                    text, layers = self.preview_of(ka, kb)
                    self.add("MAL-IMPORT-001", call.line, f"{tail} reached through a computed, encoded property name",
                             preview=text or tail, layers=layers)
            is_exec = call.bare and tail in ("eval", "Function", "execScript") and callee == tail or (
                tail in VM_CALLS and ("vm" in callee or callee == tail and "vm" in self.modules)) or (
                tail in ("setTimeout", "setInterval", "setImmediate") and args
                and self.t[args[0][0]].kind in (STRING, TEMPLATE))
            if is_exec and args:
                first = args[0] if tail != "Function" else (args[-1] if args else None)
                labels = self.range_labels(*first) if first else set()
                if tail == "eval" and self.v(call.open + 1) == "function" and self.is_p(call.open + 2, "(") and \
                        [self.v(k) for k in range(call.open + 3, call.open + 8, 2)] == ["p", "a", "c"]:
                    self.add("MAL-OBF-001", call.line, "eval of a packed script (p,a,c,k,e,d packer)")
                elif "obfuscated" in labels:
                    text, layers = self.preview_of(*first)
                    self.add("MAL-EXEC-001", call.line, f"{tail}() runs code that is decoded at run time",
                             preview=text, layers=layers)
                elif "network" in labels:
                    self.add("MAL-DOWNLOAD-001", call.line, f"{tail}() runs code fetched from the network")
                elif "image" in labels:
                    self.add("MAL-STEGO-001", call.line, f"{tail}() runs data extracted from an image")
            is_process = call.bare and tail in PROCESS_CALLS and (
                callee.startswith("child_process.") or (has_child_process and callee == tail
                                                        and self.aliases.get(tail, "").startswith("child_process"))) or \
                callee in ("shelljs.exec", "execa", "execa.command", "execa.execaCommand")
            if is_process:
                self._check_process(call, args, arg_labels, written)
                if any(SHELL_BINARIES.match(self.t[a].value.strip()) for a, b in args[:1] if self.t[a].kind == STRING):
                    shell_line = call.line
            if tail in ("require", "import") and callee == tail and args and not (
                    args[0][1] - args[0][0] == 1 and self.t[args[0][0]].kind == STRING):
                labels = self.range_labels(*args[0])
                try:
                    value = self.evaluate(*args[0])
                except (_Unknown, ValueError, TypeError, binascii.Error, RecursionError, IndexError):
                    value = None
                if "obfuscated" in labels or (isinstance(value, str) and value.removeprefix("node:") in (
                        "child_process", "fs", "net", "http", "https", "vm", "dns", "os", "crypto")):
                    text, layers = self.preview_of(*args[0])
                    self.add("MAL-IMPORT-001", call.line, f"{tail}() of a module name built or decoded at run time",
                             preview=text or (value if isinstance(value, str) else ""), layers=layers)
            if (tail in NET_SEND or callee in NET_MODULES) and network and "secret" in arg_labels and not is_process:
                self.add("MAL-EXFIL-001", call.line,
                         f"sends credentials or the whole environment over the network ({callee})")
            if callee in ("clipboardy.read", "clipboardy.readSync", "navigator.clipboard.readText",
                          "navigator.clipboard.read", "clipboardy.default.read"):
                self.add("MAL-CLIP-001", call.line, f"reads the clipboard ({callee})")
            if tail in ("connect", "createConnection", "Socket") and (
                    callee.startswith("net.") or callee.startswith("tls.")):
                socket_line = call.line
            if tail == "pipe":
                pipe_line = call.line
        if socket_line and shell_line and pipe_line:
            self.add("MAL-SHELL-001", socket_line, "pipes a network socket into a spawned shell",
                     indicator="net socket + shell + pipe")
        self._check_strings()
        self._check_obfuscator()
        self._check_identifiers()
        return self.hits

    def _arg_key(self, a: int, b: int) -> str:
        if b - a == 1 and self.t[a].kind in (NAME, STRING):
            return f"{self.t[a].kind}:{self.t[a].value}"
        return ""

    def _check_process(self, call: _Call, args: list[tuple[int, int]], labels: set[str], written: set[str]) -> None:
        if "obfuscated" in labels:
            text, layers = self.preview_of(*args[0])
            self.add("MAL-EXEC-001", call.line, f"{call.callee}() runs a command decoded at run time",
                     preview=text, layers=layers)
        if "network" in labels:
            self.add("MAL-DOWNLOAD-001", call.line, f"{call.callee}() runs something fetched from the network")
        if args and self._arg_key(*args[0]) in written - {""}:
            self.add("MAL-DOWNLOAD-001", call.line, f"{call.callee}() runs a file that this code downloaded")
        text = " ".join(self.t[k].value for a, b in args for k in range(a, b) if self.t[k].kind in (STRING, TEMPLATE))
        if ind.DOWNLOAD_EXEC_PATTERNS.search(text):
            self.add("MAL-DOWNLOAD-001", call.line, f"{call.callee}() runs a download-and-execute command",
                     preview=ind.short(text, 200))
        if ind.CLIPBOARD_COMMANDS.search(text):
            self.add("MAL-CLIP-001", call.line, f"{call.callee}() reads the clipboard through a system command",
                     preview=ind.short(text, 200))
        options = " ".join(self.t[k].value for k in range(call.open + 1, call.close))
        detached = re.search(r"\bdetached : true\b", options) is not None
        hidden = re.search(r"\bstdio : ignore\b|\bwindowsHide : true\b", options) is not None
        unref = self.is_p(call.close + 1, ".") and self.v(call.close + 2) == "unref"
        if detached and (hidden or unref):
            self.add("MAL-SPAWN-001", call.line, f"{call.callee}() starts a detached process with its output discarded",
                     preview=ind.short(text, 200))

    def _string_context_is_message(self, index: int) -> bool:
        """A string that is an argument of console.log / new Error(...) (a message, not a path in use)."""
        depth_index = index - 1
        floor = max(index - 60, 0)
        while depth_index >= floor and not self.is_p(depth_index, "("):
            if self.t[depth_index].kind == PUNCT and self.t[depth_index].value in (";", "{", "}"):
                return False
            depth_index -= 1
        return depth_index >= max(floor, 1) and self.v(depth_index - 1) in LOG_CALLEES

    def _check_strings(self) -> None:
        candidates = [i for i, tok in enumerate(self.t) if (tok[0] == STRING or tok[0] == TEMPLATE) and len(tok[1]) >= 4]
        if not candidates:
            return
        # A pattern that cannot match all the strings joined cannot match any one of them.
        everything = ind.Haystack("\n".join(self.t[i][1] for i in candidates))
        shell = ind.REVERSE_SHELL_SCREEN.possible(everything)
        download = ind.DOWNLOAD_EXEC_SCREEN.possible(everything)
        cred = ind.could_be_credential_path(everything)
        urls = ind.URL_SCREEN.possible(everything)
        if not (shell or download or cred or urls):
            return
        for i in candidates:
            tok = self.t[i]
            text = tok.value
            if shell and ind.REVERSE_SHELL_PATTERNS.search(text):
                self.add("MAL-SHELL-001", tok.line, "reverse-shell command line", preview=ind.short(text, 200))
            elif download and ind.DOWNLOAD_EXEC_PATTERNS.search(text):
                self.add("MAL-DOWNLOAD-002", tok.line, "download-and-execute command line in a string",
                         preview=ind.short(text, 200))
            if cred and ("/" in text or "\\" in text) and not self._string_context_is_message(i):
                kind = ind.credential_kind(text)
                if kind:
                    self.add("MAL-CRED-001", tok.line, f"refers to {kind}: {ind.short(text, 80)}", indicator=kind)
            if not urls:
                continue
            for match in ind.URL_RE.finditer(text if not ind.is_prose(text) else ""):
                category = ind.host_category(match.group(1))
                if category:
                    self.add("MAL-URL-001", tok.line, f"link to a {category}: {ind.short(match.group(0), 100)}",
                             indicator=category)
                elif ind.has_mixed_script_host(match.group(1)):
                    self.add("MAL-UNICODE-002", tok.line, f"link whose host name mixes scripts: {match.group(0)[:100]}")

    def _check_obfuscator(self) -> None:
        names = [t for t in self.t if t[0] == NAME and OBFUSCATOR_NAME.match(t[1])] \
            if any(name.startswith("_0x") for name in self.names) else []
        distinct = {t.value for t in names}
        if len(distinct) >= 8 and len(names) >= 40:
            self.add("MAL-OBF-001", names[0].line,
                     f"javascript-obfuscator output: {len(distinct)} hexadecimal identifiers such as {names[0].value}",
                     indicator="_0x identifiers")
            return
        match = re.search(r"[\[\]()!+]{2000,}", self.source)
        if match:
            line = self.source.count("\n", 0, match.start()) + 1
            self.add("MAL-OBF-001", line, "JSFuck-style code made only of []()!+ characters", indicator="jsfuck")

    def _check_identifiers(self) -> None:
        if all(name.isascii() for name in self.names):
            return
        seen: set[str] = set()
        for tok in self.t:
            if tok.kind != NAME or tok.value.isascii() or tok.value in seen:
                continue
            word = tok.value
            reason = ""
            if any(c in ind.INVISIBLE_IDENTIFIER_CHARS for c in word):
                reason = "contains invisible characters"
            elif ind.mixed_script(word):
                reason = "mixes Latin letters with look-alike letters of another script"
            if reason:
                seen.add(word)
                self.add("MAL-UNICODE-002", tok.line, f"identifier {word!r} {reason}",
                         preview=word.encode("unicode_escape").decode("ascii"))


def _escape_heavy(raw: str) -> bool:
    """A string literal written mostly as \\x.. / \\u.... escapes (a common way to hide code)."""
    escapes = len(re.findall(r"\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}", raw))
    return escapes >= 12 and escapes * 4 >= 0.6 * len(raw)


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _Unknown
    compact = re.sub(r"\s+", "", value)
    return base64.b64decode(compact + "=" * (-len(compact) % 4))


def _buffer_from(args: list[Any]) -> bytes:
    if not args:
        raise _Unknown
    data = args[0]
    encoding = str(args[1]).lower() if len(args) > 1 else "utf8"
    if isinstance(data, list):
        return bytes(int(x) & 0xFF for x in data)
    if not isinstance(data, str):
        raise _Unknown
    if encoding in ("base64", "base64url"):
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)) if encoding == "base64url" or "-" in data \
            else _b64(data)
    if encoding == "hex":
        return bytes.fromhex(data)
    if encoding in ("latin1", "binary", "ascii"):
        return data.encode("latin-1", "replace")
    return data.encode("utf-8", "replace")


def _method(value: Any, method: str, args: list[Any]) -> Any:
    if method == "toString":
        if isinstance(value, bytes):
            encoding = str(args[0]).lower() if args else "utf8"
            if encoding == "base64":
                return base64.b64encode(value).decode()
            if encoding == "hex":
                return value.hex()
            return value.decode("utf-8", "replace")
        if isinstance(value, (str, int)):
            return str(value)
    if method == "split" and isinstance(value, str) and args and isinstance(args[0], str):
        return list(value) if args[0] == "" else value.split(args[0])
    if method == "reverse" and isinstance(value, list):
        return list(reversed(value))
    if method == "join" and isinstance(value, list):
        sep = args[0] if args and isinstance(args[0], str) else ","
        return sep.join(str(x) for x in value)
    if method in ("replace", "replaceAll") and isinstance(value, str) and len(args) == 2 \
            and all(isinstance(a, str) for a in args):
        return value.replace(args[0], args[1]) if method == "replaceAll" else value.replace(args[0], args[1], 1)
    if method in ("trim", "toLowerCase", "toUpperCase") and isinstance(value, str):
        return {"trim": value.strip(), "toLowerCase": value.lower(), "toUpperCase": value.upper()}[method]
    if method == "concat" and isinstance(value, str):
        return value + "".join(str(a) for a in args)
    raise _Unknown


def scan_javascript(source: str, path: str) -> list[Hit]:
    return JsScan(source, path).run()


__all__ = ["scan_javascript", "JsScan", "Hit", "REGEX"]
