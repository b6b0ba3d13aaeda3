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
_NUMBER_RE = re.compile(
    r"(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)n?"
)
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


_SPACE = r"[ \t\f\v\r\n\u00a0\ufeff\u2028\u2029\u1680\u2000-\u200a\u202f\u205f\u3000]*"
_NAME_CHAR = r"[\w$\u00aa-\uffff\u200c\u200d]"
_NAME_ESCAPE = r"\\u(?:[0-9A-Fa-f]{4}|\{[0-9A-Fa-f]+\})"
# One pattern for the space before a token and every token that needs no context, tried in
# the order an engine would: comments, strings, numbers, names, punctuators. The lexer calls
# it once per token and looks at context only for a `/` that may start a regular expression,
# the `}` that resumes a template literal, and a backtick (which no alternative matches).
_TOKEN_RE = re.compile(
    rf"{_SPACE}(?:"
    r"(?P<line_comment>(?://|<!--)[^\n]*)"
    r"|(?P<block_comment>/\*)"  # its end is found with str.find
    r'|(?P<string>"(?P<dq>[^"\\\n]*(?:\\(?:\r\n|[\s\S])[^"\\\n]*)*)"?'
    r"|'(?P<sq>[^'\\\n]*(?:\\(?:\r\n|[\s\S])[^'\\\n]*)*)'?)"
    rf"|(?P<number>{_NUMBER_RE.pattern})"
    rf"|(?P<name>(?:[A-Za-z_$\u00aa-\uffff]|{_NAME_ESCAPE}){_NAME_CHAR}*(?:{_NAME_ESCAPE}{_NAME_CHAR}*)*)"
    rf"|(?P<punct>{_PUNCT_RE.pattern})"
    r")?"
)
_REGEX_AFTER_PUNCT_EXCEPT = frozenset({")", "]"})


def tokenize(source: str, *, keep_comments: bool = True) -> list[Token]:
    """The tokens of `source`; with keep_comments=False, only the code."""
    tokens: list[Token] = []
    append = tokens.append
    new = tuple.__new__  # Token(...) without the Python-level __new__ of a NamedTuple
    token_match = _TOKEN_RE.match
    count = source.count
    pos, length, line = 0, len(source), 1
    # The last significant (non-comment) token decides whether `/` starts a regular expression.
    regex_allowed = True
    # One entry per open `${` of a template: the brace depth at which it was opened.
    template_stack: list[int] = []
    depth = 0

    def template_chunk(start: int, opener: int) -> int:
        """From just after ` or }, read template text; returns the position after the chunk's end."""
        nonlocal line
        match = _TEMPLATE_CHUNK_RE.match(source, start)
        end = match.end() if match else start
        text = unescape(source[start:end])
        if end < length and source[end] == "`":
            end += 1
        elif source.startswith("${", end):
            end += 2
            template_stack.append(depth)
        else:
            end = length  # unterminated
        append(new(Token, (TEMPLATE, text, line, opener, end)))
        line += count("\n", opener, end)
        return end

    if source.startswith("#!"):
        end = source.find("\n")
        end = length if end < 0 else end
        if keep_comments:
            append(new(Token, (COMMENT, source[:end], 1, 0, end)))
        pos = end

    while pos < length:
        match = token_match(source, pos)
        kind, end = match.lastgroup, match.end()
        if kind is None:  # only space: then the end, a backtick, or a character no rule knows
            line += count("\n", pos, end)
            if end >= length:
                break
            if source[end] == "`":
                pos = template_chunk(end + 1, end)
                regex_allowed = False
                continue
            kind, value, start, end = "punct", source[end], end, end + 1
        else:
            value = match[kind]
            start = end - len(value)
            if start != pos:
                line += count("\n", pos, start)
        if kind == "punct":
            if value == "}":
                if template_stack and template_stack[-1] == depth:
                    template_stack.pop()
                    pos = template_chunk(end, start)
                    regex_allowed = False
                    continue
                depth -= 1
            elif value == "{":
                depth += 1
            elif regex_allowed and value[0] == "/":
                regex = _REGEX_RE.match(source, start)
                if regex:
                    pos = regex.end()
                    append(new(Token, (REGEX, regex.group(), line, start, pos)))
                    regex_allowed = False
                    continue
            append(new(Token, (PUNCT, value, line, start, end)))
            regex_allowed = value not in _REGEX_AFTER_PUNCT_EXCEPT
        elif kind == "name":
            if "\\" in value:
                value = unescape(value)
            append(new(Token, (NAME, value, line, start, end)))
            regex_allowed = value in _KEYWORDS_BEFORE_EXPRESSION
        elif kind == "string":
            text = match.group("dq")
            append(new(Token, (STRING, unescape(text if text is not None else match.group("sq")), line, start, end)))
            line += count("\n", start, end)
            regex_allowed = False
        elif kind == "number":
            append(new(Token, (NUMBER, value, line, start, end)))
            regex_allowed = False
        else:
            if kind == "block_comment":
                end = source.find("*/", end)
                end = length if end < 0 else end + 2
                value = source[start:end]
            if keep_comments:
                append(new(Token, (COMMENT, value, line, start, end)))
            line += count("\n", start, end)
        pos = end
    return tokens
