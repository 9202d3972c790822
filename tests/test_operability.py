"""The command at the edges of its process (issue 18): closed streams, early signals,
a killed parent or worker, inputs that must not be overwritten, hostile witness files.

Each test reproduces one item of the audit and holds the README's exit-code table to it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from conftest import PROOFS
from modproof.cli import main

DM_BAD = str(PROOFS / "dm_in_module.mproof")
DM_OK = str(PROOFS / "dm_builtin.mproof")
MODPROOF = [sys.executable, "-m", "modproof"]
BIG = "var x = 0\nthread t[10000] { x = x + 1 }\n"   # slow for every engine


def run(*args, **kw):
    return subprocess.run([*MODPROOF, *args], capture_output=True, text=True, timeout=120, **kw)


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for_children(proc, timeout=60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children(proc.pid)
        if kids:
            return kids
        time.sleep(0.05)
    raise AssertionError("no engine process started")


# --------------------------------------------------------------------------- streams


@pytest.mark.parametrize("args", [["prove", DM_OK], ["check", DM_OK], ["show", DM_OK],
                                  ["--help"], ["--version"]])
def test_a_closed_standard_output_is_an_output_error(args):
    # Item 1: `modproof prove proved.mproof >&-` said "internal error" and exited 1.
    r = _closed(args, fd=1)
    assert r.returncode == 2, r.stderr
    assert "cannot write the output: standard output is closed" in r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr


def _closed(args, fd):
    """Run modproof with file descriptor `fd` closed, as the shell's `>&-` or `<&-` does."""
    proc = subprocess.Popen([*MODPROOF, *args], stdin=subprocess.DEVNULL if fd != 0 else None,
                            stdout=subprocess.PIPE if fd != 1 else None, stderr=subprocess.PIPE,
                            preexec_fn=lambda: os.close(fd), text=True)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_closed_standard_output_does_not_capture_an_output_file(tmp_path):
    # With descriptor 1 free, the witness file opened later would take it; the output
    # meant for standard output must not end up in the witness.
    w = tmp_path / "w.json"
    r = _closed(["prove", "--witness-out", str(w), DM_BAD], fd=1)
    assert r.returncode == 2, r.stderr
    if w.exists():
        json.loads(w.read_text())   # whole, and only the witness


def test_a_closed_standard_input_is_bad_input():
    # Item 7: `modproof check - <&-` exited 4.
    r = _closed(["check", "-"], fd=0)
    assert r.returncode == 2, r.stderr
    assert "cannot read standard input: standard input is closed" in r.stderr
    assert "internal error" not in r.stderr


def test_a_closed_standard_error_keeps_the_exit_code():
    r = _closed(["prove", DM_BAD], fd=2)
    assert r.returncode == 1 and "violated code-after-unload" in r.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["prove", "--help"]])
def test_help_into_a_closed_pipe_is_141(args):
    # Item 8: `modproof --help | head -0` exited 1 (click's own handling of EPIPE).
    r_fd, w_fd = os.pipe()
    os.close(r_fd)   # the reader is gone before modproof writes
    proc = subprocess.Popen([*MODPROOF, *args], stdout=w_fd, stderr=subprocess.PIPE, text=True)
    os.close(w_fd)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "internal error" not in err


# --------------------------------------------------------------------------- signals


def catches_sigterm(pid: int) -> bool:
    """modproof.entry has run its first line: the process catches SIGTERM (Python
    itself does not)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(mask & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_early_signal_prints_no_traceback(delay, sig):
    # Item 10: a SIGINT in the first ~0.1 s (while Python imports the command line)
    # printed a KeyboardInterrupt traceback.  The delays count from modproof's first
    # line (NOTE(early-signals)): before it, the interpreter is still starting (its
    # site imports, an editable install's finder), which no program can change.
    proc = subprocess.Popen([*MODPROOF, "check", DM_OK], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not catches_sigterm(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "internal error" not in err, err
    # Done before the signal (0), or stopped by it (128 + N; or, before the handler of
    # modproof.entry is set, by the signal itself, which a shell reports as 128 + N).
    assert proc.returncode in (128 + sig, -sig, 0), (proc.returncode, err)


def test_engine_processes_die_with_a_killed_parent(tmp_path):
    # Item 9: `kill -9` of `modproof prove` left its engine processes running.
    model = tmp_path / "big.mproof"
    model.write_text(BIG)
    for engine in ("auto", "bmc", "explicit"):
        proc = subprocess.Popen([*MODPROOF, "prove", "--engine", engine, str(model)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        kids = wait_for_children(proc)
        proc.kill()
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 5
        while any(alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [k for k in kids if alive(k)], engine


# --------------------------------------------------------------------------- ci


def test_a_killed_ci_worker_loses_only_its_file(tmp_path, monkeypatch):
    # Item 3: one worker killed (as the out-of-memory killer would) was "internal
    # error: BrokenProcessPool", exit 4, and no table, JUnit or SARIF at all.
    import modproof.ci
    from modproof.ci import ERROR, INTERNAL_ERROR, OK, CiOptions, run_ci
    real = modproof.ci.check_file

    def check_file(path, options):
        if "victim" in path:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, options)
    monkeypatch.setattr(modproof.ci, "check_file", check_file)
    files = []
    for name in ("a", "victim", "b", "c"):
        f = tmp_path / f"{name}.mproof"
        f.write_text((PROOFS / "dm_builtin.mproof").read_text())
        files.append(str(f))
    ci = run_ci(files, CiOptions(engine="explicit"), jobs=2)
    by = {os.path.basename(r.path): r for r in ci.results}
    assert [by[n].status for n in ("a.mproof", "b.mproof", "c.mproof")] == [OK, OK, OK]
    lost = by["victim.mproof"]
    assert lost.status == ERROR and lost.error == INTERNAL_ERROR
    assert "killed by SIGKILL" in lost.reason


def test_a_killed_ci_worker_still_gives_the_table_and_reports(tmp_path):
    reports = tmp_path / "reports"
    files = []
    for name in ("a", "b"):
        f = tmp_path / f"{name}.mproof"
        f.write_text((PROOFS / "dm_builtin.mproof").read_text())
        files.append(str(f))
    slow = tmp_path / "slow.mproof"
    slow.write_text(BIG + "expect proved\n")
    proc = subprocess.Popen([*MODPROOF, "ci", "-j", "2", "--junit", str(reports / "j.xml"),
                             "--sarif", str(reports / "s.sarif"), str(slow), *files],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = wait_for_children(proc)[0]   # the first file (slow) is handed out first
    time.sleep(0.3)
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, out + err
    assert "slow.mproof" in out and "killed by SIGKILL" in out
    assert out.count(" ok ") + out.count("ok  ") >= 2 or "2 ok" in out
    assert (reports / "j.xml").exists() and (reports / "s.sarif").exists()


# --------------------------------------------------------------------------- files


def test_an_output_file_never_replaces_the_input(tmp_path):
    # Item 12: `prove M.mproof --witness-out M.mproof` replaced the model with the witness.
    model = tmp_path / "m.mproof"
    text = (PROOFS / "dm_in_module.mproof").read_text()
    model.write_text(text)
    for args in (["--witness-out", str(model)], ["--export", f"json:{model}"]):
        r = invoke("prove", *args, str(model))
        assert r.exit_code == 2 and "refusing to write over it" in r.output, r.output
        assert model.read_text() == text
    w = tmp_path / "w.json"
    assert invoke("prove", "--witness-out", str(w), str(model)).exit_code == 1
    witness = w.read_text()
    for args in ([str(w), "--format", "json", "-o", str(w)],
                 [str(w), "--format", "text", "-o", str(model)],
                 [str(model), "--format", "text", "-o", str(model)]):
        r = invoke("export", *args)
        assert r.exit_code == 2 and "refusing to write over it" in r.output, (args, r.output)
    assert model.read_text() == text and w.read_text() == witness


def _witness(tmp_path):
    w = tmp_path / "w.json"
    assert invoke("prove", "--engine", "explicit", "--witness-out", str(w), DM_BAD).exit_code == 1
    return w, json.loads(w.read_text())


@pytest.mark.parametrize("key", ["reader.found", "refs(md_kobj)"])
@pytest.mark.parametrize("fake", ["other-type", "float"])
def test_replay_compares_state_values_with_their_types(tmp_path, key, fake):
    # Item 11: replay accepted `true` for an integer and `1` or `1.0` for a boolean.
    w, data = _witness(tmp_path)
    step = next(s for s in data["steps"] if isinstance(s.get("state"), dict) and key in s["state"])
    v = step["state"][key]
    if fake == "float":
        step["state"][key] = float(v)
    else:
        step["state"][key] = int(v) if isinstance(v, bool) else bool(v)
    w.write_text(json.dumps(data))
    r = invoke("replay", DM_BAD, str(w))
    assert r.exit_code == 1 and "diverges" in r.output, r.output


def test_a_long_value_in_a_witness_is_quoted_short(tmp_path):
    # Item 14: a 100,001-digit "version" was echoed whole in the error message.
    w, data = _witness(tmp_path)
    data["version"] = int("9" * 100_001)
    w.write_text(json.dumps(data))
    r = invoke("replay", DM_BAD, str(w))
    assert r.exit_code == 2 and "is not supported" in r.output
    assert len(r.output) < 300, len(r.output)


# --------------------------------------------------------------------------- time


def test_the_time_limit_holds_while_z3_builds_its_formulas(tmp_path):
    # Item 6: `--timeout 5` with a 100,001-digit integer returned after 13 s with
    # --engine bmc: the encoding was not under the clock.
    n = "9" * 100_001
    model = tmp_path / "bigint.mproof"
    model.write_text(f"var x = {n}\nvar y = 0\n"
                     f"thread t {{ x = x + {n}; x = x + x; y = y + 1; assert x < {n} }}\n"
                     "thread u { x = x - 1; x = x + 3; y = y + x }\n"
                     f"invariant i: x > {n}\n")
    start = time.monotonic()
    r = run("prove", "--engine", "bmc", "--timeout", "2", str(model))
    took = time.monotonic() - start
    assert r.returncode == 3 and "timeout after 2 s" in r.stdout, r.stdout + r.stderr
    assert took < 2 + 3, took   # the limit, the grace, the start-up and the parse


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize("engine,model", [("explicit", "big"), ("bmc", "deep"), ("auto", "big")])
def test_past_the_memory_budget_the_answer_is_unknown_memory(tmp_path, engine, model):
    # Issue 16: memory was not bounded (16 GB of 24 for reader[1000]).  Past its
    # budget an engine answers unknown, kind memory, and says how to raise it.
    from conftest import ROOT
    f = tmp_path / "m.mproof"
    f.write_text("var x = 0\nthread t[3000] { x = x + 1 }\n" if model == "big"
                 else (ROOT / "bench" / "models" / "dm_safe_k32.mproof").read_text())
    r = run("prove", "--json", "--engine", engine, "--max-memory", "64M", "--timeout", "60",
            str(f))
    out = json.loads(r.stdout)
    assert r.returncode == 3, r.stdout + r.stderr
    assert out["verdict"] == "unknown" and out["kind"] == "memory", out
    assert "memory budget of 64 MB exhausted (raise --max-memory)" in out["reason"]


def test_the_memory_budget_is_shared_by_the_engines_that_race():
    from modproof.options import Options, states_held
    opts = Options(max_memory=2**30)
    assert opts.state_budget() == states_held(2**30) == 2**30 // 1024
    assert Options(max_memory=None, max_states=7).state_budget() == 7


@pytest.mark.parametrize("text,size", [("512M", 512 * 2**20), ("4G", 4 * 2**30), ("1.5g", 3 * 2**29),
                                       ("100000", 100000), ("2GiB", 2 * 2**30)])
def test_memory_sizes(text, size):
    from modproof.cli import Size
    assert Size().convert(text, None, None) == size


@pytest.mark.parametrize("text", ["0", "-1G", "lots", "nan", "G"])
def test_bad_memory_sizes_are_usage_errors(text):
    r = invoke("prove", "--max-memory", text, DM_OK)
    assert r.exit_code == 2 and "is not a size" in r.output


# --------------------------------------------------------------------------- progress


def _on_a_terminal(args):
    """Run modproof with standard error on a pseudo-terminal: (what the terminal
    showed, standard output)."""
    import pty
    import select
    master, slave = pty.openpty()
    proc = subprocess.Popen([*MODPROOF, *args], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        ready = select.select([master], [], [], 0.1)[0]
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:   # the other end is closed: modproof is done
                break
            if not data:
                break
            shown += data
        elif proc.poll() is not None:
            break
    os.close(master)
    out = proc.stdout.read().decode()
    proc.wait(timeout=60)
    return shown.decode(errors="replace"), out


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    from conftest import ROOT
    return str(ROOT / "bench" / "models" / "dm_safe_k32.mproof")


@pytest.mark.parametrize("engine,shows", [("bmc", ["bmc:", "depth", "query"]),
                                          ("explicit", ["explicit:", "states", "states/s"])])
def test_progress_on_a_terminal(slow_model, engine, shows):
    # Issue 16: `prove` printed nothing for 300 s.  On a terminal, after about a
    # second, it says what each engine is doing; the line is gone at the end.
    args = ["prove", "--engine", engine, "--timeout", "2.5", slow_model]
    if engine == "explicit":
        args.insert(1, "--no-reduce")
    shown, out = _on_a_terminal(args)
    assert "proving..." in shown, shown
    for word in shows:
        assert word in shown, (word, shown)
    assert " MB" in shown
    assert "proving" not in out   # the verdict on standard output is clean


@pytest.mark.parametrize("flag", ["--json", "--quiet", "-q"])
def test_no_progress_with_json_or_quiet(slow_model, flag):
    shown, out = _on_a_terminal(["prove", flag, "--engine", "bmc", "--timeout", "2", slow_model])
    assert "proving..." not in shown and "proving..." not in out


def test_no_progress_when_standard_error_is_not_a_terminal(slow_model):
    r = run("prove", "--engine", "bmc", "--timeout", "2", slow_model)
    assert "proving" not in r.stderr and "proving" not in r.stdout


def test_the_progress_line_says_what_each_engine_does():
    from modproof.cli import progress_text
    before = {"explicit": {"states": 1000, "seconds": 1.0}}
    now = {"explicit": {"states": 3000, "depth": 12, "seconds": 2.0, "memory": 300 * 2**20},
           "bmc": {"depth": 7, "query": "violation@7", "seconds": 2.0, "memory": 2**31}}
    assert progress_text(now, before) == (
        "proving... explicit: 2 s, 3,000 states, depth 12, 2,000 states/s, 300 MB; "
        "bmc: 2 s, depth 7, query violation@7, 2.0 GB")
