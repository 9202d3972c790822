"""Witnesses: an engine's raw trace, replayed on the reference semantics, in the user's terms.

`replay(program, raw)` re-executes a `RawTrace` step by step with
`modproof.spec.semantics` and checks that every state the engine claimed is
one the reference semantics produces, and that the last step violates the
claimed check.  Only then does it build a `Witness`; otherwise it raises
`ReplayError` naming the first step that diverges.  A witness that does not
replay is a bug in an engine and is never shown as a result.  The witness
records where its violation is (`Site`), which replay knows, having the
program: the exports read it there instead of running the semantics again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from modproof.result import RawTrace
from modproof.spec import semantics as S
from modproof.spec.model import (
    COMING, CORE, DONE, ENDS_THREAD, GONE, LOADED, MODULE_STATE_NAMES, UINT_MAX, Program, Step,
    StepKind,
)
from modproof.spec.vocabulary import FREE, LIVENESS_CHECKS, STATE_CHECKS
from modproof.spec.memory import STATE_NAMES as MEMORY_STATE_NAMES

STEP_CHECKS_STATE = STATE_CHECKS + LIVENESS_CHECKS  # checks not violated by the last step itself


class ReplayError(Exception):
    """The trace does not replay; `step` is 1-based (0: the initial state)."""

    def __init__(self, step: int, message: str):
        self.step = step
        self.message = message
        super().__init__(f"step {step}: {message}")


@dataclass(frozen=True)
class WitnessStep:
    index: int                 # 1-based global step number
    thread: str
    thread_index: int
    pc: int
    kind: str                  # StepKind value
    statement: str             # as the user wrote it
    file: str
    line: int
    col: int
    owner: str                 # "core" or a module name
    owner_state: str           # "core", "loaded", "unloading" or "gone" (before the step)
    frame: tuple[str, ...]     # enclosing functions, outermost first
    detail: str                # what the step did beyond its statement, in words
    changes: tuple[tuple[str, object, object], ...]  # (name, before, after)
    state: tuple[tuple[str, object], ...]            # the state after the step
    violation: Optional[str] = None


@dataclass(frozen=True)
class Site:
    """Where a violation is: the violating step's statement; for a witness of no
    steps, the invariant false in the initial state, or the statement the first
    unfinished thread is blocked at in an initial deadlock."""

    file: str
    line: int                  # 1-based; 0 (and col 0, text ""): nowhere to point at
    col: int
    text: str                  # the statement as written, or "invariant NAME: TEXT"


@dataclass(frozen=True)
class Witness:
    """A replayed execution: of a violation of `check`, or (a *cover witness*, `cover`
    set and `check` "") a shortest execution that reaches the cover `cover`."""

    file: str
    check: str                 # the violated check; "" in a cover witness
    message: str               # one line, in the user's terms
    threads: tuple[str, ...]
    initial: tuple[tuple[str, object], ...]
    steps: tuple[WitnessStep, ...]
    deferred_release: bool = False   # of a program lowered with --deferred-release
    loop: Optional[int] = None       # a hang: steps[loop:] repeat for ever (0-based)
    site: Optional[Site] = None      # set by replay; None only in a witness made by hand
    sizes: tuple[tuple[str, int], ...] = ()   # of a `thread NAME[*]` file: the copies it ran with
    cover: Optional[str] = None      # a cover witness: the cover its last state satisfies

    @property
    def length(self) -> int:
        return len(self.steps)

    @property
    def headline(self) -> str:
        """What the execution shows, for titles: "violated CHECK" or "reaches cover NAME"."""
        return f"reaches cover {self.cover}" if self.cover is not None else f"violated {self.check}"


# --------------------------------------------------------------------------- state in names


def state_items(p: Program, s: S.State) -> tuple[tuple[str, object], ...]:
    """The state as (name, value) pairs in the user's vocabulary, in a fixed order."""
    items: list[tuple[str, object]] = []
    for i, t in enumerate(p.threads):
        items.append((f"pc({t.name})", s.pcs[i]))
    for i, o in enumerate(p.objects):
        items.append((f"refs({o.name})", s.refs[i]))
    for i, c in enumerate(p.completions):
        items.append((f"done({c.name})", s.done[i]))
    for i, m in enumerate(p.modules):
        items.append((f"module_refs({m.name})", s.mrefs[i]))
        items.append((f"state({m.name})", MODULE_STATE_NAMES[s.mstate[i]]))
    for i, m in enumerate(p.mutexes):
        h = s.holders[i]
        items.append((f"holder({m.name})", None if h == FREE else p.threads[h].name))
    for i, v in enumerate(p.vars):
        if v.name.startswith("memory("):   # v3 NOTE(memory): live, freed, not allocated
            items.append((v.name, MEMORY_STATE_NAMES[s.vars[i]]))
        else:
            items.append((v.name, s.vars[i]))
    for i, t in enumerate(p.threads):
        for j, slot in enumerate(t.locals):
            where = t.name if slot.fn is None else f"{t.name}.{slot.fn}"
            value = s.locs[i][j]
            if slot.name.startswith("memory("):   # NOTE(per-copy): the copy's own memory
                value = MEMORY_STATE_NAMES[value]
            items.append((f"{where}.{slot.name}", value))
    return tuple(items)


def show_value(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "free"
    if v == UINT_MAX and isinstance(v, int):
        return "UINT_MAX"
    return str(v)


# --------------------------------------------------------------------------- replay


def _detail(p: Program, st: Step, before: S.State, after: Optional[S.State], t: int) -> str:
    k = st.kind
    if after is None:
        return ""
    if st.release is not None and after.pcs[t] == st.release and st.fn is not None:
        return f"the count reached 0: calls release function {st.fn}"
    if k is StepKind.PUT and st.target is not None or st.release is not None and st.fn is None:
        return "the count reached 0" if after.refs[st.operand] == 0 else ""
    if k is StepKind.CALL:
        return f"calls {st.fn}"
    if k is StepKind.RETURN:
        if st.fn is None and after.pcs[t] != DONE:   # v3: a kthread exits in core code
            return "the thread function returns into core code (kthread())"
        if st.fn is None:
            return "the thread function returns; the thread is done"
        return f"returns from {st.fn}"
    if k is StepKind.UNLOAD:
        m = p.modules[st.operand].name
        if before.mstate[st.operand] == COMING:
            return f"{m} is coming (its init function runs): rmmod fails (-EBUSY), nothing to do"
        if before.mstate[st.operand] != LOADED:
            return f"{m} is already {MODULE_STATE_NAMES[before.mstate[st.operand]]}: nothing to do"
        return f"{m} is now unloading" + (f"; calls exit function {st.fn}" if st.fn else "")
    if k is StepKind.UNLOAD_FREE:
        return f"frees module {p.modules[st.operand].name}'s code"
    if k is StepKind.REF_MODULE:
        m = p.modules[st.operand].name
        if after.pcs[t] == st.not_loaded and st.not_loaded != st.next:
            return (f"{m} is {MODULE_STATE_NAMES[before.mstate[st.operand]]}: the load fails "
                    "(unknown symbol)")
        return f"pins {m}: the module being loaded uses it"
    if k is StepKind.MODULE_LIVE:
        return f"{p.modules[st.operand].name}'s init returned 0: it is live"
    if k is StepKind.MODULE_GOING:
        return (f"{p.modules[st.operand].name}'s init failed: it goes away, and its exit function "
                "never runs")
    if k is StepKind.BRANCH:
        return "test is true" if after.pcs[t] == st.next and st.next != st.on_false else (
            "test is false" if st.next != st.on_false else "")
    if k is StepKind.CHOOSE:
        for i, b in enumerate(st.branches):
            if after.pcs[t] == b:
                return f"takes branch {i + 1}"
    if k in ENDS_THREAD:
        return "the thread ends"
    if k is StepKind.WAIT:
        return "the wait returns"
    if k is StepKind.LOCK:
        return "acquires the mutex"
    return ""


def _explain(p: Program, check: str, reason: str, steps: list[WitnessStep],
             gone_at: dict[str, int], final: S.State) -> str:
    if check == "code-after-unload" and steps:
        last = steps[-1]
        st = p.threads[last.thread_index].steps[last.pc]
        m = last.owner
        when = f", which was unloaded at step {gone_at[m]}" if m in gone_at else ", which is gone"
        if st.kind is StepKind.RETURN and st.fn is not None:
            return f"{last.thread} returns from {st.fn} into module {m}{when}"
        if st.kind is StepKind.RETURN:
            return f"{last.thread} returns from its thread function in module {m}{when}"
        return f"{last.thread} executes '{last.statement}' in module {m}{when}"
    if check == "use-after-unload" and steps:
        last = steps[-1]
        st = p.threads[last.thread_index].steps[last.pc]
        for kind, x in st.uses:
            thing = p.objects[x] if kind == "object" else p.completions[x]
            if f"uses {kind} {thing.name} in" in reason:   # the one it touched (NOTE(touch))
                m = p.modules[thing.storage].name
                when = f", which was unloaded at step {gone_at[m]}" if m in gone_at else ""
                return (f"{last.thread} uses {kind} {thing.name} in '{last.statement}', but it "
                        f"lived in module {m}'s memory{when}")
    if check == "invariant":
        inv = S.invariant_violation(p, final)
        where = f"after step {len(steps)}" if steps else "in the initial state"
        return f"invariant {inv.name} ({inv.text}) is false {where}"
    if check == "deadlock":
        waiting = [S.blocked_reason(p, final, t) for t in range(len(p.threads))
                   if final.pcs[t] != DONE]
        return "deadlock: " + "; ".join(waiting)
    if check == "hang":
        return reason
    if steps:
        return f"{steps[-1].thread}: {reason}"
    return reason


def _site(p: Program, check: str, steps: list[WitnessStep], final: S.State) -> Site:
    """Where the violation of a replayed witness is (see `Site`)."""
    if steps:   # replay marks the last step as the violating one
        last = steps[-1]
        return Site(last.file, last.line, last.col, last.statement)
    if check == "invariant":
        inv = S.invariant_violation(p, final)
        return Site(p.path, inv.span.line, inv.span.col, f"invariant {inv.name}: {inv.text}")
    if check == "deadlock":
        for t in range(len(p.threads)):
            st = S.current_step(p, final, t)
            if st is not None and not st.idle:
                return Site(p.path, st.span.line, st.span.col, st.text)
    return Site(p.path, 0, 0, "")


def replay_cover(p: Program, name: str, steps,
                 match: Optional[Callable[[int, S.State], bool]] = None) -> Witness:
    """Re-execute `steps` ((thread, state after) per step, or a state None where
    `match` decides) on the reference semantics: no step may violate a check, and
    the last state must satisfy cover `name`.  The cover witness, or ReplayError."""
    index = next((i for i, c in enumerate(p.covers) if c.name == name), None)
    if index is None:
        raise ReplayError(0, f"this file has no cover {name!r}")
    return replay(p, RawTrace(tuple(steps), ""), match, cover=index)


def replay(p: Program, raw: RawTrace,
           match: Optional[Callable[[int, S.State], bool]] = None,
           cover: Optional[int] = None) -> Witness:
    """Re-execute `raw` on the reference semantics and build the witness.

    By default step i must produce exactly raw.steps[i]'s state; `match(i, state)`
    replaces that test (used when replaying a witness file).  With `cover` (an
    index into p.covers), `raw` is an execution that must reach that cover and
    violate nothing on the way (`replay_cover`); its `check` is not read."""
    s = S.initial(p)
    states = [s]
    init_items = state_items(p, s)
    steps: list[WitnessStep] = []
    gone_at: dict[str, int] = {}
    n = len(raw.steps)
    reason = ""
    step_check = cover is None and raw.check not in STEP_CHECKS_STATE
    if n == 0 and step_check:
        raise ReplayError(0, f"a '{raw.check}' violation needs at least one step")
    for i, (t, want) in enumerate(raw.steps):
        idx = i + 1
        if not 0 <= t < len(p.threads):
            raise ReplayError(idx, f"there is no thread number {t}")
        th = p.threads[t]
        if s.pcs[t] == DONE:
            raise ReplayError(idx, f"{th.name} has already finished")
        st = th.steps[s.pcs[t]]
        outs = S.successors(p, s, t)
        if not outs:
            raise ReplayError(idx, f"{th.name} cannot take '{st.text}': {S.blocked_reason(p, s, t)}")
        last = idx == n
        if last and step_check:
            hit = [o for o in outs if o.violation == raw.check]
            if not hit:
                got = sorted({o.violation or "no violation" for o in outs})
                raise ReplayError(idx, f"'{st.text}' by {th.name} does not violate {raw.check} "
                                  f"(the reference semantics gives: {', '.join(got)})")
            out = hit[0]
            reason = out.reason
            after = None
        else:
            ok = [o for o in outs if o.violation is None and
                  (match(i, o.state) if match is not None else (want is None or o.state == want))]
            if not ok:
                viol = [o.violation for o in outs if o.violation]
                extra = f" (it violates {viol[0]} instead)" if viol else ""
                raise ReplayError(idx, f"'{st.text}' by {th.name} does not lead to the state the "
                                  f"trace claims{extra}")
            out = ok[0]
            after = out.state
        owner = p.owner_name(st.owner)
        ostate = "core" if st.owner == CORE else MODULE_STATE_NAMES[s.mstate[st.owner]]
        before_items = state_items(p, s)
        after_items = state_items(p, after) if after is not None else before_items
        changes = tuple((k, a, b) for (k, a), (_, b) in zip(before_items, after_items)
                        if a != b and not k.startswith("pc("))
        steps.append(WitnessStep(
            index=idx, thread=th.name, thread_index=t, pc=st.id, kind=st.kind.value,
            statement=st.text, file=p.path, line=st.span.line, col=st.span.col, owner=owner,
            owner_state=ostate, frame=st.frame, detail=_detail(p, st, s, after, t),
            changes=changes, state=after_items,
            violation=raw.check if (last and step_check) else None))
        if after is not None:
            for mi, m in enumerate(p.modules):
                if after.mstate[mi] == GONE and s.mstate[mi] != GONE:
                    gone_at[m.name] = idx
            s = after
            states.append(s)
    if cover is not None:
        return _cover_witness(p, cover, raw, init_items, steps, s)
    if raw.check == "hang":
        reason = _hang(p, raw, states)
    elif raw.loop is not None:
        raise ReplayError(n, f"a '{raw.check}' violation has no loop")
    if not step_check:
        if raw.check == "invariant" and S.invariant_violation(p, s) is None:
            raise ReplayError(n, "every invariant holds in the final state")
        if raw.check == "deadlock" and not S.deadlocked(p, s):
            raise ReplayError(n, "the final state is not a deadlock")
        if steps:
            last = steps[-1]
            steps[-1] = WitnessStep(**{**last.__dict__, "violation": raw.check})
    message = _explain(p, raw.check, reason, steps, gone_at, s)
    if p.sizes:   # NOTE(unbounded): the program of a template's sizes says how many copies
        from modproof.spec.sizes import describe
        message += f" (with {describe(dict(p.sizes))})"
    return Witness(file=p.path, check=raw.check, message=message,
                   threads=tuple(t.name for t in p.threads), initial=init_items, steps=tuple(steps),
                   deferred_release=p.deferred_release, loop=raw.loop,
                   site=_site(p, raw.check, steps, s), sizes=p.sizes)


def _cover_witness(p: Program, cover: int, raw: RawTrace, init_items, steps: list[WitnessStep],
                   final: S.State) -> Witness:
    """The witness of an execution that reaches cover `cover` (replay checked its steps)."""
    c = p.covers[cover]
    if raw.loop is not None:
        raise ReplayError(len(steps), "an execution to a cover has no loop")
    if cover not in S.covers_hit(p, final):
        where = f"after step {len(steps)}" if steps else "in the initial state"
        raise ReplayError(len(steps), f"cover {c.name} ({c.text}) does not hold {where}")
    where = f"after step {len(steps)}" if steps else "in the initial state"
    return Witness(file=p.path, check="", cover=c.name,
                   message=f"cover {c.name} ({c.text}) holds {where}",
                   threads=tuple(t.name for t in p.threads), initial=init_items,
                   steps=tuple(steps), deferred_release=p.deferred_release,
                   site=Site(p.path, c.span.line, c.span.col, f"cover {c.name}: {c.text}"), sizes=p.sizes)


def _hang(p: Program, raw: RawTrace, states: list[S.State]) -> str:
    """Check that `raw` is a hang (NOTE(hang) in explicit/hang.py): its loop returns
    to the state it started from, every thread enabled in a state of the loop takes
    a step in it (fairness), and a thread that must finish is unfinished.  The
    hang in words, or ReplayError."""
    n = len(raw.steps)
    if raw.loop is None or not 0 <= raw.loop < n:
        raise ReplayError(n, "a 'hang' needs a loop: the index of the step it starts at")
    start = states[raw.loop]
    if states[-1] != start:
        raise ReplayError(n, f"the last step does not return to the state before step {raw.loop + 1}, "
                          "where the loop starts")
    moving = {t for t, _ in raw.steps[raw.loop:]}
    loop_states = states[raw.loop:-1]
    for t in range(len(p.threads)):
        if t not in moving and any(S.successors(p, x, t) for x in loop_states):
            raise ReplayError(n, f"the loop is not fair: {p.threads[t].name} can move in it but "
                              "never does")
    hung = [t for t, th in enumerate(p.threads) if th.must_finish and start.pcs[t] != DONE]
    if not hung:
        raise ReplayError(n, "every thread that must finish has finished when the loop starts")
    stuck = [S.blocked_reason(p, start, t) for t in hung if t not in moving]
    # Workers and service threads stuck half-way (not idle) are part of the story too.
    stuck += [S.blocked_reason(p, start, t) for t, th in enumerate(p.threads)
              if t not in hung and t not in moving and start.pcs[t] != DONE
              and not th.steps[start.pcs[t]].idle and not S.successors(p, start, t)]
    looping = [p.threads[t].name for t in hung if t in moving]
    runners = [p.threads[u].name for u in sorted(moving) if u not in hung]
    parts = stuck + ([f"{_names(looping)} {'loops' if len(looping) == 1 else 'loop'} for ever "
                      "without finishing"] if looping else [])
    keep = (f", while {_names(runners)} {'keeps' if len(runners) == 1 else 'keep'} running"
            if runners else "")
    return f"hang: {'; '.join(parts)}{keep} (steps {raw.loop + 1} to {n} repeat for ever)"


def _names(xs: list[str]) -> str:
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]
