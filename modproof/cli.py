"""The `modproof` command line: parse options, call the library, render, pick the exit code.

Exit codes (the same for every subcommand):
  0  proved / all files fine / the witness replays
  1  violated / a witness diverges / a CI file does not match its expectation
  2  bad input or usage (the file has errors; the message says where)
  3  unknown (timeout, budget exhausted, solver gave up)
  4  internal error: a bug in modproof
  130 interrupted (Ctrl-C); 143 terminated (SIGTERM): engine processes stopped first
  141 the output pipe was closed by its reader (as for a program stopped by SIGPIPE)

Engines run in processes of their own (NOTE(child-processes) in
modproof/supervise.py); this process parses, waits, renders and writes, so a
signal always lands in Python here.  A standard stream that is closed when
modproof starts is reserved (/dev/null) so that no file opened later takes its
number; writing the output to a closed standard output is exit 2.
"""
from __future__ import annotations

import errno
import io
import json
import math
import os
import signal
import sys
import time
from typing import Optional

import click

from modproof import __version__, allow_long_integers
from modproof.engines import NAMES as ENGINE_NAMES, engine_help, readers
from modproof.options import (
    DEFAULT_BOUND, DEFAULT_ENGINE, MEMORY_FRACTION, STATE_BYTES, default_max_memory,
)

EXIT_PROVED, EXIT_VIOLATED, EXIT_INPUT, EXIT_UNKNOWN, EXIT_INTERNAL = 0, 1, 2, 3, 4
STDIN = "<stdin>"   # the name of a model read from standard input ("-")
EXIT_PIPE = 141  # the reader of the output went away: 128 + SIGPIPE, as a C program would
_OUTPUT_ERRNOS = (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF)
PROGRESS_AFTER = 1.0   # seconds of proving before the progress line shows


class _Fail(Exception):
    """Leave with this exit code after the message was printed."""

    def __init__(self, code: int):
        self.code = code


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a CI runner cancelling the job): handled as Ctrl-C is, so
    engine processes and CI workers are stopped first, then exit 143 (128 + 15)."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def _err(msg: str) -> None:
    try:
        click.echo(msg, err=True)
    except OSError:
        pass   # standard error cannot be written: the exit code is all that is left


class _Closed(io.RawIOBase):
    """A standard stream that was closed when modproof started: writing to it fails."""

    def __init__(self, name: str):
        super().__init__()
        self.name_ = name

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        raise OSError(errno.EBADF, f"{self.name_} is closed")


def _reserve_standard_streams() -> None:
    """NOTE(closed-streams): a standard stream closed by the caller (`>&-`) leaves its
    file descriptor free, and the next file opened (a witness being written) would
    get it, and with it whatever is written to that stream.  Each closed one is
    pointed at /dev/null; writing the output to a closed standard output still
    fails (exit 2), and reading a closed standard input says it is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
            except OSError:  # pragma: no cover - no /dev/null
                continue
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_Closed("standard output")),
                                      encoding="utf-8", write_through=True)


class Seconds(click.FloatRange):
    """A time limit: a positive number of seconds; `inf` is no limit."""

    name = "seconds"

    def __init__(self):
        super().__init__(min=0, min_open=True)

    def convert(self, value, param, ctx):
        v = super().convert(value, param, ctx)
        if math.isnan(v):
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        return None if math.isinf(v) else v


class Size(click.ParamType):
    """A memory size: bytes, or a number with K, M, G or T (powers of 1024); `inf` is no
    limit (math.inf)."""

    name = "size"
    _UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        text = str(value).strip().upper()
        if text in ("INF", "INFINITY"):
            return math.inf
        text = text.removesuffix("IB").removesuffix("B")
        unit = text[-1:] if text[-1:] in self._UNITS else ""
        try:
            n = float(text[:len(text) - len(unit)])
        except ValueError:
            n = math.nan
        if not n > 0 or math.isinf(n):
            self.fail(f"{value!r} is not a size (bytes, or a number with K, M, G or T; inf: "
                      "no limit).", param, ctx)
        return max(1, int(n * self._UNITS[unit]))


def _memory_option(value) -> Optional[int]:
    """The memory budget an option gave: its default, None for no limit, or bytes."""
    if value is None:
        return default_max_memory()
    return None if value == math.inf else int(value)


def _memory_help(what: str) -> str:
    total = default_max_memory()
    here = "" if total is None else f", {total / 2**30:.1f} GB here"
    return (f"Memory {what} (e.g. 4G; inf: no limit); past it the verdict is unknown "
            f"(default: {MEMORY_FRACTION:.0%} of physical memory{here}).")


def progress_text(snapshot: dict, before: dict) -> str:
    """One line that says what each engine is doing: `snapshot` is what
    modproof.supervise.Children reports, `before` the snapshot shown last (for the
    rate of states)."""
    from modproof.memory import size_text
    parts = []
    for name, info in snapshot.items():
        bits = [f"{info.get('seconds', 0):.0f} s"]
        states = info.get("states")
        if states is not None:
            bits.append(f"{states:,} states")
        if info.get("depth") is not None:
            bits.append(f"depth {info['depth']}")
        old = before.get(name, {})
        if states is not None and old.get("states") is not None:
            dt = info.get("seconds", 0) - old.get("seconds", 0)
            if dt > 0:
                bits.append(f"{max(0, states - old['states']) / dt:,.0f} states/s")
        if info.get("query"):
            bits.append(f"query {info['query']}")
        if info.get("memory") is not None:
            bits.append(size_text(info["memory"]))
        parts.append(f"{name}: " + ", ".join(bits))
    return "proving... " + "; ".join(parts)


class _ProgressLine:
    """NOTE(progress): on a terminal, once a proof has taken PROGRESS_AFTER seconds, one
    line on standard error says what each engine is doing (states, depth, rate,
    memory; for Z3 the depth and the query), drawn by rich and erased when the
    proof ends.  Never with --json or --quiet, nor when standard error is not a
    terminal (`progress_for` decides)."""

    def __init__(self):
        self.start = time.monotonic()
        self.live = None
        self.shown: dict = {}
        self.width = 0

    def __call__(self, snapshot: dict) -> None:
        if time.monotonic() - self.start < PROGRESS_AFTER or not snapshot:
            return
        text = progress_text(snapshot, self.shown)
        self.shown = snapshot
        if self.live is None:
            from rich.console import Console
            from rich.live import Live
            self.live = Live(console=Console(stderr=True), auto_refresh=False, transient=True,
                             redirect_stdout=False, redirect_stderr=False)
            self.live.start()
        from rich.text import Text
        self.live.update(Text(text, no_wrap=True, overflow="ellipsis"), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            try:
                self.live.stop()
            except OSError:
                pass
            self.live = None


def progress_for(as_json: bool, quiet: bool) -> Optional[_ProgressLine]:
    """The progress line for `prove`, or None (NOTE(progress))."""
    if as_json or quiet or sys.stderr is None:
        return None
    try:
        tty = sys.stderr.isatty()
    except (ValueError, OSError):
        tty = False
    return _ProgressLine() if tty else None


def load_program(path: str, deferred_release: bool = False, as_json: bool = False):
    """Parse, check and lower `path` ("-": standard input, named <stdin>); on a
    mistake print the diagnostics and exit 2 (with `as_json`, also a JSON object
    with them on standard output)."""
    from modproof.spec.diagnostics import SpecError, read_source, render_all
    from modproof.spec.lower import lower
    from modproof.grammar.parser import parse_bytes, parse_file
    stdin = path == "-"
    name = STDIN if stdin else path
    data = None
    try:
        if stdin:
            if sys.stdin is None:
                raise OSError(errno.EBADF, "standard input is closed")
            data = sys.stdin.buffer.read()
        spec = parse_bytes(data, STDIN) if stdin else parse_file(path)
        return lower(spec, deferred_release=deferred_release)
    except SpecError as exc:
        if as_json:
            from modproof.exports.jsonfmt import diagnostics_to_json
            click.echo(json.dumps(diagnostics_to_json(name, exc.diagnostics), indent=2))
        source = data.decode("utf-8", errors="replace") if stdin else read_source(path)
        _err(render_all(exc.diagnostics, source))
        n = len(exc.diagnostics)
        _err(f"{n} error{'s' if n != 1 else ''} in {name}")
        raise _Fail(EXIT_INPUT)
    except OSError as exc:
        message = f"cannot read {'standard input' if stdin else path}: {exc.strerror or exc}"
        if isinstance(exc, IsADirectoryError):
            message = (f"{path} is a folder, not a .mproof file "
                       f"('modproof ci {path}' proves every file in it)")
        if as_json:
            click.echo(json.dumps({"file": path, "verdict": "error", "diagnostics": [],
                                   "message": message}, indent=2))
        _err(f"modproof: error: {message}")
        raise _Fail(EXIT_INPUT)


class _Group(click.Group):
    """Turns every unexpected exception into an 'internal error' message, exit 4.

    Subcommands in `_LAZY` are imported only when used (or listed by --help):
    `ci` brings process pools and the exporters with it, which `prove` on one
    file should not pay for at start-up.
    """

    _LAZY = {"ci": ("modproof.ci_cmd", "ci")}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._LAZY))

    def get_command(self, ctx, cmd_name):
        if cmd_name in self._LAZY and cmd_name not in self.commands:
            import importlib
            module, attr = self._LAZY[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx):
        allow_long_integers()
        # From here on a signal raises in this process's Python code, and the handlers
        # below stop engine processes and CI workers first (NOTE(early-signals)).
        previous = _on_signals(signal.default_int_handler, _terminate)
        try:
            return self._invoke_guarded(ctx)
        finally:
            if previous is not None:
                _on_signals(*previous)

    def make_context(self, info_name, args, parent=None, **extra):
        # `--help` and `--version` print while the arguments are parsed, where click
        # would turn a closed pipe into exit 1.
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except OSError as exc:
            code = _output_failure(exc)
            if code is None:
                raise
            raise _Fail(code) from None

    def _invoke_guarded(self, ctx):
        try:
            try:
                return super().invoke(ctx)
            finally:
                # The output is written now, inside the handlers below: a reader that
                # went away or a full disk must not surface as Python's exit-time flush.
                sys.stdout.flush()
        except _Fail as f:
            ctx.exit(f.code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt as exc:
            term = isinstance(exc, Terminated)
            _err("modproof: terminated" if term else "modproof: interrupted")
            ctx.exit(128 + signal.SIGTERM if term else 130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            code = _output_failure(exc)
            if code is not None:
                ctx.exit(code)
            if os.environ.get("MODPROOF_DEBUG"):
                if getattr(exc, "detail", ""):   # an engine's traceback, from its process
                    _err(exc.detail.rstrip())
                raise
            kind = "internal error"
            _err(f"modproof: {kind}: {type(exc).__name__}: {exc}")
            _err("This is a bug in modproof, not in your file. Please report it with the input; "
                 "set MODPROOF_DEBUG=1 for a traceback.")
            ctx.exit(EXIT_INTERNAL)

    def main(self, *args, **kwargs):
        # `--help` and `--version` print before any command runs: their output
        # meets a closed pipe or a full disk here.
        _reserve_standard_streams()
        try:
            try:
                return super().main(*args, **kwargs)
            finally:
                sys.stdout.flush()
        except _Fail as f:
            sys.exit(f.code)
        except OSError as exc:
            code = _output_failure(exc)
            if code is None:
                raise
            sys.exit(code)


def _output_failure(exc: BaseException) -> Optional[int]:
    """The exit code for output that cannot be written, after saying what is
    needed; None for any other exception.  A reader that went away (`modproof ... |
    head`) is left quietly, with the status of a program stopped by SIGPIPE, and
    Python must not try to flush into the closed pipe again at exit; a full disk
    is a usage error."""
    if isinstance(exc, BrokenPipeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    if isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRNOS:
        _err(f"modproof: error: cannot write the output: {exc.strerror or exc}")
        if exc.errno == errno.EBADF:   # nothing more to write there, at exit either
            sys.stdout = open(os.devnull, "w")
        return EXIT_INPUT
    return None


def _on_signals(on_int, on_term):
    """Install SIGINT and SIGTERM handlers, returning the previous ones (None off the
    main thread, where Python allows none)."""
    try:
        return signal.signal(signal.SIGINT, on_int), signal.signal(signal.SIGTERM, on_term)
    except ValueError:
        return None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 proved (or fine), 1 violated (or a witness diverges, or a CI "
                    "file does not match), 2 bad input or usage, 3 unknown, 4 internal error.")
@click.version_option(__version__, prog_name="modproof")
def main() -> None:
    """modproof: prove Linux-kernel module-unload and lifetime designs safe, or show the crash."""


# --------------------------------------------------------------------------- check / show


@main.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path())
def check_cmd(files) -> None:
    """Parse, check and lower FILES; print a one-line summary for each."""
    worst = 0
    for path in files:
        try:
            p = load_program(path)
        except _Fail as f:
            worst = max(worst, f.code)
            continue
        click.echo(f"{p.path}: ok: {summary(p)}")
        from modproof.exports.text import never_run_warnings
        for where, what in never_run_warnings(p):
            click.echo(f"{where}: warning: {what}")
    if worst:
        raise _Fail(worst)


def summary(p) -> str:
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"
    parts = [n(len(p.threads), "thread"), n(p.step_count(), "step")]
    if p.unbounded:   # NOTE(unbounded): one thread of each stands for every number of copies
        parts[0] += " (" + ", ".join(f"{g}[*]" for g in p.unbounded) + ": any number of copies)"
    if p.modules:
        parts.append(n(len(p.modules), "module") + " (" + ", ".join(m.name for m in p.modules) + ")")
    for items, word in ((p.objects, "object"), (p.completions, "completion"), (p.mutexes, "mutex"),
                        (p.vars, "var"), (p.invariants, "invariant"), (p.covers, "cover")):
        if items:
            parts.append(n(len(items), word).replace("mutexs", "mutexes"))
    if p.expect:
        parts.append("expect " + p.expect.text)
    return ", ".join(parts)


@main.command("show")
@click.argument("file", type=click.Path())
def show_cmd(file: str) -> None:
    """Print the lowered program: one line per step, with its owner and source line."""
    from modproof.exports.show import program_text
    click.echo(program_text(load_program(file)))


# --------------------------------------------------------------------------- prove


def _parse_export(ctx, param, values):
    out = []
    for v in values:
        fmt, sep, path = v.partition(":")
        if not sep or not path:
            raise click.BadParameter(f"'{v}' is not FORMAT:PATH", ctx=ctx, param=param)
        out.append((fmt, path))
    return out


@main.command("prove")
@click.argument("file", type=click.Path())
@click.option("--engine", type=click.Choice(list(ENGINE_NAMES)), default=DEFAULT_ENGINE,
              show_default=True, help=engine_help())
@click.option("--no-reduce", is_flag=True,
              help=f"{readers('reduce')} engine: no symmetry, dead-variable or partial-order "
                   "reduction.")
@click.option("--deferred-release", is_flag=True,
              help="Run every release function on a worker thread of its own after the put "
                   "that drops the count to zero (like CONFIG_DEBUG_KOBJECT_RELEASE).")
@click.option("--bound", type=click.IntRange(min=0), default=None,
              help=f"Most steps an execution may take for the {readers('bound')} engine "
                   f"(default {DEFAULT_BOUND}).")
@click.option("--timeout", type=Seconds(), default=None,
              help="Give up after this many seconds of proving (reading the file is not counted): "
                   "the verdict is then unknown (inf: no limit).")
@click.option("--max-states", type=click.IntRange(min=1), default=None,
              help=f"State budget of the {readers('max_states')} engine; past it the verdict is "
                   f"unknown (default: as many states as its share of --max-memory holds, at "
                   f"{STATE_BYTES} bytes a state).")
@click.option("--max-memory", type=Size(), default=None, help=_memory_help("for the proof, all "
              "engines together"))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("-q", "--quiet", is_flag=True,
              help="Show no progress line on the terminal (standard error) while proving.")
@click.option("--check-expect", is_flag=True,
              help="Exit 0 exactly when the verdict matches the file's expect line.")
@click.option("--witness-out", type=click.Path(dir_okay=False), default=None,
              help="Write the witness of a violation as JSON to this file (-: standard output).")
@click.option("--export", "exports", multiple=True, callback=_parse_export, metavar="FORMAT:PATH",
              help="Write the witness in FORMAT (text, json, ...) to PATH (-: standard output); "
                   "repeatable.")
@click.option("--cover", "cover", default=None, metavar="NAME",
              help="Also print the shortest execution that reaches cover NAME, replayed like a "
                   "witness; --witness-out and --export then write that execution.")
def prove_cmd(file, engine, no_reduce, deferred_release, bound, timeout, max_states, max_memory,
              as_json, quiet, check_expect, witness_out, exports, cover) -> None:
    """Prove FILE safe, or print the shortest execution that violates a check."""
    from modproof.exports.jsonfmt import result_to_json, witness_to_json
    from modproof.exports.text import cover_text, result_text
    from modproof.prove import NoCoverTrace, Options, cover_witness, expectation_met, prove
    from modproof.result import Proved, Violated

    for fmt, _ in exports:   # before the proof, which may take long
        if fmt not in _format_names() or fmt == "promela":
            _err(f"modproof: error: unknown witness format '{fmt}' in --export "
                 f"(one of {', '.join(f for f in _format_names() if f != 'promela')})")
            raise _Fail(EXIT_INPUT)
        if cover is not None and fmt == "sarif":
            _err("modproof: error: --export sarif writes a violation as a finding; an execution "
                 "that reaches a cover is not one (text, json, itf, mermaid or html write it)")
            raise _Fail(EXIT_INPUT)
    for path in [witness_out, *(path for _, path in exports)]:
        if path is not None:
            _check_writable(path, inputs=(file,))
    p = load_program(file, deferred_release=deferred_release, as_json=as_json)
    if cover is not None and cover not in [c.name for c in p.covers]:
        names = ", ".join(c.name for c in p.covers)
        _err(f"modproof: error: {p.path} has no cover '{cover}' "
             + (f"(its covers: {names})" if names else "(it declares none)"))
        raise _Fail(EXIT_INPUT)
    opts = Options(engine=engine, bound=DEFAULT_BOUND if bound is None else bound,
                   timeout=timeout, max_states=max_states, reduce=not no_reduce,
                   max_memory=_memory_option(max_memory))
    progress = progress_for(as_json, quiet)
    try:
        r = prove(p, opts, on_progress=progress)
    finally:
        if progress is not None:
            progress.close()
    met = expectation_met(p, r)
    shown, no_trace = None, None   # the cover's execution, or why there is none
    if cover is not None:
        try:
            shown = cover_witness(p, r, cover)
        except NoCoverTrace as exc:
            no_trace = exc.reason
    if as_json:
        out = result_to_json(p, r, met)
        if cover is not None:
            out["cover_witness"] = None if shown is None else witness_to_json(shown)
            if no_trace is not None:
                out["cover_note"] = no_trace
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(result_text(p, r, met))
        if shown is not None:
            click.echo("")
            click.echo(cover_text(shown))
    if no_trace is not None:
        _err(f"modproof: note: {no_trace}")
    written = shown if cover is not None else r.witness if isinstance(r, Violated) else None
    if written is not None:
        if witness_out:
            _write(witness_out, json.dumps(witness_to_json(written), indent=2) + "\n")
        for fmt, path in exports:
            _write(path, _render_witness(fmt, written, p))
    elif (witness_out or exports) and cover is not None:
        _err(f"modproof: note: no execution to cover {cover}, so nothing was written")
    elif witness_out or exports:
        _err("modproof: note: no violation, so no witness was written")
    if check_expect:
        if p.expect is None:
            _err(f"modproof: error: {file} has no expect line, so --check-expect cannot compare")
            raise _Fail(EXIT_INPUT)
        raise _Fail(EXIT_PROVED if met else EXIT_VIOLATED)
    if isinstance(r, Proved):
        raise _Fail(EXIT_PROVED)
    raise _Fail(EXIT_VIOLATED if isinstance(r, Violated) else EXIT_UNKNOWN)


# --------------------------------------------------------------------------- replay


def _load_json_witness(path: str):
    """The parsed JSON of a witness file; on a bad file print why and exit 2."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _err(f"{path}: error: not a readable JSON witness: {exc}")
        raise _Fail(EXIT_INPUT)
    except RecursionError:
        _err(f"{path}: error: not a readable JSON witness: nested too deeply")
        raise _Fail(EXIT_INPUT)


def _witness_model(source: str, data) -> str:
    """The model a witness file names ("file"), found from the current folder or,
    for a relative path, from the witness's folder; on failure say so and exit 2."""
    named = data.get("file") if isinstance(data, dict) else None
    if not isinstance(named, str) or not named:
        why = "names no model file" if named in (None, "") else "has a \"file\" that is not a path"
        _err(f"{source}: error: the witness {why}; pass --model FILE")
        raise _Fail(EXIT_INPUT)
    places = [named] if os.path.isabs(named) else [named, os.path.join(os.path.dirname(source), named)]
    found = next((place for place in places if os.path.exists(place)), None)
    if found is None:
        shown = named if len(named) <= 80 else named[:77] + "..."   # (a path of 100,000 z's)
        _err(f"{source}: error: cannot find the model the witness names, {shown}; "
             "pass --model FILE")
        raise _Fail(EXIT_INPUT)
    return found


def _made_deferred(data) -> bool:
    """The witness was found with --deferred-release (its file is lowered so again)."""
    return isinstance(data, dict) and data.get("deferred_release") is True


@main.command("replay")
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("witness", type=click.Path(dir_okay=False))
def replay_cmd(file: str, witness: str) -> None:
    """Re-execute a JSON WITNESS of FILE on the reference semantics.

    Exit 0 when it reproduces its violation at its last step (or, a witness of a
    cover, reaches the cover), 1 with the first step that diverges, 2 on bad input."""
    from modproof.replayfile import WitnessFileError, replay_file
    from modproof.witness import ReplayError

    data = _load_json_witness(witness)
    p = load_program(file, deferred_release=_made_deferred(data))
    try:
        w = replay_file(p, data)
    except WitnessFileError as exc:
        _err(f"{witness}: error: {exc}")
        raise _Fail(EXIT_INPUT)
    except ReplayError as exc:
        click.echo(f"{witness}: diverges at step {exc.step}: {exc.message}")
        raise _Fail(EXIT_VIOLATED)
    if w.cover is not None:
        click.echo(f"{witness}: replays: {w.length} step{'s' if w.length != 1 else ''} "
                   f"reach cover {w.cover}")
    elif w.loop is not None:
        click.echo(f"{witness}: replays: {w.length} steps reproduce {w.check}: the last "
                   f"returns to the state before step {w.loop + 1}, a fair loop")
    else:
        click.echo(f"{witness}: replays: {w.length} step{'s' if w.length != 1 else ''} "
                   f"reproduce {w.check} at the last step")
    click.echo(f"  {w.message}")


# --------------------------------------------------------------------------- export


def _format_names() -> list[str]:
    from modproof.exports import FORMATS
    return list(FORMATS) + ["promela", "sarif"]


@main.command("export")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", required=True, type=click.Choice(_format_names()),
              help="text, json, itf, mermaid, html, sarif (a witness), or promela (a model).")
@click.option("-o", "--output", default="-", show_default=True, help="Where to write; - is stdout.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="The .mproof file a witness belongs to (default: the file it names).")
def export_cmd(source: str, fmt: str, output: str, model: Optional[str]) -> None:
    """Export a witness (W.json, or FILE.mproof proved on the spot) or a model (promela).

    `modproof export --format promela FILE.mproof` writes an equivalent Promela
    model; `modproof export W.json --format html -o trace.html` renders a witness,
    after replaying it on the reference semantics."""

    _check_writable(output, inputs=(source, model) if model else (source,))
    if source.endswith(".mproof"):
        p = load_program(source)
        if fmt == "promela":
            from modproof.exports.promela import PromelaUnsupported, program_to_promela
            try:
                text = program_to_promela(p)
            except PromelaUnsupported as exc:
                _err(f"modproof: error: {source} cannot be exported to Promela: {exc}")
                raise _Fail(EXIT_INPUT)
        else:
            from modproof.prove import prove
            from modproof.result import Violated
            r = prove(p)
            if not isinstance(r, Violated):
                _err(f"modproof: error: {source} is {r.verdict}: there is no witness to export")
                raise _Fail(EXIT_INPUT)
            text = _render_witness(fmt, r.witness, p)
    else:
        if fmt == "promela":
            _err("modproof: error: --format promela exports a model: give a .mproof file")
            raise _Fail(EXIT_INPUT)
        from modproof.replayfile import WitnessFileError, replay_file
        from modproof.witness import ReplayError
        data = _load_json_witness(source)
        model_path = model or _witness_model(source, data)
        _check_writable(output, inputs=(model_path,))
        p = load_program(model_path, deferred_release=_made_deferred(data))
        try:
            w = replay_file(p, data)
        except WitnessFileError as exc:
            _err(f"{source}: error: {exc}")
            raise _Fail(EXIT_INPUT)
        except ReplayError as exc:
            _err(f"{source}: error: the witness does not replay on {model_path}: step {exc.step}: "
                 f"{exc.message}")
            raise _Fail(EXIT_VIOLATED)
        if w.cover is not None and fmt == "sarif":
            _err(f"modproof: error: {source} is an execution that reaches cover {w.cover}, not a "
                 "violation: SARIF writes findings (text, json, itf, mermaid or html write it)")
            raise _Fail(EXIT_INPUT)
        text = _render_witness(fmt, w, p)
    _write(output, text)


def _check_writable(path: str, inputs: tuple = ()) -> None:
    """Refuse, before any work, an output path that cannot be a file: empty, a
    folder, in a folder that does not exist (the same words as `_write`), or one
    of the `inputs` (the model, a witness): the output would replace it."""
    why = None
    if path == "-":
        return
    if not path:
        why = "an empty path"
    elif any(_same_file(path, i) for i in inputs):
        why = "it is an input file of this command; refusing to write over it"
    elif os.path.isdir(path):
        why = os.strerror(errno.EISDIR)
    elif not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        why = os.strerror(errno.ENOENT)
    if why:
        _err(f"modproof: error: cannot write {path or repr(path)}: {why}")
        raise _Fail(EXIT_INPUT)


def _same_file(a: str, b: str) -> bool:
    if a == "-" or b == "-":
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _write(path: str, text: str) -> None:
    """Write an output file ("-": standard output); a path that cannot be written
    is a usage error (exit 2)."""
    from modproof.writefile import write_atomic
    if path == "-":
        click.echo(text, nl=False)
        return
    try:
        write_atomic(path, text)
    except OSError as exc:
        _err(f"modproof: error: cannot write {path}: {exc.strerror or exc}")
        raise _Fail(EXIT_INPUT)


def _render_witness(fmt: str, witness, program) -> str:
    if fmt == "sarif":
        from modproof.exports.sarif import witness_to_sarif
        return json.dumps(witness_to_sarif(witness, program), indent=2) + "\n"
    from modproof.exports import render_export
    return render_export(fmt, witness, program)


def run() -> None:  # pragma: no cover - console entry for `python -m modproof`
    main(prog_name="modproof")
