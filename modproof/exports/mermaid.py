"""The witness as a Mermaid sequence diagram, for a ```mermaid fence in a GitHub issue or README.

One participant per thread, then `core` (when some step runs core code), then
one per module.  Every step is one message from its thread to the owner whose
code ran (`autonumber`, so the circled numbers are the witness's step numbers):
the statement, what the step did and what changed.  A return from a module
function is a dashed arrow back from the module.  Module state changes are notes
over the module ("dm is unloading", "dm is gone: its code is freed"); the
violating step is inside a red `rect` (a cross arrow when the step itself fails,
as a return into freed code does), followed by a note that names the check and
says what happened.

Mermaid's sequence grammar ends a message at `;`, `#` and a newline, and its
text becomes HTML; user text is therefore written with Mermaid's entity codes
(`#59;` for `;`, `#35;` for `#`, ...) by `escape`.
"""
from __future__ import annotations

from modproof.exports import informative_detail
from modproof.witness import STEP_CHECKS_STATE, Witness, show_value

# Characters Mermaid's sequence lexer or its HTML labels treat specially, as
# entity codes (decimal, which Mermaid decodes in message and note text).
_ESCAPES = {c: f"#{ord(c)};" for c in '#;:%<>&'}

VIOLATION_FILL = "rgb(255, 228, 228)"
UNLOAD_NOTE = {"unloading": "{m} is unloading", "gone": "{m} is gone: its code is freed",
               "loaded": "{m} is live: its init function returned 0"}   # (v3: after coming)


def escape(text: str) -> str:
    """User text as Mermaid message or note text: entity codes, no line breaks."""
    out = []
    for c in " ".join(str(text).split()):
        out.append(_ESCAPES.get(c, c))
    return "".join(out)


def _participants(w: Witness) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Participant ids by ("thread", name) and ("owner", name), and their declarations:
    T0.. for the threads, CORE, then M0.. for the modules in declaration order."""
    ids: dict[tuple[str, str], str] = {}
    decls: list[str] = []
    for i, t in enumerate(w.threads):
        ids["thread", t] = f"T{i}"
        decls.append(f"    participant T{i} as {escape(t)}")
    declared = [k[len("state("):-1] for k, _ in w.initial if k.startswith("state(")]
    owners = [s.owner for s in w.steps]
    if "core" in owners:
        ids["owner", "core"] = "CORE"
        decls.append("    participant CORE as core")
    for i, m in enumerate(dict.fromkeys(declared + [o for o in owners if o != "core"])):
        ids["owner", m] = f"M{i}"
        decls.append(f"    participant M{i} as module {escape(m)}")
    return ids, decls


def _changes(step) -> str:
    return ", ".join(f"{k} {show_value(a)} → {show_value(b)}" for k, a, b in step.changes
                     if not k.startswith("state("))


def _unload_notes(step, ids) -> list[str]:
    out = []
    for k, _, b in step.changes:
        if k.startswith("state(") and b in UNLOAD_NOTE:
            m = k[len("state("):-1]
            out.append(f"    Note over {ids['owner', m]}: {escape(UNLOAD_NOTE[b].format(m=m))}")
    return out


def render(w: Witness, program=None) -> str:
    """The Mermaid source (no fence) of a `sequenceDiagram`."""
    ids, decls = _participants(w)
    out = ["sequenceDiagram", f"    title {escape(w.file)} {escape(w.headline)}", "    autonumber"]
    out += decls

    if not w.steps:
        if w.threads:
            first = ids["thread", w.threads[0]]
        else:           # no threads, no steps: the note needs a participant to stand over
            first = "CORE"
            out.insert(3, "    participant CORE as core")
        what = (f"satisfies cover {escape(w.cover)}" if w.cover is not None
                else f"violates {escape(w.check)}")
        out.append(f"    Note over {first}: the initial state {what}<br/>{escape(w.message)}")
        return "\n".join(out) + "\n"
    for i, s in enumerate(w.steps):
        if w.loop is not None and i == w.loop:
            # A hang: the steps from here on repeat for ever (a lasso).
            out.append(f"    loop steps {w.loop + 1} to {len(w.steps)} repeat for ever")
        me, to = ids["thread", s.thread], ids["owner", s.owner]
        lines = [escape(s.statement)]
        if informative_detail(s):
            lines.append(escape(informative_detail(s)))
        ch = _changes(s)
        if ch:
            lines.append(escape(ch))
        text = "<br/>".join(lines)
        if s.violation:
            # A step check fails inside the step (a cross: it never completes); an
            # invariant or deadlock is a property of the state after it.
            head = "->>" if w.check in STEP_CHECKS_STATE else "-x"
            out += [f"    rect {VIOLATION_FILL}", f"    {me}{head}{to}: {text}"]
            out += _unload_notes(s, ids)
            out += [f"    Note over {me},{to}: VIOLATION {escape(s.violation)}<br/>{escape(w.message)}",
                    "    end"]
            continue
        if s.kind == "return" and s.owner != "core":
            out.append(f"    {to}-->>{me}: {text}")
        else:
            out.append(f"    {me}->>{to}: {text}")
        out += _unload_notes(s, ids)
    if w.loop is not None:
        out.append("    end")
    if w.cover is not None:   # a cover witness: its last state satisfies the cover
        last = w.steps[-1]
        out.append(f"    Note over {ids['thread', last.thread]}: {escape(w.message)}")
    return "\n".join(out) + "\n"
