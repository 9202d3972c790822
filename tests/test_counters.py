"""The counter system of `thread NAME[*]` (encoder/counters.py) against the reference semantics.

As tests/test_encoder.py tests `Encoding.trans`: from concrete states of the
programs with K = 1, 2, 3 copies, written as counter-system valuations (how
many copies stand in each configuration, the remainders of the integers), each
move of the counter system must admit exactly the valuations of the reference
successors of one copy of that configuration (or of a single thread), its
violation formula must hold exactly when the reference has a violating outcome,
and the deadlock and invariant formulas must agree with `semantics.deadlocked`
and `semantics.invariant_violation`.  The oracle's ghosts (what each copy added
to each integer) and local chains are computed here, from the reference
semantics alone.
"""
from __future__ import annotations

import re
from collections import deque

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies import programs
from modproof.encoder.counters import CounterSystem
from modproof.explicit import counters as C
from modproof.spec import semantics as S
from modproof.spec.lower import load_text
from modproof.spec.model import DONE
from modproof.spec.sizes import instantiate
from modproof.spec.vocabulary import FREE

TEMPLATES = {
    "dm": """
module dm refs 2
object md_kobj refs 1 release dm_kobject_release
completion kobj_released
var published = true
fn dm_kobject_release in dm { complete(kobj_released) }
fn dm_ioctl_remove in dm {
    published = false; put(md_kobj); wait(kobj_released); module_put(dm)
}
thread reader[*] {
    local found = false
    atomic { if published { get(md_kobj); found = true } }
    if found { put(md_kobj) }
}
thread admin { dm_ioctl_remove(); module_put(dm); unload(dm) }
invariant pos: refs(md_kobj) >= 0
""",
    "lock": """
object entry refs 1 release release_entry
mutex list_lock
var in_list = true
var hits = 0
fn release_entry in core { lock(list_lock); in_list = false; unlock(list_lock) }
thread owner { put(entry) }
thread lookup[*] {
    local got = false
    lock(list_lock)
    if in_list { get(entry); got = true; hits = hits + 1 }
    unlock(list_lock)
    if got { put(entry) }
}
invariant few: hits < 3
""",
    "unlock": """
mutex l
var x = 0
thread w[*] {
    choose { lock(l); x = x + 1; unlock(l) } or { await x > 0; unlock(l) }
}
thread single { lock(l); unlock(l) }
""",
    "guard": """
module cdio refs 2
var calls = 0
thread caller[*] in cdio {
    local seen = 0
    seen = calls
    if module_refs(cdio) > 0 { module_put(cdio) }
    choose { calls = calls + 1 } or { await calls > 0 }
}
thread admin { unload(cdio) }
""",
}


class Oracle:
    """Concrete states of the program with `sizes` copies, with the ghost of every
    copy, and their counter-system valuations."""

    def __init__(self, p, sizes: dict, cs: CounterSystem):
        self.p, self.cs, self.lay = p, cs, cs.lay
        self.inst = instantiate(p, sizes)
        self.kind = []    # per instance thread: ("s", single) or ("c", group)
        single = 0
        for t in self.inst.threads:
            if t.group in p.unbounded:
                self.kind.append(("c", p.unbounded.index(t.group)))
            else:
                self.kind.append(("s", single))
                single += 1
        self.src = [self.lay.singles[k] if w == "s" else self.lay.template[k] for w, k in self.kind]
        self.fast = {i: C.accelerated_pcs(p.threads[i], C.cyclic_pairs(p.threads[i]))
                     for i in set(self.src)}

    def ints(self, s: S.State) -> list:
        return [getattr(s, tb)[i] for tb, i in self.lay.slots]

    def chain(self, s: S.State, t: int) -> list[S.State]:
        ends, todo = [], [s]
        while todo:
            x = todo.pop()
            if x.pcs[t] not in self.fast[self.src[t]]:
                ends.append(x)
                continue
            todo += [o.state for o in S.successors(self.inst, x, t)]
        return ends

    def step(self, s: S.State, ghosts: tuple, t: int):
        """(successors (state, ghosts), violated) of thread t."""
        out, bad = [], False
        for o in S.successors(self.inst, s, t):
            if o.violation is not None:
                bad = True
                continue
            for end in self.chain(o.state, t):
                g = ghosts
                if self.kind[t][0] == "c":
                    d = [b - a for a, b in zip(self.ints(s), self.ints(end))]
                    g = ghosts[:t] + (tuple(x + y for x, y in zip(ghosts[t], d)),) + ghosts[t + 1:]
                out.append((end, g))
        return out, bad

    def reachable(self, limit: int):
        s0 = S.initial(self.inst)
        g0 = tuple((0,) * len(self.lay.slots) for _ in self.inst.threads)
        seen = {(s0, g0)}
        queue = deque([(s0, g0)])
        out = []
        while queue and len(out) < limit:
            s, g = queue.popleft()
            out.append((s, g))
            for t in range(len(self.inst.threads)):
                for nxt in self.step(s, g, t)[0]:
                    if nxt not in seen:
                        seen.add(nxt)
                        queue.append(nxt)
        return out

    def config(self, s: S.State, ghosts: tuple, t: int) -> tuple:
        locs = self.lay.reset_dead(self.src[t], s.pcs[t], s.locs[t])
        holds = tuple(m for m, h in enumerate(s.holders) if h == t)
        return (s.pcs[t], locs, holds, ghosts[t])

    def valuation(self, s: S.State, ghosts: tuple) -> tuple:
        cs = self.cs
        spcs, slocs = [], []
        counts = [[0] * (len(c) + 1) for c in cs.configs]
        rems = self.ints(s)
        for t, (w, k) in enumerate(self.kind):
            if w == "s":
                spcs.append(s.pcs[t])
                slocs.append(self.lay.reset_dead(self.src[t], s.pcs[t], s.locs[t]))
            else:
                u = self.config(s, ghosts, t)
                counts[k][cs.index[k].get(u, len(cs.configs[k]))] += 1
                rems = [r - x for r, x in zip(rems, ghosts[t])]

        def holder(h):
            if h == FREE:
                return FREE
            w, k = self.kind[h]
            return cs.single_at[k] if w == "s" else cs.group_at[k]

        bools = tuple(s.vars[key[1]] for key in cs.bool_var_keys)
        return (tuple(spcs), tuple(slocs), s.mstate, tuple(holder(h) for h in s.holders), bools,
                tuple(rems), tuple(tuple(c) for c in counts))


def _configs(p, oracles_states) -> list[list[tuple]]:
    """The configurations the abstraction meets (when it can go) and the oracle's."""
    lay = C.Layout(p)
    found = [set() for _ in lay.groups]
    try:
        ex = C.explore(p, 2, max_states=20_000)
        for a in ex.states:
            for g, cls in enumerate(a.classes):
                found[g] |= {cl[:4] for cl in cls}
    except (C.Undetermined, C.Unsupported, C.Budget):
        pass
    for oracle, states in oracles_states:
        for s, gh in states:
            for t, (w, k) in enumerate(oracle.kind):
                if w == "c":
                    found[k].add(oracle.config(s, gh, t))
    return [sorted(f) for f in found]


def check_counter_system(text: str, sizes=(1, 2, 3), limit: int = 25) -> int:
    """Compare the counter system of template `text` with the reference; the number
    of (valuation, move) pairs compared."""
    p = load_text(text, "template.mproof")
    group = p.unbounded[0]
    lay = C.Layout(p)
    dummy = CounterSystem(lay, [[] for _ in lay.groups], 2)
    states = []
    for k in sizes:
        o = Oracle(p, {g: (k if g == group else 1) for g in p.unbounded}, dummy)
        states.append((o, o.reachable(limit)))
    cs = CounterSystem(lay, _configs(p, states), 2)
    moves = cs.moves()
    solver = z3.Solver(ctx=cs.ctx)
    solver.add(cs.domain(0))
    compared = 0
    for o, reach in states:
        o.cs = cs
        for s, gh in reach:
            v = cs.pin(o.valuation(s, gh), 0)
            movers = {}
            for t, (w, k) in enumerate(o.kind):
                key = ("s", k, s.pcs[t]) if w == "s" else ("c", k, o.config(s, gh, t))
                movers.setdefault(key, t)
            for key, label, move, bad in moves:
                t = movers.get(key)
                if t is None or (move is None and bad is None):
                    continue
                succ, violated = o.step(s, gh, t)
                want = {o.valuation(x, g) for x, g in succ}
                got = set()
                if move is not None:
                    solver.push()
                    solver.add(v, move)
                    while solver.check() == z3.sat:
                        val = cs.read(solver.model(), 1)
                        got.add(val)
                        solver.add(z3.Not(cs.pin(val, 1)))
                    solver.pop()
                assert got == want, (label, s, gh)
                if bad is not None:
                    assert (solver.check(v, bad) == z3.sat) == violated, (label, s)
                else:
                    assert not violated, (label, s)
                compared += 1
            assert (solver.check(v, cs.deadlock()) == z3.sat) == S.deadlocked(o.inst, s), s
            assert (solver.check(v, cs.invariant_false()) == z3.sat) == (
                S.invariant_violation(o.inst, s) is not None), s
    return compared


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_counter_moves_are_the_reference_steps(name):
    assert check_counter_system(TEMPLATES[name]) > 20


def _starred(text: str, which: int) -> str:
    names = re.findall(r"^thread (\w+)", text, re.M)
    name = names[which % len(names)]
    return re.sub(rf"^thread {name}(\[\d+\])? ", f"thread {name}[*] ", text, count=1, flags=re.M)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(), st.integers(0, 3))
def test_counter_moves_on_random_programs(text, which):
    """Random programs (tests/strategies.py) with one thread made `[*]`; those with
    state keyed by thread (RCU) are outside the counter system."""
    p = load_text(_starred(text, which), "random.mproof")
    if p.keyed_by_thread:
        return
    check_counter_system(_starred(text, which), sizes=(1, 2), limit=12)
