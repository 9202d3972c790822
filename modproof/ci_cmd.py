"""`modproof ci`: check every `.mproof` file of a corpus against its `expect` line.

The command parses options, calls `modproof.ci.run_ci`, renders the table and
the reports, and picks the exit code (the codes of `modproof.cli`):
  0    every file matches its expectation
  1    some file does not match (a proof only up to a bound where the file asks for
       more is "bounded", its own status), or could not be checked (its row says why)
  2    usage error (bad option, a path that does not exist, no .mproof file found)
  4    modproof failed on some file (a bug in modproof)
  130  interrupted (Ctrl-C): the table so far, then how many files did not run
  143  terminated (SIGTERM): the workers are stopped, no table
"""
from __future__ import annotations

import os
import shutil
import sys
from typing import Optional

import click

from modproof.ci import (
    BOUNDED, ERROR, FAIL, INTERNAL_ERROR, OK, UNCHECKED, CiOptions, CiRun, FileResult,
    MissingPathError, default_jobs, find_files, run_ci, shard,
)
from modproof.cli import Seconds, Size, _memory_help, _memory_option
from modproof.engines import NAMES as ENGINE_NAMES, readers
from modproof.options import DEFAULT_BOUND, DEFAULT_ENGINE

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 4, 130

_MARK = {OK: "ok", BOUNDED: "BOUNDED", FAIL: "FAIL", ERROR: "ERROR", UNCHECKED: "--"}


# --------------------------------------------------------------------------- rendering


def table(run: CiRun) -> str:
    """One row per file that ran: status, file, expected, got, scope, witness length, time."""
    head = ("", "file", "expected", "got", "scope", "steps", "time")
    rows = [head]
    for r in run.done:
        expected = r.expected or ("(none)" if r.program is not None else "?")
        rows.append((_MARK[r.status], r.path, expected, r.got, r.scope or "-",
                     "-" if r.steps is None else str(r.steps), f"{r.seconds:.3f}s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    right = {5, 6}
    lines = []
    for row in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                 for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def details(run: CiRun) -> str:
    """For each file that did not pass: why, then the result with its witness, or the
    diagnostics."""
    out = []
    for r in run.done:
        if r.passed:
            continue
        if r.diagnostics:   # the detail shows them all, the first one included
            out.append(f"{_MARK[r.status]} {r.path}:")
        else:
            out.append(f"{_MARK[r.status]} {r.path}: {r.reason}")
        out += ["  " + line if line else "" for line in r.detail.splitlines()]
        out.append("")
    return "\n".join(out).rstrip("\n")


def summary(run: CiRun) -> str:
    n = len(run.done)
    parts = [f"{run.count(OK)} ok"]
    if run.count(BOUNDED):
        parts.append(f"{run.count(BOUNDED)} bounded (not proved for all executions)")
    parts += [f"{run.count(FAIL)} failed",
             f"{run.count(ERROR)} error{'s' if run.count(ERROR) != 1 else ''}"]
    if run.count(UNCHECKED):
        parts.append(f"{run.count(UNCHECKED)} without expect line")
    text = f"modproof ci: {n} file{'s' if n != 1 else ''}: {', '.join(parts)} ({run.seconds:.1f}s)"
    if run.interrupted:
        text += f"\ninterrupted: {len(run.not_run)} of {len(run.files)} files not run"
    return text


class _Progress:
    """On a terminal, one line rewritten in place; otherwise one plain line per file done."""

    def __init__(self, tty: bool):
        self.tty = tty
        self.shown = False

    def __call__(self, done: int, total: int, running: tuple[str, ...],
                 finished: Optional[FileResult]) -> None:
        w = len(str(total))
        if not self.tty:
            if finished is not None:
                click.echo(f"[{done:>{w}}/{total}] {_MARK[finished.status]:<5} {finished.path} "
                           f"({finished.seconds:.2f}s)")
            return
        if running:
            more = f" (+{len(running) - 1} more)" if len(running) > 1 else ""
            text = f"[{done:>{w}}/{total}] running {running[0]}{more}"
        else:
            text = f"[{done:>{w}}/{total}] done"
        width = shutil.get_terminal_size((80, 24)).columns - 1
        if len(text) > width:
            text = text[:max(width - 3, 0)] + "..."
        click.echo("\r\x1b[K" + text, nl=False, color=True)
        self.shown = True

    def clear(self) -> None:
        if self.tty and self.shown:
            click.echo("\r\x1b[K", nl=False, color=True)
            self.shown = False


def _parse_shard(ctx, param, value) -> Optional[tuple[int, int]]:
    """--shard I/N: the I-th of N shards (1 <= I <= N)."""
    if value is None:
        return None
    i, sep, n = value.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise click.BadParameter(f"'{value}' is not I/N with 1 <= I <= N (e.g. 2/4)",
                                 ctx=ctx, param=param)
    return int(i), int(n)


def _write_reports(run: CiRun, junit: Optional[str], sarif: Optional[str], opts: CiOptions,
                   shard_of: Optional[tuple[int, int]] = None) -> None:
    import json

    from modproof.writefile import write_atomic
    if junit:
        from modproof.exports.junit import ci_to_junit
        props = [("engine", opts.engine), ("bound", str(opts.bound))]
        if opts.timeout is not None:
            props.append(("timeout", str(opts.timeout)))
        if shard_of is not None:
            props.append(("shard", f"{shard_of[0]}/{shard_of[1]}"))
        _write(junit, "JUnit", lambda: write_atomic(junit, ci_to_junit(run, properties=props),
                                                        make_folders=True))
    if sarif:
        from modproof.exports.sarif import ci_to_sarif
        _write(sarif, "SARIF",
               lambda: write_atomic(sarif, json.dumps(ci_to_sarif(run), indent=2) + "\n",
                                    make_folders=True))


def _write(path: str, what: str, write) -> None:
    try:
        write()
    except OSError as exc:
        click.echo(f"modproof: error: cannot write the {what} report {path}: "
                   f"{exc.strerror or exc}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE)


# --------------------------------------------------------------------------- the command


@click.command("ci")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--engine", type=click.Choice(list(ENGINE_NAMES)), default=DEFAULT_ENGINE,
              show_default=True, help="The engine for every file (see `modproof prove --help`).")
@click.option("--bound", type=click.IntRange(min=0), default=None,
              help=f"Most steps an execution may take for the {readers('bound')} engine "
                   f"(default {DEFAULT_BOUND}).")
@click.option("--timeout", type=Seconds(), default=None,
              help="Seconds per file; past it the file's verdict is unknown, which fails it "
                   "(inf: no limit).")
@click.option("--max-states", type=click.IntRange(min=1), default=None,
              help=f"State budget of the {readers('max_states')} engine per file (default: as "
                   "many states as its share of --max-memory holds).")
@click.option("--max-memory", type=Size(), default=None,
              help=_memory_help("for the files checked at once, shared equally among the -j jobs"))
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Files checked in parallel, each in its own process (default: one per core).")
@click.option("--deferred-release", is_flag=True,
              help="Run every release function on a worker thread of its own after the put "
                   "that drops the count to zero (like CONFIG_DEBUG_KOBJECT_RELEASE).")
@click.option("--allow-missing-expect", is_flag=True,
              help="A file without an expect line is shown but not compared, instead of "
                   "being an error.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None,
              help="Write a JUnit XML report to this file (one testcase per file).")
@click.option("--sarif", type=click.Path(dir_okay=False), default=None,
              help="Write a SARIF 2.1.0 report to this file (violations with their "
                   "interleavings as code flows, and every failing file).")
@click.option("--shard", "shard_of", default=None, metavar="I/N", callback=_parse_shard,
              help="Check only shard I of N (1 <= I <= N): every N-th file of the sorted list, "
                   "from the I-th, so N CI jobs with shards 1/N ... N/N check every file once.")
def ci(paths, engine, bound, timeout, max_states, max_memory, jobs, deferred_release,
       allow_missing_expect, junit, sarif, shard_of) -> None:
    """Prove every .mproof file under PATHS (default: proofs/) and compare each verdict
    with the file's expect line.

    Exit 0 when every file matches, 1 when one does not or cannot be checked, 2 on
    usage errors, 4 when modproof itself failed, 130 when interrupted."""
    paths = paths or ("proofs",)
    if junit and sarif and os.path.abspath(junit) == os.path.abspath(sarif):
        raise click.UsageError(f"--junit and --sarif both name {junit}: one report would "
                               "overwrite the other")
    try:
        files = find_files(paths)
    except MissingPathError as exc:
        raise click.BadParameter(str(exc), param_hint="PATHS")
    if not files:
        raise click.UsageError(f"no .mproof files in {', '.join(paths)}")
    if shard_of is not None:
        total = len(files)
        files = shard(files, *shard_of)
        if not files:   # more shards than files: this job has nothing to do, which is fine
            click.echo(f"modproof ci: shard {shard_of[0]}/{shard_of[1]} is empty ({total} "
                       f"file{'s' if total != 1 else ''} in {shard_of[1]} shards): nothing to check")
            raise click.exceptions.Exit(EXIT_OK)
    opts = CiOptions(engine=engine, bound=DEFAULT_BOUND if bound is None else bound,
                     timeout=timeout, max_states=max_states,
                     max_memory=_memory_option(max_memory),
                     allow_missing_expect=allow_missing_expect,
                     deferred_release=deferred_release)
    progress = _Progress(tty=sys.stdout.isatty())
    run = run_ci(files, opts, jobs=jobs or default_jobs(), progress=progress)
    progress.clear()
    if not progress.tty:
        click.echo("")
    click.echo(table(run))
    more = details(run)
    if more:
        click.echo("")
        click.echo(more)
    click.echo("")
    click.echo(summary(run))
    _write_reports(run, junit, sarif, opts, shard_of)
    if run.interrupted:
        code = EXIT_INTERRUPTED
    elif any(r.error == INTERNAL_ERROR for r in run.done):
        code = EXIT_INTERNAL
    else:
        code = EXIT_OK if run.passed else EXIT_MISMATCH
    raise click.exceptions.Exit(code)
