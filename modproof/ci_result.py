"""What checking a corpus gives: the result of each file (`FileResult`) and of a run (`CiRun`).

`modproof.ci` makes them; the `ci` command, the pytest plugin and the JUnit and
SARIF exports read them.  They live here, below all of those, so that the
exports need not import `modproof.ci` (which renders its results with
`modproof.exports.text`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from modproof.result import Result
    from modproof.spec.model import Program

# FileResult.status
OK = "ok"                # the verdict matches the expect line
BOUNDED = "bounded"      # a proof only up to a bound, where the expect line asks for more
                         # (NOTE(bounded-expect) in modproof/prove.py): it does not pass
FAIL = "fail"            # it does not match (including unknown and unreached covers)
ERROR = "error"          # the file could not be checked, or has no expect line
UNCHECKED = "unchecked"  # no expect line, and --allow-missing-expect: nothing to compare

# FileResult.error
INPUT_ERROR = "input"            # unreadable, or a syntax or checking mistake
MISSING_EXPECT = "missing-expect"
INTERNAL_ERROR = "internal"      # an exception in modproof itself


@dataclass(frozen=True)
class FileResult:
    """What checking one file gave; `program` and `result` are None when it did not load."""

    path: str
    status: str                  # OK, BOUNDED, FAIL, ERROR or UNCHECKED
    expected: str                # "proved", "proved up to N", "violated CHECK", or "" without
                                 # an expect line
    got: str                     # "proved", "violated CHECK", "unknown" or "error"
    scope: str                   # "all executions", "bound N", or "" (a violation, an error)
    steps: Optional[int]         # length of the witness of a violation
    seconds: float               # wall-clock time for this file, parse to verdict
    reason: str                  # one line: why it did not pass ("" when it did)
    detail: str                  # several lines: the rendered result with its witness,
                                 # or the rendered diagnostics
    error: Optional[str] = None  # INPUT_ERROR, MISSING_EXPECT or INTERNAL_ERROR
    diagnostics: tuple = ()      # spec.diagnostics.Diagnostic for an input error
    program: Optional[Program] = None
    result: Optional[Result] = None

    @property
    def passed(self) -> bool:
        return self.status in (OK, UNCHECKED)


@dataclass(frozen=True)
class CiRun:
    """`results[i]` belongs to `files[i]`; it is None for a file not run (interrupted)."""

    files: tuple[str, ...]
    results: tuple[Optional[FileResult], ...]
    seconds: float
    interrupted: bool = False

    @property
    def done(self) -> tuple[FileResult, ...]:
        return tuple(r for r in self.results if r is not None)

    @property
    def not_run(self) -> tuple[str, ...]:
        return tuple(f for f, r in zip(self.files, self.results) if r is None)

    @property
    def passed(self) -> bool:
        """Every file ran and passed."""
        return not self.interrupted and all(r is not None and r.passed for r in self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.done if r.status == status)


__all__ = ["FileResult", "CiRun", "OK", "BOUNDED", "FAIL", "ERROR", "UNCHECKED", "INPUT_ERROR",
           "MISSING_EXPECT", "INTERNAL_ERROR"]
