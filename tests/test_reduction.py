"""Reductions of the explicit engine (symmetry, dead variables, partial order) against the
plain search: same verdicts, same checks, same shortest witness lengths."""
from __future__ import annotations

import sys

import pytest

from conftest import EXAMPLES, ROOT, expected_rows, proof_files
from modproof.explicit import prove_explicit
from modproof.reduce import Reducer, live_slots
from modproof.result import Proved, Violated
from modproof.spec import semantics as S
from modproof.spec.lower import load, load_text

sys.path.insert(0, str(ROOT / "bench"))
from dm_family import dm_model  # noqa: E402


def summary(r):
    return (r.verdict, getattr(r, "check", None),
            len(r.trace.steps) if isinstance(r, Violated) else None)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("safe", [True, False])
def test_dm_family_reduced_and_unreduced_agree(k, safe):
    p = load_text(dm_model(k, safe), f"dm{k}.mproof")
    plain = prove_explicit(p)
    reduced = prove_explicit(p, reduce=True)
    assert summary(plain) == summary(reduced)
    assert isinstance(plain, Proved) == safe
    if isinstance(reduced, Proved):
        assert reduced.stats.states < plain.stats.states or k == 1


def test_every_corpus_and_calibration_file_agrees():
    paths = [str(p) for p in proof_files()] + [str(EXAMPLES / r["file"]) for r in expected_rows()]
    for path in paths:
        p = load(path)
        assert summary(prove_explicit(p)) == summary(prove_explicit(p, reduce=True)), path


def test_symmetric_copies_are_sorted_with_their_mutexes():
    p = load_text("mutex l\nthread t[3] { lock(l); unlock(l) }\n")
    red = Reducer(p)
    s = S.initial(p)
    (out,) = S.successors(p, s, 0)         # t[0] takes the lock
    c = red.canon(out.state)
    assert c.pcs == (0, 0, 1)               # copies sorted by their local state ...
    assert c.holders == (2,)                # ... and the holder renamed with its thread
    (other,) = S.successors(p, s, 1)
    assert red.canon(other.state) == c      # symmetric states coincide


def test_dead_locals_are_forgotten():
    p = load_text("var v = 0\nthread t { local x = 0; x = 1; v = x; v = 2 }\n")
    live = live_slots(p.threads[0])
    assert 0 in live[1] and 0 not in live[2]
