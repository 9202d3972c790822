"""Files with very many mistakes, or very long lines, are reported in a screenful.

The renderer splits the source once (it split it again for every diagnostic,
quadratic in the number of mistakes: 50,000 lines of repeated declarations took
minutes), shows the first MAX_SHOWN diagnostics and counts the rest, and quotes a
long line around the mistake only (8,000 mistakes on one 64 KB line printed
hundreds of megabytes).  How fast is measured in bench/, not here.
"""
from __future__ import annotations

import subprocess
import sys

from modproof.spec.ast import Span
from modproof.spec.diagnostics import MAX_QUOTE, MAX_SHOWN, Diagnostic, render, render_all

MODEL = open("proofs/dm_builtin.mproof").read()


def check(path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modproof", "check", str(path)],
                          capture_output=True, text=True, timeout=600)


def test_fifty_thousand_lines_of_duplicates_show_the_first_errors_and_count_the_rest(tmp_path):
    f = tmp_path / "big.mproof"
    copies = 50_000 // len(MODEL.splitlines())
    f.write_text(MODEL * copies)
    r = check(f)
    assert r.returncode == 2
    errors = r.stderr.count(": error: ")
    assert errors == MAX_SHOWN
    per_copy = 10   # every top-level declaration of the model after the first copy
    total = (copies - 1) * per_copy
    assert f"... and {total - MAX_SHOWN} more errors not shown" in r.stderr
    assert r.stderr.splitlines()[0].startswith(f"{f}:")
    assert f"{total} errors in {f}" in r.stderr


def test_thousands_of_errors_on_one_long_line_print_little(tmp_path):
    f = tmp_path / "line.mproof"
    f.write_text("thread t { " + "; ".join("get(a)" for _ in range(8000)) + " }\n")
    r = check(f)
    assert r.returncode == 2
    assert "... and 7950 more errors not shown" in r.stderr
    assert len(r.stderr) < 50 * (2 * MAX_QUOTE + 200)


def test_a_long_line_is_quoted_around_the_caret():
    line = "x" * 1000 + "MISTAKE" + "y" * 1000
    d = Diagnostic(Span("f", 1, 1001, 1, 1008), "here")
    quoted, caret = render(d, line).splitlines()[1:]
    assert quoted.startswith("    ...") and quoted.endswith("...")
    at = caret.index("^")
    assert quoted[at:at + 7] == "MISTAKE" and caret[at:] == "^~~~~~~"
    assert len(quoted) <= 4 + 3 + MAX_QUOTE + 3


def test_a_short_line_is_quoted_whole():
    d = Diagnostic(Span("f", 1, 5, 1, 8), "here")
    assert render(d, "abc def ghi").splitlines()[1:] == ["    abc def ghi", "        ^~~"]


def test_at_most_the_limit_in_full_and_one_counted():
    diags = [Diagnostic(Span("f", 1, 1, 1, 2), f"e{i}") for i in range(MAX_SHOWN + 1)]
    out = render_all(diags, "x\n")
    assert out.count(": error: ") == MAX_SHOWN
    assert out.endswith("... and 1 more error not shown (the first 50 are above)")


def test_an_endless_input_is_refused_at_the_size_limit():
    from modproof.grammar.parser import MAX_INPUT_BYTES
    r = check("/dev/zero")
    assert r.returncode == 2
    assert f"input is larger than {MAX_INPUT_BYTES // 2 ** 20} MiB" in r.stderr
    assert r.stderr.startswith("/dev/zero:1:1: error:")
