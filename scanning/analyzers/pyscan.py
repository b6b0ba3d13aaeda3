"""Malicious-code heuristics for Python source, through its AST (and its tokens for identifiers).

`scan_python(source, path)` returns `Hit`s. The analysis is per scope (the module and
each function): it resolves import aliases (`import base64 as b`), evaluates constant
expressions statically (string concatenation, base64/hex/zlib/bz2/lzma decoding,
`chr` joins, slicing `[::-1]`, `bytes([...])`, rot13, one-argument lambdas), and
follows values through assignments with labels — secret (credential files, the
whole environment), network (downloaded data), image (pixels) and obfuscated — so
that a check fires on a data flow into a sink, not on a word in the file.
"""

from __future__ import annotations

import ast
import base64
import binascii
import bz2
import codecs
import gzip
import io
import lzma
import re
import sys
import tokenize
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from scanning.analyzers import indicators as ind

MAX_EVAL = 2 * 1024 * 1024

EXEC_SINKS = frozenset({"exec", "eval", "compile", "execfile", "types.FunctionType", "FunctionType",
                        "code.InteractiveInterpreter.runsource", "runpy.run_code"})
PROCESS_SINKS = frozenset({
    "os.system", "os.popen", "os.popen2", "os.popen3", "os.startfile", "os.execl", "os.execle", "os.execlp",
    "os.execv", "os.execve", "os.execvp", "os.execvpe", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnv",
    "os.spawnve", "os.spawnvp", "os.posix_spawn", "os.posix_spawnp", "subprocess.Popen", "subprocess.run",
    "subprocess.call", "subprocess.check_call", "subprocess.check_output", "subprocess.getoutput",
    "subprocess.getstatusoutput", "pty.spawn", "commands.getoutput", "asyncio.create_subprocess_shell",
    "asyncio.create_subprocess_exec",
})
IMPORT_SINKS = frozenset({"__import__", "importlib.import_module", "importlib.__import__", "imp.load_module",
                          "imp.load_source", "importlib.machinery.SourceFileLoader"})
DECODERS = {
    "b64decode": "base64", "standard_b64decode": "base64", "urlsafe_b64decode": "base64", "decodebytes": "base64",
    "decodestring": "base64", "a2b_base64": "base64", "b32decode": "base32", "b16decode": "hex", "unhexlify": "hex",
    "a2b_hex": "hex", "fromhex": "hex", "b85decode": "base85", "a85decode": "ascii85", "decompress": "decompress",
    "loads": "marshal",
}
DECOMPRESSORS = {"zlib": zlib.decompress, "gzip": gzip.decompress, "bz2": bz2.decompress, "lzma": lzma.decompress}
NETWORK_READ = frozenset({
    "requests.get", "requests.post", "requests.request", "requests.Session.get", "urllib.request.urlopen",
    "urllib.urlopen", "urllib2.urlopen", "urlopen", "httpx.get", "httpx.post", "httpx.request", "httpx.stream",
    "urllib.request.urlretrieve", "urllib.urlretrieve", "urlretrieve", "wget.download", "pycurl.Curl",
    "http.client.HTTPConnection", "http.client.HTTPSConnection", "aiohttp.request", "socket.create_connection",
})
NETWORK_SEND_ATTRS = frozenset({"post", "put", "patch", "get", "request", "urlopen", "send", "sendall", "sendto",
                                "sendmail", "send_message", "Request", "stream", "execute_webhook", "upload_file"})
CLIPBOARD_READS = frozenset({"pyperclip.paste", "clipboard.paste", "win32clipboard.GetClipboardData", "pyclip.paste",
                             "xerox.paste", "paste", "GetClipboardData", "clipboard_get", "klembord.get"})
IMAGE_SOURCES = frozenset({"PIL.Image.open", "Image.open", "cv2.imread", "imageio.imread", "imageio.v2.imread",
                           "imageio.v3.imread", "stegano.lsb.reveal", "lsb.reveal", "stegano.exifHeader.reveal",
                           "steganography.steganography.Steganography.decode", "matplotlib.image.imread"})
IMAGE_EXTENSIONS = re.compile(r"\.(?:png|jpe?g|gif|bmp|ico|webp|tiff?)$", re.I)
NETWORK_MODULES = frozenset({"requests", "urllib", "urllib2", "urllib3", "http", "httpx", "socket", "aiohttp",
                             "smtplib", "ftplib", "pycurl", "wget", "dns", "websocket", "websockets",
                             "discord_webhook", "telebot", "telegram", "paramiko", "asyncio", "ssl", "tornado"})
SILENT_FLAGS = re.compile(r"CREATE_NO_WINDOW|DETACHED_PROCESS|0x0*8000000|0x0*8\b|CREATE_NEW_PROCESS_GROUP|SW_HIDE")
# The checks made on every string constant (see PythonScan._check_constants).
CONSTANT_CHECKS = frozenset({"shell", "download", "cred", "url"})


@dataclass
class Hit:
    check: str
    line: int
    message: str
    preview: str = ""
    layers: list[str] = field(default_factory=list)
    indicator: str = ""


@dataclass
class _Scope:
    node: ast.AST
    parent: _Scope | None
    assigns: dict[str, list[ast.AST]] = field(default_factory=dict)
    labels: dict[str, set[str]] = field(default_factory=dict)
    # The scope's own calls, subscripts, returns and yields (nested functions excluded), in walk order.
    nodes: list[ast.AST] = field(default_factory=list)

    def lookup(self, name: str) -> list[ast.AST]:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.assigns:
                return scope.assigns[name]
            scope = scope.parent
        return []

    def labels_of(self, name: str) -> set[str]:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.assigns:
                return scope.labels.get(name, set())
            scope = scope.parent
        return set()


_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
# Nodes without children or meaning for the checks: expression contexts and operators.
_LEAF_TYPES = frozenset(t for base in (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
                        for t in base.__subclasses__())
# The only nodes a scope's node list is read for (calls and lookups, returned values).
_SCOPE_NODE_TYPES = frozenset({ast.Call, ast.Subscript, ast.Return, ast.Yield})
# Nodes that bind names or import modules.
_BINDING_TYPES = frozenset({ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For, ast.AsyncFor,
                            ast.comprehension, ast.With, ast.AsyncWith, ast.Import, ast.ImportFrom})


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of one scope: descends into classes and blocks but not into nested functions."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, _FUNCTION_NODES):
            stack.extend(ast.iter_child_nodes(child))


class _Unknown(Exception):
    pass


class PythonScan:
    """The AST analysis of one file.

    `flow=False` leaves out the data-flow and call checks and `constant_checks` limits the
    checks run on string constants; `screen_python` decides both from the source text, only
    leaving out checks that cannot fire on it.
    """

    def __init__(self, source: str, path: str, *, flow: bool = True,
                 constant_checks: frozenset[str] = CONSTANT_CHECKS) -> None:
        self.source = source
        self.path = path
        self.flow = flow
        self.constant_checks = constant_checks
        self.hits: list[Hit] = []
        self.tree = ast.parse(source, filename=path)
        self.aliases: dict[str, str] = {}
        self.parents: dict[ast.AST, ast.AST] = {}
        self.constants: list[ast.Constant] = []
        self.names_used: set[str] = set()
        self._resolved: dict[tuple[int, int], str] = {}
        self._intrinsic: dict[tuple[int, int], tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]] = {}
        self.module_scope = _Scope(self.tree, None)
        self.scopes: list[_Scope] = [self.module_scope]
        self.scope_of_function: dict[ast.AST, _Scope] = {}
        self._index()
        # Function name -> labels of what it returns (a function that returns secrets is a source).
        self.function_labels: dict[str, set[str]] = {}
        self.function_nodes: dict[str, ast.AST] = {}
        for scope in self.scopes:
            if isinstance(scope.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function_nodes[scope.node.name] = scope.node
        self.modules = {v.split(".")[0] for v in self.aliases.values()}

    # --- structure ---------------------------------------------------------------------

    def _index(self) -> None:
        """One pass over the tree: parents, imports, constants, names, scopes and their bindings.

        The walk order (a stack of nodes, children in field order) fixes the order of bindings,
        constants and calls, and so of the hits: keep it. It is written out by hand rather than
        with ast.iter_child_nodes because it visits every node of every file (the generator and
        isinstance chain cost more than the rest of the analysis on most files). Operator and
        context nodes (Load, Add...) carry nothing and are not visited; parents are kept only
        for the nodes whose parent is asked for (string constants and attributes).
        """
        parents = self.parents
        scopes = self.scopes
        scope_of_function = self.scope_of_function
        constants = self.constants
        names_used = self.names_used
        bindings = _BINDING_TYPES
        stack: list[tuple[ast.AST, _Scope]] = [(self.tree, self.module_scope)]
        pop, push = stack.pop, stack.append
        while stack:
            node, scope = pop()
            for field_name in node._fields:
                value = getattr(node, field_name, None)
                if type(value) is list:
                    children = value
                elif isinstance(value, ast.AST):
                    children = (value,)
                else:
                    continue
                for child in children:
                    kind = type(child)
                    if kind in _LEAF_TYPES or not isinstance(child, ast.AST):
                        continue
                    if kind is ast.Name:
                        names_used.add(child.id)  # its only child is a context node
                        continue
                    if kind is ast.Constant:
                        if type(child.value) is str:
                            constants.append(child)
                            parents[child] = node
                        continue
                    if kind is ast.Attribute:
                        names_used.add(child.attr)
                        parents[child] = node
                    elif kind in _FUNCTION_NODES:
                        function_scope = _Scope(child, scope)
                        scopes.append(function_scope)
                        scope_of_function[child] = function_scope
                        if kind is not ast.Lambda:
                            scope.assigns.setdefault(child.name, []).append(child)
                        push((child, function_scope))
                        continue
                    elif kind in _SCOPE_NODE_TYPES:
                        scope.nodes.append(child)
                    elif kind in bindings:
                        self._record(child, scope)
                    push((child, scope))

    def _record(self, child: ast.AST, scope: _Scope) -> None:
        """Bindings and imports (names, attributes and constants are taken care of by _index)."""
        if isinstance(child, ast.Assign):
            for target in child.targets:
                self._bind(scope, target, child.value)
        elif isinstance(child, (ast.AnnAssign, ast.AugAssign)) and child.value is not None:
            self._bind(scope, child.target, child.value)
        elif isinstance(child, ast.NamedExpr):
            self._bind(scope, child.target, child.value)
        elif isinstance(child, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._bind(scope, child.target, child.iter)
        elif isinstance(child, (ast.With, ast.AsyncWith)):
            for item in child.items:
                if item.optional_vars is not None:
                    self._bind(scope, item.optional_vars, item.context_expr)
        elif isinstance(child, ast.Import):
            for alias in child.names:
                top = alias.name.split(".")[0]
                self.aliases[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(child, ast.ImportFrom) and child.module:
            for alias in child.names:
                self.aliases[alias.asname or alias.name] = f"{child.module}.{alias.name}"

    def _bind(self, scope: _Scope, target: ast.AST, value: ast.AST) -> None:
        if isinstance(target, ast.Name):
            scope.assigns.setdefault(target.id, []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
            for i, element in enumerate(target.elts):
                self._bind(scope, element, values[i] if values else value)
        elif isinstance(target, ast.Starred):
            self._bind(scope, target.value, value)

    def resolve(self, node: ast.AST, scope: _Scope | None = None, depth: int = 0) -> str:
        """Dotted name of an expression (`b.b64decode` -> `base64.b64decode`), '' when unknown."""
        key = (id(node), id(scope))
        cached = self._resolved.get(key)
        if cached is None:
            cached = self._resolve(node, scope, depth)
            if depth == 0:
                self._resolved[key] = cached
        return cached

    def _resolve(self, node: ast.AST, scope: _Scope | None, depth: int) -> str:
        if depth > 8:
            return ""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return _strip_builtins(self.aliases[node.id])
            if scope is not None:
                bound = scope.lookup(node.id)
                if len(bound) == 1 and (isinstance(bound[0], (ast.Attribute, ast.Name))
                                        or self._is_import_call(bound[0])):
                    inner = self.resolve(bound[0], scope, depth + 1)
                    if inner:
                        return inner
            return _strip_builtins(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value, scope, depth + 1)
            return _strip_builtins(f"{base}.{node.attr}") if base else node.attr
        if isinstance(node, ast.Call):
            func = self.resolve(node.func, scope, depth + 1)
            if func in IMPORT_SINKS and node.args:
                module = self.evaluate(node.args[0], scope or self.module_scope)
                if isinstance(module, str):
                    return module
            if func == "getattr" and len(node.args) >= 2:
                attr = self.evaluate(node.args[1], scope or self.module_scope)
                base = self.resolve(node.args[0], scope, depth + 1)
                if isinstance(attr, str):
                    return _strip_builtins(f"{base}.{attr}" if base else attr)
            if func.endswith("Session") or func.endswith("Client"):
                return func
        return ""

    def _is_import_call(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and self.resolve(node.func, None) in IMPORT_SINKS | {"getattr"}

    # --- static evaluation ------------------------------------------------------------------

    def evaluate(self, node: ast.AST, scope: _Scope, env: dict[str, Any] | None = None) -> str | bytes | None:
        try:
            value = self._ev(node, scope, env or {}, 0)
        except (_Unknown, RecursionError, ValueError, TypeError, OverflowError, MemoryError, binascii.Error,
                zlib.error, lzma.LZMAError, OSError, EOFError, UnicodeError, IndexError):
            return None
        return value if isinstance(value, (str, bytes)) else None

    def _ev(self, node: ast.AST, scope: _Scope, env: dict[str, Any], depth: int) -> Any:
        if depth > 30:
            raise _Unknown
        d = depth + 1
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, bytes, int)) and not isinstance(node.value, bool):
                return node.value
            raise _Unknown
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            bound = scope.lookup(node.id)
            if len(bound) == 1 and not isinstance(bound[0], _FUNCTION_NODES):
                return self._ev(bound[0], scope, env, d)
            raise _Unknown
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self._ev(node.operand, scope, env, d)
            if isinstance(value, int):
                return -value
            raise _Unknown
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self._ev(e, scope, env, d) for e in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._ev(node.left, scope, env, d), self._ev(node.right, scope, env, d)
            if type(left) is type(right) and isinstance(left, (str, bytes, list)):
                if len(left) + len(right) > MAX_EVAL:
                    raise _Unknown
                return left + right
            raise _Unknown
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            value = self._ev(node.value, scope, env, d)
            sl = node.slice
            step = self._ev(sl.step, scope, env, d) if sl.step is not None else None
            lower = self._ev(sl.lower, scope, env, d) if sl.lower is not None else None
            upper = self._ev(sl.upper, scope, env, d) if sl.upper is not None else None
            if isinstance(value, (str, bytes, list)):
                return value[slice(lower, upper, step)]
            raise _Unknown
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)) and len(node.generators) == 1:
            gen = node.generators[0]
            if isinstance(gen.target, ast.Name) and not gen.ifs:
                items = self._ev(gen.iter, scope, env, d)
                if not isinstance(items, (list, str, bytes)) or len(items) > 200_000:
                    raise _Unknown
                return [self._ev(node.elt, scope, {**env, gen.target.id: item}, d) for item in items]
            raise _Unknown
        if isinstance(node, ast.Call):
            return self._ev_call(node, scope, env, d)
        raise _Unknown

    def _ev_call(self, node: ast.Call, scope: _Scope, env: dict[str, Any], d: int) -> Any:
        func = node.func
        args = node.args
        # Methods on an evaluable receiver.
        if isinstance(func, ast.Attribute):
            attr = func.attr
            receiver_name = self.resolve(func.value, scope)
            if attr == "fromhex" and receiver_name in ("bytes", "bytearray"):
                return bytes.fromhex(self._text(self._ev(args[0], scope, env, d)))
            if attr in ("decode", "encode", "join", "replace", "strip", "lower", "upper", "split", "translate",
                        "reverse", "tobytes"):
                try:
                    receiver = self._ev(func.value, scope, env, d)
                except _Unknown:
                    receiver = None
                if receiver is not None:
                    return self._method(receiver, attr, [self._ev(a, scope, env, d) for a in args])
        name = self.resolve(func, scope)
        tail = name.rsplit(".", 1)[-1]
        if isinstance(func, ast.Name) and func.id not in self.aliases:
            bound = scope.lookup(func.id)
            if len(bound) == 1 and isinstance(bound[0], ast.Lambda) and len(bound[0].args.args) == len(args):
                lam = bound[0]
                values = {a.arg: self._ev(v, scope, env, d) for a, v in zip(lam.args.args, args, strict=False)}
                return self._ev(lam.body, self.scope_of_function.get(lam, scope), {**env, **values}, d)
        if isinstance(func, ast.Lambda) and len(func.args.args) == len(args):
            values = {a.arg: self._ev(v, scope, env, d) for a, v in zip(func.args.args, args, strict=False)}
            return self._ev(func.body, self.scope_of_function.get(func, scope), {**env, **values}, d)
        if tail == "compile" and args:
            return self._ev(args[0], scope, env, d)  # the source being compiled is the payload
        if tail == "chr" and len(args) == 1:
            return chr(int(self._ev(args[0], scope, env, d)))
        if tail == "ord" and len(args) == 1:
            return ord(self._text(self._ev(args[0], scope, env, d)))
        if tail in ("bytes", "bytearray") and len(args) == 1:
            value = self._ev(args[0], scope, env, d)
            if isinstance(value, list):
                return bytes(int(v) for v in value)
            if isinstance(value, bytes):
                return value
            raise _Unknown
        if tail in ("str",) and len(args) == 1:
            value = self._ev(args[0], scope, env, d)
            if isinstance(value, str):
                return value
            raise _Unknown
        if tail == "reversed" and len(args) == 1:
            value = self._ev(args[0], scope, env, d)
            return list(reversed(value))
        if tail == "map" and len(args) == 2:
            mapper = self.resolve(args[0], scope)
            items = self._ev(args[1], scope, env, d)
            if mapper == "chr" and isinstance(items, list):
                return [chr(int(i)) for i in items]
            raise _Unknown
        if name in ("codecs.decode", "codecs.encode") and args:
            value = self._ev(args[0], scope, env, d)
            codec = self._ev(args[1], scope, env, d) if len(args) > 1 else "utf-8"
            return _codec(value, str(codec))
        if tail in DECODERS and args:
            value = self._ev(args[0], scope, env, d)
            kind = DECODERS[tail]
            if kind == "marshal":
                if name.startswith("marshal") and isinstance(value, bytes):
                    return b"\x00<marshalled code object, " + str(len(value)).encode() + b" bytes>"
                raise _Unknown
            return _decode(kind, name, value)
        raise _Unknown

    @staticmethod
    def _text(value: Any) -> str:
        if isinstance(value, bytes):
            return value.decode("latin-1")
        if isinstance(value, str):
            return value
        raise _Unknown

    def _method(self, receiver: Any, attr: str, args: list[Any]) -> Any:
        if attr == "decode" and isinstance(receiver, (bytes, bytearray)):
            codec = str(args[0]) if args else "utf-8"
            if codec.replace("_", "").replace("-", "").lower() in ("hex", "base64", "rot13", "zlib", "bz2"):
                return _codec(bytes(receiver), codec)
            return bytes(receiver).decode(codec, "replace")
        if attr == "decode" and isinstance(receiver, str) and args:
            return _codec(receiver, str(args[0]))
        if attr == "encode" and isinstance(receiver, str):
            codec = str(args[0]) if args else "utf-8"
            if codec.replace("_", "").lower() == "rot13":
                return codecs.encode(receiver, "rot13")
            return receiver.encode(codec, "replace")
        if attr == "join" and isinstance(receiver, (str, bytes)) and args and isinstance(args[0], (list, str, bytes)):
            items = args[0]
            if isinstance(receiver, str):
                return receiver.join(chr(i) if isinstance(i, int) else self._text(i) for i in items)
            return receiver.join(bytes([i]) if isinstance(i, int) else i for i in items)
        if attr == "replace" and isinstance(receiver, (str, bytes)) and len(args) >= 2:
            return receiver.replace(args[0], args[1])
        if attr in ("strip", "lower", "upper") and isinstance(receiver, (str, bytes)):
            return getattr(receiver, attr)(*args)
        if attr == "split" and isinstance(receiver, (str, bytes)):
            return receiver.split(*args)
        if attr == "tobytes" and isinstance(receiver, bytes):
            return receiver
        raise _Unknown

    # --- labels ------------------------------------------------------------------------------

    def fuzzy_path(self, node: ast.AST, scope: _Scope, depth: int = 0) -> str:
        """A rendering of a path expression with '*' for unknown parts and '~' for the home directory."""
        if depth > 12:
            return "*"
        d = depth + 1
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            value = node.value
            return value.decode("latin-1") if isinstance(value, bytes) else value
        if isinstance(node, ast.JoinedStr):
            return "".join(self.fuzzy_path(v.value if isinstance(v, ast.FormattedValue) else v, scope, d)
                           for v in node.values)
        if isinstance(node, ast.BinOp):
            sep = "/" if isinstance(node.op, ast.Div) else ""
            if isinstance(node.op, ast.Mod):
                return self.fuzzy_path(node.left, scope, d).replace("%s", "*")
            return self.fuzzy_path(node.left, scope, d) + sep + self.fuzzy_path(node.right, scope, d)
        if isinstance(node, ast.Name):
            bound = scope.lookup(node.id)
            if len(bound) == 1 and not isinstance(bound[0], _FUNCTION_NODES):
                return self.fuzzy_path(bound[0], scope, d)
            return "*"
        if isinstance(node, ast.Subscript):
            key = node.slice
            if self.resolve(node.value, scope) == "os.environ" and isinstance(key, ast.Constant):
                return _env_placeholder(str(key.value))
            return "*"
        if isinstance(node, ast.Call):
            name = self.resolve(node.func, scope)
            tail = name.rsplit(".", 1)[-1]
            if tail == "home" or name in ("os.path.expanduser",) and not node.args:
                return "~"
            if name in ("os.getenv", "os.environ.get") and node.args and isinstance(node.args[0], ast.Constant):
                return _env_placeholder(str(node.args[0].value))
            if tail in ("join", "joinpath", "Path", "PurePath", "PosixPath", "WindowsPath") and node.args:
                base = self.fuzzy_path(node.func.value, scope, d) + "/" if tail == "joinpath" and isinstance(node.func, ast.Attribute) else ""
                return base + "/".join(self.fuzzy_path(a, scope, d) for a in node.args)
            if tail in ("expanduser", "expandvars", "abspath", "normpath", "realpath", "str", "fspath", "resolve",
                        "expanduser") and node.args:
                return self.fuzzy_path(node.args[0], scope, d)
            if tail in ("expanduser", "resolve", "absolute") and isinstance(node.func, ast.Attribute):
                return self.fuzzy_path(node.func.value, scope, d)
            if tail == "format" and isinstance(node.func, ast.Attribute):
                return self.fuzzy_path(node.func.value, scope, d).replace("{}", "*")
        return "*"

    def sources(self, node: ast.AST, scope: _Scope) -> set[str]:
        """Labels that an expression's subtree carries: secret, network, image, obfuscated."""
        key = (id(node), id(scope))
        cached = self._intrinsic.get(key)
        if cached is None:
            cached = self._intrinsic_sources(node, scope)
            self._intrinsic[key] = cached
        intrinsic, names, callees = cached
        labels = set(intrinsic)
        for name in names:
            labels |= scope.labels_of(name)
        for callee in callees:
            labels |= self.function_labels.get(callee, set())
        return labels

    def _intrinsic_sources(self, node: ast.AST, scope: _Scope) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
        labels: set[str] = set()
        names: set[str] = set()
        callees: set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                if sub.attr == "environ" and self.resolve(sub, scope) == "os.environ" and self._whole_environ(sub):
                    labels.add("secret")
            elif isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Slice) and sub.slice.step is not None:
                step = sub.slice.step
                if isinstance(step, ast.UnaryOp) and isinstance(step.op, ast.USub):
                    labels.add("obfuscated")
            elif isinstance(sub, ast.Call):
                name = self.resolve(sub.func, scope)
                tail = name.rsplit(".", 1)[-1]
                if tail in DECODERS and (DECODERS[tail] != "marshal" or name.startswith("marshal")) \
                        and (DECODERS[tail] != "decompress" or name.split(".")[0] in DECOMPRESSORS):
                    labels.add("obfuscated")
                elif name in ("codecs.decode",) and len(sub.args) > 1:
                    codec = self.evaluate(sub.args[1], scope)
                    if isinstance(codec, str) and codec.replace("_", "").replace("-", "").lower() in (
                            "rot13", "hex", "base64", "zlib", "bz2", "uu"):
                        labels.add("obfuscated")
                elif tail == "map" and sub.args and self.resolve(sub.args[0], scope) == "chr":
                    labels.add("obfuscated")
                elif tail == "join" and sub.args and any(
                        isinstance(x, ast.Call) and self.resolve(x.func, scope) in ("chr", "reversed")
                        for x in ast.walk(sub.args[0])):
                    labels.add("obfuscated")
                if name in NETWORK_READ or tail in ("urlopen", "urlretrieve") or (
                        tail in ("get", "request", "stream") and name.split(".")[0] in ("requests", "httpx", "urllib3")):
                    labels.add("network")
                if name in IMAGE_SOURCES or tail in ("getdata", "getpixel") or (
                        tail in ("open", "read_bytes", "imread") and sub.args
                        and IMAGE_EXTENSIONS.search(self.fuzzy_path(sub.args[0], scope))):
                    labels.add("image")
                if tail in ("open", "read_text", "read_bytes", "Path", "listdir", "scandir", "walk", "glob", "iglob",
                            "copy", "copyfile", "copy2", "copytree", "connect", "expanduser", "join", "rglob") \
                        and sub.args and ind.credential_kind(self.fuzzy_path(sub.args[0], scope)):
                    labels.add("secret")
                elif tail in ("read_text", "read_bytes", "open") and isinstance(sub.func, ast.Attribute) \
                        and ind.credential_kind(self.fuzzy_path(sub.func.value, scope)):
                    labels.add("secret")
                callee = sub.func.attr if isinstance(sub.func, ast.Attribute) else (
                    sub.func.id if isinstance(sub.func, ast.Name) else "")
                if callee and callee in self.function_nodes and callee not in ("get", "post", "open", "read"):
                    callees.add(callee)
                if isinstance(sub.func, ast.Name):
                    bound = scope.lookup(sub.func.id)
                    if len(bound) == 1 and isinstance(bound[0], ast.Lambda) and bound[0] is not node:
                        inner = self._intrinsic_sources(bound[0].body, self.scope_of_function.get(bound[0], scope))
                        labels |= inner[0]
        return frozenset(labels), tuple(sorted(names)), tuple(sorted(callees))


    def _whole_environ(self, node: ast.Attribute) -> bool:
        parent = self.parents.get(node)
        if isinstance(parent, ast.Subscript) and parent.value is node:
            return False
        if isinstance(parent, ast.Attribute) and parent.attr in ("get", "setdefault", "pop", "update", "__getitem__",
                                                                  "__setitem__", "__contains__", "__delitem__"):
            return False
        if isinstance(parent, ast.Compare):
            return False
        if isinstance(parent, ast.keyword) and parent.arg == "env":
            return False
        return True

    def propagate(self) -> None:
        for _ in range(4):
            changed = False
            for scope in self.scopes:
                for name, values in scope.assigns.items():
                    labels = set(scope.labels.get(name, set()))
                    for value in values:
                        if isinstance(value, _FUNCTION_NODES):
                            continue
                        labels |= self.sources(value, scope)
                    if labels != scope.labels.get(name, set()):
                        scope.labels[name] = labels
                        changed = True
                if isinstance(scope.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    returned: set[str] = set()
                    for sub in scope.nodes:
                        if isinstance(sub, (ast.Return, ast.Yield)) and sub.value is not None:
                            returned |= self.sources(sub.value, scope)
                    if returned - self.function_labels.get(scope.node.name, set()):
                        self.function_labels.setdefault(scope.node.name, set()).update(returned)
                        changed = True
            if not changed:
                break

    # --- checks ----------------------------------------------------------------------------

    def add(self, check: str, node: ast.AST | int, message: str, *, preview: str = "", layers: list[str] | None = None,
            indicator: str = "") -> None:
        line = node if isinstance(node, int) else getattr(node, "lineno", 0)
        self.hits.append(Hit(check, line, message, preview, layers or [], indicator))

    def payload_preview(self, node: ast.AST, scope: _Scope) -> tuple[str, list[str]]:
        value = self.evaluate(node, scope)
        if value is not None:
            peeled, layers = ind.peel(value)
            return ind.preview(peeled), layers
        # Not fully evaluable: decode the largest literal involved (following names).
        best: str | bytes | None = None
        todo, seen = [node], 0
        while todo and seen < 200:
            current = todo.pop()
            seen += 1
            for sub in ast.walk(current):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, (str, bytes)):
                    if best is None or len(sub.value) > len(best):
                        best = sub.value
                elif isinstance(sub, ast.Name):
                    todo.extend(v for v in scope.lookup(sub.id) if not isinstance(v, _FUNCTION_NODES))
        if best is not None and len(best) >= 16:
            peeled, layers = ind.peel(best)
            if layers:
                return ind.preview(peeled), layers
        return "", []

    def _needs_flow(self) -> bool:
        """Whether any label source can occur here (otherwise following values is wasted work)."""
        triggers = {"environ", "chr", "urlopen", "urlretrieve", "getdata", "getpixel", "imread", "reveal", "loads",
                    "decode", "fromhex", *DECODERS}
        return bool(self.names_used & triggers or self.modules & (NETWORK_MODULES | {"PIL", "cv2", "imageio", "stegano"})
                    or any(ind.credential_kind(c.value) for c in self.constants if "/" in c.value or "\\" in c.value))

    def run(self) -> list[Hit]:
        if self.flow:
            self._run_flow()
        self._check_constants()
        return self.hits

    def _run_flow(self) -> None:
        """Data flow and the checks on calls and lookups."""
        if self._needs_flow():
            self.propagate()
        socket_lines: list[int] = []
        dup_lines: list[int] = []
        shell_spawn_lines: list[int] = []
        for scope in self.scopes:
            downloaded = self._downloaded_targets(scope)
            scope_socket = scope_dup = scope_shell = 0
            for node in scope.nodes:
                if isinstance(node, ast.Call):
                    name = self.resolve(node.func, scope)
                    tail = name.rsplit(".", 1)[-1]
                    if tail == "connect" and ("socket" in name or self._is_socket_receiver(node, scope)):
                        scope_socket = node.lineno
                    if name in ("os.dup2", "dup2"):
                        scope_dup = node.lineno
                    self._check_call(node, name, scope, downloaded)
                    if name in PROCESS_SINKS and any(self._shell_path(a, scope) for a in node.args):
                        scope_shell = node.lineno
                elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):
                    # getattr-style lookups such as globals()[b64decode(...)] or vars(mod)[...]
                    target = self.resolve(node.value.func, scope)
                    if target in ("globals", "locals", "vars") and "obfuscated" in self.sources(node.slice, scope):
                        text, layers = self.payload_preview(node.slice, scope)
                        self.add("MAL-IMPORT-001", node, f"{target}() looked up by an encoded name",
                                 preview=text, layers=layers)
            if scope_socket and (scope_dup or scope_shell):
                self.add("MAL-SHELL-001", scope_socket,
                         "connects a socket and wires it to a shell (os.dup2 of the socket / a spawned shell)",
                         indicator="socket+dup2+shell")
            socket_lines.append(scope_socket)
            dup_lines.append(scope_dup)
            shell_spawn_lines.append(scope_shell)

    @staticmethod
    def _is_network_read(name: str) -> bool:
        tail = name.rsplit(".", 1)[-1]
        return name in NETWORK_READ or tail in ("urlopen", "urlretrieve") or (
            tail in ("get", "request", "stream") and name.split(".")[0] in ("requests", "httpx", "urllib3"))

    def _is_socket_receiver(self, node: ast.Call, scope: _Scope) -> bool:
        func = node.func
        if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
            return False
        bound = scope.lookup(func.value.id)
        return any(isinstance(v, ast.Call) and "socket" in self.resolve(v.func, scope) for v in bound)

    def _shell_path(self, node: ast.AST, scope: _Scope) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and re.fullmatch(
                    r"(?:/bin/|/usr/bin/)?(?:ba|z|da|k)?sh|cmd(?:\.exe)?|powershell(?:\.exe)?", sub.value.strip()):
                return True
        return False

    def _downloaded_targets(self, scope: _Scope) -> set[str]:
        """Keys (names or literal paths) of files this scope writes downloaded data to."""
        keys: set[str] = set()
        if not self.modules & NETWORK_MODULES:
            return keys
        has_network = any(isinstance(n, ast.Call) and self._is_network_read(self.resolve(n.func, scope))
                          for n in scope.nodes)
        if not has_network:
            return keys
        for node in scope.nodes:
            if not isinstance(node, ast.Call):
                continue
            name = self.resolve(node.func, scope)
            tail = name.rsplit(".", 1)[-1]
            if tail == "urlretrieve" and len(node.args) >= 2:
                keys.add(_key(node.args[1]))
            elif name == "wget.download":
                for kw in node.keywords:
                    if kw.arg == "out":
                        keys.add(_key(kw.value))
            elif tail == "open" and node.args and len(node.args) >= 2:
                mode = self.evaluate(node.args[1], scope)
                if isinstance(mode, str) and any(c in mode for c in "wax"):
                    keys.add(_key(node.args[0]))
            elif tail in ("write_bytes", "write_text") and isinstance(node.func, ast.Attribute):
                keys.add(_key(node.func.value))
        keys.discard("")
        return keys

    def _check_call(self, node: ast.Call, name: str, scope: _Scope, downloaded: set[str]) -> None:
        tail = name.rsplit(".", 1)[-1]
        args = node.args
        if name in EXEC_SINKS and args:
            labels = self.sources(args[0], scope)
            if "obfuscated" in labels:
                text, layers = self.payload_preview(args[0], scope)
                self.add("MAL-EXEC-001", node, f"{name}() runs code that is decoded or de-obfuscated at run time",
                         preview=text, layers=layers)
            elif "network" in labels:
                self.add("MAL-DOWNLOAD-001", node, f"{name}() runs code fetched from the network")
            elif "image" in labels:
                self.add("MAL-STEGO-001", node, f"{name}() runs data extracted from an image")
        if name in PROCESS_SINKS or tail in ("system", "popen") and name.startswith("os"):
            self._check_process(node, name, scope, downloaded)
        if name in ("os.chmod",) and args and _key(args[0]) in downloaded:
            self.add("MAL-DOWNLOAD-001", node, "makes a downloaded file executable")
        if name in IMPORT_SINKS or name == "getattr":
            index = 1 if name == "getattr" else 0
            if len(args) > index and not isinstance(args[index], ast.Constant):
                arg = args[index]
                labels = self.sources(arg, scope)
                value = self.evaluate(arg, scope)
                computed = _computed(arg, scope)
                if "obfuscated" in labels or (isinstance(value, str) and computed and _sensitive_name(value)):
                    text, layers = self.payload_preview(arg, scope)
                    self.add("MAL-IMPORT-001", node, f"{name}() with a name that is built or decoded at run time",
                             preview=text or (value if isinstance(value, str) else ""), layers=layers)
        if self.modules & NETWORK_MODULES and (tail in NETWORK_SEND_ATTRS or name in NETWORK_READ) \
                and (args or node.keywords):
            carried: set[str] = set()
            for part in list(args[1:] if tail in ("get", "post", "put", "patch", "urlopen") else args) + [
                    k.value for k in node.keywords if k.arg not in ("timeout", "verify", "proxies", "env")]:
                carried |= self.sources(part, scope)
            if tail in ("get", "urlopen", "request", "Request") and args:
                # Secrets in the URL itself (query string built from the environment or a key file).
                carried |= self.sources(args[0], scope) & {"secret"}
            if "secret" in carried:
                self.add("MAL-EXFIL-001", node, f"sends credentials or the whole environment over the network ({name or tail})")
        if name in CLIPBOARD_READS or tail in ("GetClipboardData", "clipboard_get") or (
                tail == "paste" and name.split(".")[0] in ("pyperclip", "clipboard", "pyclip", "xerox")):
            self.add("MAL-CLIP-001", node, f"reads the clipboard ({name or tail})")

    def _check_process(self, node: ast.Call, name: str, scope: _Scope, downloaded: set[str]) -> None:
        text_parts = []
        for arg in node.args:
            labels = self.sources(arg, scope)
            if "obfuscated" in labels:
                text, layers = self.payload_preview(arg, scope)
                self.add("MAL-EXEC-001", node, f"{name}() runs a command that is decoded at run time",
                         preview=text, layers=layers)
            if "network" in labels:
                self.add("MAL-DOWNLOAD-001", node, f"{name}() runs something fetched from the network")
            for sub in ast.walk(arg):
                if _key(sub) in downloaded:
                    self.add("MAL-DOWNLOAD-001", node, f"{name}() runs a file that this code downloaded")
                    break
            text_parts.append(self.fuzzy_path(arg, scope))
            for sub in ast.walk(arg):
                if isinstance(sub, (ast.List, ast.Tuple)):
                    text_parts.append(" ".join(self.fuzzy_path(e, scope) for e in sub.elts))
        command = " ".join(text_parts)
        if ind.DOWNLOAD_EXEC_PATTERNS.search(command):
            self.add("MAL-DOWNLOAD-001", node, f"{name}() runs a download-and-execute command",
                     preview=ind.short(command, 200))
        if ind.CLIPBOARD_COMMANDS.search(command):
            self.add("MAL-CLIP-001", node, f"{name}() reads the clipboard through a system command",
                     preview=ind.short(command, 200))
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        quiet = any(k in keywords and "DEVNULL" in ast.unparse(keywords[k]) or
                    k in keywords and "devnull" in ast.unparse(keywords[k]) for k in ("stdout", "stderr"))
        detached = (
            ("start_new_session" in keywords and ast.unparse(keywords["start_new_session"]) == "True")
            or ("creationflags" in keywords and SILENT_FLAGS.search(ast.unparse(keywords["creationflags"])) is not None)
            or ("preexec_fn" in keywords and re.search(r"setsid|setpgrp", ast.unparse(keywords["preexec_fn"])) is not None)
            or ("startupinfo" in keywords)
        )
        if (quiet and detached) or ind.SILENT_SHELL_PATTERNS.search(command) and "nohup" in command + name:
            self.add("MAL-SPAWN-001", node, f"{name}() starts a hidden or detached process with its output discarded",
                     preview=ind.short(command, 200))

    def _check_constants(self) -> None:
        # Checks the screen ruled out for the whole file are not run on any constant.
        checks = self.constant_checks
        shell, download, cred, url = ("shell" in checks, "download" in checks, "cred" in checks, "url" in checks)
        if not (shell or download or cred or url):
            return
        for node in self.constants:
            if len(node.value) < 4:
                continue
            text = node.value
            if shell and ind.REVERSE_SHELL_PATTERNS.search(text):
                self.add("MAL-SHELL-001", node, "reverse-shell command line", preview=ind.short(text, 200))
            elif download and ind.DOWNLOAD_EXEC_PATTERNS.search(text) and not self._is_docstring(node):
                self.add("MAL-DOWNLOAD-002", node, "download-and-execute command line in a string",
                         preview=ind.short(text, 200))
            if cred and ("/" in text or "\\" in text):
                kind = ind.credential_kind(text)
                if kind and not self._is_docstring(node) and self._used_as_path(node):
                    self.add("MAL-CRED-001", node, f"refers to {kind}: {ind.short(text, 80)}", indicator=kind)
            # URL_RE needs "://": the costly prose test is only made for strings that can hold a URL.
            if not url or "://" not in text:
                continue
            for match in ind.URL_RE.finditer(text if not ind.is_prose(text) else ""):
                category = ind.host_category(match.group(1))
                if category and not self._is_docstring(node):
                    self.add("MAL-URL-001", node, f"link to a {category}: {ind.short(match.group(0), 100)}",
                             indicator=category)
                elif ind.has_mixed_script_host(match.group(1)) and not self._is_docstring(node):
                    self.add("MAL-UNICODE-002", node, f"link whose host name mixes scripts: {match.group(0)[:100]}")

    def _is_docstring(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Expr)

    def _used_as_path(self, node: ast.AST) -> bool:
        """A credential path literal that is used in code (not a message or a log line)."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Call) and self.resolve(parent.func).rsplit(".", 1)[-1] in (
                "print", "warn", "warning", "info", "debug", "error", "exception", "log", "format", "Exception",
                "ValueError", "RuntimeError"):
            return False
        return not isinstance(parent, (ast.JoinedStr, ast.Expr))


def _strip_builtins(name: str) -> str:
    for prefix in ("builtins.", "__builtins__.", "__builtin__."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _env_placeholder(var: str) -> str:
    return "~" if var.upper() in ("HOME", "USERPROFILE") else f"%{var}%"


def _key(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"name:{node.id}"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return f"str:{node.value}"
    return ""


def _computed(node: ast.AST, scope: _Scope) -> bool:
    """Whether an expression builds its value (concatenation, joins, slicing...) rather than naming a literal."""
    if isinstance(node, ast.Name):
        bound = scope.lookup(node.id)
        return len(bound) == 1 and not isinstance(bound[0], (ast.Constant, *_FUNCTION_NODES)) and _computed(bound[0], scope)
    return isinstance(node, (ast.BinOp, ast.Call, ast.Subscript, ast.JoinedStr))


_SENSITIVE = frozenset({
    "os", "subprocess", "socket", "base64", "builtins", "__builtin__", "ctypes", "urllib", "urllib.request",
    "requests", "marshal", "zlib", "pty", "exec", "eval", "system", "popen", "compile", "__import__", "getattr",
    "Popen", "check_output", "urlopen", "b64decode", "decompress", "loads", "startfile", "webbrowser", "shutil",
    "win32api", "pickle", "codecs", "importlib", "http.client", "ftplib", "smtplib", "telnetlib", "paramiko",
})


def _sensitive_name(value: str) -> bool:
    return value in _SENSITIVE or value.split(".")[0] in _SENSITIVE and "." in value


def _codec(value: Any, codec: str) -> Any:
    name = codec.replace("_", "").replace("-", "").lower()
    if name == "rot13":
        return codecs.decode(value if isinstance(value, str) else value.decode("latin-1"), "rot13")
    if name == "hex":
        return bytes.fromhex(value.decode("latin-1") if isinstance(value, bytes) else value)
    if name == "base64":
        return base64.b64decode(value)
    if name == "zlib":
        return zlib.decompress(value)
    if name == "bz2":
        return bz2.decompress(value)
    if isinstance(value, bytes):
        return value.decode(codec, "replace")
    raise _Unknown


def _decode(kind: str, name: str, value: Any) -> bytes:
    if isinstance(value, str):
        value = value.encode("latin-1")
    if not isinstance(value, (bytes, bytearray)):
        raise _Unknown
    value = bytes(value)
    if kind == "base64":
        if "urlsafe" in name:
            return base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
        return base64.b64decode(value + b"=" * (-len(value.strip()) % 4))
    if kind == "base32":
        return base64.b32decode(value)
    if kind == "hex":
        return binascii.unhexlify(value.strip())
    if kind == "base85":
        return base64.b85decode(value)
    if kind == "ascii85":
        return base64.a85decode(value)
    if kind == "decompress":
        module = name.split(".")[0]
        if module in DECOMPRESSORS:
            return DECOMPRESSORS[module](value)[:MAX_EVAL]
        out = ind.try_decompress(value)
        if out is None:
            raise _Unknown
        return out
    raise _Unknown


# --- identifiers (tokens, before Python's NFKC normalisation) -----------------------------------

def scan_identifiers(source: str) -> list[Hit]:
    """Homoglyph, mixed-script, invisible and non-normalised identifiers, from the raw tokens."""
    hits: list[Hit] = []
    if source.isascii():
        return hits
    seen: set[str] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type != tokenize.NAME or tok.string.isascii() or tok.string in seen:
                continue
            word = tok.string
            reason = ""
            if any(c in ind.INVISIBLE_IDENTIFIER_CHARS for c in word):
                reason = "contains invisible characters"
            elif unicodedata.normalize("NFKC", word) != word and unicodedata.normalize("NFKC", word).isascii():
                reason = f"is written with look-alike characters that Python reads as {unicodedata.normalize('NFKC', word)!r}"
            elif ind.mixed_script(word):
                reason = "mixes Latin letters with look-alike letters of another script"
            if reason:
                seen.add(word)
                hits.append(Hit("MAL-UNICODE-002", tok.start[0], f"identifier {word!r} {reason}",
                                preview=word.encode("unicode_escape").decode("ascii")))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return hits


# --- Screening: which checks can fire on a source, decided before parsing it -----------------------
#
# Parsing and walking the AST is most of the cost of a scan, and most files of most packages
# give the checks nothing to work on. A lexical pass (one regular expression over the text)
# separates the code from the string literals and comments; the AST is built only when:
#
# - the code names a sink or source of the call and data-flow checks (FLOW_TRIGGERS, or an
#   import of a network module): every such check fires on a call or lookup whose resolved
#   name is one of them, and names resolve through identifiers written in the code (import
#   aliases, assignments, attribute chains) or through __import__/importlib/getattr (which are
#   triggers themselves);
# - a string literal (escapes decoded, implicit concatenations joined) could satisfy one of
#   the checks made on string constants (indicators' screens);
# - the code is not ASCII: Python reads identifiers through NFKC (𝐞𝐱𝐞𝐜 is exec), so the
#   identifier checks must run and the triggers above cannot be trusted.
#
# Each decision only leaves out checks that cannot fire, so the hits are those of the full
# analysis. It relies on the lexer seeing literals as Python 3.11 does (tests compare it with
# the AST on real code); with the f-string grammar of 3.12 (nested quotes) f-strings are not
# screened.

FLOW_TRIGGERS = (
    # exec and friends
    "exec", "eval", "compile", "FunctionType", "runsource", "run_code",
    # process spawns (os.exec*/os.spawn* included), making a file executable, wiring a socket to a shell
    "system", "popen", "Popen", "startfile", "spawn", "subprocess", "getoutput", "chmod", "dup2",
    # dynamic imports and lookups
    "__import__", "import_module", "load_module", "load_source", "SourceFileLoader", "getattr", "globals", "locals",
    "vars",
    # clipboard reads
    "paste", "GetClipboardData", "clipboard_get", "klembord",
)
# A module counts as imported (PythonScan.modules) by the first word of its dotted name.
_NETWORK_IMPORT = re.compile(r"\b(?:" + "|".join(sorted(NETWORK_MODULES, key=len, reverse=True)) + r")\b")
# A comment, or a string literal: triple-quoted first, a backslash escapes any character (even in raw
# literals, where it stays in the value), single-quoted literals end at the line.
_PY_TOKEN = re.compile(
    r"#[^\r\n]*"
    r"|'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''"
    r'|"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""'
    r"|'[^'\\\r\n]*(?:\\(?:\r\n|[\s\S])[^'\\\r\n]*)*'"
    r'|"[^"\\\r\n]*(?:\\(?:\r\n|[\s\S])[^"\\\r\n]*)*"'
)
_STRING_PREFIXES = frozenset({"r", "u", "b", "f", "br", "rb", "fr", "rf"})
# What may separate two literals that Python joins into one constant ("a" "b"): blanks, comments,
# backslash continuations, and line breaks when inside brackets.
# Possessive: a run of "#" must not be tried as one comment, two, three...
_JOINABLE = re.compile(r"(?:[ \t\f]++|\\(?:\r\n|[\r\n])|\#[^\r\n]*+|\r\n|[\r\n])*+")
_COMMENT = re.compile(r"\#[^\r\n]*")
_CONTINUATION = re.compile(r"\\(?:\r\n|[\r\n])")
_PY_ESCAPE = re.compile(r"\\(\r\n|[\r\n]|[0-7]{1,3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}\r\n]*\}|[\s\S])")
_PY_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                      "t": "\t", "v": "\v"}
_BRACES = re.compile(r"[{}]")
_NESTED_FSTRINGS = sys.version_info >= (3, 12)


def _py_unescape_one(match: re.Match[str]) -> str:
    escape = match.group(1)
    first = escape[0]
    if first in "\r\n":
        return ""  # line continuation inside the literal
    if first in "01234567":
        return chr(int(escape, 8))
    if first in "xuU" and len(escape) > 1:
        try:
            return chr(int(escape[1:], 16))
        except (ValueError, OverflowError):
            return "\\" + escape
    if first == "N" and len(escape) > 1:
        try:
            return unicodedata.lookup(escape[2:-1])
        except KeyError:
            return "\\" + escape
    return _PY_SIMPLE_ESCAPES.get(first, "\\" + escape)  # unknown escapes keep their backslash


def py_unescape(body: str) -> str:
    """The value of a (non-raw) str literal's body, as Python decodes it."""
    return _PY_ESCAPE.sub(_py_unescape_one, body) if "\\" in body else body


def _string_prefix(source: str, quote: int) -> str:
    """The literal's prefix (r, b, f, rb...) written just before the quote at `quote`, lower-cased."""
    start = quote
    while start > 0 and quote - start < 3 and (source[start - 1].isalnum() or source[start - 1] == "_"):
        start -= 1
    prefix = source[start:quote].lower()
    if start > 0 and (source[start - 1].isalnum() or source[start - 1] == "_"):
        return ""  # part of a longer word: `if'a'` is the keyword and a plain string
    return prefix if prefix in _STRING_PREFIXES else ""


@dataclass
class PythonLexed:
    code: str  # the source with string literals and comments replaced by blanks (f-strings are kept)
    strings: list[str]  # values of the str constants (f-strings: their text split at braces, and unbraced)
    exact: bool  # False when the lexer cannot vouch for what it saw (3.12 f-strings)


def lex_python(source: str) -> PythonLexed:
    """Separate code, string literals and comments with one regular expression (no parsing)."""
    code_parts: list[str] = []
    fstring_bodies: list[str] = []
    strings: list[str] = []
    pieces: list[str] = []  # decoded values of the literals of the current implicit concatenation
    state = {"fstring": False, "bytes": False, "depth": 0, "counted": 0}
    exact = True
    last_end = 0
    pos = 0

    def depth() -> int:
        """Bracket depth of the code read so far (counted lazily, each part once)."""
        for part in code_parts[state["counted"]:]:
            state["depth"] += (part.count("(") + part.count("[") + part.count("{")
                               - part.count(")") - part.count("]") - part.count("}"))
        state["counted"] = len(code_parts)
        return state["depth"]

    def close() -> None:
        if pieces and not state["bytes"]:
            value = "".join(pieces)
            if state["fstring"]:
                # The literal parts, and (for {expr=}, whose constant holds the expression's text) the
                # whole text without its braces.
                strings.extend(_BRACES.split(value))
                strings.append(_BRACES.sub("", value))
            else:
                strings.append(value)
        pieces.clear()
        state["fstring"] = state["bytes"] = False

    for match in _PY_TOKEN.finditer(source):
        start, end = match.span()
        code_parts.append(source[pos:start])
        pos = end
        token = match.group()
        if token[0] == "#":
            continue
        prefix = _string_prefix(source, start)
        if pieces:
            gap = source[last_end:start - len(prefix)]
            joined = _JOINABLE.fullmatch(gap) is not None
            if joined:
                bare = _CONTINUATION.sub("", _COMMENT.sub("", gap))
                if ("\n" in bare or "\r" in bare) and depth() <= 0:
                    joined = False  # a new logical line: another statement
            if not joined:
                close()
        last_end = end
        body = token[3:-3] if token.startswith(("'''", '"""')) and len(token) >= 6 else token[1:-1]
        if "b" in prefix:
            state["bytes"] = True
            pieces.append("")
            continue
        if "f" in prefix:
            state["fstring"] = True
            exact = exact and not _NESTED_FSTRINGS
            fstring_bodies.append(body)  # the {expressions} of an f-string are code too
        pieces.append(body if "r" in prefix else py_unescape(body))
    close()
    code_parts.append(source[pos:])
    return PythonLexed(" ".join(code_parts + fstring_bodies), strings, exact)


@dataclass(frozen=True)
class PythonScreen:
    parse: bool  # whether the AST is needed at all
    flow: bool  # the call and data-flow checks
    constant_checks: frozenset[str]  # the checks on string constants that can fire
    identifiers: bool  # the token-level identifier checks


FULL_SCREEN = PythonScreen(parse=True, flow=True, constant_checks=CONSTANT_CHECKS, identifiers=True)


def screen_python(source: str) -> PythonScreen:
    """Which parts of the Python analysis can give a hit on this source (see the notes above)."""
    lexed = lex_python(source)
    if not lexed.exact:
        return FULL_SCREEN
    code = lexed.code
    identifiers = not code.isascii()
    flow = identifiers or any(word in code for word in FLOW_TRIGGERS) or _NETWORK_IMPORT.search(code) is not None
    text = "\n".join(lexed.strings)
    hay = ind.Haystack(text)
    checks = set()
    if ind.REVERSE_SHELL_SCREEN.possible(hay):
        checks.add("shell")
    if ind.DOWNLOAD_EXEC_SCREEN.possible(hay):
        checks.add("download")
    if ("/" in text or "\\" in text) and ind.could_be_credential_path(hay):
        checks.add("cred")
    if ind.URL_SCREEN.possible(hay) and any(ind.host_category(m.group(1)) or ind.has_mixed_script_host(m.group(1))
                                           for m in ind.URL_RE.finditer(text)):
        checks.add("url")
    constant_checks = frozenset(checks)
    return PythonScreen(parse=flow or identifiers or bool(constant_checks), flow=flow,
                        constant_checks=constant_checks, identifiers=identifiers)


def scan_python(source: str, path: str, screen: PythonScreen | None = None) -> list[Hit]:
    """All AST and token hits for one Python file.

    Raises SyntaxError when the file has to be parsed and does not parse. `screen` (by default
    `screen_python(source)`) leaves out what cannot fire; pass FULL_SCREEN to analyse everything.
    """
    screen = screen_python(source) if screen is None else screen
    if not screen.parse:
        return []
    scan = PythonScan(source, path, flow=screen.flow, constant_checks=screen.constant_checks)
    hits = scan.run()
    if screen.identifiers:
        hits.extend(scan_identifiers(source))
    return hits
