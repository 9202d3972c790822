"""The human-readable rendering: the verdict, what exactly was proved, and the witness."""
from __future__ import annotations

from typing import Optional

from modproof.result import Proved, Result, Unknown, Violated
from modproof.spec.model import Program
from modproof.spec.sizes import describe, every
from modproof.witness import Witness, show_value


def _changes(step) -> str:
    return "; ".join(f"{k}: {show_value(a)} -> {show_value(b)}" for k, a, b in step.changes)


def witness_text(w: Witness) -> str:
    """The numbered trace: thread, owner (and its state), location, statement, effect."""
    if not w.steps:
        if w.cover is not None:
            return f"  (the initial state already satisfies cover {w.cover})"
        return f"  (the initial state already violates {w.check})"
    tw = max(len(s.thread) for s in w.steps)
    ow = max(len(_owner(s)) for s in w.steps)
    out = []
    for i, s in enumerate(w.steps):
        if w.loop is not None and i == w.loop:
            out.append(f"  ---- loop: steps {w.loop + 1} to {len(w.steps)} repeat for ever ----")
        mark = "!" if s.violation else " "
        loc = f"{s.line}:{s.col}"
        head = f"{mark}{s.index:3d}  {s.thread:<{tw}}  {_owner(s):<{ow}}  {loc:>6}  {s.statement}"
        out.append(head.rstrip())
        notes = [x for x in (s.detail, _changes(s)) if x]
        if s.violation:
            notes.append(f"VIOLATION {s.violation}")
        if notes:
            out.append(" " * (6 + tw + 2 + ow + 2 + 6 + 2) + "; ".join(notes))
    return "\n".join(out)


def _owner(s) -> str:
    return "core" if s.owner_state == "core" else f"{s.owner} ({s.owner_state})"


def scope_text(r: Result, program: Optional[Program] = None) -> str:
    if isinstance(r, Proved):
        if r.scope == "all-executions":
            return "for all executions"
        if r.scope == "all-sizes":   # NOTE(all-sizes)
            return ("for every number of " + every(program.unbounded) if program is not None
                    and program.unbounded else "for every number of copies")
        return (f"for executions of up to {_steps(r.bound)} (bounded: longer executions were "
                "not explored)")
    return ""


def result_text(program: Program, r: Result, expect_met=None) -> str:
    lines = []
    name = program.path
    if isinstance(r, Proved):
        lines.append(f"{name}: proved {scope_text(r, program)}")
        lines.append(f"  method: {r.stats.method} ({r.stats.engine} engine)")
        if r.certified is not None:
            lines.append("  certificate: " + ("checked by Z3: the abstract states are an inductive "
                                              "invariant for every number of copies, and imply "
                                              "every check" if r.certified else "not checked"))
    elif isinstance(r, Violated) and r.sizes:
        w = r.witness
        sizes = describe(dict(r.sizes))
        shape = (f"{_steps(w.loop)} to a loop of {_steps(w.length - w.loop)} that repeats for ever"
                 if w.loop is not None else _steps(w.length))
        how = "shortest with that many" if r.shortest else "not necessarily the shortest"
        lines.append(f"{name}: violated {r.check} with {sizes}, in {shape} ({how})")
        lines.append(f"  {w.message}")
        groups = every(dict(r.sizes))
        lines.append(f"  fewer {groups} violate no check" if r.fewest else
                     f"  fewer {groups} were not all decided: a smaller size may violate too")
        lines.append(f"  method: {r.stats.method} ({r.stats.engine} engine)")
    elif isinstance(r, Violated):
        w = r.witness
        if w.loop is not None:
            how = "(the shortest lasso)" if r.shortest else "(not necessarily the shortest lasso)"
            lines.append(f"{name}: violated {r.check}: {_steps(w.loop)} to a loop of "
                         f"{_steps(w.length - w.loop)} that repeats for ever {how}")
        else:
            how = ("(shortest)" if r.shortest
                   else "(not necessarily shortest: found under partial-order reduction)")
            lines.append(f"{name}: violated {r.check} in {_steps(w.length)} {how}")
        lines.append(f"  {w.message}")
        lines.append(f"  method: {r.stats.method} ({r.stats.engine} engine)")
    else:
        lines.append(f"{name}: unknown: {r.reason}")
        if r.bound is not None:
            lines.append(f"  no violation within {_steps(r.bound)}; nothing is proved beyond that")
        lines.append(f"  method: {r.stats.method} ({r.stats.engine} engine)")
    stats = [f"{r.stats.seconds:.3f} s"]
    if r.stats.states is not None:
        stats.append(f"{r.stats.states} state{'s' if r.stats.states != 1 else ''}")
    if r.stats.depth is not None:
        stats.append(f"depth {r.stats.depth}")
    for k, v in r.stats.extra:
        stats.append(f"{k} {v}")
    lines.append("  stats: " + ", ".join(stats))
    for c in r.covers:
        if c.reached:   # (by an execution of its own, not necessarily the witness below)
            with_ = f" with {describe(dict(c.sizes))}" if c.sizes else ""
            lines.append(f"  cover {c.name}: reachable{with_}"
                         + (f" in {_steps(c.step)}" if c.step is not None else ""))
        elif c.within is not None:
            lines.append(f"  cover {c.name}: NOT reached within {c.within} steps, and not "
                         "decided beyond; the proof may be vacuous")
        elif isinstance(r, Proved) and r.scope == "all-executions":
            lines.append(f"  cover {c.name}: NOT reached: no execution reaches it; "
                         "the proof is vacuous")
        elif isinstance(r, Proved) and r.scope == "all-sizes":
            lines.append(f"  cover {c.name}: NOT reached with any number of "
                         f"{every(program.unbounded)}; the proof is vacuous")
        elif isinstance(r, Violated):
            lines.append(f"  cover {c.name}: NOT reached by the executions explored before the "
                         "violation was found (the search stops there)")
        elif isinstance(r, Unknown):
            lines.append(f"  cover {c.name}: NOT reached within the explored executions "
                         "(nothing is proved)")
        else:
            lines.append(f"  cover {c.name}: NOT reached within the explored executions; "
                         "the proof may be vacuous")
    if isinstance(r, Proved) and r.unreached:
        scope = "in any execution" if not r.bounded else f"within {_steps(r.bound)}"
        lines.append(f"  warning: {len(r.unreached)} statement(s) never executed {scope}; "
                     "checks there hold only because they are unreachable:")
        for u in r.unreached:
            lines.append(f"    {program.path}:{u.line}:{u.col}: {u.text}")
    if isinstance(r, Proved):
        lines += _vacuity_warnings(program)
    if program.expect is not None:
        exp = program.expect
        how = "matched" if expect_met else "NOT matched"
        if not expect_met and isinstance(r, Proved) and r.bounded and (
                exp.verdict == "proved" and (exp.bound is None or r.bound < exp.bound)):
            # NOTE(bounded-expect) in modproof/prove.py
            how += (f" (bounded: proved only up to {_steps(r.bound)}; "
                    + (f"'expect proved up to {r.bound}' accepts that)" if exp.bound is None
                       else f"the file asks for {exp.bound})"))
        lines.append(f"  expect {exp.text}: {how}")
    if isinstance(r, Violated):
        lines.append("")
        lines.append("witness:")
        lines.append(witness_text(r.witness))
    return "\n".join(lines)


def cover_text(w: Witness) -> str:
    """A cover witness under its heading, as `prove --cover NAME` prints it."""
    return (f"cover {w.cover}: reachable in {_steps(w.length)} (the fewest); an execution that "
            f"reaches it:\n  {w.message}\n{witness_text(w)}")


def _vacuity_warnings(program) -> list[str]:
    """What a proof does not cover: a model in which nothing runs, functions no thread runs."""
    if not program.threads:
        return ["  warning: the model has no threads: nothing runs, so nothing can fail"]
    return [f"  warning: {where}: {what}: none of its code is checked"
            for where, what in never_run_warnings(program)]


def never_run_warnings(program) -> list[tuple[str, str]]:
    """(file:line:col, what) for each function no thread runs: one wording for
    `prove` and `check`."""
    return [(f"{program.path}:{line}:{col}",
             f"fn {name} is never called (no call, put, unload or handler runs it)")
            for name, line, col in program.never_run]


def _steps(n) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"
