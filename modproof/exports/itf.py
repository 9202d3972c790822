"""The witness in Apalache's Informal Trace Format (ITF, ADR-015), for ITF viewers and Quint tooling.

    {"#meta": {"format": "ITF", "format-description": ..., "source": FILE, ...},
     "vars": ["pc", "refs", ..., "mp_violation"],
     "states": [{"#meta": {"index": 0}, "pc": ..., ...}, ...]}

State 0 is the initial state; state i is the state after step i.  Every state
defines every variable (ADR-015), so a program without mutexes still has
`"holder": {"#map": []}`.  The model (docs/witness-format.md, "ITF"):

    pc            map thread -> step id of `modproof show` (-1: the thread is done)
    refs          map object -> reference count
    done          map completion -> done count
    module_refs   map module -> module reference count
    module_state  map module -> "loaded" | "unloading" | "gone" | "coming" (v3: its init runs)
    holder        map mutex -> holding thread ("" when free: ITF has no null)
    vars          record var -> value
    locals        map "THREAD.LOCAL" / "THREAD.FN.LOCAL" -> value
    mp_thread     the thread that moved into this state ("" in state 0)
    mp_statement  its statement as written; mp_location FILE:LINE:COL;
    mp_owner      "core" or the module whose code ran; mp_violation the check
                  the step violates, or ""

Integers are always `{"#bigint": "N"}` (done counts reach UINT_MAX), booleans
JSON booleans, strings JSON strings.

NOTE(itf-crash-step): the violating step of a step check (code-after-unload,
put-after-release, ...) never completes, so the witness has no state after it;
its ITF state repeats the state before it, with the mp_ variables naming the
step and mp_violation set.  For invariant and deadlock the last state is the
bad state itself.
"""
from __future__ import annotations

import json
import re

from modproof.witness import Witness

FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"

# Witness state names -> (ITF variable, key); see modproof.witness.state_items.
_QUERY = re.compile(r"^(pc|refs|done|module_refs|state|holder)\((.*)\)$")
_FAMILY = {"pc": "pc", "refs": "refs", "done": "done", "module_refs": "module_refs",
           "state": "module_state", "holder": "holder"}
MAPS = ("pc", "refs", "done", "module_refs", "module_state", "holder")
STEP_VARS = ("mp_thread", "mp_statement", "mp_location", "mp_owner", "mp_violation")
VARS = MAPS + ("vars", "locals") + STEP_VARS


def itf_value(v):
    """A witness value as an ITF expression."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"#bigint": str(v)}
    if v is None:          # a free mutex
        return ""
    return str(v)


def _family(name: str) -> tuple[str, str]:
    m = _QUERY.match(name)
    if m:
        return _FAMILY[m.group(1)], m.group(2)
    # Locals are THREAD.LOCAL or THREAD.FN.LOCAL; var names are plain identifiers.
    return ("locals" if "." in name else "vars"), name


def itf_state(items, index: int, step=None) -> dict:
    """One ITF state from witness state items; `step` is the WitnessStep that led to it."""
    maps: dict[str, list] = {k: [] for k in MAPS}
    record: dict[str, object] = {}
    locals_: list = []
    for name, value in items:
        fam, key = _family(name)
        if fam == "vars":
            record[key] = itf_value(value)
        elif fam == "locals":
            locals_.append([key, itf_value(value)])
        else:
            maps[fam].append([key, itf_value(value)])
    out: dict = {"#meta": {"index": index}}
    for k in MAPS:
        out[k] = {"#map": maps[k]}
    out["vars"] = record
    out["locals"] = {"#map": locals_}
    out["mp_thread"] = step.thread if step else ""
    out["mp_statement"] = step.statement if step else ""
    out["mp_location"] = f"{step.file}:{step.line}:{step.col}" if step else ""
    out["mp_owner"] = step.owner if step else ""
    out["mp_violation"] = (step.violation or "") if step else ""
    return out


def witness_to_itf(w: Witness) -> dict:
    """The ITF trace of `w` as a JSON-ready dict."""
    states = [itf_state(w.initial, 0)]
    for s in w.steps:
        states.append(itf_state(s.state, s.index, s))
    return {
        "#meta": {
            "format": "ITF",
            "format-description": FORMAT_DESCRIPTION,
            "source": w.file,
            "description": f"modproof witness: {w.headline}: {w.message}",
            "generated-by": "modproof",
            **({"cover": w.cover} if w.cover is not None else {"check": w.check}),
            "message": w.message,
            "threads": list(w.threads),
        },
        "vars": list(VARS),
        "states": states,
        **({"loop": w.loop} if w.loop is not None else {}),
    }


def render(w: Witness, program=None) -> str:
    """The ITF file (`.itf.json`): one line per meta field and per variable of a state."""
    def one(v) -> str:
        return json.dumps(v, ensure_ascii=False)

    def obj(d: dict, indent: str) -> str:
        inner = ",\n".join(f"{indent}  {one(k)}: {one(v)}" for k, v in d.items())
        return "{\n" + inner + "\n" + indent + "}"
    t = witness_to_itf(w)
    states = ",\n".join("    " + obj(st, "    ") for st in t["states"])
    return ("{\n"
            f'  "#meta": {obj(t["#meta"], "  ")},\n'
            f'  "vars": {one(t["vars"])},\n'
            f'  "states": [\n{states}\n  ]'
            + (f',\n  "loop": {t["loop"]}\n' if "loop" in t else "\n")
            + "}\n")
