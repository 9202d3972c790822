"""The printer: parse(to_source(parse(text))) == parse(text), with minimal parentheses.

Every file the repository knows that parses (the calibration examples, proofs/,
the checker's negative corpus) goes round; so do random trees.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, PROOFS, TESTS
from modproof.grammar import parse, parse_file
from modproof.spec.ast import (
    Assert, Assign, Atomic, Await, Binary, BinOp, BoolLit, CallStmt, Choose, CompletionDecl,
    CoverDecl, ExpectDecl, FnDecl, If, IntLit, InvariantDecl, Local, ModuleDecl, MutexDecl, Name,
    Not, ObjectDecl, Prim, PrimStmt, Query, QueryKind, Return, SpecFile, ThreadDecl, VarDecl,
    While,
)
from modproof.spec.printer import expr_to_source, stmt_header, to_source


def corpus_files() -> list[Path]:
    files = list(EXAMPLES.glob("*.mproof")) + list(PROOFS.rglob("*.mproof"))
    files += (TESTS / "check_errors").glob("*.mproof")
    return sorted(set(files))


def round_trip(spec: SpecFile) -> str:
    text = to_source(spec)
    again = parse(text, "printed")
    assert again == spec, text
    assert to_source(again) == text  # printing is a fixed point
    return text


def test_the_corpus_holds_every_folder():
    folders = {p.parent for p in corpus_files()}
    assert {EXAMPLES, PROOFS, TESTS / "check_errors"} <= folders
    assert len(corpus_files()) >= 10


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_file_round_trips(path):
    round_trip(parse_file(path))


def test_printed_example_reads_like_the_language_page():
    spec = parse((EXAMPLES / "dm_builtin.mproof").read_text())
    text = round_trip(spec)
    assert "module dm refs 2\n" in text
    assert ("thread reader {\n"
            "    local found = false\n"
            "    atomic { if published { get(md_kobj); found = true } }\n"
            "    if found { put(md_kobj) }\n"
            "}\n") in text
    assert text.endswith("cover dm_unloaded: not loaded(dm)\nexpect proved\n")


def test_odd_but_valid_files_round_trip():
    for text in ["", "thread t { }", "thread t{a=1;b=2}", "module m exit e refs 3",
                 "object o release r refs 0", "completion c done 4",
                 "thread t[2] in m { if a { } else if b { } else { x = 1 } }",
                 "thread t {\n while x { choose { } or { if y { return } }\n or { } } }",
                 "fn f in core { local x = 0; x = 0 - 1; put(); g(h) }",
                 "expect violated module-refcount-underflow"]:
        round_trip(parse(text))


# --------------------------------------------------------------------------- expressions

a, b, c, d = Name("a"), Name("b"), Name("c"), Name("d")


def bin_(op, left, right):
    return Binary(op, left, right)


@pytest.mark.parametrize("tree, text", [
    (bin_(BinOp.AND, bin_(BinOp.OR, a, b), c), "(a or b) and c"),
    (bin_(BinOp.OR, a, bin_(BinOp.AND, b, c)), "a or b and c"),
    (bin_(BinOp.OR, bin_(BinOp.AND, a, b), bin_(BinOp.AND, c, d)), "a and b or c and d"),
    (bin_(BinOp.OR, bin_(BinOp.OR, a, b), c), "a or b or c"),
    (bin_(BinOp.OR, a, bin_(BinOp.OR, b, c)), "a or (b or c)"),
    (bin_(BinOp.ADD, a, bin_(BinOp.SUB, b, c)), "a + (b - c)"),
    (bin_(BinOp.SUB, bin_(BinOp.ADD, a, b), c), "a + b - c"),
    (bin_(BinOp.SUB, IntLit(0), IntLit(1)), "0 - 1"),
    (Not(bin_(BinOp.AND, a, b)), "not (a and b)"),
    (Not(bin_(BinOp.EQ, a, b)), "not a == b"),
    (Not(Not(a)), "not not a"),
    (bin_(BinOp.AND, Not(a), Not(b)), "not a and not b"),
    (bin_(BinOp.EQ, Not(a), b), "(not a) == b"),
    (bin_(BinOp.EQ, a, Not(b)), "a == (not b)"),
    (bin_(BinOp.EQ, bin_(BinOp.EQ, a, b), c), "(a == b) == c"),
    (bin_(BinOp.NE, a, bin_(BinOp.LT, b, c)), "a != (b < c)"),
    (bin_(BinOp.LE, bin_(BinOp.ADD, a, IntLit(1)), bin_(BinOp.SUB, b, c)), "a + 1 <= b - c"),
    (bin_(BinOp.GE, Query(QueryKind.REFS, "refs", "o"), IntLit(1)), "refs(o) >= 1"),
    (bin_(BinOp.ADD, bin_(BinOp.OR, a, b), c), "(a or b) + c"),
    (Query(None, "frob", "x"), "frob(x)"),
    (BoolLit(False), "false"),
])
def test_minimal_parentheses(tree, text):
    assert expr_to_source(tree) == text
    (inv,) = parse(f"invariant i: {text}").decls
    assert inv.expr == tree


def test_long_chains_print_without_recursion():
    tree = a
    for _ in range(5000):
        tree = Binary(BinOp.ADD, tree, IntLit(1))
    assert expr_to_source(tree) == "a" + " + 1" * 5000


# --------------------------------------------------------------------------- statement headers


@pytest.mark.parametrize("text, header", [
    ("put(md_kobj)", "put(md_kobj)"),
    ("put()", "put()"),
    ("dm_ioctl_remove()", "dm_ioctl_remove()"),
    ("local found = false", "local found = false"),
    ("found = refs(o) + 1", "found = refs(o) + 1"),
    ("assert calls == 2", "assert calls == 2"),
    ("await not loaded(m)", "await not loaded(m)"),
    ("return", "return"),
    ("if found { put(md_kobj) } else { get(md_kobj) }", "if found"),
    ("while not stop {\n get(o)\n put(o)\n}", "while not stop"),
    ("choose { x = 1 } or { x = 2 }", "choose"),
    ("atomic {\n    if published {\n        get(md_kobj)\n        found = true\n    }\n}",
     "atomic { if published { get(md_kobj); found = true } }"),
    ("atomic { while a { choose { } or { x = 1 } }; if b { } else if c { } else { y = 2 } }",
     "atomic { while a { choose { } or { x = 1 } }; if b { } else if c { } else { y = 2 } }"),
])
def test_stmt_header(text, header):
    (thread,) = parse(f"thread t {{\n{text}\n}}").decls
    (stmt,) = thread.body
    assert stmt_header(stmt) == header
    if isinstance(stmt, Atomic):  # printed whole: it parses back to the same block
        (again,) = parse(f"thread t {{ {header} }}").decls
        assert again.body == (stmt,)


# --------------------------------------------------------------------------- random trees

NAMES = st.sampled_from(["a", "b", "x", "found", "n_2", "_t", "exit", "release", "done",
                         "refs", "proved", "violated", "get", "loaded", "core"])
FN_NAMES = NAMES.filter(lambda s: s not in {p.value for p in Prim})
CHECKS = st.sampled_from(["code-after-unload", "assertion", "deadlock", "invariant",
                          "module-get-after-unload"])
LITERALS = st.one_of(st.booleans().map(BoolLit),
                     st.integers(0, 2**40).map(IntLit))


def _query(name_arg):
    name, arg = name_arg
    return Query(QueryKind(name) if name in {k.value for k in QueryKind} else None, name, arg)


QUERY_NAMES = st.sampled_from([k.value for k in QueryKind] + ["frob", "get"])
EXPRS = st.recursive(
    st.one_of(LITERALS, NAMES.map(Name), st.tuples(QUERY_NAMES, NAMES).map(_query)),
    lambda inner: st.one_of(
        inner.map(Not),
        st.builds(Binary, st.sampled_from(list(BinOp)), inner, inner)),
    max_leaves=12)


def _blocks(stmts):
    return st.lists(stmts, max_size=3).map(tuple)


def _if(args):
    cond, then, kind, orelse, nested = args
    return If(cond, then, None if kind == 0 else orelse if kind == 1 else (nested,))


SIMPLE_STMTS = st.one_of(
    st.builds(PrimStmt, st.sampled_from(list(Prim)), st.one_of(st.none(), NAMES)),
    st.builds(CallStmt, FN_NAMES, st.one_of(st.none(), NAMES)),
    st.builds(Assign, NAMES, EXPRS),
    st.builds(Assert, EXPRS),
    st.builds(Await, EXPRS),
    st.just(Return()),
    st.builds(Local, NAMES, LITERALS),
)
STMTS = st.recursive(
    SIMPLE_STMTS,
    lambda inner: st.one_of(
        st.tuples(EXPRS, _blocks(inner), st.integers(0, 2), _blocks(inner),
                  st.builds(If, EXPRS, _blocks(inner), st.none())).map(_if),
        st.builds(While, EXPRS, _blocks(inner)),
        st.lists(_blocks(inner), min_size=2, max_size=3).map(lambda bs: Choose(tuple(bs))),
        st.builds(Atomic, _blocks(inner))),
    max_leaves=10)
BODIES = st.lists(STMTS, max_size=4).map(tuple)
DECLS = st.one_of(
    st.builds(ModuleDecl, NAMES, st.integers(0, 3), st.one_of(st.none(), NAMES)),
    st.builds(ObjectDecl, NAMES, st.integers(0, 3), st.one_of(st.none(), NAMES)),
    st.builds(lambda name, refs, fn: ObjectDecl(name, refs, fn, deferred=True),   # release FN deferred
              NAMES, st.integers(0, 3), NAMES),
    st.builds(CompletionDecl, NAMES, st.integers(0, 3)),
    st.builds(MutexDecl, NAMES),
    st.builds(VarDecl, NAMES, LITERALS),
    st.builds(FnDecl, NAMES, NAMES, BODIES),
    st.builds(ThreadDecl, NAMES, st.one_of(st.none(), st.integers(0, 9)),
              st.one_of(st.none(), NAMES), BODIES),
    st.builds(InvariantDecl, NAMES, EXPRS),
    st.builds(CoverDecl, NAMES, EXPRS),
    st.just(ExpectDecl("proved")),
    st.builds(lambda n: ExpectDecl("proved", bound=n), st.integers(1, 10 ** 30)),
    st.builds(ExpectDecl, st.just("violated"), CHECKS),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRS)
def test_random_expressions_round_trip(tree):
    (inv,) = parse(f"invariant i: {expr_to_source(tree)}").decls
    assert inv.expr == tree


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DECLS, max_size=6).map(tuple))
def test_random_files_round_trip(decls):
    round_trip(SpecFile(decls))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STMTS)
def test_atomic_header_is_the_whole_block_on_one_line(stmt):
    block = Atomic((stmt,))
    (thread,) = parse(f"thread t {{ {stmt_header(block)} }}").decls
    assert thread.body == (block,)
