"""Work in child processes that can always be stopped: the engines, and the files of `ci`.

NOTE(child-processes): every engine runs in a process of its own, forked from
the process that asked for the proof, and `modproof ci` checks each file in one.
The parent only waits (in Python, where a signal lands at once as
KeyboardInterrupt), reads answers and progress, and on the way out kills every
child it started.  So Z3 never runs where a signal could land in the middle of a
ctypes call, a time limit is kept by killing the child at the deadline whatever
it is doing (building formulas included), a child that dies takes only its own
work with it, and an interrupted run leaves no process behind.  A child:

- dies with its parent, even when the parent is killed with SIGKILL
  (prctl(PR_SET_PDEATHSIG) on Linux; elsewhere a thread that watches getppid());
- ignores SIGINT (a terminal sends Ctrl-C to the whole process group: the
  parent decides what happens) and dies at once of SIGTERM;
- may grow its data by at most its share of memory (RLIMIT_DATA,
  NOTE(memory-budget) in modproof/options.py): past it an allocation fails inside
  the child, as MemoryError or as Z3's "out of memory", and the child says so
  instead of answering;
- sends its progress (`report(states=..., depth=...)`) through the pipe its
  answer comes back by, a few times a second at most.

`Children` starts and waits for children; `run_isolated` runs one engine that way
and turns whatever ended it into a `Result`.
"""
from __future__ import annotations

import gc
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Callable, Optional

from modproof.memory import data_bytes, resident_bytes, size_text
from modproof.options import Options
from modproof.result import Result, Stats, Unknown, UnknownKind

# Ended.how
OK = "ok"            # the work returned; `value` is what it returned
ERROR = "error"      # the work raised; `value` is "Type: message"
MEMORY = "memory"    # the child ran out of its share of memory
DIED = "died"        # the child died without an answer; `value` says how

GRACE = 0.25         # seconds an engine past its deadline may take to give its own answer
REPORT_EVERY = 0.2   # seconds between two progress messages of a child
TICK = 0.25          # seconds between two progress calls of the parent

Work = Callable[[Callable[..., None]], object]   # work(report) -> a picklable value
# on_progress({engine: {"states", "depth", "query", "seconds", "memory", ...}})
OnProgress = Callable[[dict], None]


@dataclass(frozen=True)
class Ended:
    """How a child ended."""

    name: str
    how: str                       # OK, ERROR, MEMORY or DIED
    value: object                  # OK: the work's value; otherwise a message for people
    progress: dict = field(default_factory=dict)   # the last progress it reported
    detail: str = ""               # ERROR: the child's traceback


class EngineFailed(Exception):
    """An engine raised: a bug in modproof (the child's traceback is in `detail`)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


@dataclass
class _Child:
    name: str
    pid: int
    conn: Connection
    memory: Optional[int]
    started: float
    progress: dict = field(default_factory=dict)


class Children:
    """Child processes and their answers (NOTE(child-processes)); a context manager
    that kills every child still running when it is left, however it is left.

    `on_progress`, when given, is called in this process every TICK seconds while
    `next` waits, with what each running child last reported, its seconds and its
    resident memory."""

    def __init__(self, on_progress: Optional[OnProgress] = None):
        self.on_progress = on_progress
        self._children: dict[Connection, _Child] = {}

    def __enter__(self) -> "Children":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def running(self) -> tuple[str, ...]:
        return tuple(c.name for c in self._children.values())

    def start(self, name: str, work: Work, memory: Optional[int] = None) -> None:
        """Fork a child that runs `work(report)` and sends back its value; its data
        may grow by `memory` bytes at most (None: no limit)."""
        parent = os.getpid()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:   # pragma: no cover - the child (measured through its parent)
            code = 0
            try:
                os.close(read_fd)
                _child(Connection(write_fd, readable=False), work, memory, parent)
            except BaseException:   # noqa: BLE001 - a bug here: say so on the way out
                code = 70
                if os.environ.get("MODPROOF_DEBUG"):
                    traceback.print_exc()
            finally:
                os._exit(code)
        os.close(write_fd)
        conn = Connection(read_fd, writable=False)
        self._children[conn] = _Child(name, pid, conn, memory, time.monotonic())

    def next(self, until: Optional[float] = None) -> Optional[Ended]:
        """Wait for the next child to end and say how; None when no child is running
        or when `until` (a time.monotonic() value) passes first."""
        last_tick = time.monotonic()
        while self._children:
            now = time.monotonic()
            if until is not None and now >= until:
                return None
            timeout = None if until is None else until - now
            if self.on_progress is not None:
                timeout = TICK if timeout is None else min(timeout, TICK)
            # An hour at most per wait: select() refuses a timeout of some days.
            ready = wait(list(self._children), timeout=3600.0 if timeout is None else timeout)
            for conn in ready:
                ended = self._read(conn)
                if ended is not None:
                    return ended
            if self.on_progress is not None and time.monotonic() - last_tick >= TICK * 0.9:
                last_tick = time.monotonic()
                self.on_progress(self.snapshot())
        return None

    def ended_now(self) -> list[Ended]:
        """The children that have ended already, without waiting."""
        out = []
        for conn in wait(list(self._children), timeout=0):
            ended = self._read(conn)
            if ended is not None:
                out.append(ended)
        return out

    def snapshot(self) -> dict:
        """What each running child last reported, with its seconds and memory."""
        now = time.monotonic()
        out = {}
        for c in self._children.values():
            info = dict(c.progress)
            info["seconds"] = now - c.started
            rss = resident_bytes(c.pid)
            if rss is not None:
                info["memory"] = rss
            out[c.name] = info
        return out

    def _read(self, conn: Connection) -> Optional[Ended]:
        """Take the messages waiting on `conn`: progress is kept, an answer or the end
        of the pipe ends the child."""
        child = self._children[conn]
        try:
            while conn.poll():
                kind, payload = conn.recv()
                if kind == "progress":
                    child.progress.update(payload)
                    continue
                self._reap(conn)
                if kind == ERROR:
                    message, detail = payload
                    return Ended(child.name, ERROR, message, child.progress, detail)
                if kind == MEMORY:
                    return Ended(child.name, MEMORY, _memory_reason(child.memory), child.progress)
                return Ended(child.name, OK, payload, child.progress)
            return None   # only progress so far
        except (EOFError, OSError):
            pass
        status = self._reap(conn)
        return Ended(child.name, DIED, _death(status, child.memory), child.progress)

    def _reap(self, conn: Connection) -> int:
        child = self._children.pop(conn)
        conn.close()
        try:
            return os.waitpid(child.pid, 0)[1]
        except ChildProcessError:   # pragma: no cover - reaped by someone else
            return 0

    def close(self) -> None:
        """Kill every child still running and wait for it (SIGKILL: a child inside a Z3
        call runs no handler).  Signals wait until this is done."""
        if not self._children:
            return
        blocked = _block_signals()
        try:
            for c in self._children.values():
                try:
                    os.kill(c.pid, signal.SIGKILL)
                except ProcessLookupError:   # pragma: no cover - ended meanwhile
                    pass
            for conn in list(self._children):
                self._reap(conn)
        finally:
            _unblock_signals(blocked)


def run_isolated(name: str, runner: Callable[..., Result], program, opts: Options,
                 on_progress: Optional[OnProgress] = None) -> Result:
    """`runner(program, opts)` (an engine) in a child process of its own, with all of
    `opts.max_memory`, killed GRACE seconds after `opts.timeout` if it has not
    answered by then.  Raises EngineFailed when the engine raises."""
    start = time.monotonic()
    hard = None if opts.timeout is None else start + opts.timeout + GRACE
    engine_opts = replace(opts, engine=name)
    with Children(on_progress) as kids:
        kids.start(name, lambda report: runner(program, replace(engine_opts, report=report)),
                   memory=opts.max_memory)
        ended = kids.next(until=hard)
        last = kids.snapshot().get(name, {})
    if ended is None:   # stopped at the deadline: what it had refuted still holds
        return Unknown(f"timeout after {opts.timeout:g} s", stats=_stats(name, last, start),
                       bound=last.get("refuted"), kind=UnknownKind.TIMEOUT)
    return result_of(ended, start)


def result_of(ended: Ended, start: float) -> Result:
    """The result of an engine's child: its answer, or an Unknown that says why it has
    none (memory, death); EngineFailed when the engine raised."""
    if ended.how == OK:
        return ended.value
    if ended.how == ERROR:
        raise EngineFailed(f"the {ended.name} engine failed: {ended.value}", ended.detail)
    kind = UnknownKind.MEMORY if ended.how == MEMORY else UnknownKind.ENGINE_FAILED
    return Unknown(ended.value, stats=_stats(ended.name, ended.progress, start), kind=kind)


def _stats(name: str, progress: dict, start: float) -> Stats:
    return Stats(engine=name, method=f"{name} engine, stopped by modproof",
                 seconds=time.monotonic() - start, states=progress.get("states"),
                 depth=progress.get("depth"))


def _memory_reason(memory: Optional[int]) -> str:
    if memory is None:
        return "out of memory"
    return f"memory budget of {size_text(memory)} exhausted (raise --max-memory)"


def _death(status: int, memory: Optional[int]) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            what = signal.Signals(sig).name
        except ValueError:   # pragma: no cover
            what = f"signal {sig}"
        why = (" (by the out-of-memory killer, or by another process)"
               if sig == signal.SIGKILL else "")
        if memory is not None and sig != signal.SIGKILL:   # a crash where an allocation failed?
            why = f" (its memory budget of {size_text(memory)} may be too small)"
        return f"the process died: killed by {what}{why}"
    return f"the process died without an answer (exit status {os.waitstatus_to_exitcode(status)})"


# --------------------------------------------------------------------------- in the child


def _child(conn: Connection, work: Work, memory: Optional[int],
           parent: int) -> None:  # pragma: no cover - runs in a child
    from modproof import allow_long_integers
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    allow_long_integers()
    base = data_bytes()
    if memory is not None:
        _limit_data(memory)
    message = _outcome(work, _Reporter(conn), _NearLimit(base, memory))
    try:
        conn.send(message)
    except MemoryError:
        message = None
    if message is None:   # the answer itself did not fit
        gc.collect()
        conn.send((MEMORY, ""))


class _NearLimit:
    """Whether the child's data has grown to near its limit: an exception raised there
    (Z3 failing in ways of its own when an allocation fails: "model is not
    available") is taken as running out of memory, not as a bug."""

    def __init__(self, base: Optional[int], memory: Optional[int]):
        self.base, self.memory = base, memory

    def __call__(self) -> bool:
        now = data_bytes()
        return (self.memory is not None and self.base is not None and now is not None
                and now - self.base >= 0.85 * self.memory)


def _outcome(work: Work, report, near_limit) -> tuple:  # pragma: no cover - runs in a child
    try:
        return (OK, work(report))
    except MemoryError:
        pass
    except BaseException as exc:   # noqa: BLE001 - reported to the parent, which decides
        if not (_out_of_memory(exc) or near_limit()):
            return (ERROR, (f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    # Out of memory: the frames that held it are gone now; free them before answering.
    gc.collect()
    return (MEMORY, "")


def _out_of_memory(exc: BaseException) -> bool:
    """Z3 reports a failed allocation as Z3Exception("out of memory")."""
    return type(exc).__name__ == "Z3Exception" and "out of memory" in str(exc)


class _Reporter:
    """report(**fields): progress for the parent, sent at most every REPORT_EVERY seconds
    (the latest values win)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.pending: dict = {}
        self.sent = 0.0

    def __call__(self, **fields) -> None:
        self.pending.update(fields)
        now = time.monotonic()
        if now - self.sent < REPORT_EVERY:
            return
        self.sent = now
        try:
            self.conn.send(("progress", self.pending))
        except (OSError, ValueError):   # pragma: no cover - the parent is gone
            pass
        self.pending = {}


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:  # pragma: no cover - runs in a child
    """Die when `parent` does: the kernel's parent-death signal, else a watching thread."""
    armed = False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:   # it died before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()


def _limit_data(memory: int) -> None:  # pragma: no cover - runs in a child
    import resource
    base = data_bytes() or 0
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    want = base + memory
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    except (ValueError, OSError):
        pass


def _block_signals() -> Optional[set]:
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, OSError):  # pragma: no cover - not POSIX
        return None


def _unblock_signals(previous: Optional[set]) -> None:
    if previous is None:
        return
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    except (AttributeError, OSError):  # pragma: no cover
        pass


__all__ = ["Children", "Ended", "EngineFailed", "run_isolated", "result_of", "OK", "ERROR",
           "MEMORY", "DIED", "GRACE"]
