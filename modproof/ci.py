"""Checking a corpus: find `.mproof` files, prove each, compare with its `expect` line.

`find_files(paths)` lists the files to check (`shard` splits them between CI
jobs), `check_file(path, options)` checks
one and returns a `FileResult`, and `run_ci(files, options, jobs)` checks many in
worker processes and returns a `CiRun` with the results in the order of `files`,
whatever order the workers finish in (both types, and the statuses, are defined
in `modproof/ci_result.py` and exported here too).  Nothing here prints or exits: the `ci`
command (`modproof/ci_cmd.py`) renders a `CiRun`, the exports write JUnit and
SARIF from it, and the pytest plugin turns each `FileResult` into a test.

A file passes when its verdict matches its `expect` line, which for
`expect proved` includes every `cover` being reached (`prove.expectation`).
An unknown verdict never passes, nor does a proof up to a bound where the file
asks for a proof for all executions (status BOUNDED, NOTE(bounded-expect) in
modproof/prove.py), or for more steps than were explored.  A file that does not parse or check, or has
no `expect` line (unless that is allowed), is an error; so is an exception in
an engine, which is a bug in modproof and is reported as an internal error.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional, Sequence

from modproof.ci_result import (
    BOUNDED, ERROR, FAIL, INPUT_ERROR, INTERNAL_ERROR, MISSING_EXPECT, OK, UNCHECKED, CiRun,
    FileResult,
)
from modproof.options import DEFAULT_BOUND, DEFAULT_ENGINE, Options, default_max_memory
from modproof.prove import BOUNDED as EXPECT_BOUNDED, MET, expectation, prove
from modproof.result import Proved, Result, Unknown, Violated
from modproof.spec.model import Program

SUFFIX = ".mproof"


@dataclass(frozen=True)
class CiOptions:
    engine: str = DEFAULT_ENGINE
    bound: int = DEFAULT_BOUND
    timeout: Optional[float] = None       # per file
    max_states: Optional[int] = None      # None: as many as the memory holds (Options)
    allow_missing_expect: bool = False
    deferred_release: bool = False        # run release functions on workers (v2)
    # The memory of the files checked at once (run_ci gives each of its jobs an equal
    # share; check_file alone has it all); None: no limit.
    max_memory: Optional[int] = field(default_factory=default_max_memory)

    def prove_options(self) -> Options:
        return Options(engine=self.engine, bound=self.bound, timeout=self.timeout,
                       max_states=self.max_states, max_memory=self.max_memory)


# --------------------------------------------------------------------------- finding files


class MissingPathError(ValueError):
    """A path given to find_files does not exist."""


def find_files(paths: Sequence[str]) -> list[str]:
    """The `.mproof` files under `paths`, each folder's sorted, in the order of `paths`.

    A folder is searched recursively, for regular files only (a FIFO or a device
    named `x.mproof` would block or never end); a file named explicitly is taken
    whatever its suffix.  A file reached twice is listed once.  Raises
    MissingPathError for a path that does not exist."""
    out: list[str] = []
    seen: set[str] = set()
    for p in paths:
        if os.path.isdir(p):
            found = []
            for folder, dirs, files in os.walk(p):
                dirs.sort()
                found += [os.path.normpath(os.path.join(folder, f)) for f in files
                          if f.endswith(SUFFIX) and os.path.isfile(os.path.join(folder, f))]
            found.sort(key=lambda f: Path(f).parts)
        elif os.path.exists(p):
            found = [p]
        else:
            raise MissingPathError(f"{p}: no such file or folder")
        for f in found:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def shard(files: Sequence[str], index: int, count: int) -> list[str]:
    """Shard `index` of `count` (1 <= index <= count) of `files`: every count-th file
    of the sorted list, starting at the index-th.  Every file is in exactly one
    shard, and the split depends only on the list of files, never on the order
    they were given in, so `count` CI jobs that each check one shard check all."""
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count}: the shard must be 1 to {count}")
    ordered = sorted(dict.fromkeys(files), key=lambda f: Path(f).parts)
    return ordered[index - 1::count]


# --------------------------------------------------------------------------- one file


def verdict_text(r: Result) -> str:
    if isinstance(r, Violated):
        return f"violated {r.check}"
    return r.verdict


def expect_text(program: Program) -> str:
    return "" if program.expect is None else program.expect.text


def scope_text(r: Result) -> str:
    if isinstance(r, Proved):
        if r.scope == "all-sizes":
            return "all sizes"
        return "all executions" if r.scope == "all-executions" else f"bound {r.bound}"
    if isinstance(r, Violated) and r.sizes:   # the copies of `thread NAME[*]` it needed
        from modproof.spec.sizes import describe
        return describe(dict(r.sizes))
    if isinstance(r, Unknown) and r.bound is not None:
        return f"bound {r.bound}"
    return ""


def _bounded_reason(program: Program, r: Proved) -> str:
    """Why a proof up to a bound does not pass (NOTE(bounded-expect))."""
    exp = program.expect
    if exp.bound is None:
        text = (f"expected proved (for all executions), but it was proved only for executions "
                f"of up to {r.bound} steps (bounded: longer ones were not explored); "
                f"'expect proved up to {r.bound}' accepts that")
    else:
        text = (f"expected proved up to {exp.bound} steps, but it was proved only up to "
                f"{r.bound} (give --bound {exp.bound} or more)")
    missed = [c.name for c in r.covers if not c.reached]
    if missed:
        text += (f"; and cover{'s' if len(missed) > 1 else ''} {', '.join(missed)} "
                 f"not reached within {r.bound} steps")
    return text


def _mismatch_reason(program: Program, r: Result) -> str:
    want = expect_text(program)
    if isinstance(r, Unknown):
        return f"expected {want}, but the verdict is unknown: {r.reason}"
    if isinstance(r, Violated):
        n = r.witness.length
        return (f"expected {want}, got violated {r.check} in {n} step{'s' if n != 1 else ''}: "
                f"{r.witness.message}")
    missed = [c for c in r.covers if not c.reached]
    if program.expect.verdict == "proved" and missed:
        names = ", ".join(c.name for c in missed)
        open_after = [c.within for c in missed if c.within is not None]
        how = (f"not reached within {min(open_after)} steps (not decided beyond)" if open_after
               else f"not reached within {r.bound} steps" if r.bounded
               else "never reached")
        return (f"proved, but cover{'s' if len(missed) > 1 else ''} {names} {how}: "
                "the proof may be vacuous")
    where = ("for all executions" if r.scope == "all-executions" else "for every number of copies"
             if r.scope == "all-sizes" else f"up to {r.bound} steps")
    return f"expected {want}, but it was proved {where}"


def _error(path: str, kind: str, reason: str, detail: str, seconds: float, **kw) -> FileResult:
    return FileResult(path=path, status=ERROR, expected=kw.pop("expected", ""), got="error",
                      scope="", steps=None, seconds=seconds, reason=reason, detail=detail,
                      error=kind, **kw)


def check_file(path: str, options: CiOptions = CiOptions()) -> FileResult:
    """Load, prove and compare one file.  Never raises for a problem in the file or in
    an engine (both become an error result); KeyboardInterrupt goes through."""
    from modproof.exports.text import result_text
    from modproof.grammar.parser import parse_file
    from modproof.spec.diagnostics import SpecError, read_source, render_all
    from modproof.spec.lower import lower

    start = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - start

    try:
        program = lower(parse_file(path), deferred_release=options.deferred_release)
    except SpecError as exc:
        n = len(exc.diagnostics)
        source = read_source(path)
        detail = (render_all(exc.diagnostics, source)
                  + f"\n{n} error{'s' if n != 1 else ''} in {path}")
        first = exc.diagnostics[0] if exc.diagnostics else None
        reason = f"{first.span}: error: {first.message}" if first else "the file has errors"
        if n > 1:
            reason += f" (and {n - 1} more)"
        return _error(path, INPUT_ERROR, reason, detail, elapsed(), diagnostics=exc.diagnostics)
    except OSError as exc:
        reason = f"cannot read {path}: {exc.strerror or exc}"
        return _error(path, INPUT_ERROR, reason, reason, elapsed())
    except Exception as exc:  # noqa: BLE001 - a bug in the front end; report it, go on
        return _internal(path, exc, elapsed(), program=None, expected="")

    expected = expect_text(program)
    try:
        r = prove(program, options.prove_options())
    except Exception as exc:  # noqa: BLE001 - a bug in an engine or in replay
        return _internal(path, exc, elapsed(), program=program, expected=expected)
    seconds = elapsed()
    status = expectation(program, r)
    met = None if status is None else status == MET
    common = dict(path=path, expected=expected, got=verdict_text(r), scope=scope_text(r),
                  steps=r.witness.length if isinstance(r, Violated) else None, seconds=seconds,
                  detail=result_text(program, r, met), program=program, result=r)
    if program.expect is None:
        if options.allow_missing_expect:
            return FileResult(status=UNCHECKED, reason="", **common)
        return FileResult(status=ERROR, error=MISSING_EXPECT,
                          reason="no expect line: add 'expect proved' or 'expect violated CHECK' "
                                 "(or pass --allow-missing-expect)", **common)
    if met:
        return FileResult(status=OK, reason="", **common)
    if status == EXPECT_BOUNDED:
        return FileResult(status=BOUNDED, reason=_bounded_reason(program, r), **common)
    return FileResult(status=FAIL, reason=_mismatch_reason(program, r), **common)


def _internal(path: str, exc: Exception, seconds: float, program, expected: str) -> FileResult:
    reason = f"internal error: {type(exc).__name__}: {exc}"
    detail = (reason + "\nThis is a bug in modproof, not in your file. Please report it with the "
              "input; run `modproof prove` on it with MODPROOF_DEBUG=1 for a traceback.")
    return _error(path, INTERNAL_ERROR, reason, detail, seconds, program=program, expected=expected)


# --------------------------------------------------------------------------- many files

# progress(done, total, running, finished): called when a file starts (finished is
# None) and when one ends; `running` lists the files being checked, in file order.
Progress = Callable[[int, int, tuple[str, ...], Optional[FileResult]], None]


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_ci(files: Sequence[str], options: CiOptions = CiOptions(), jobs: Optional[int] = None,
           progress: Optional[Progress] = None) -> CiRun:
    """Check `files` in up to `jobs` processes at a time (default: one per core), each
    file in a process of its own (NOTE(child-processes) in modproof/supervise.py)
    with an equal share of `options.max_memory`.

    A process that dies (killed, say by the out-of-memory killer) takes only its
    file with it: that file is an error that says so, the others are checked as
    usual.  On KeyboardInterrupt the processes are stopped and the run so far is
    returned with `interrupted` set; files not finished have result None.  A
    subclass of KeyboardInterrupt (SIGTERM) stops them and goes through."""
    from modproof.supervise import OK as ENDED_OK, Children
    files = tuple(files)
    start = time.perf_counter()
    results: list[Optional[FileResult]] = [None] * len(files)
    if not files:
        return CiRun(files, (), 0.0)
    jobs = min(jobs or default_jobs(), len(files))
    share = replace(options, max_memory=None if options.max_memory is None
                    else options.max_memory // jobs)
    started: dict[str, float] = {}
    done = 0
    next_index = 0

    def running(kids: Children) -> tuple[str, ...]:
        return tuple(files[i] for i in sorted(int(n) for n in kids.running))

    with Children() as kids:
        try:
            while done < len(files):
                while next_index < len(files) and len(kids.running) < jobs:
                    path = files[next_index]
                    kids.start(str(next_index), lambda report, path=path: check_file(path, share))
                    started[str(next_index)] = time.perf_counter()
                    next_index += 1
                    if progress:
                        progress(done, len(files), running(kids), None)
                ended = kids.next()
                i = int(ended.name)
                if ended.how == ENDED_OK:
                    results[i] = ended.value
                else:
                    results[i] = _lost(files[i], ended.how, ended.value,
                                       time.perf_counter() - started[ended.name])
                done += 1
                if progress:
                    progress(done, len(files), running(kids), results[i])
        except KeyboardInterrupt as exc:
            kids.close()
            if type(exc) is not KeyboardInterrupt:   # SIGTERM (modproof.cli.Terminated): no report
                raise
            return CiRun(files, tuple(results), time.perf_counter() - start, interrupted=True)
    return CiRun(files, tuple(results), time.perf_counter() - start)


def _lost(path: str, how: str, why: str, seconds: float) -> FileResult:
    """The result of a file whose process ended without one."""
    reason = f"internal error: checking {path} failed: {why}"
    detail = (reason + "\nThe other files were checked as usual. Run `modproof prove` on this "
              "file alone (with MODPROOF_DEBUG=1 for a traceback) to see more.")
    return _error(path, INTERNAL_ERROR, reason, detail, seconds, program=None, expected="")


__all__ = ["CiOptions", "FileResult", "CiRun", "find_files", "shard", "check_file", "run_ci",
           "MissingPathError", "default_jobs", "OK", "BOUNDED", "FAIL", "ERROR", "UNCHECKED",
           "INPUT_ERROR", "MISSING_EXPECT", "INTERNAL_ERROR"]
