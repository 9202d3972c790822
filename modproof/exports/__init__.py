"""Writers of witnesses and results, one small module per format, over one `Witness` type.

`FORMATS` maps a format name to its renderer, `render(witness, program) -> str`.
A renderer imports its module only when it is used.  To add a format, write
`modproof/exports/NAME.py` with a `render(witness, program=None) -> str` and add
one entry below.
"""
from __future__ import annotations

import json
from typing import Callable


def _text(witness, program) -> str:
    from modproof.exports.text import witness_text
    return f"{witness.file}: {witness.headline}\n  {witness.message}\n{witness_text(witness)}\n"


def _json(witness, program) -> str:
    from modproof.exports.jsonfmt import witness_to_json
    return json.dumps(witness_to_json(witness), indent=2) + "\n"


def _itf(witness, program) -> str:
    from modproof.exports.itf import render
    return render(witness, program)


def _mermaid(witness, program) -> str:
    from modproof.exports.mermaid import render
    return render(witness, program)


def _html(witness, program) -> str:
    from modproof.exports.html import render
    return render(witness, program)


FORMATS: dict[str, Callable[..., str]] = {
    "text": _text,        # the numbered trace, as `modproof prove` prints it
    "json": _json,        # "modproof-witness" version 1 (docs/witness-format.md, schemas/)
    "itf": _itf,          # Apalache's Informal Trace Format (ADR-015), for .itf.json
    "mermaid": _mermaid,  # a Mermaid sequenceDiagram, for a ```mermaid fence
    "html": _html,        # one self-contained page with a swim-lane timeline
}


def informative_detail(step) -> str:
    """The step's `detail`, unless it only repeats the statement ("calls f" for "f()")."""
    d = step.detail
    if step.kind == "call" and d == f"calls {step.statement.removesuffix('()')}":
        return ""
    if step.kind == "return" and d == step.statement.replace("return from", "returns from", 1):
        return ""
    return d


def render_export(fmt: str, witness, program) -> str:
    """The witness in format `fmt` as text."""
    try:
        renderer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}; the formats are {', '.join(FORMATS)}") \
            from None
    return renderer(witness, program)


def write_export(fmt: str, witness, program, path: str) -> None:
    from modproof.writefile import write_atomic
    write_atomic(path, render_export(fmt, witness, program))


def witness_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the JSON witness format, shipped as package data."""
    from importlib import resources  # pathlib and more: only when asked
    text = resources.files("modproof").joinpath("schemas/witness.schema.json").read_text("utf-8")
    return json.loads(text)
