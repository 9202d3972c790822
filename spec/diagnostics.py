"""User-facing errors: one exception type that carries positioned diagnostics.

Every mistake in an input file becomes a `Diagnostic` with a span; a stage that
finds mistakes raises `SpecError` with all of them.  `render` turns them into the
`file:line:col: error: ...` form with the source line and a caret.
"""
from __future__ import annotations

import re

from dataclasses import dataclass

from modproof.spec.ast import Span


@dataclass(frozen=True)
class Note:
    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    span: Span
    message: str
    notes: tuple[Note, ...] = ()
    severity: str = "error"


class SpecError(Exception):
    """Raised by the parser, the checker and the lowering for mistakes in the input."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]):
        self.diagnostics = tuple(sorted(diagnostics, key=lambda d: (d.span.line, d.span.col)))
        super().__init__("; ".join(f"{d.span}: {d.message}" for d in self.diagnostics))


_LINE_END = re.compile("\r\n|\r|\n")
# How a quoted line shows characters a terminal would not: vertical tab and form
# feed are white space, other control characters (a NUL, an escape that would
# start a terminal sequence) their visible symbols, U+2400 and on; one column each.
_BLANKS = {**{c: chr(0x2400 + c) for c in range(0x20)}, 0x7f: "\u2421", 0x0b: " ", 0x0c: " "}


def source_lines(source: str) -> list[str]:
    """The lines of a model's text as the parser counts them (and editors do): only
    LF, CRLF and a lone CR end a line, unlike `str.splitlines`, which also breaks at
    form feeds, U+2028 and more."""
    return _LINE_END.split(source)


MAX_SHOWN = 50        # diagnostics rendered in full; the rest are counted
MAX_QUOTE = 160       # columns of a source line quoted around the caret


def _excerpt(lines: list[str], span: Span) -> list[str]:
    if span.line < 1 or span.line > len(lines):
        return []
    text = lines[span.line - 1].expandtabs(1).translate(_BLANKS)
    col = max(span.col, 1)
    if span.end_line == span.line and span.end_col > col:
        width = span.end_col - col
    else:
        width = 1
    width = max(1, min(width, max(1, len(text) - col + 1)))
    if len(text) > MAX_QUOTE:
        # A long line is quoted around the mistake only, its cut ends marked.
        start = max(0, min(col - 1 - MAX_QUOTE // 4, len(text) - MAX_QUOTE))
        head = "..." if start > 0 else ""
        tail = "..." if start + MAX_QUOTE < len(text) else ""
        text = head + text[start:start + MAX_QUOTE] + tail
        col = col - start + len(head)
        width = max(1, min(width, MAX_QUOTE - (col - 1 - len(head))))
    return [f"    {text}", "    " + " " * (col - 1) + "^" + "~" * (width - 1)]


def read_source(path: str) -> str:
    """The file's text for quoting lines in messages: undecodable bytes replaced,
    "" when it cannot be read (the error being reported says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(READ_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return ""


READ_LIMIT = 16 * 1024 * 1024 + 1   # grammar.parser.MAX_INPUT_BYTES and one: no more is quoted


def render(diag: Diagnostic, source) -> str:
    """`file:line:col: error: message`, the source line, a caret, then the notes.
    `source` is the text, or its `source_lines` (split once for many diagnostics)."""
    lines = source_lines(source) if isinstance(source, str) else source
    out = [f"{diag.span}: {diag.severity}: {diag.message}"]
    out += _excerpt(lines, diag.span)
    for note in diag.notes:
        out.append(f"{note.span}: note: {note.message}")
        out += _excerpt(lines, note.span)
    return "\n".join(out)


def render_all(diags, source: str, limit: int = MAX_SHOWN) -> str:
    """Every diagnostic rendered, the first `limit` of them in full and a count of
    the others: a file of thousands of mistakes is reported in seconds, and in
    a screenful that starts with the first one."""
    lines = source_lines(source)
    diags = list(diags)
    out = [render(d, lines) for d in diags[:limit]]
    if len(diags) > limit:
        rest = len(diags) - limit
        out.append(f"... and {rest} more {'error' if rest == 1 else 'errors'} not shown "
                   f"(the first {limit} are above)")
    return "\n".join(out)
