"""The Promela generator: the lowered `Program` as one Promela model.

See the package docstring (`modproof.exports.promela`) and docs/promela.md for
the design.  `program_to_promela` writes the file: the globals of `state.py`'s
layout, an `inline check_invariants()`, one `proctype` per thread with one
labelled `atomic` per step, and `init`.

NOTE(touch): use-after-unload is judged where the touch happens, as the
reference semantics runs the step: after the guard and code-after-unload, one
assertion per primitive on storage in a module and per query of such storage
that evaluating the step's expression reaches, in C's evaluation order, each
under the condition that evaluation reaches it (`!(left && mstate_m == GONE)`
for a query on the right of `and`).  Inside an atomic block written statement
by statement, each statement's touches are asserted just before it runs (a
loop's test before each evaluation), so the first statement that touches gone
storage ends the block; the paths of a block with `await` carry them in their
conditions (`paths.py`).

NOTE(atomic-loop-limit): modproof gives up (unknown) on an atomic step one of
whose paths runs more than vocabulary.ATOMIC_LOOP_LIMIT loop iterations (each
`choose` branch counts on from the count where it starts).  Spin would run a
Promela `do` for ever.  A block written statement by statement counts its
iterations in `atomic_iters` (0 between steps) and asserts the limit with the
pseudo-check LOOP_LIMIT (vocabulary.ATOMIC_LIMIT_CHECK), which a reader of
Spin's answer takes as unknown; `only` never silences it.  One Spin execution
follows one path through the block, so the count is exact: where modproof
gives up, some Spin execution fails that assertion, and no other does.
Blocks written as their paths are counted by the enumerator (`paths.py`).

NOTE(hang): the liveness check `hang` (vocabulary.LIVENESS_CHECKS) is not
carried: it needs strong fairness per thread, and Spin's fairness (`pan -f`)
is weak.  The model is for the safety checks; a model whose only violation
is a hang passes in Spin.
"""
from __future__ import annotations

import re
from typing import Optional

from modproof.exports.promela.paths import atomic_paths, needs_paths
from modproof.exports.promela.state import MODULE_STATES, Layout, Touch
from modproof.exports.promela.terms import FALSE, SAT, TRUE, PromelaUnsupported, emit, fits, simplify
from modproof.spec.model import (
    CHECKS, CORE, DONE, PRIMITIVE_OF, UINT_MAX, AAssert, AAssign, AChoose, AIf, AOp, AWhile,
    LocalRef, Program, Step, StepKind, Thread, VarRef, atomic_statements,
)
from modproof.spec.vocabulary import (
    ATOMIC_LIMIT_CHECK, ATOMIC_LOOP_LIMIT, CODE_AFTER_UNLOAD, LIVENESS_CHECKS, USE_AFTER_UNLOAD,
)

CHECK_COMMENT = re.compile(r"/\*\s*([a-z]+(?:-[a-z]+)*):")
LOOP_LIMIT = ATOMIC_LIMIT_CHECK     # the pseudo-check of NOTE(atomic-loop-limit): unknown
# Checks of the language the export carries: the safety checks (NOTE(hang)).
CARRIED = tuple(c for c in CHECKS if c not in LIVENESS_CHECKS)


def _ident(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", s).strip("_") or "x"


def _comment(s: str) -> str:
    return " ".join(s.replace("*/", "* /").split())


def _lit(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if not fits(v):
        raise PromelaUnsupported(f"the integer {v} does not fit Promela's 32-bit int")
    return str(v)


class _Gen:
    def __init__(self, p: Program, only: Optional[str] = None):
        self.p = p
        self.lay = Layout(p)
        self.only = only
        self.in_init = False
        self.th: Optional[Thread] = None    # the thread being written
        self.lines: list[str] = []
        # NOTE(atomic-loop-limit): some block written statement by statement counts
        # its loop iterations.
        self.counting = any(st.kind is StepKind.ATOMIC and not needs_paths(st.body)
                            and _has(st.body, AWhile) for th in p.threads for st in th.steps)
        # NOTE(touch): inside an atomic step, whether its statements are judged for
        # touches (the step uses storage at all), and the step's text.
        self.judge = False
        self.stmt_text = ""

    # ------------------------------------------------------------------ output helpers

    def out(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def assertion(self, indent: int, cond: str, check: str, what: str) -> None:
        if self.only is None or check == self.only:
            self.out(indent, f"assert({cond}); /* {check}: {_comment(what)} */")
            return
        # Another check than the one asked for: its violation ends the execution
        # without a report (all threads escape to their valid end state).
        leave = "" if self.in_init else "; goto end_done"
        self.out(indent, f"if :: !({cond}) -> stop = true{leave} :: else -> skip fi; "
                         f"/* {check} (silenced): {_comment(what)} */")

    def count_iteration(self, indent: int, th: Thread, loop: AWhile) -> None:
        """NOTE(atomic-loop-limit): one more iteration of a loop of the current atomic
        step, which must not pass the limit (never silenced: it makes the answer unknown)."""
        self.out(indent, "atomic_iters = atomic_iters + 1;")
        self.out(indent, f"assert(atomic_iters <= {ATOMIC_LOOP_LIMIT}); /* {LOOP_LIMIT}: "
                         f"{_comment(th.name)}: the loop at line {loop.span.line} runs more than "
                         f"{ATOMIC_LOOP_LIMIT} iterations in one atomic step: unknown */")

    def jump(self, indent: int, target: int, changes_globals: bool) -> None:
        if changes_globals and self.p.invariants:
            self.out(indent, "check_invariants();")
        self.out(indent, f"goto {self.label(self.th, target)}")

    @staticmethod
    def label(th: Thread, target: int) -> str:
        """The label of step `target` of `th`: S<id>, or end_S<id> where the thread
        is at a valid end state (semantics.deadlocked: an idle worker waiting for
        work, every point of a `service` thread); end_done once finished."""
        if target == DONE:
            return "end_done"
        return f"end_S{target}" if th.service or th.steps[target].idle else f"S{target}"

    # ------------------------------------------------------------------ the file

    def program(self) -> str:
        p = self.p
        o = self.out
        o(0, f"/* Promela model of {_comment(p.path)}, generated by modproof")
        o(0, "   (modproof.exports.promela) from the lowered program: one proctype per thread,")
        o(0, "   one labelled atomic block per step (label S<step id>), guard first.")
        o(0, "   Each assert names the modproof check it stands for in its comment:")
        o(0, "     code-after-unload, use-after-unload, get-after-release, put-after-release,")
        o(0, "     module-refcount-underflow, module-get-after-unload, use-after-free,")
        o(0, "     double-free, null-deref, unlock-not-held, sleep-in-atomic, assertion,")
        o(0, "     invariant;")
        o(0, "     deadlock is Spin's 'invalid end state'")
        o(0, "     (a finished thread waits at its valid end label end_done; the steps")
        o(0, "     of an idle worker's wait for work and of a service thread are")
        o(0, "     labelled end_S<step id>: valid end states too).")
        o(0, f"   {LOOP_LIMIT} is no check: its violation means modproof's answer")
        o(0, "     is unknown (an atomic step past its loop limit).")
        o(0, "   Not carried: hang (a liveness check under strong fairness per thread;")
        o(0, "     Spin's fairness is weak). A model whose only violation is a hang")
        o(0, "     passes here.")
        o(0, "   done == -1 stands for UINT_MAX (after complete_all); ints are 32-bit here.")
        o(0, "   Run: spin -a model.pml && cc -DSAFETY -o pan pan.c && ./pan -m100000")
        o(0, "        spin -t -p model.pml    # replay a trail */")
        o(0, "")
        for value, name in enumerate(MODULE_STATES):
            o(0, f"#define {name:<9} {value}")
        o(0, "")
        if self.only is not None:
            o(0, f"/* Only {self.only} is reported: any other violation sets stop, which ends")
            o(0, "   the execution (every thread escapes to its valid end state). */")
            o(0, "bool stop = false;")
            o(0, "")
        for i, m in enumerate(p.modules):
            o(0, f"int  {self.lay.mrefs(i)} = {_lit(m.refs)};  /* module {m.name} refcount */")
            o(0, f"byte {self.lay.mstate(i)} = {MODULE_STATES[m.start]};  /* module {m.name}: "
                 f"{', '.join(MODULE_STATES)} */")
        for i, ob in enumerate(p.objects):
            o(0, f"int  {self.lay.obj(i)} = {_lit(ob.refs)};  /* object {ob.name} */")
        for i, c in enumerate(p.completions):
            init = SAT if c.done == UINT_MAX else c.done
            sat = ", -1 is UINT_MAX" if i in self.lay.saturable else ""
            o(0, f"int  {self.lay.comp(i)} = {_lit(init)};  /* completion {c.name}{sat} */")
        for i, mu in enumerate(p.mutexes):
            o(0, f"int  {self.lay.holder(i)} = -1;  /* mutex {mu.name}: holder thread, -1 free */")
        for i, v in enumerate(p.vars):
            typ = "bool" if isinstance(v.init, bool) else "int "
            o(0, f"{typ} {self.lay.var(i)} = {_lit(v.init)};")
        if self.counting:
            o(0, "int  atomic_iters = 0;  /* loop iterations of the atomic step running; 0 between "
                 "steps */")
        o(0, "")
        if p.invariants:
            o(0, "inline check_invariants() {")
            for inv in p.invariants:
                self.assertion(1, self.lay.live(inv.expr, None), "invariant", f"{inv.name}: {inv.text}")
            o(0, "}")
            o(0, "")
        for t, th in enumerate(p.threads):
            self.thread(t, th)
        o(0, "init {")
        o(1, "atomic {")
        if p.invariants:
            o(2, "/* the initial state */")
            self.in_init = True
            for inv in p.invariants:
                self.assertion(2, self.lay.live(inv.expr, None), "invariant", f"{inv.name}: {inv.text}")
            self.in_init = False
        for t, th in enumerate(p.threads):
            o(2, f"run {self.proc(t, th)}();")
        o(1, "}")
        o(0, "}")
        return "\n".join(self.lines) + "\n"

    @staticmethod
    def proc(t: int, th: Thread) -> str:
        return f"T{t}_{_ident(th.name)}"

    def thread(self, t: int, th: Thread) -> None:
        o = self.out
        owner = self.p.owner_name(th.owner)
        o(0, f"/* thread {th.name} (index {t}), its body owned by {owner} */")
        o(0, f"proctype {self.proc(t, th)}() {{")
        for s, sl in enumerate(th.locals):
            typ = "bool" if isinstance(sl.init, bool) else "int "
            where = f"fn {sl.fn}" if sl.fn else "thread body"
            o(1, f"{typ} {self.lay.local(th, s)} = {_lit(sl.init)};  /* local of {where} */")
        self.th = th
        if th.steps and th.entry != 0:
            o(1, f"goto {self.label(th, th.entry)};")
        for n, st in enumerate(th.steps):
            self.step(t, th, st)
            if n == 0 and self.only is not None:
                # Spin wants "Label: { ... } unless { ... }": the label outside.
                self.lines.insert(self._step_start + 1, "    {")
        if self.only is not None:
            o(1, "} unless { stop -> goto end_done }")
        o(0, "end_done:  /* the thread has taken its final step */")
        o(1, "false")
        o(0, "}")
        o(0, "")

    # ------------------------------------------------------------------ steps

    def step(self, t: int, th: Thread, st: Step) -> None:
        p = self.p
        o = self.out
        owner = p.owner_name(st.owner)
        where = f" in {'/'.join(st.frame)}" if st.frame else ""
        self._step_start = len(self.lines)
        # One label (an `unless` block wants one on its first statement): an end
        # label where the thread is not part of a deadlock.
        rests = " (idle worker: a valid end state)" if st.idle else \
            " (service thread: a valid end state)" if th.service else ""
        o(0, f"{self.label(th, st.id)}:  /* {st.kind.value} '{_comment(st.text)}'{where}, "
             f"owner {owner}, line {st.span.line}{rests} */")
        k = st.kind

        if k is StepKind.ATOMIC and needs_paths(st.body):
            self.atomic_paths(t, th, st)
            return

        if k in PRIMITIVE_OF:
            guard = self.lay.guard_text(k, st.operand) if PRIMITIVE_OF[k].blocks else None
            write = _Gen.primitive
        else:
            guard_of, write = _SHAPES[k.value]
            guard = guard_of(self, th, st) if guard_of is not None else None
        o(1, "atomic {")
        if guard is not None:
            o(2, f"{guard} ->")
        self.owner_check(2, t, th, st)
        if k is not StepKind.ATOMIC:    # inside atomic, statement by statement
            self.touch_checks(2, th, self.step_touches(th, st), f" in '{_comment(st.text)}'")
        write(self, 2, t, th, st)
        o(1, "}")

    def primitive(self, i: int, t: int, th: Thread, st: Step) -> None:
        """A primitive's step after its guard: its check, its effect, its way on."""
        o = self.out
        k, x = st.kind, st.operand
        prim = PRIMITIVE_OF[k]
        chk = self.lay.check_of(k, x, t)
        if chk is not None:
            check, cond, what = chk
            self.assertion(i, emit(cond), check, f"{th.name}: {what}")
        effect = self.lay.effect_text(k, x, t)
        changes = bool(prim.writes)     # then the invariants are checked after it
        if st.not_loaded is not None:
            # unload (v3: and ref_module): the kernel call fails at once where its
            # `refused` holds (the guard let those states through), and does nothing
            refused = emit(self.lay.refused(k, x, self.lay.env(None)))
            o(i, "if")
            o(i, f":: !{refused} ->")
            for e in effect:
                o(i + 1, e + ";")
            self.inits(i + 1, th, st)
            self.jump(i + 1, st.next, changes)
            o(i, f":: else ->  /* the kernel call fails: {_comment(PRIMITIVE_OF[k].name)} does nothing */")
            self.jump(i + 1, st.not_loaded, False)
            o(i, "fi")
            return
        for e in effect:
            o(i, e + ";")
        if st.release is not None or st.target is not None:
            # NOTE(returning-put): at zero the put calls the release function (if any)
            # and its result, if used, is true.
            call = f"calls the release function {st.fn}" if st.fn else "reached zero"
            o(i, "if")
            o(i, f":: {self.lay.obj(x)} == 0 ->  /* {call} */")
            self.result(i + 1, th, st, True)
            self.inits(i + 1, th, st)
            self.jump(i + 1, st.next if st.release is None else st.release, changes)
            o(i, ":: else ->")
            self.result(i + 1, th, st, False)
            self.jump(i + 1, st.next, changes)
            o(i, "fi")
        else:
            self.jump(i, DONE if prim.ends_thread else st.next, changes)

    def result(self, indent: int, th: Thread, st: Step, value: bool) -> None:
        """v3: a BRANCH or PUT that stores its result in `st.target`."""
        if st.target is not None:
            self.out(indent, f"{self.lay.lvalue(th, st.target)} = {'true' if value else 'false'};")

    # The other kinds of step, by vocabulary.STEP_SHAPES name: (guard, writer after the
    # guard).  The guard of a blocking atomic block is its paths' (atomic_paths).

    def await_guard(self, th: Thread, st: Step) -> str:
        act = self.lay.act_parts(st.expr, self.lay.env(th))
        if act is None:
            return self.lay.live(st.expr, th)
        if act.fails != FALSE:   # (the checker keeps queries that can fail out of await)
            return emit(("or", act.fails, act.cond))
        return emit(act.cond)

    def acts_fail(self, i: int, th: Thread, act) -> None:
        """NOTE(acting-condition): a query that acts and fails violates its check."""
        if act is not None and simplify(act.fails) != FALSE:
            self.assertion(i, emit(("not", act.fails)), act.check, f"{th.name}: {act.what}")

    def await_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        act = self.lay.act_parts(st.expr, self.lay.env(th))
        self.acts_fail(i, th, act)
        if act:
            for line in act.true_text:
                self.out(i, line + ";")
        self.jump(i, st.next, bool(act and act.true_text))

    def assign_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        self.out(i, f"{self.lay.lvalue(th, st.target)} = {self.lay.live(st.expr, th)};")
        self.jump(i, st.next, isinstance(st.target, VarRef))

    def assert_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        self.assertion(i, self.lay.live(st.expr, th), "assertion", f"{th.name}: {st.text}")
        self.jump(i, st.next, False)

    def branch_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        o = self.out
        act = self.lay.act_parts(st.expr, self.lay.env(th))
        self.acts_fail(i, th, act)
        stores = st.target is not None and not isinstance(st.target, LocalRef)
        o(i, "if")
        o(i, f":: {emit(act.cond) if act else self.lay.live(st.expr, th)} ->")
        for line in (act.true_text if act else ()):
            o(i + 1, line + ";")
        self.result(i + 1, th, st, True)
        self.jump(i + 1, st.next, bool(act and act.true_text) or stores)
        o(i, ":: else ->")
        for line in (act.false_text if act else ()):
            o(i + 1, line + ";")
        self.result(i + 1, th, st, False)
        self.jump(i + 1, st.on_false, bool(act and act.false_text) or stores)
        o(i, "fi")

    def choose_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        o = self.out
        o(i, "if")
        for b in st.branches:
            o(i, ":: true ->")
            self.jump(i + 1, b, False)
        o(i, "fi")

    def call_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        self.inits(i, th, st)
        self.jump(i, st.next, False)

    def return_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        self.jump(i, st.next, False)

    def atomic_step(self, i: int, t: int, th: Thread, st: Step) -> None:
        self.judge, self.stmt_text = bool(st.uses), st.text
        self.atomic_body(i, t, th, st.body)
        self.judge = False
        if _has(st.body, AWhile):
            self.out(i, "atomic_iters = 0;")
        self.jump(i, st.next, True)

    def owner_check(self, indent: int, t: int, th: Thread, st: Step) -> None:
        """NOTE(check-order): code-after-unload, the first check of a step taken."""
        if st.owner != CORE:
            m = self.p.modules[st.owner].name
            self.assertion(indent, f"{self.lay.mstate(st.owner)} != GONE", CODE_AFTER_UNLOAD,
                           f"{th.name} executes '{st.text}' in module {m}")

    def step_touches(self, th: Thread, st: Step) -> list[Touch]:
        """NOTE(touch): where step `st` (not an atomic one) may touch storage that
        lives in a module, in order: its primitive's operand, or the queries its
        expression reaches (a try_ query, the whole condition, is always reached)."""
        if not st.uses:
            return []
        out = []
        if st.kind in PRIMITIVE_OF:
            touch = self.lay.prim_touch(st.kind, st.operand)
            if touch is not None:
                out.append(touch)
        if st.expr is not None:
            out += self.lay.touches(st.expr, self.lay.env(th), th)
        return out

    def touch_checks(self, indent: int, th: Thread, touches: list[Touch], text: str = "") -> None:
        """NOTE(touch): one use-after-unload assertion per touch, in order, each over
        the current state: the module is not gone, or the touch is not reached."""
        for touch in touches:
            reach = simplify(touch.reach)
            if reach == FALSE:
                continue
            m = self.lay.mstate(touch.home)
            cond = f"{m} != GONE" if reach == TRUE else f"!({emit(reach)} && {m} == GONE)"
            self.assertion(indent, cond, USE_AFTER_UNLOAD,
                           f"{th.name} uses {self.lay.touch_what(touch)}{text}")

    def atomic_touches(self, i: int, th: Thread, a, touches: list[Touch]) -> None:
        """The touches of statement `a` of the atomic block being written."""
        if self.judge:
            self.touch_checks(i, th, touches, f" in '{_comment(self.stmt_text)}' (line {a.span.line})")

    def inits(self, indent: int, th: Thread, st: Step) -> None:
        """NOTE(local-inits): the locals the call sets, in order, after its effect;
        each initialiser's touches (NOTE(touch)) are asserted just before it."""
        for slot, e in st.inits:
            self.touch_checks(indent, th, self.lay.touches(e, self.lay.env(th), th),
                              f" in '{_comment(st.text)}' (the initial value of a local of {st.fn})")
            self.out(indent, f"{self.lay.local(th, slot)} = {self.lay.live(e, th)};  "
                             f"/* fresh local of {st.fn} */")

    # ------------------------------------------------------------------ atomic without await

    def option_on(self, i: int, cond, th: Thread, true_as: str = "true") -> None:
        """The `:: COND ->` line of an if/do option, with the side effect of a query
        that acts; `true_as` is written for a COND that is the constant true."""
        act = self.lay.act_parts(cond, self.lay.env(th))
        if act:
            self.out(i, f":: {emit(act.cond)} ->")
            for line in act.true_text:
                self.out(i + 1, line + ";")
        else:
            test = self.lay.live(cond, th)
            self.out(i, f":: {true_as if test == 'true' else test} ->")

    def option_else(self, i: int, cond, th: Thread, then: str = "") -> None:
        """The `:: else ->` line of an if/do option, with the side effect of a query
        that acts when false, then `then` (a `break`, say)."""
        act = self.lay.act_parts(cond, self.lay.env(th))
        lines = list(act.false_text) if act else []
        if not lines:
            self.out(i, f":: else ->{' ' + then if then else ''}")
            return
        self.out(i, ":: else ->")
        for line in lines:
            self.out(i + 1, line + ";")
        if then:
            self.out(i + 1, then)

    def atomic_body(self, i: int, t: int, th: Thread, body) -> None:
        o = self.out
        if not body:
            o(i, "skip;")
        live = self.lay.env(th)
        for a in body:
            if isinstance(a, AOp):
                if self.lay.in_atomic(a).blocks:
                    raise AssertionError(f"{a.kind.value} can block: the block needs its paths")
                touch = self.lay.prim_touch(a.kind, a.operand)
                self.atomic_touches(i, th, a, [touch] if touch else [])
                chk = self.lay.check_of(a.kind, a.operand, t)
                if chk:
                    self.assertion(i, emit(chk[1]), chk[0], f"{th.name}: {chk[2]} (in atomic, "
                                   f"line {a.span.line})")
                for e in self.lay.effect_text(a.kind, a.operand, t):
                    o(i, e + ";")
            elif isinstance(a, AAssign):
                self.atomic_touches(i, th, a, self.lay.touches(a.value, live, th))
                o(i, f"{self.lay.lvalue(th, a.target)} = {self.lay.live(a.value, th)};")
            elif isinstance(a, AAssert):
                self.atomic_touches(i, th, a, self.lay.touches(a.cond, live, th))
                self.assertion(i, self.lay.live(a.cond, th), a.check,
                               f"{th.name}: assert at line {a.span.line} (in atomic)")
            elif isinstance(a, AIf):
                self.atomic_touches(i, th, a, self.lay.touches(a.cond, live, th))
                self.acts_fail(i, th, self.lay.act_parts(a.cond, live))
                o(i, "if")
                self.option_on(i, a.cond, th)
                self.atomic_body(i + 1, t, th, a.then)
                self.option_else(i, a.cond, th)
                self.atomic_body(i + 1, t, th, a.orelse)
                o(i, "fi;")
            elif isinstance(a, AWhile):
                # The test touches each time it is evaluated: before the loop and
                # after each iteration.
                touches = self.lay.touches(a.cond, live, th)
                self.atomic_touches(i, th, a, touches)
                act = self.lay.act_parts(a.cond, live)
                self.acts_fail(i, th, act)
                o(i, "do")
                # pan rejects a do option that is always true as an "unconditional
                # self-loop"; the count keeps it below the limit anyway.
                self.option_on(i, a.cond, th, true_as=f"atomic_iters <= {ATOMIC_LOOP_LIMIT}")
                self.count_iteration(i + 1, th, a)
                self.atomic_body(i + 1, t, th, a.body)
                self.atomic_touches(i + 1, th, a, touches)
                self.acts_fail(i + 1, th, act)
                self.option_else(i, a.cond, th, then="break")
                o(i, "od;")
            elif isinstance(a, AChoose):
                o(i, "if")
                for b in a.branches:
                    o(i, ":: true ->")
                    self.atomic_body(i + 1, t, th, b)
                o(i, "fi;")
            else:
                raise AssertionError(f"{a!r} inside atomic")

    # ------------------------------------------------------------------ atomic with await

    def atomic_paths(self, t: int, th: Thread, st: Step) -> None:
        """One guarded option per path through the block (paths.py): the guard is
        the path's condition over the state before the step, so the step is
        enabled exactly when some path is, with no partial effects; the option
        then runs the path's effects and ends in its check or its jump."""
        o = self.out
        paths = atomic_paths(self.lay, t, th, st.body, judge=bool(st.uses), text=st.text)
        o(1, f"atomic {{  /* {len(paths)} path(s) through the block */")
        if not paths:
            o(2, "false  /* no path passes its awaits */")
            o(1, "}")
            return
        o(2, "if")
        for path in paths:
            o(2, f":: {emit(path.cond)} ->")
            self.owner_check(3, t, th, st)
            for line in path.code:
                o(3, line + ";")
            if path.violation is None:
                self.jump(3, st.next, True)
            else:
                chk, cond_text, what = path.violation
                self.assertion(3, cond_text, chk, what)
        o(2, "fi")
        o(1, "}")


def _has(body, kind) -> bool:
    """Some statement of type `kind` (AWhile, AChoose), at any depth, in atomic body `body`."""
    return any(isinstance(a, kind) for a in atomic_statements(body))


_SHAPES = {
    "assign": (None, _Gen.assign_step),
    "assert": (None, _Gen.assert_step),
    "await": (_Gen.await_guard, _Gen.await_step),
    "branch": (None, _Gen.branch_step),
    "choose": (None, _Gen.choose_step),
    "atomic": (None, _Gen.atomic_step),
    "call": (None, _Gen.call_step),
    "return": (None, _Gen.return_step),
}
if set(_SHAPES) != {k.value for k in StepKind} - {k.value for k in PRIMITIVE_OF}:
    raise AssertionError("every kind of step is a primitive or has its writer in _SHAPES")


def program_to_promela(program: Program, only: Optional[str] = None) -> str:
    """The Promela model of `program` (see the package docstring and docs/promela.md).

    With `only` (a check name), only that check is reported: the assertions of
    the others, when violated, end the execution silently, as a violation ends
    it in modproof.  Then Spin answers whether `only` is reachable as the first
    violation of some execution; for a check other than deadlock, run pan with
    -E (no invalid-end-state reports).  `hang` is not carried (NOTE(hang)): it
    raises ValueError, as an unknown check does."""
    if program.unbounded:   # NOTE(unbounded): a Promela model has one size
        raise PromelaUnsupported(
            f"thread {program.unbounded[0]}[*] stands for every number of copies, and a Promela "
            "model has one (write thread NAME[K] for the size to export)")
    if only is not None and only not in CHECKS:
        raise ValueError(f"unknown check {only!r}")
    if only is not None and only not in CARRIED:
        raise ValueError(f"the Promela export does not carry {only} (NOTE(hang))")
    return _Gen(program, only).program()


def check_of_line(model: str, line: int) -> Optional[str]:
    """The modproof check that the assertion on 1-based `line` of `model` stands for."""
    lines = model.splitlines()
    if not 1 <= line <= len(lines):
        return None
    m = CHECK_COMMENT.search(lines[line - 1])
    return m.group(1) if m else None
