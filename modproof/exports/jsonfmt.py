"""The JSON witness format (versioned) and the JSON form of a `prove` result.

Witness format "modproof-witness", version 1 (docs/witness-format.md):

    {"format": "modproof-witness", "version": 1, "file": ..., "check": ...,
     (or, for an execution that reaches a cover, "cover": NAME instead of "check"),
     "message": ..., "threads": [...], "initial": {NAME: VALUE, ...},
     "steps": [{"index", "thread", "pc", "kind", "statement", "location":
                {"file", "line", "col"}, "owner", "owner_state", "frame",
                "detail", "changes": [{"name", "before", "after"}],
                "state": {NAME: VALUE, ...}, "violation"}, ...]}

State names are the user's: `refs(OBJ)`, `done(C)`, `module_refs(M)`,
`state(M)`, `holder(MUTEX)`, var names, `THREAD.LOCAL`, `THREAD.FN.LOCAL`, and
`pc(THREAD)` (a step id of `modproof show`, -1 when the thread is done).
"""
from __future__ import annotations

from modproof.result import Proved, Result, Unknown, Violated
from modproof.witness import Witness, WitnessStep

FORMAT = "modproof-witness"
VERSION = 1


def witness_to_json(w: Witness) -> dict:
    """The witness as a "modproof-witness" document; a cover witness has "cover"
    (the cover its last state satisfies) where a violation's has "check"."""
    out = {
        "format": FORMAT,
        "version": VERSION,
        "file": w.file,
        **({"cover": w.cover} if w.cover is not None else {"check": w.check}),
        "message": w.message,
        "length": w.length,
        "threads": list(w.threads),
        "initial": dict(w.initial),
        "steps": [step_to_json(s) for s in w.steps],
    }
    if w.deferred_release:   # replay must lower the file the same way
        out["deferred_release"] = True
    if w.loop is not None:   # a hang: the steps from this index on repeat for ever
        out["loop"] = w.loop + 1
    if w.sizes:              # a `thread NAME[*]` file: replay makes the program of these sizes
        out["sizes"] = dict(w.sizes)
    return out


def step_to_json(s: WitnessStep) -> dict:
    return {
        "index": s.index,
        "thread": s.thread,
        "pc": s.pc,
        "kind": s.kind,
        "statement": s.statement,
        "location": {"file": s.file, "line": s.line, "col": s.col},
        "owner": s.owner,
        "owner_state": s.owner_state,
        "frame": list(s.frame),
        "detail": s.detail,
        "changes": [{"name": k, "before": a, "after": b} for k, a, b in s.changes],
        "state": dict(s.state),
        "violation": s.violation,
    }


def diagnostics_to_json(path: str, diagnostics) -> dict:
    """What `prove --json` prints for a file with mistakes (it exits 2): every
    diagnostic with its position (lines and columns from 1, end exclusive) and notes."""
    def where(span) -> dict:
        return {"line": span.line, "col": span.col, "end_line": span.end_line,
                "end_col": span.end_col}

    return {
        "file": path,
        "verdict": "error",
        "diagnostics": [{"severity": d.severity, "message": d.message, **where(d.span),
                         "notes": [{"message": n.message, **where(n.span)} for n in d.notes]}
                        for d in diagnostics],
    }


def _cover(c) -> dict:
    out = {"name": c.name, "reached": c.reached, "step": c.step, "within": c.within}
    if c.sizes:   # all sizes: reached with this many copies (`step`: in that program)
        out["sizes"] = dict(c.sizes)
    return out


def result_to_json(program, r: Result, expect_met=None) -> dict:
    out: dict = {
        "file": program.path,
        "verdict": r.verdict,
        "engine": r.stats.engine,
        "method": r.stats.method,
        "seconds": round(r.stats.seconds, 6),
        "states": r.stats.states,
        "depth": r.stats.depth,
        "covers": [_cover(c) for c in r.covers],
    }
    for k, v in r.stats.extra:
        out.setdefault("stats", {})[k] = v
    if isinstance(r, Proved) and r.certified is not None:   # all sizes: whether Z3 checked it
        out["certified"] = r.certified
    if isinstance(r, Violated) and r.sizes:   # a `thread NAME[*]` file: the copies it took
        out["sizes"] = dict(r.sizes)
        out["fewest"] = r.fewest
    if isinstance(r, Proved):
        out.update(scope=r.scope, bound=r.bound,
                   unreached=[{"statement": u.text, "line": u.line, "col": u.col} for u in r.unreached],
                   never_called=[{"fn": name, "line": line, "col": col}
                                 for name, line, col in program.never_run])
    elif isinstance(r, Violated):
        out.update(scope="bounded", bound=r.witness.length, check=r.check, steps=r.witness.length,
                   message=r.witness.message, witness=witness_to_json(r.witness))
    elif isinstance(r, Unknown):
        out.update(scope="bounded", bound=r.bound, reason=r.reason, kind=r.kind.value)
    if program.expect is not None:
        exp = program.expect
        out["expect"] = {"verdict": exp.verdict, "check": exp.check, "bound": exp.bound,
                         "matched": expect_met}
    return out
