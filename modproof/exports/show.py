"""`modproof show`: the lowered program, one line per step, as the engines see it."""
from __future__ import annotations

from modproof.spec.model import DONE, ENDS_THREAD, Program, StepKind
from modproof.witness import show_value


def _succ(st) -> str:
    def pc(n: int) -> str:
        return "end" if n == DONE else str(n)
    k = st.kind
    if k is StepKind.BRANCH:
        return f"true -> {pc(st.next)}, false -> {pc(st.on_false)}"
    if k is StepKind.CHOOSE:
        return "one of -> " + ", ".join(pc(b) for b in st.branches)
    if st.release is not None:
        return f"-> {pc(st.next)}; at zero calls {st.fn} -> {pc(st.release)}"
    if k is StepKind.UNLOAD:
        first = f"calls exit {st.fn} -> {pc(st.next)}" if st.fn else f"free step {pc(st.next)}"
        return f"unloading: {first}; not loaded: -> {pc(st.not_loaded)}"
    if k in ENDS_THREAD:
        return "-> end (thread exits)"
    return f"-> {pc(st.next)}"


def program_text(p: Program) -> str:
    out = []
    for t in p.threads:
        owner = p.owner_name(t.owner)
        locs = ", ".join(f"{(s.fn + '.') if s.fn else ''}{s.name}={show_value(s.init)}"
                         for s in t.locals)
        # NOTE(unbounded): the one thread of a `thread NAME[*]` stands for every copy
        name = f"{t.group}[*]" if t.group in p.unbounded and t.copy is not None else t.name
        out.append(f"thread {name} (code of {owner}), {len(t.steps)} steps"
                   + (f", locals {locs}" if locs else ""))
        ow = max((len(p.owner_name(s.owner)) for s in t.steps), default=4)
        for st in t.steps:
            text = st.text
            if st.kind is StepKind.UNLOAD_FREE:
                text += "  [free the module's code]"
            where = " in " + " > ".join(st.frame) if st.frame else ""
            out.append(f"  {st.id:3d}  {p.owner_name(st.owner):<{ow}}  line {st.span.line:<4d} "
                       f"{st.kind.value:<12} {text}  {_succ(st)}{where}")
        out.append("")
    for inv in p.invariants:
        out.append(f"invariant {inv.name}: {inv.text}")
    for c in p.covers:
        out.append(f"cover {c.name}: {c.text}")
    return "\n".join(out).rstrip() + "\n"
