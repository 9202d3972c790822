"""Writers of witnesses and results, one small module per format, over one `Witness` type."""

from __future__ import annotations

FORMATS = ("text", "json")


def render_export(fmt: str, witness, program) -> str:
    """The witness in format `fmt` as text."""
    if fmt == "text":
        from modproof.exports.text import witness_text
        return f"{witness.file}: violated {witness.check}\n  {witness.message}\n{witness_text(witness)}\n"
    if fmt == "json":
        import json
        from modproof.exports.jsonfmt import witness_to_json
        return json.dumps(witness_to_json(witness), indent=2) + "\n"
    raise ValueError(f"unknown export format {fmt!r}; the formats are {', '.join(FORMATS)}")


def write_export(fmt: str, witness, program, path: str) -> None:
    from modproof.writefile import write_atomic
    write_atomic(path, render_export(fmt, witness, program))
