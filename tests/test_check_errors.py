"""Rejected files: each file in tests/check_errors must give exactly its golden errors."""
from __future__ import annotations

import pytest

from conftest import TESTS, compare_golden
from modproof.grammar.parser import parse_file
from modproof.spec.diagnostics import SpecError, render_all
from modproof.spec.lower import lower

CASES = sorted((TESTS / "check_errors").glob("*.mproof"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_rejected_with_exact_errors(path, monkeypatch):
    monkeypatch.chdir(TESTS)
    rel = f"check_errors/{path.name}"
    with pytest.raises(SpecError) as info:
        lower(parse_file(rel))
    text = render_all(info.value.diagnostics, path.read_text()) + "\n"
    compare_golden(path.with_suffix(".err"), text)


def test_every_error_is_reported_not_just_the_first():
    src = "completion c\nthread t {\n    get(c)\n    unload(c)\n    x = 1\n}\n"
    from modproof.grammar.parser import parse
    with pytest.raises(SpecError) as info:
        lower(parse(src, "f.mproof"))
    lines = [(d.span.line, d.span.col) for d in info.value.diagnostics]
    assert lines == [(3, 9), (4, 12), (5, 5)]


def test_corpus_covers_the_required_mistakes():
    names = {p.stem for p in CASES}
    for need in ("undeclared_object", "duplicate_name", "wrong_kind_get", "wrong_kind_unload",
                 "bad_owner", "call_cycle", "release_cycle", "exit_cycle", "try_get_nested",
                 "local_after_statement", "atomic_forbidden", "type_mismatch",
                 "thread_count_zero", "unknown_check"):
        assert need in names
