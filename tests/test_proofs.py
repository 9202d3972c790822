"""Every file in proofs/ matches its `expect` line, on every engine."""
from __future__ import annotations

import pytest

from conftest import PROOFS, proof_files
from modproof.prove import Options, expectation_met, prove
from modproof.spec.lower import load
from modproof.spec.model import CHECKS

FILES = proof_files()
ENGINES = ["explicit", "bmc"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(PROOFS)) for p in FILES])
def test_proof_matches_expect(path, engine):
    p = load(str(path))
    assert p.expect is not None, f"{path} has no expect line"
    r = prove(p, Options(engine=engine))
    assert expectation_met(p, r), f"{path}: got {r.verdict} {getattr(r, 'check', '')}"


def test_corpus_has_a_violated_and_a_proved_file_for_every_check():
    seen = {"proved": 0}
    violated = set()
    for path in FILES:
        exp = load(str(path)).expect
        if exp.verdict == "proved":
            seen["proved"] += 1
        else:
            violated.add(exp.check)
    assert violated >= set(CHECKS)
    assert seen["proved"] >= len(CHECKS)
