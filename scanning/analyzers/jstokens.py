"""A JavaScript tokenizer good enough for security heuristics (not a parser).

It separates code from data the way an engine does, so that heuristics are not
fooled by text inside comments or strings, and can see through escapes:

- strings ('...' and "...") with their escapes decoded (\\x41, \\u0041, \\u{1F600}, octal);
- template literals, including nested `${...}` expressions (the text parts are one
  token; the expressions are tokenized as code);
- comments (//, /* */, the hashbang line and HTML-like comments);
- regular expression literals, told from division by the previous significant token;
- identifiers (with \\u escapes decoded), numbers and punctuators.

Malformed input never raises: an unterminated string or comment runs to the end
of the line or file, and an unknown character becomes a one-character punctuator.
"""

from __future__ import annotations

import re
from typing import NamedTuple

NAME, STRING, TEMPLATE, REGEX, NUMBER, PUNCT, COMMENT = "name", "string", "template", "regex", "number", "punct", "comment"


class Token(NamedTuple):
    kind: str
    value: str  # decoded text for strings/templates, the source text otherwise
    line: int
    start: int  # offset in the source
    end: int


_KEYWORDS_BEFORE_EXPRESSION = frozenset({
    "return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else",
    "yield", "await",
})
_PUNCTUATORS = sorted(
    """>>>= ... === !== **= <<= >>= >>> &&= ||= ??= => == != <= >= && || ?? ?. ++ -- += -= *= /= %= &= |= ^= << >> **
    { } ( ) [ ] ; , < > + - * / % & | ^ ! ~ ? : = . @ #""".split(),
    key=len, reverse=True,
)
_PUNCT_RE = re.compile("|".join(re.escape(p) for p in _PUNCTUATORS))
_SPACE_RE = re.compile(r"[ \t\f\v\r\n\u00a0\ufeff\u2028\u2029\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_NAME_RE = re.compile(r"(?:[A-Za-z_$\u00aa-\uffff]|\\u[0-9A-Fa-f]{4}|\\u\{[0-9A-Fa-f]+\})"
                      r"(?:[\w$\u00aa-\uffff\u200c\u200d]|\\u[0-9A-Fa-f]{4}|\\u\{[0-9A-Fa-f]+\})*")
_NUMBER_RE = re.compile(
    r"(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)n?"
)
_STRING_RE = {
    '"': re.compile(r'"((?:[^"\\\n]|\\(?:\r\n|[\s\S]))*)("?)'),
    "'": re.compile(r"'((?:[^'\\\n]|\\(?:\r\n|[\s\S]))*)('?)"),
}
_TEMPLATE_CHUNK_RE = re.compile(r"(?:[^`\\$]|\\[\s\S]|\$(?!\{))*")
_REGEX_RE = re.compile(r"/(?![*/])((?:[^/\\\[\n]|\\.|\[(?:[^\]\\\n]|\\.)*\])+)/([A-Za-z]*)")
_ESCAPE_RE = re.compile(r"\\(u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|[0-7]{1,3}|\r\n|[\s\S])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _unescape_one(match: re.Match[str]) -> str:
    esc = match.group(1)
    if esc.startswith("u{"):
        try:
            return chr(int(esc[2:-1], 16))
        except (ValueError, OverflowError):
            return ""
    if esc[0] == "u" and len(esc) == 5:
        return chr(int(esc[1:], 16))
    if esc[0] == "x" and len(esc) == 3:
        return chr(int(esc[1:], 16))
    if esc[0] in "01234567" and (len(esc) > 1 or esc != "0"):
        return chr(int(esc, 8))
    if esc in ("\n", "\r\n", "\u2028", "\u2029"):
        return ""  # line continuation
    return _SIMPLE_ESCAPES.get(esc, esc)


def unescape(text: str) -> str:
    """Decode JavaScript string escapes (the engine's view of a string literal's text)."""
    if "\\" not in text:
        return text
    return _ESCAPE_RE.sub(_unescape_one, text)


def _regex_allowed(prev: Token | None) -> bool:
    if prev is None:
        return True
    if prev.kind == PUNCT:
        return prev.value not in (")", "]")
    if prev.kind == NAME:
        return prev.value in _KEYWORDS_BEFORE_EXPRESSION
    return False


def tokenize(source: str, *, keep_comments: bool = True) -> list[Token]:
    tokens: list[Token] = []
    pos, length, line = 0, len(source), 1
    prev: Token | None = None  # last significant (non-comment) token
    # One entry per open `${` of a template: the brace depth at which it was opened.
    template_stack: list[int] = []
    depth = 0

    def emit(kind: str, value: str, start: int, end: int) -> None:
        nonlocal prev, line
        token = Token(kind, value, line, start, end)
        if kind != COMMENT:
            prev = token
        if kind != COMMENT or keep_comments:
            tokens.append(token)
        line += source.count("\n", start, end)

    def scan_template_chunk(start: int, opener: int) -> int:
        """From just after ` or }, read template text; returns the position after the chunk's end."""
        match = _TEMPLATE_CHUNK_RE.match(source, start)
        end = match.end() if match else start
        text = unescape(source[start:end])
        if end < length and source[end] == "`":
            emit(TEMPLATE, text, opener, end + 1)
            return end + 1
        if source.startswith("${", end):
            emit(TEMPLATE, text, opener, end + 2)
            template_stack.append(depth)
            return end + 2
        emit(TEMPLATE, text, opener, length)  # unterminated
        return length

    if source.startswith("#!"):
        end = source.find("\n")
        end = length if end < 0 else end
        emit(COMMENT, source[:end], 0, end)
        pos = end

    while pos < length:
        ch = source[pos]
        match = _SPACE_RE.match(source, pos)
        if match:
            line += source.count("\n", pos, match.end())
            pos = match.end()
            continue
        if source.startswith("//", pos) or source.startswith("<!--", pos):
            end = source.find("\n", pos)
            end = length if end < 0 else end
            emit(COMMENT, source[pos:end], pos, end)
            pos = end
            continue
        if source.startswith("/*", pos):
            end = source.find("*/", pos + 2)
            end = length if end < 0 else end + 2
            emit(COMMENT, source[pos:end], pos, end)
            pos = end
            continue
        if ch in "\"'":
            match = _STRING_RE[ch].match(source, pos)
            assert match is not None
            emit(STRING, unescape(match.group(1)), pos, match.end())
            pos = match.end()
            continue
        if ch == "`":
            pos = scan_template_chunk(pos + 1, pos)
            continue
        if ch == "}" and template_stack and template_stack[-1] == depth:
            template_stack.pop()
            pos = scan_template_chunk(pos + 1, pos)
            continue
        if ch == "/" and _regex_allowed(prev):
            match = _REGEX_RE.match(source, pos)
            if match:
                emit(REGEX, match.group(0), pos, match.end())
                pos = match.end()
                continue
        if ch.isdigit() or (ch == "." and pos + 1 < length and source[pos + 1].isdigit()):
            match = _NUMBER_RE.match(source, pos)
            if match and match.end() > pos:
                emit(NUMBER, match.group(0), pos, match.end())
                pos = match.end()
                continue
        match = _NAME_RE.match(source, pos)
        if match:
            emit(NAME, unescape(match.group(0)), pos, match.end())
            pos = match.end()
            continue
        match = _PUNCT_RE.match(source, pos)
        value = match.group(0) if match else ch
        if value == "{":
            depth += 1
        elif value == "}":
            depth -= 1
        emit(PUNCT, value, pos, pos + len(value))
        pos += len(value)
    return tokens


def code_tokens(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind != COMMENT]
