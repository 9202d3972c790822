"""NOTE(nesting-limits): nesting up to the limits goes through every stage (checks,
lowering, both engines, replay, exports); one level more is a user error with a
position, never an internal error."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from modproof.cli import main
from modproof.spec.check import MAX_BLOCK_DEPTH, MAX_EXPR_DEPTH


def sum_of(n: int) -> str:
    """An expression `n` operators deep: a left-nested sum of n+1 ones."""
    return "1" + " + 1" * n


def nested_ifs(depth: int, inner: str, atomic: bool = False) -> str:
    """`inner` inside `depth` levels of blocks (the body counts as one; so does `atomic`)."""
    s = inner
    for _ in range(depth - 1 - atomic):
        s = f"if x >= 0 {{ {s} }}"
    return f"atomic {{ {s} }}" if atomic else s


def model(expr_depth: int, block_depth: int, atomic: bool = False) -> str:
    """Sets x to expr_depth + 1 with an expression `expr_depth` deep, inside
    `block_depth` levels of blocks, then asserts x < expr_depth + 1 (false); the
    invariant is as deep as allowed and always true."""
    inner = f"x = {sum_of(expr_depth)}; assert x < {expr_depth + 1}"
    return (f"var x = 0\n"
            f"thread t {{\n{nested_ifs(block_depth, inner, atomic)}\n}}\n"
            f"invariant deep: {sum_of(MAX_EXPR_DEPTH - 1)} > x - 1000\n")


def run(tmp_path, text, *args):
    f = tmp_path / "deep.mproof"
    f.write_text(text)
    return CliRunner().invoke(main, [*args, str(f)], catch_exceptions=False)


@pytest.mark.parametrize("atomic", [False, True])
@pytest.mark.parametrize("engine", ["explicit", "bmc"])
def test_the_deepest_allowed_model_is_proved_and_violated_by_every_engine(tmp_path, engine, atomic):
    # Outside `atomic` every `if` test is a step of its own: 100 of them would make
    # BMC unroll 100 steps, slow and beside the point (the steps are flat); the
    # recursive stages are the checks, the lowering and the atomic encoding.
    blocks = MAX_BLOCK_DEPTH if atomic or engine == "explicit" else 10
    text = model(MAX_EXPR_DEPTH, blocks, atomic)
    bound = str(blocks + 10)
    r = run(tmp_path, text, "prove", "--engine", engine, "--bound", bound)
    assert r.exit_code == 1, r.output                    # x reaches MAX_EXPR_DEPTH: the assert fails
    assert "violated assertion" in r.output
    ok = text.replace(f"assert x < {MAX_EXPR_DEPTH + 1}", f"assert x <= {MAX_EXPR_DEPTH + 1}")
    assert ok != text
    r = run(tmp_path, ok, "prove", "--engine", engine, "--bound", bound)
    assert r.exit_code == 0, r.output
    assert "proved for all executions" in r.output


def test_the_deepest_allowed_model_shows_and_exports(tmp_path):
    text = model(MAX_EXPR_DEPTH, MAX_BLOCK_DEPTH)
    assert run(tmp_path, text, "show").exit_code == 0
    assert run(tmp_path, text, "export", "--format", "promela").exit_code == 0
    w = tmp_path / "w.json"
    r = run(tmp_path, text, "prove", "--witness-out", str(w))
    assert r.exit_code == 1
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "deep.mproof"), str(w)])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("text, message", [
    (model(MAX_EXPR_DEPTH + 1, 1), f"expression nested more than {MAX_EXPR_DEPTH} operators deep"),
    (model(1, MAX_BLOCK_DEPTH + 1), f"blocks nested more than {MAX_BLOCK_DEPTH} deep"),
    ("var b = true\nthread t { b = " + "not " * (MAX_EXPR_DEPTH + 1) + "true }\n",
     f"expression nested more than {MAX_EXPR_DEPTH} operators deep"),
    ("var x = 0\ninvariant i: " + sum_of(5000) + " > 0\n",
     f"expression nested more than {MAX_EXPR_DEPTH} operators deep"),
    ("var x = 0\nthread t {\n" + nested_ifs(3000, "x = 1") + "\n}\n",
     f"blocks nested more than {MAX_BLOCK_DEPTH} deep"),
])
def test_one_level_more_is_a_positioned_user_error(tmp_path, text, message):
    r = run(tmp_path, text, "prove")
    assert r.exit_code == 2, r.output
    first = r.output.splitlines()[0]
    assert first.startswith(str(tmp_path / "deep.mproof") + ":") and message in first
    assert "internal error" not in r.output and "Traceback" not in r.output


def test_parentheses_alone_do_not_nest():
    # A parenthesised expression has no node of its own: thousands of them are fine.
    from modproof.spec.lower import load_text
    load_text("var x = 0\nthread t { x = " + "(" * 3000 + "1" + ")" * 3000 + " }\n")


def test_too_many_copies_is_a_user_error(tmp_path):
    from modproof.spec.check import MAX_COPIES
    r = run(tmp_path, "thread t[99999999999] { }\n", "prove")
    assert r.exit_code == 2, r.output
    assert f"thread 't[99999999999]' has too many copies (at most {MAX_COPIES})" in r.output
    assert r.output.startswith(str(tmp_path / "deep.mproof") + ":1:10: error:")


def test_integers_longer_than_python_prints_by_default(tmp_path):
    # LANGUAGE.md: integers are mathematical.  Python refuses int<->str past 4300
    # digits unless told otherwise; literals, witnesses and JSON must not care.
    big = "9" * 5000
    f = tmp_path / "big.mproof"
    f.write_text(f"var x = {big}\nthread t {{ x = x + 1; assert x < 5 }}\n")
    r = CliRunner().invoke(main, ["prove", "--engine", "explicit", "--json", str(f)])
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["check"] == "assertion"
    assert str(int(big) + 1) in r.output      # the value after the first step
    r = CliRunner().invoke(main, ["prove", "--engine", "explicit", str(f)])
    assert r.exit_code == 1 and str(int(big) + 1) in r.output
    f.write_text(f"thread t[{big}] {{ }}\n")
    r = CliRunner().invoke(main, ["prove", str(f)])
    assert r.exit_code == 2
    assert "thread 't[<5000-digit number>]' has too many copies" in r.output


def call_chain(n_fns: int, blocks_each: int) -> str:
    """t calls f0, f0 calls f1, ... each call inside `blocks_each` nested blocks;
    the last function sets x = 1, then t asserts x == 0 (false)."""
    lines = ["var x = 0"]
    for i in range(n_fns):
        inner = f"f{i + 1}()" if i < n_fns - 1 else "x = 1"
        lines.append(f"fn f{i} in core {{ {nested_ifs(blocks_each, inner)} }}")
    lines.append(f"thread t {{ {nested_ifs(blocks_each, 'f0()')}; assert x == 0 }}")
    return "\n".join(lines) + "\n"


# Inlined depth: blocks_each * (n_fns + 1); a call adds no level beyond its block.
@pytest.mark.parametrize("n_fns, blocks_each", [(99, 1), (1, 50), (4, 20)])
def test_the_deepest_allowed_inlined_calls_go_through_every_stage(tmp_path, n_fns, blocks_each):
    from modproof.spec.check import MAX_INLINED_DEPTH
    assert blocks_each * (n_fns + 1) == MAX_INLINED_DEPTH
    text = call_chain(n_fns, blocks_each)
    w = tmp_path / "w.json"
    r = run(tmp_path, text, "prove", "--engine", "explicit", "--witness-out", str(w))
    assert r.exit_code == 1 and "violated assertion" in r.output, r.output
    assert CliRunner().invoke(main, ["replay", str(tmp_path / "deep.mproof"), str(w)]).exit_code == 0
    assert run(tmp_path, text, "show").exit_code == 0
    assert run(tmp_path, text, "export", "--format", "promela").exit_code == 0


@pytest.mark.parametrize("n_fns, blocks_each", [(100, 1), (1, 51), (3000, 1)])
def test_calls_nested_too_deep_once_inlined_are_an_input_error(tmp_path, n_fns, blocks_each):
    from modproof.spec.check import MAX_INLINED_DEPTH
    text = call_chain(n_fns, blocks_each)
    r = run(tmp_path, text, "prove")
    assert r.exit_code == 2, r.output
    deep = blocks_each * (n_fns + 1)
    assert re.search(rf"deep\.mproof:{n_fns + 2}:\d+: error: with its calls inlined, thread 't' "
                     rf"nests blocks and calls {deep} deep \(at most {MAX_INLINED_DEPTH}\): "
                     r"t -> f0\b", r.output), r.output
    assert "Traceback" not in r.output
