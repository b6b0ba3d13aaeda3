"""The JavaScript tokenizer: strings, templates, comments, regular expressions and division."""

from __future__ import annotations

from scanning.analyzers.jstokens import COMMENT, NAME, NUMBER, PUNCT, REGEX, STRING, TEMPLATE, tokenize, unescape


def kinds(source: str) -> list[tuple[str, str]]:
    return [(t.kind, t.value) for t in tokenize(source)]


def test_strings_are_decoded() -> None:
    assert kinds(r"'\x65\x76\u0061l' + "
                 r'"\u{6c}"') == [(STRING, "eval"), (PUNCT, "+"), (STRING, "l")]
    assert unescape(r"a\nb\tc\\d\101") == "a\nb\tc\\dA"


def test_regex_versus_division() -> None:
    assert kinds("a = b / c / d;")[3] == (PUNCT, "/")
    tokens = kinds("x = /ab+c\\/[/]d/gi.test(s); y = (1) / 2;")
    assert (REGEX, "/ab+c\\/[/]d/gi") in tokens
    assert tokens.count((PUNCT, "/")) == 1
    assert (REGEX, "/x/") in kinds("return /x/")


def test_templates_with_nested_expressions() -> None:
    tokens = kinds("const s = `a ${ {k: `in ${x}`}.k } b`;")
    assert tokens[3] == (TEMPLATE, "a ")
    assert (TEMPLATE, "in ") in tokens and (NAME, "x") in tokens
    assert tokens[-2] == (TEMPLATE, " b") and tokens[-1] == (PUNCT, ";")


def test_comments_and_hashbang() -> None:
    tokens = kinds("#!/usr/bin/env node\n// eval(x)\n/* require('a') */ go();")
    assert [k for k, _ in tokens[:3]] == [COMMENT, COMMENT, COMMENT]
    assert tokens[3:] == [(NAME, "go"), (PUNCT, "("), (PUNCT, ")"), (PUNCT, ";")]


def test_line_numbers_and_numbers() -> None:
    tokens = tokenize("a\n\n`x\ny`\nb = 0x1F + 1_000n + .5e3")
    assert [t.line for t in tokens if t.kind == NAME] == [1, 5]
    assert [t.value for t in tokens if t.kind == NUMBER] == ["0x1F", "1_000n", ".5e3"]


def test_malformed_input_never_raises() -> None:
    for source in ("'unterminated", "`open ${", "/* never closed", "a = /[/", "\u3164 = 1", "}}}{{{"):
        tokenize(source)
    assert kinds("\u3164 = 1")[0] == (NAME, "\u3164")
