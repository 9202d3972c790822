"""The parser against LANGUAGE.md: every construct builds the expected AST.

Trees are compared structurally (spans do not take part in equality); spans
are tested on their own.  The golden corpus of syntax errors lives in
tests/syntax_errors/ (NAME.mproof with the exact rendered error in NAME.err);
`MODPROOF_REGEN=1 pytest tests/test_parser.py` rewrites the .err files.
"""
from __future__ import annotations

import random
import re

import pytest

from conftest import EXAMPLES, TESTS, compare_golden
from modproof.grammar import KEYWORDS, OPTION_WORDS, parse, parse_bytes, parse_file
from modproof.grammar.errors import describe_terminal
from modproof.grammar.parser import _lark
from modproof.spec import vocabulary as V
from modproof.spec.ast import (
    Assert, Assign, Atomic, Await, Binary, BinOp, BoolLit, Break, CallStmt, Choose, CompletionDecl,
    Continue, CoverDecl, ExpectDecl, FnDecl, If, IntLit, InvariantDecl, Local, Minus, ModuleDecl,
    MutexDecl, Name, Not, ObjectDecl, Prim, PrimStmt, Query, QueryKind, Return, Span, ThreadDecl,
    VarDecl, While,
)
from modproof.spec.diagnostics import SpecError, render_all

GOLDEN = TESTS / "syntax_errors"

CHECKS = ("code-after-unload", "get-after-release", "put-after-release",
          "module-refcount-underflow", "module-get-after-unload", "unlock-not-held",
          "assertion", "invariant", "deadlock")


def decls(text: str):
    return parse(text).decls


def body(text: str):
    """The statements of `text` written as the body of a thread."""
    (thread,) = decls("thread t {\n" + text + "\n}\n")
    return thread.body


def expr(text: str):
    (inv,) = decls(f"invariant i: {text}\n")
    return inv.expr


def error(text: str) -> str:
    """The message of the first syntax error in `text`."""
    with pytest.raises(SpecError) as info:
        parse(text, "f.mproof")
    return info.value.diagnostics[0].message


def n(name):
    return Name(name)


def lit(value):
    return BoolLit(value) if isinstance(value, bool) else IntLit(value)


def assign(target, value):
    return Assign(target, lit(value) if isinstance(value, (bool, int)) else value)


# --------------------------------------------------------------------------- declarations


@pytest.mark.parametrize("text, expected", [
    ("module m", ModuleDecl("m", 0, None)),
    ("module m refs 2", ModuleDecl("m", 2, None)),
    ("module m exit m_exit", ModuleDecl("m", 0, "m_exit")),
    ("module m refs 2 exit m_exit", ModuleDecl("m", 2, "m_exit")),
    ("module m exit m_exit refs 2", ModuleDecl("m", 2, "m_exit")),
    ("module m refs 0", ModuleDecl("m", 0, None)),
    ("object o", ObjectDecl("o", 1, None)),
    ("object o refs 3", ObjectDecl("o", 3, None)),
    ("object o release rel", ObjectDecl("o", 1, "rel")),
    ("object o refs 0 release rel", ObjectDecl("o", 0, "rel")),
    ("object o release rel refs 0", ObjectDecl("o", 0, "rel")),
    ("completion c", CompletionDecl("c", 0)),
    ("completion c done 2", CompletionDecl("c", 2)),
    ("mutex lk", MutexDecl("lk")),
    ("var x = true", VarDecl("x", BoolLit(True))),
    ("var x = false", VarDecl("x", BoolLit(False))),
    ("var x = 42", VarDecl("x", IntLit(42))),
    ("var x = 007", VarDecl("x", IntLit(7))),
    ("var big = 4294967295000", VarDecl("big", IntLit(4294967295000))),
    ("fn f in core { }", FnDecl("f", "core", ())),
    ("fn f in m { return }", FnDecl("f", "m", (Return(),))),
    ("thread t { }", ThreadDecl("t", None, None, ())),
    ("thread t in m { }", ThreadDecl("t", None, "m", ())),
    ("thread t[3] { }", ThreadDecl("t", 3, None, ())),
    ("thread t [3] in m { }", ThreadDecl("t", 3, "m", ())),
    ("thread t{}", ThreadDecl("t", None, None, ())),
    ("invariant ok: x", InvariantDecl("ok", n("x"))),
    ("cover seen: x == 1", CoverDecl("seen", Binary(BinOp.EQ, n("x"), IntLit(1)))),
    ("expect proved", ExpectDecl("proved")),
])
def test_declaration(text, expected):
    assert decls(text) == (expected,)


@pytest.mark.parametrize("check", CHECKS)
def test_expect_violated_takes_every_check_name(check):
    assert decls(f"expect violated {check}") == (ExpectDecl("violated", check),)


def test_check_names_are_kept_as_written():
    # Unknown or odd check names are the checker's to report.
    assert decls("expect violated no-such-check-2") == (ExpectDecl("violated", "no-such-check-2"),)


def test_declarations_keep_source_order():
    spec = parse("expect proved\nvar x = 1\nmodule m\n")
    assert [type(d) for d in spec.decls] == [ExpectDecl, VarDecl, ModuleDecl]


def test_option_words_are_names_outside_their_options():
    # refs, exit, release, done, proved, violated are keywords only as options.
    assert decls("module exit exit exit") == (ModuleDecl("exit", 0, "exit"),)
    assert decls("object release refs 2 release release") == (ObjectDecl("release", 2, "release"),)
    assert decls("fn refs in core { }") == (FnDecl("refs", "core", ()),)
    assert decls("var proved = 1; var violated = 2") == (
        VarDecl("proved", IntLit(1)), VarDecl("violated", IntLit(2)))
    assert body("done = exit") == (Assign("done", n("exit")),)
    assert body("refs(o)") == (CallStmt("refs", "o"),)  # a query as a statement: for the checker
    assert decls("expect violated invariant") == (ExpectDecl("violated", "invariant"),)
    assert OPTION_WORDS == {"refs", "exit", "release", "done", "proved", "violated"}


@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_keywords_are_reserved(word):
    with pytest.raises(SpecError):
        parse(f"var {word} = 1")
    with pytest.raises(SpecError):
        parse(f"fn {word} in core {{ }}")
    with pytest.raises(SpecError):
        parse(f"thread t {{ {word}() }}")


def test_keyword_prefixes_are_names():
    assert decls("var iffy = 1; var order = 2; var notable = 3; var elsewhere = 4") == tuple(
        VarDecl(name, IntLit(i)) for i, name in enumerate(
            ["iffy", "order", "notable", "elsewhere"], start=1))


# --------------------------------------------------------------------------- statements


@pytest.mark.parametrize("prim", list(Prim))
def test_every_primitive(prim):
    assert body(f"{prim.value}(x)") == (PrimStmt(prim, "x"),)
    assert body(f"{prim.value}()") == (PrimStmt(prim, None),)  # the checker reports it
    assert body(f"{prim.value} ( x )") == (PrimStmt(prim, "x"),)


@pytest.mark.parametrize("text, expected", [
    ("local found = false", Local("found", BoolLit(False))),
    ("local n = 3", Local("n", IntLit(3))),
    ("f()", CallStmt("f")),
    ("f(x)", CallStmt("f", "x")),  # kept for the checker to report
    ("x = 1", assign("x", 1)),
    ("x = y", assign("x", n("y"))),
    ("assert x", Assert(n("x"))),
    ("await not loaded(m)", Await(Not(Query(QueryKind.LOADED, "loaded", "m")))),
    ("return", Return()),
    ("if a { }", If(n("a"), (), None)),
    ("if a { x = 1 } else { x = 2 }", If(n("a"), (assign("x", 1),), (assign("x", 2),))),
    ("if a { } else { }", If(n("a"), (), ())),
    ("while not stop { get(o); put(o) }",
     While(Not(n("stop")), (PrimStmt(Prim.GET, "o"), PrimStmt(Prim.PUT, "o")))),
    ("choose { x = 1 } or { x = 2 }", Choose(((assign("x", 1),), (assign("x", 2),)))),
    ("choose { } or { } or { return }", Choose(((), (), (Return(),)))),
    ("atomic { await flag; seen = true }", Atomic((Await(n("flag")), assign("seen", True)))),
    ("atomic { }", Atomic(())),
])
def test_statement(text, expected):
    assert body(text) == (expected,)


def test_else_if_is_an_if_in_the_else_branch():
    assert body("if a { x = 1 } else if b { x = 2 } else { x = 3 }") == (
        If(n("a"), (assign("x", 1),),
           (If(n("b"), (assign("x", 2),), (assign("x", 3),)),)),)


def test_nested_blocks():
    text = "atomic { if published { get(md_kobj); found = true } }"
    assert body(text) == (Atomic((If(n("published"), (
        PrimStmt(Prim.GET, "md_kobj"), assign("found", True)), None),)),)
    deep = body("while a { choose { if b { atomic { x = 1 } } } or { while c { } } }")
    assert deep == (While(n("a"), (Choose((
        (If(n("b"), (Atomic((assign("x", 1),)),), None),),
        (While(n("c"), ()),))),)),)


def test_local_anywhere_is_left_to_the_checker():
    assert body("x = 1\nif a { local y = 2 }") == (
        assign("x", 1), If(n("a"), (Local("y", IntLit(2)),), None))


# --------------------------------------------------------------------------- separators


ONE_STATEMENT_PER_LINE = (assign("a", 1), assign("b", 2), assign("c", 3))


@pytest.mark.parametrize("text", [
    "thread t {\n    a = 1\n    b = 2\n    c = 3\n}",
    "thread t { a = 1; b = 2; c = 3 }",
    "thread t { a = 1; b = 2; c = 3; }",
    "thread t {a=1;b=2;c=3}",
    "thread t {\n\n    a = 1;\n\n    b = 2   # two\n    # a comment line\n    c = 3\n\n}",
    "thread t { a = 1\n b = 2; c = 3\n}",
    "thread t {\n a = 1;;; b = 2 ;\n;c = 3 }",
    "thread t {  # opens\n a = 1 ; # one\n b = 2\n c = 3 # last\n}  # closes",
])
def test_newline_and_semicolon_separate_alike(text):
    assert decls(text) == (ThreadDecl("t", None, None, ONE_STATEMENT_PER_LINE),)


def test_declarations_separate_by_newline_or_semicolon():
    expected = (ModuleDecl("m"), MutexDecl("lk"), VarDecl("x", IntLit(1)))
    assert decls("module m; mutex lk; var x = 1") == expected
    assert decls("\n\n# header\nmodule m\n\n\nmutex lk   # lock\nvar x = 1\n\n") == expected
    assert decls(";module m;;mutex lk;\n;var x = 1;") == expected


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment", "# a\n\n   # b\n", ";", " \t \n"])
def test_files_without_declarations(text):
    assert decls(text) == ()


IF_ELSE = (If(n("a"), (assign("x", 1),), (assign("x", 2),)),)


@pytest.mark.parametrize("text", [
    "if a { x = 1 } else { x = 2 }",
    "if a {\n    x = 1\n} else {\n    x = 2\n}",
    "if a {\n    x = 1\n}\nelse {\n    x = 2\n}",
    "if a { x = 1 }   # then\n    # between\n\n    else { x = 2 }",
    "if a { x = 1 }\n\n\n    else\t{ x = 2 }",
])
def test_else_on_the_same_or_a_later_line(text):
    assert body(text) == IF_ELSE


CHOOSE3 = (Choose(((assign("x", 1),), (assign("x", 2),), (assign("x", 3),))),)


@pytest.mark.parametrize("text", [
    "choose { x = 1 } or { x = 2 } or { x = 3 }",
    "choose {\n    x = 1\n} or {\n    x = 2\n} or {\n    x = 3\n}",
    "choose { x = 1 }\nor { x = 2 }\n# third\nor { x = 3 }",
    "choose {\n x = 1\n}\n  or {\n x = 2 } or\t{ x = 3\n}",
])
def test_or_on_the_same_or_a_later_line(text):
    assert body(text) == CHOOSE3


def test_comments_that_mention_else_or_or_do_not_continue_a_statement():
    assert body("if a { }\n# else is for later\nx = 1") == (If(n("a"), (), None), assign("x", 1))
    assert body("choose { } or { }\n  # or maybe not\n  x = 1") == (
        Choose(((), ())), assign("x", 1))
    assert body("if a { } # or else\n# or\n  else { }") == (If(n("a"), (), ()),)


def test_statement_after_block_needs_a_separator_but_else_does_not_start_one():
    assert body("if a { x = 1 }\nelsewhere = 2") == (
        If(n("a"), (assign("x", 1),), None), assign("elsewhere", 2))
    assert body("choose { } or { }\norder = 1") == (Choose(((), ())), assign("order", 1))


def test_windows_line_endings_and_other_line_breaks():
    unix = "module m\nthread t {\n    if a { x = 1 }\n    else { x = 2 }\n}\n"
    expected = parse(unix)
    assert parse(unix.replace("\n", "\r\n")) == expected
    assert parse(unix.replace("\n", "\r")) == expected
    crlf = parse(unix.replace("\n", "\r\n")).decls[1].body[0]
    assert (crlf.span.line, crlf.span.col, crlf.span.end_line, crlf.span.end_col) == (3, 5, 4, 19)


def test_only_lf_crlf_and_cr_end_lines():
    # A form feed (a page break in old C sources) and a vertical tab are white
    # space, also on a line of their own and before `else`; U+2028 and U+0085 are
    # characters: part of a comment, an error elsewhere.  Lines are counted as
    # editors count them, so a witness's positions are where the statements are.
    unix = "module m\nthread t {\n    if a { x = 1 }\n    else { x = 2 }\n}\n"
    expected = parse(unix)
    assert parse("# page\f break \u2028 \x85\n" + unix.replace("    else", "\f\n\v else")).decls == expected.decls
    spec = parse("module m\n\f\nthread t {\n\f  x = 1\n}\n")
    assert spec.decls[1].body[0].span.line == 4
    for text, col in (("module m\vthread t { }", 10), ("module m\n\u2028thread t { }", 1)):
        with pytest.raises(SpecError) as info:
            parse(text)
        assert info.value.diagnostics[0].span.col == col
    with pytest.raises(SpecError) as info:
        parse("module m\x0c\nthread t {\n  x = 1\u2028\n}\n", "f")
    (diag,) = info.value.diagnostics
    assert (diag.span.line, diag.span.col) == (3, 8)
    assert "U+2028" in diag.message
    assert render_all([diag], "module m\x0c\nthread t {\n  x = 1\u2028\n}\n").split("\n")[1] == "      x = 1\u2028"


def test_byte_order_mark_is_not_text():
    spec = parse("\ufeffmodule m\n")
    assert spec.decls == (ModuleDecl("m"),)
    assert spec.decls[0].name_span.col == 8
    assert parse_bytes(b"\xef\xbb\xbfmodule m\n").decls == (ModuleDecl("m"),)


def test_tabs_count_as_one_column():
    (thread,) = decls("thread t {\n\tx = 1\n}")
    assert thread.body[0].span.col == 2


# --------------------------------------------------------------------------- expressions


def q(kind, arg):
    return Query(kind, kind.value, arg)


@pytest.mark.parametrize("kind", list(QueryKind))
def test_every_query(kind):
    assert expr(f"{kind.value}(x)") == Query(kind, kind.value, "x")
    assert expr(f"{kind.value} ( x )") == Query(kind, kind.value, "x")


def test_unknown_query_is_kept_for_the_checker():
    assert expr("get(o)") == Query(None, "get", "o")
    assert expr("frobnicate(o) == 1") == Binary(BinOp.EQ, Query(None, "frobnicate", "o"), IntLit(1))


@pytest.mark.parametrize("text, expected", [
    ("1", IntLit(1)),
    ("true", BoolLit(True)),
    ("false", BoolLit(False)),
    ("x", n("x")),
    ("(x)", n("x")),
    ("((x))", n("x")),
    ("a or b or c", Binary(BinOp.OR, Binary(BinOp.OR, n("a"), n("b")), n("c"))),
    ("a and b and c", Binary(BinOp.AND, Binary(BinOp.AND, n("a"), n("b")), n("c"))),
    ("a or b and c", Binary(BinOp.OR, n("a"), Binary(BinOp.AND, n("b"), n("c")))),
    ("a and b or c", Binary(BinOp.OR, Binary(BinOp.AND, n("a"), n("b")), n("c"))),
    ("(a or b) and c", Binary(BinOp.AND, Binary(BinOp.OR, n("a"), n("b")), n("c"))),
    ("not a and b", Binary(BinOp.AND, Not(n("a")), n("b"))),
    ("not (a and b)", Not(Binary(BinOp.AND, n("a"), n("b")))),
    ("a and not b", Binary(BinOp.AND, n("a"), Not(n("b")))),
    ("not not a", Not(Not(n("a")))),
    ("not a == b", Not(Binary(BinOp.EQ, n("a"), n("b")))),
    ("(not a) == b", Binary(BinOp.EQ, Not(n("a")), n("b"))),
    ("a == b and c != d", Binary(BinOp.AND, Binary(BinOp.EQ, n("a"), n("b")),
                                 Binary(BinOp.NE, n("c"), n("d")))),
    ("a + 1 < b - 2", Binary(BinOp.LT, Binary(BinOp.ADD, n("a"), IntLit(1)),
                             Binary(BinOp.SUB, n("b"), IntLit(2)))),
    ("a - b - c", Binary(BinOp.SUB, Binary(BinOp.SUB, n("a"), n("b")), n("c"))),
    ("a - (b - c)", Binary(BinOp.SUB, n("a"), Binary(BinOp.SUB, n("b"), n("c")))),
    ("a + b - c + d", Binary(BinOp.ADD, Binary(BinOp.SUB, Binary(BinOp.ADD, n("a"), n("b")),
                                                n("c")), n("d"))),
    ("0 - 1", Binary(BinOp.SUB, IntLit(0), IntLit(1))),
    ("(a == b) == c", Binary(BinOp.EQ, Binary(BinOp.EQ, n("a"), n("b")), n("c"))),
    ("a == (b < c)", Binary(BinOp.EQ, n("a"), Binary(BinOp.LT, n("b"), n("c")))),
    ("refs(o) >= 1", Binary(BinOp.GE, q(QueryKind.REFS, "o"), IntLit(1))),
    ("done(c) == 0 or done(c) == 4294967295",
     Binary(BinOp.OR, Binary(BinOp.EQ, q(QueryKind.DONE, "c"), IntLit(0)),
            Binary(BinOp.EQ, q(QueryKind.DONE, "c"), IntLit(4294967295)))),
    ("loaded(m) or cleaned", Binary(BinOp.OR, q(QueryKind.LOADED, "m"), n("cleaned"))),
    ("module_refs(m) + 1 > 2 and locked(lk)",
     Binary(BinOp.AND, Binary(BinOp.GT, Binary(BinOp.ADD, q(QueryKind.MODULE_REFS, "m"),
                                               IntLit(1)), IntLit(2)),
            q(QueryKind.LOCKED, "lk"))),
    ("a<=b", Binary(BinOp.LE, n("a"), n("b"))),
    ("a>b", Binary(BinOp.GT, n("a"), n("b"))),
])
def test_precedence(text, expected):
    assert expr(text) == expected


def test_try_queries_stand_where_the_language_allows_them():
    assert body("if try_get(o) { put(o) }") == (
        If(q(QueryKind.TRY_GET, "o"), (PrimStmt(Prim.PUT, "o"),), None),)
    assert body("while try_module_get(m) { module_put(m) }") == (
        While(q(QueryKind.TRY_MODULE_GET, "m"), (PrimStmt(Prim.MODULE_PUT, "m"),)),)
    # Misplaced uses parse; the checker rejects them.
    assert body("x = try_get(o)") == (Assign("x", q(QueryKind.TRY_GET, "o")),)


@pytest.mark.parametrize("text", ["a < b < c", "a == b == c", "a != b <= c", "1 + 2 > 3 >= 4"])
def test_comparisons_do_not_chain(text):
    assert "comparisons do not chain" in error(f"invariant i: {text}")


def test_unary_minus_and_negative_literals():
    # v3: unary minus binds tighter than + and -; `var x = -1` is a negative initial value
    assert body("x = -1") == (Assign("x", Minus(lit(1))),)
    assert body("x = x - -1") == (Assign("x", Binary(BinOp.SUB, n("x"), Minus(lit(1)))),)
    assert body("x = -x + 1") == (Assign("x", Binary(BinOp.ADD, Minus(n("x")), lit(1))),)
    assert body("x = -(x + 1)") == (Assign("x", Minus(Binary(BinOp.ADD, n("x"), lit(1)))),)
    assert decls("var x = -1") == (VarDecl("x", IntLit(-1)),)
    assert "a count cannot be negative" in error("object o refs -1")


def test_long_expressions_do_not_exhaust_the_stack():
    text = "invariant big: " + " + ".join(["x"] * 3000) + " > 0\n"
    (inv,) = decls(text)
    assert inv.expr.op is BinOp.GT
    nested = "invariant deep: " + "(" * 500 + "x" + ")" * 500
    assert decls(nested) == (InvariantDecl("deep", n("x")),)


# --------------------------------------------------------------------------- spans


def test_spans_cover_constructs_and_tokens():
    text = ("module dm refs 2 exit dm_exit\n"
            "thread t[2] in dm {\n"
            "    if (a or b) and c { put(o) } else { f() }\n"
            "}\n"
            "invariant i: not (a + 1 < 2)\n"
            "expect violated code-after-unload\n")
    mod, thread, inv, expect = parse(text, "x.mproof").decls

    def at(span: Span):
        assert span.file == "x.mproof"
        return (span.line, span.col, span.end_line, span.end_col)

    assert at(mod.span) == (1, 1, 1, 30)
    assert at(mod.name_span) == (1, 8, 1, 10)
    assert at(mod.exit_span) == (1, 23, 1, 30)
    assert at(thread.span) == (2, 1, 4, 2)
    assert at(thread.name_span) == (2, 8, 2, 9)
    assert at(thread.count_span) == (2, 10, 2, 11)
    assert at(thread.owner_span) == (2, 16, 2, 18)
    (stmt,) = thread.body
    assert at(stmt.span) == (3, 5, 3, 46)
    assert at(stmt.cond.span) == (3, 8, 3, 22)
    assert at(stmt.cond.left.span) == (3, 8, 3, 16)  # the parentheses belong to it
    assert at(stmt.cond.left.left.span) == (3, 9, 3, 10)
    assert at(stmt.then[0].span) == (3, 25, 3, 31)
    assert at(stmt.then[0].arg_span) == (3, 29, 3, 30)
    assert at(stmt.orelse[0].span) == (3, 41, 3, 44)
    assert at(stmt.orelse[0].fn_span) == (3, 41, 3, 42)
    assert at(inv.span) == (5, 1, 5, 29)
    assert at(inv.name_span) == (5, 11, 5, 12)
    assert at(inv.expr.span) == (5, 14, 5, 29)
    assert at(inv.expr.operand.span) == (5, 18, 5, 29)
    assert at(expect.check_span) == (6, 17, 6, 34)


def test_spans_of_statements_and_queries():
    text = ("fn f in core {\n"
            "    local n = 1\n"
            "    n = refs(o)\n"
            "    put()\n"
            "    choose { return }\n"
            "    or { assert n }\n"
            "}\n")
    (fn,) = parse(text, "y").decls
    local, assign_, put, choose = fn.body
    assert (fn.owner_span.line, fn.owner_span.col) == (1, 9)
    assert (local.name_span.col, local.value.span.col) == (11, 15)
    assert (assign_.target_span.col, assign_.value.span.col, assign_.value.arg_span.col) == (5, 9, 14)
    assert (put.arg_span.line, put.arg_span.col, put.arg_span.end_col) == (4, 9, 10)  # the ')'
    assert (choose.span.line, choose.span.col, choose.span.end_line, choose.span.end_col) == (
        5, 5, 6, 20)


# --------------------------------------------------------------------------- files


def example_files():
    return sorted(EXAMPLES.glob("*.mproof"))


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_examples_parse(path):
    spec = parse_file(path)
    assert spec.decls
    assert spec.path == str(path)


def test_dm_builtin_example_tree():
    spec = parse_file(EXAMPLES / "dm_builtin.mproof")
    assert spec.decls[:4] == (
        ModuleDecl("dm", 2), ObjectDecl("md_kobj", 1, "dm_kobject_release"),
        CompletionDecl("kobj_released"), VarDecl("published", BoolLit(True)))
    reader = spec.decls[6]
    assert reader == ThreadDecl("reader", None, None, (
        Local("found", BoolLit(False)),
        Atomic((If(n("published"), (PrimStmt(Prim.GET, "md_kobj"), assign("found", True)),
                   None),)),
        If(n("found"), (PrimStmt(Prim.PUT, "md_kobj"),), None)))
    assert spec.decls[-2:] == (CoverDecl("dm_unloaded", Not(q(QueryKind.LOADED, "dm"))),
                               ExpectDecl("proved"))


def test_parse_file_reads_bytes(tmp_path):
    path = tmp_path / "a.mproof"
    path.write_bytes(b"module m\r\n")
    spec = parse_file(path)
    assert spec.decls == (ModuleDecl("m"),)
    assert spec.decls[0].span.file == str(path)
    assert spec.source == "module m\r\n"


# --------------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize("text, message", [
    ("thread t\nx = 1", "unexpected newline; expected '{' (a block opens on the line of its "
     "header, or alone at the start of the next line)"),
    ("xyz", "unexpected 'xyz'; expected a declaration (module, object, completion, mutex, var, "
            "fn, thread, invariant, cover, expect, workqueue, work, timer, delayed_work, "
                "struct, kthread, spinlock, rwsem, irq)"),
    ("thread t {\n    x = 1\n", "unexpected end of file; expected '}'"),
    ("invariant i: a < b < c",
     "unexpected '<'; comparisons do not chain (join two comparisons with 'and')"),
    ("var x = $", "unexpected character '$'"),
    ("expect violated\n",
     "unexpected newline; expected the name of a check (such as code-after-unload)"),
    ("thread t[] { }", "unexpected ']'; expected a number or '*' (thread NAME[K] declares K "
                       "copies, thread NAME[*] any number of them)"),
    ("thread t { x = x * 2 }", "unexpected '*'; expected end of statement (newline or ;) or "
                               "an operator (expressions have only + and -)"),
    ("thread t { if x { } y = 1 }",
     "unexpected 'y'; expected 'else' or end of statement (newline or ;)"),
    ("thread t { x = }", "unexpected '}'; expected an expression"),
    ("module m refs 1 refs 2", "option 'refs' given twice in the declaration of module 'm'"),
    ("thread t { choose { x = 1 } }",
     "unexpected '}'; expected 'or' (a choose has at least two branches)"),
    ("thread t { get(o) put(o) }",
     "unexpected 'put'; expected end of statement (newline or ;)"),
    ("var if = 1", "unexpected 'if'; expected a name ('if' is a keyword)"),
    ("thread t in { }", "unexpected '{'; expected a name"),
])
def test_error_messages(text, message):
    assert error(text) == message


def test_errors_never_name_grammar_terminals():
    words = {name: describe_terminal(name) for name in
             [t.name for t in _lark().terminals] + ["$END"] if name not in ("WS", "COMMENT")}
    # A declaration word may have an underscore ('delayed_work'); a terminal's name may not.
    bad = {name: word for name, word in words.items()
           if word == "a token" or (re.search(r"[A-Z]{2}|_", word)
                                    and word.strip("'") not in V.ALL_DECL_KEYWORDS)}
    assert not bad


def test_several_errors_are_reported_in_order():
    text = "module m refs\nthread t {\n    x = = 1\n}\nvar ok = true\ncover c: ok $\n"
    with pytest.raises(SpecError) as info:
        parse(text, "f")
    assert [(d.span.line, d.span.col) for d in info.value.diagnostics] == [(1, 14), (3, 9), (6, 13)]


def test_unclosed_block_note_points_at_its_brace():
    with pytest.raises(SpecError) as info:
        parse("thread t {\n    if a {\n        x = 1\n    }\n", "f")
    (diag,) = info.value.diagnostics
    (note,) = diag.notes
    assert (note.span.line, note.span.col, note.message) == (1, 10, "this '{' is not closed")


@pytest.mark.parametrize("data, line, col, message", [
    (b"module m\nvar x = \xff\n", 2, 9, "file is not UTF-8 text (invalid byte 0xff)"),
    (b"var caf\xc3\xa9 = \xc3\n", 1, 12, "file is not UTF-8 text (invalid byte 0xc3)"),
    (b"module m\r\n\r\n  \x00", 3, 3, "file contains a NUL byte; expected UTF-8 text"),
    (b"\x00\xff", 1, 1, "file contains a NUL byte; expected UTF-8 text"),
])
def test_bytes_that_are_not_text(data, line, col, message):
    with pytest.raises(SpecError) as info:
        parse_bytes(data, "b")
    (diag,) = info.value.diagnostics
    assert (diag.span.line, diag.span.col, diag.message) == (line, col, message)


def test_nul_in_text():
    with pytest.raises(SpecError) as info:
        parse("module m\nmutex \0", "t")
    assert info.value.diagnostics[0].span.line == 2


def test_mangled_files_raise_only_spec_errors():
    """Random edits of the examples: a SpecError with plain words, or a tree."""
    rng = random.Random(20241124)
    sources = [p.read_text() for p in example_files()]
    pieces = list("{}()[];:=<>!+-#\n \t$x1") + [
        "if", "else", "or", "and", "not", "thread", "}\n", "\n{", "==", "refs", "choose",
        "atomic", "expect violated", "é", "\r", "\u2028"]
    raw = re.compile(r"__ANON|_SEP|_CONT|\$END|RBRACE|LBRACE|RPAR|LPAR|a token|nothing more")
    seen = {"rejected": 0, "parsed": 0}
    for _ in range(1500):
        text = list(rng.choice(sources))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(text) + 1)
            if rng.random() < 0.5 and text:
                del text[min(pos, len(text) - 1)]
            else:
                text.insert(pos, rng.choice(pieces))
        text = "".join(text)
        try:
            parse(text, "f")
            seen["parsed"] += 1
        except SpecError as err:
            seen["rejected"] += 1
            assert err.diagnostics
            for diag in err.diagnostics:
                assert not raw.search(diag.message), diag.message
                assert diag.span.line >= 1 and diag.span.col >= 1
            render_all(err.diagnostics, text)
    # Both outcomes are common, or the edits test little (measured: about 2 in 3 rejected).
    assert seen["rejected"] > 300 and seen["parsed"] > 150, seen


# --------------------------------------------------------------------------- golden corpus


def golden_cases():
    return sorted(GOLDEN.glob("*.mproof"))


def test_golden_corpus_is_complete():
    cases = golden_cases()
    assert len(cases) >= 15
    assert {p.stem for p in cases} == {p.stem for p in GOLDEN.glob("*.err")}


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.stem)
def test_golden_syntax_error(case):
    data = case.read_bytes()
    with pytest.raises(SpecError) as info:
        parse_bytes(data, case.relative_to(TESTS).as_posix())
    rendered = render_all(info.value.diagnostics, data.decode("utf-8", errors="replace")) + "\n"
    compare_golden(case.with_suffix(".err"), rendered)
