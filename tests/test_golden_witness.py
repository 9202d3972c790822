"""Golden witness text for the dm pair: the seed's story, step by step (explicit engine).

MODPROOF_REGEN=1 rewrites the golden files after a deliberate change."""
from __future__ import annotations

from conftest import PROOFS, TESTS, compare_golden
from modproof.exports.text import witness_text
from modproof.prove import Options, prove
from modproof.result import Proved, Violated
from modproof.spec.lower import load


def test_dm_in_module_witness_tells_the_seed_story(monkeypatch):
    monkeypatch.chdir(PROOFS.parent)
    p = load("proofs/dm_in_module.mproof")
    r = prove(p, Options(engine="explicit", reduce=False))
    assert isinstance(r, Violated)
    w = r.witness
    text = f"{w.message}\n{witness_text(w)}\n"
    compare_golden(TESTS / "golden" / "dm_in_module.witness.txt", text)
    story = [(s.thread, s.statement) for s in w.steps]
    # The reader takes its reference; the admin removes the device, drops its
    # reference and waits; the reader drops the last reference and the release
    # method completes; the admin continues, drops the module references and
    # unloads dm; the reader returns into dm's freed code.
    order = [("reader", "atomic { if published { get(md_kobj); found = true } }"),
             ("admin", "put(md_kobj)"), ("reader", "put(md_kobj)"),
             ("reader", "complete(kobj_released)"), ("admin", "wait(kobj_released)"),
             ("admin", "unload(dm)"), ("reader", "return from dm_kobject_release")]
    positions = [story.index(step) for step in order]
    assert positions == sorted(positions)
    assert w.steps[-1].owner_state == "gone" and w.steps[-1].violation == "code-after-unload"


def test_bmc_witness_tells_the_same_story():
    p = load(str(PROOFS / "dm_in_module.mproof"))
    r = prove(p, Options(engine="bmc"))
    assert isinstance(r, Violated) and r.witness.length == 14
    events = [(s.thread, s.statement) for s in r.witness.steps]
    for a, b in [(("reader", "complete(kobj_released)"), ("admin", "wait(kobj_released)")),
                 (("admin", "unload(dm)"), ("reader", "return from dm_kobject_release"))]:
        assert events.index(a) < events.index(b)


def test_dm_builtin_is_proved_for_all_executions_by_every_engine():
    p = load(str(PROOFS / "dm_builtin.mproof"))
    for engine in ("explicit", "bmc", "auto"):
        r = prove(p, Options(engine=engine))
        assert isinstance(r, Proved) and r.scope == "all-executions", engine
        assert all(c.reached for c in r.covers)
