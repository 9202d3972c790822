"""Ctrl-C and SIGTERM at many points of a run (issue 16): every engine and `ci -j 2` stop
with exit 130 or 143 within a second, with no internal error, no process left behind
and no partial output file (NOTE(child-processes) in modproof/supervise.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.dom.minidom

import pytest

from conftest import PROOFS, ROOT

MODPROOF = [sys.executable, "-m", "modproof"]
LIMIT = 1.0   # seconds from the signal to the exit

# A Z3 run in each of its phases: building the formulas of 3000 threads; solving
# (bounded model checking deep into a symmetric model); k-induction on it.
BIG = "var x = 0\nthread t[3000] { x = x + 1 }\n"
DEEP = (ROOT / "bench" / "models" / "dm_safe_k32.mproof").read_text()


def descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(c) for c in f.read().split()]
        except OSError:
            kids = []
        out.update(kids)
        todo += kids
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


STARTUP = 20.0   # seconds modproof may take to start its first process


def interrupt(args, sig, delay, cwd):
    """Run modproof, send `sig` `delay` seconds after it started its first process,
    and return (exit code, seconds from the signal to the exit, its output
    (standard error, then standard output), every process it started)."""
    proc = subprocess.Popen([*MODPROOF, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd)
    seen: set[int] = set()
    # The delay counts from the first process modproof starts (an engine, or a file
    # of `ci`): on a loaded machine start-up alone can take longer than the delay.
    started = time.monotonic() + STARTUP
    while not seen and time.monotonic() < started and proc.poll() is None:
        seen |= descendants(proc.pid)
        time.sleep(0.01)
    end = time.monotonic() + delay
    while time.monotonic() < end and proc.poll() is None:
        seen |= descendants(proc.pid)
        time.sleep(0.01)
    if proc.poll() is not None:
        out, err = proc.communicate()
        return None, 0.0, err, seen
    seen |= descendants(proc.pid)
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("modproof did not stop within 30 s")
    took = time.monotonic() - sent
    return proc.returncode, took, proc.stderr.read() + proc.stdout.read(), seen


def assert_stopped(code, took, err, seen, sig, folder):
    assert code == 128 + sig, (code, err)
    assert took <= LIMIT, f"{took:.2f} s from the signal to the exit"
    assert "internal error" not in err and "Traceback" not in err, err
    # (`ci` says it in its summary: the table of the files done, then how many were not run)
    assert any(w in err for w in (("modproof: interrupted", "\ninterrupted: ")
                                  if sig == signal.SIGINT else ("modproof: terminated",))), err
    deadline = time.monotonic() + 1.0
    while any(alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [p for p in seen if alive(p)], "processes left behind"
    for f in os.listdir(folder):
        assert not f.endswith(".tmp"), f"a temporary file was left: {f}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("phase,delay", [("encoding", 0.5), ("encoding", 1.5),
                                         ("solving", 0.6), ("solving", 1.2),
                                         ("k-induction", 2.0), ("k-induction", 3.5)])
def test_a_z3_run_stops_on_a_signal(tmp_path, sig, phase, delay):
    model = tmp_path / "m.mproof"
    model.write_text(BIG if phase == "encoding" else DEEP)
    out = tmp_path / "out"
    out.mkdir()
    args = ["prove", "--engine", "bmc", "--witness-out", str(out / "w.json"),
            "--export", f"html:{out / 'w.html'}", str(model)]
    code, took, err, seen = interrupt(args, sig, delay, tmp_path)
    if code is None:
        pytest.skip(f"the proof ended within {delay} s on this machine")
    assert seen, "no engine process was running"
    assert_stopped(code, took, err, seen, sig, out)
    assert not os.listdir(out)   # no violation: nothing to write, nothing half-written


@pytest.mark.parametrize("engine", ["auto", "explicit"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_other_engines_stop_on_a_signal(tmp_path, engine, sig):
    model = tmp_path / "m.mproof"
    model.write_text(BIG)
    code, took, err, seen = interrupt(["prove", "--engine", engine, str(model)], sig, 1.0, tmp_path)
    assert_stopped(code, took, err, seen, sig, tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.4, 1.0, 2.5])
def test_a_ci_run_stops_on_a_signal(tmp_path, sig, delay):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in ("dm_builtin.mproof", "dm_in_module.mproof"):
        (corpus / f).write_text((PROOFS / f).read_text())
    (corpus / "slow1.mproof").write_text(BIG + "expect proved\n")
    (corpus / "slow2.mproof").write_text(DEEP)
    reports = tmp_path / "reports"
    args = ["ci", "-j", "2", "--junit", str(reports / "j.xml"), "--sarif",
            str(reports / "s.sarif"), str(corpus)]
    code, took, err, seen = interrupt(args, sig, delay, tmp_path)
    assert seen, "no worker was running"
    assert_stopped(code, took, err, seen, sig, tmp_path)
    if reports.exists():   # Ctrl-C reports the files done; each report whole
        for f in os.listdir(reports):
            assert not f.endswith(".tmp"), f
        if (reports / "j.xml").exists():
            xml.dom.minidom.parse(str(reports / "j.xml"))
        if (reports / "s.sarif").exists():
            json.loads((reports / "s.sarif").read_text())
