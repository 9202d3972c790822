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
from modproof.spec.model import GONE, StepKind


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


def _inits(enc, st: M.Step, i: int, read, upd: dict):
    """NOTE(local-inits): the locals `st` sets, each in order, over the state after
    its own effect (`upd` over `read`) and the locals set before it; with the
    condition under which one of them touches storage of a gone module (NOTE(touch);
    None: never).  Returns (updates with the locals, that condition)."""
    if not st.inits:
        return upd, None
    store = dict(upd)

    def after(key):
        v = store.get(key)
        return v if v is not None else read(key)

    touches = []
    for slot, e in st.inits:
        tc = terms.touch(e, after, i, enc.alg)
        if tc is not None:
            touches.append(tc)
        store[("loc", i, slot)] = terms.expr(e, after, i, enc.alg)
    return store, (enc.or_(touches) if touches else None)


def _outcomes(enc, st: M.Step, i: int, t: int) -> list[Outcome]:
    alg = enc.alg

    def read(key):
        return enc.at(key, t)

    def out(guard, updates=None, next_pc=st.next, violation=None):
        return Outcome(guard, tuple((updates or {}).items()), next_pc, violation)

    def entering(guard, upd: dict, next_pc) -> list[Outcome]:
        """The way on that sets the locals of `st.inits` (a call), with its touches."""
        upd, tc = _inits(enc, st, i, read, upd)
        if tc is None:
            return [out(guard, upd, next_pc)]
        return [out(z3.And(guard, tc), violation=V.USE_AFTER_UNLOAD),
                out(z3.And(guard, z3.Not(tc)), upd, next_pc)]

    def tested(cond_outs_of) -> list[Outcome]:
        """A test's outcomes (`cond_outs_of(test, guard)`, guard None for true), after
        the violation of a query that acts and fails (NOTE(acting-condition))."""
        tst = terms.test(st.expr, read, i, alg)
        if tst.fails is None:
            return cond_outs_of(tst, None)
        return [out(tst.fails, violation=tst.check)] + cond_outs_of(tst, z3.Not(tst.fails))

    k, x = st.kind, st.operand
    T = enc.true
    if k in M.REFUSING_KINDS:
        refused = terms.refused(k, x, read, alg)
        enabled, _, upd = terms.prim(k, x, read, i, alg)
        ok = z3.Not(refused) if enabled is None else z3.And(z3.Not(refused), enabled)
        return [out(refused, next_pc=st.not_loaded)] + entering(ok, upd, st.next)
    if k is StepKind.AWAIT:
        def cond_outs_of(tst, guard):
            return [out(tst.cond if guard is None else z3.And(guard, tst.cond), tst.on_true)]
        return tested(cond_outs_of)
    if k is StepKind.BRANCH:
        def cond_outs_of(tst, guard):
            yes = tst.cond if guard is None else z3.And(guard, tst.cond)
            no = z3.Not(tst.cond) if guard is None else z3.And(guard, z3.Not(tst.cond))
            t_upd, f_upd = dict(tst.on_true), dict(tst.on_false)
            if st.target is not None:   # v3: the test's value is stored too
                t_upd[enc.lkey(st.target, i)] = T
                f_upd[enc.lkey(st.target, i)] = enc.false
            return [out(yes, t_upd), out(no, f_upd, next_pc=st.on_false)]
        return tested(cond_outs_of)
    if k is StepKind.CHOOSE:
        return [Outcome(T, (), b, choice=c) for c, b in enumerate(st.branches)]
    if k is StepKind.ASSIGN:
        return [out(T, {enc.lkey(st.target, i): terms.expr(st.expr, read, i, alg)})]
    if k is StepKind.ASSERT:
        cond = terms.expr(st.expr, read, i, alg)
        return [out(z3.Not(cond), violation="assertion"), out(cond)]
    if k is StepKind.CALL:
        return entering(T, {}, st.next)
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
    if k is StepKind.PUT and (st.release is not None or st.target is not None):
        # NOTE(release-call): the put that drops the count to zero is the call
        # of the release function (semantics: s2.refs == 0 after the decrement);
        # NOTE(returning-put): its result may be stored.
        r = read(("refs", x))
        zero, more = dict(upd), dict(upd)
        if st.target is not None:
            zero[enc.lkey(st.target, i)] = T
            more[enc.lkey(st.target, i)] = enc.false
        if st.release is not None:
            outs += entering(z3.And(ok, r == 1), zero, st.release)
        else:
            outs.append(out(z3.And(ok, r == 1), zero))
        outs.append(out(z3.And(ok, r != 1), more))
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

