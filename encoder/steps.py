"""Every step of every thread as Z3 outcomes at one time: the mirror of `semantics._effects`.

`step_outcomes(enc, st, i, t)` lists the ways thread `i` can take step `st`
from state `t` (code-after-unload and use-after-unload aside: `nodes` records
the conditions those need, and the encoding applies them in the order of
NOTE(check-order)); `nodes(enc, t)` makes a `NodeAt` of every step.
"""
from __future__ import annotations

from dataclasses import replace

import z3

from modproof.encoder import terms
from modproof.encoder.atomic import atomic_outcomes
from modproof.encoder.outcomes import NodeAt, Outcome
from modproof.spec import model as M
from modproof.spec import vocabulary as V
from modproof.spec.model import GONE, LOADED, StepKind


def step_outcomes(enc, st: M.Step, i: int, t: int) -> list[Outcome]:
    """The outcomes of thread `i` taking `st` from state `t` (code-after-unload aside).
    NOTE(touch): where the step, taken, touches storage of a gone module, it violates
    use-after-unload instead of anything it would do otherwise."""
    outs = _outcomes(enc, st, i, t)
    tc = _touch(enc, st, i, t)
    if tc is None:
        return outs
    enabled = enc.true if st.kind not in M.BLOCKING_KINDS else enc.or_([o.guard for o in outs])
    return ([Outcome(enc.and_([enabled, tc]), violation=V.USE_AFTER_UNLOAD)]
            + [replace(o, guard=enc.and_([o.guard, z3.Not(tc)])) for o in outs])


def _touch(enc, st: M.Step, i: int, t: int):
    """The step touches storage of a gone module (None: it cannot)."""
    if not st.uses:
        return None

    def read(key):
        return enc.at(key, t)

    if st.kind in M.PRIMITIVE_OF:
        prim = M.PRIMITIVE_OF[st.kind]
        return terms.gone(enc.program.home(prim.operand, st.operand), read)
    if st.expr is not None:
        return terms.touch(st.expr, read, i, enc.alg)
    return None


def _outcomes(enc, st: M.Step, i: int, t: int) -> list[Outcome]:
    alg = enc.alg

    def read(key):
        return enc.at(key, t)

    def out(guard, updates=None, next_pc=st.next, violation=None):
        return Outcome(guard, tuple((updates or {}).items()), next_pc, violation)

    k, x = st.kind, st.operand
    T = enc.true
    if k is StepKind.UNLOAD:
        ms = read(("mstate", x))
        enabled, _, upd = terms.prim(k, x, read, i, alg)
        upd = {**upd, **enc.inits(i, st.inits)}
        return [out(ms != LOADED, next_pc=st.not_loaded), out(z3.And(ms == LOADED, enabled), upd)]
    if k is StepKind.AWAIT:
        cond, upd = terms.test(st.expr, read, i, alg)
        return [out(cond, upd)]
    if k is StepKind.BRANCH:
        cond, upd = terms.test(st.expr, read, i, alg)
        return [out(cond, upd), out(z3.Not(cond), next_pc=st.on_false)]
    if k is StepKind.CHOOSE:
        return [Outcome(T, (), b, choice=c) for c, b in enumerate(st.branches)]
    if k is StepKind.ASSIGN:
        return [out(T, {enc.lkey(st.target, i): terms.expr(st.expr, read, i, alg)})]
    if k is StepKind.ASSERT:
        cond = terms.expr(st.expr, read, i, alg)
        return [out(z3.Not(cond), violation="assertion"), out(cond)]
    if k is StepKind.CALL:
        return [out(T, enc.inits(i, st.inits))]
    if k is StepKind.RETURN:
        return [out(T)]
    if k is StepKind.ATOMIC:
        raise AssertionError("atomic blocks go through atomic_outcomes")
    # primitives (unload_free among them)
    enabled, viol, upd = terms.prim(k, x, read, i, alg)
    outs = []
    ok = T if enabled is None else enabled
    if viol is not None:
        outs.append(out(viol[0] if enabled is None else z3.And(enabled, viol[0]),
                        violation=viol[1]))
        ok = z3.Not(viol[0]) if enabled is None else z3.And(enabled, z3.Not(viol[0]))
    if st.release is not None:
        # NOTE(release-call): the put that drops the count to zero is the call
        # of the release function (semantics: s2.refs == 0 after the decrement).
        r = read(("refs", x))
        outs.append(out(z3.And(ok, r == 1), {**upd, **enc.inits(i, st.inits)}, st.release))
        outs.append(out(z3.And(ok, r != 1), upd))
    else:
        outs.append(out(ok, upd))
    return outs


def nodes(enc, t: int) -> tuple[NodeAt, ...]:
    """Every step of every thread as a candidate move from state `t`."""
    out = []
    for i, th in enumerate(enc.program.threads):
        for st in th.steps:
            sels: tuple = ()
            if st.kind is StepKind.ATOMIC:
                outs, sels = atomic_outcomes(enc, st, i, t)
            else:
                outs = step_outcomes(enc, st, i, t)
            gone = None if st.owner < 0 else enc.at(("mstate", st.owner), t) == GONE
            nondet = st.kind is StepKind.CHOOSE
            out.append(NodeAt(i, st, enc.pc_is(i, st.id, t), gone, tuple(outs), nondet,
                              enc.or_([o.guard for o in outs]), sels))
    return tuple(out)

