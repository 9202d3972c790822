"""The command line through click's runner: every exit code, the JSON shape, replay."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import PROOFS
from modproof.cli import main

DM_BAD = str(PROOFS / "dm_in_module.mproof")
DM_OK = str(PROOFS / "dm_builtin.mproof")


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def replay_edited(tmp_path, edit):
    """Write DM_BAD's witness, change its JSON with `edit`, and replay it."""
    w = tmp_path / "w.json"
    assert invoke("prove", "--engine", "explicit", "--witness-out", str(w), DM_BAD).exit_code == 1
    data = json.loads(w.read_text())
    edit(data)
    w.write_text(json.dumps(data))
    return invoke("replay", DM_BAD, str(w))


@pytest.mark.parametrize("engine", ["explicit", "bmc"])
def test_prove_exit_codes(engine):
    ok = invoke("prove", "--engine", engine, DM_OK)
    assert ok.exit_code == 0, ok.output
    assert "proved for all executions" in ok.output
    bad = invoke("prove", "--engine", engine, DM_BAD)
    assert bad.exit_code == 1, bad.output
    assert "violated code-after-unload in 14 steps" in bad.output
    assert "reader returns from dm_kobject_release into module dm, which was unloaded at step" \
        in bad.output


@pytest.mark.parametrize("body, message", [
    ("thread t in m { module_put(m) }",
     "t returns from its thread function in module m, which was unloaded at step 3"),
    ("fn f in m { module_put(m) }\nthread t { f() }",
     "t returns from f into module m, which was unloaded at step 4"),
    ("fn f in m { module_put(m); x = 1 }\nvar x = 0\nthread t { f() }",
     "t executes 'x = 1' in module m, which was unloaded at step 4"),
])
def test_code_after_unload_is_explained_in_one_line(tmp_path, body, message):
    f = tmp_path / "k.mproof"
    f.write_text(f"module m refs 1\n{body}\nthread a {{ unload(m) }}\n")
    r = invoke("prove", "--engine", "explicit", str(f))
    assert r.exit_code == 1, r.output
    assert r.output.splitlines()[1].strip() == message


def test_bad_input_is_exit_2_with_a_positioned_message(tmp_path):
    f = tmp_path / "broken.mproof"
    f.write_text("object o\nthread t {\n    wait(o)\n}\n")
    r = invoke("prove", str(f))
    assert r.exit_code == 2
    assert f"{f}:3:10: error: 'wait' needs a completion: 'o' is an object, not a completion" in r.output
    assert "Traceback" not in r.output


def test_usage_errors_are_exit_2(tmp_path):
    assert invoke("prove").exit_code == 2
    assert invoke("prove", "--bound", "-3", DM_OK).exit_code == 2
    assert invoke("prove", str(tmp_path / "missing.mproof")).exit_code == 2
    assert invoke("frobnicate").exit_code == 2


def test_unknown_is_exit_3(tmp_path):
    f = tmp_path / "counter.mproof"
    f.write_text("var x = 0\nthread t { while true { x = x + 1 } }\ninvariant pos: x >= 0\n")
    r = invoke("prove", "--engine", "explicit", "--max-states", "20", str(f))
    assert r.exit_code == 3, r.output
    assert "unknown" in r.output and "proved" not in r.output.split("\n")[0]
    r = invoke("prove", "--engine", "explicit", "--max-states", "20", "--json", str(f))
    data = json.loads(r.output)
    assert (r.exit_code, data["verdict"], data["kind"]) == (3, "unknown", "state-budget")
    assert data["reason"].startswith("state budget exhausted")


def test_json_output_has_the_documented_fields():
    r = invoke("prove", "--engine", "explicit", "--no-reduce", "--json", DM_BAD)
    data = json.loads(r.output)
    assert data["verdict"] == "violated"
    assert data["check"] == "code-after-unload"
    assert data["steps"] == 14
    assert data["witness"]["steps"][-1]["violation"] == "code-after-unload"
    assert data["covers"] == [{"name": "dm_unloaded", "reached": True, "step": 11, "within": None}]
    r = invoke("prove", "--engine", "explicit", "--json", DM_OK)
    data = json.loads(r.output)
    assert (data["verdict"], data["scope"]) == ("proved", "all-executions")


def test_check_expect_exit_code(tmp_path):
    assert invoke("prove", "--engine", "explicit", "--check-expect", DM_BAD).exit_code == 0
    f = tmp_path / "wrong.mproof"
    f.write_text(open(DM_BAD).read().replace("expect violated code-after-unload", "expect proved"))
    r = invoke("prove", "--engine", "explicit", "--check-expect", str(f))
    assert r.exit_code == 1
    assert "expect proved: NOT matched" in r.output


def test_check_and_show(tmp_path):
    r = invoke("check", DM_OK, DM_BAD)
    assert r.exit_code == 0
    assert "dm_builtin.mproof: ok: 2 threads, 18 steps, 1 module (dm)" in r.output
    bad = tmp_path / "b.mproof"
    bad.write_text("thread t {\n")
    r = invoke("check", DM_OK, str(bad))
    assert r.exit_code == 2
    r = invoke("show", DM_BAD)
    assert r.exit_code == 0
    assert "return from dm_kobject_release" in r.output
    assert "[free the module's code]" in r.output


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and "modproof" in r.output


def test_witness_out_and_replay(tmp_path):
    w = tmp_path / "w.json"
    r = invoke("prove", "--engine", "explicit", "--witness-out", str(w), DM_BAD)
    assert r.exit_code == 1
    assert invoke("replay", DM_BAD, str(w)).exit_code == 0
    data = json.loads(w.read_text())
    # Swap two steps of different threads: the witness no longer replays.
    data["steps"][12], data["steps"][13] = data["steps"][13], data["steps"][12]
    w.write_text(json.dumps(data))
    r = invoke("replay", DM_BAD, str(w))
    assert r.exit_code == 1
    assert "diverges at step 13" in r.output
    w.write_text("{not json")
    assert invoke("replay", DM_BAD, str(w)).exit_code == 2
    # The witness of one file does not replay on the fixed design.
    invoke("prove", "--engine", "explicit", "--witness-out", str(w), DM_BAD)
    r = invoke("replay", DM_OK, str(w))
    assert r.exit_code == 1
    assert "diverges at step 14" in r.output


def test_a_cover_beyond_the_searched_depth_is_open_not_unreachable(tmp_path):
    # k-induction proves safety for all executions, but the cover (reached at step
    # 44) was only searched to depth 40: it is open, not "reached in no execution".
    f = tmp_path / "late_cover.mproof"
    # (44 steps in a row, not a loop: with a loop, executions could go on for ever
    # and the Z3 engine would leave the hang check open.)
    f.write_text("var n = 0\nthread t { " + "n = n + 1; " * 44 + "}\n"
                 "cover c44: n == 44\nexpect proved\n")
    r = invoke("prove", "--engine", "bmc", "--json", str(f))
    data = json.loads(r.output)
    assert data["scope"] == "all-executions"
    assert data["covers"] == [{"name": "c44", "reached": False, "step": None, "within": 40}]
    r = invoke("prove", "--engine", "bmc", "--check-expect", str(f))
    assert "cover c44: NOT reached within 40 steps, and not decided beyond" in r.output
    assert r.exit_code == 1
    r = invoke("prove", "--engine", "explicit", "--check-expect", str(f))
    assert "cover c44: reachable in 44 steps" in r.output and r.exit_code == 0


def test_json_output_of_a_file_with_mistakes(tmp_path):
    f = tmp_path / "broken.mproof"
    f.write_text("object o\nthread t {\n    get(o o)\n    put(p)\n}\n")
    r = CliRunner().invoke(main, ["prove", "--json", str(f)])
    assert r.exit_code == 2
    data = json.loads(r.stdout)
    assert data["verdict"] == "error" and data["file"] == str(f)
    (d,) = data["diagnostics"]
    assert (d["line"], d["col"], d["end_line"], d["end_col"]) == (3, 11, 3, 12)
    assert d["message"].startswith("unexpected 'o'") and d["notes"] == []
    assert "broken.mproof:3:11: error:" in r.stderr          # the text still goes to stderr
    # v3: a statement may have several arguments (kref_put_mutex(o, m)), so a second
    # argument of get is the checker's, reported with the other mistakes
    f.write_text("object o\nthread t {\n    get(o, o)\n    put(p)\n}\n")
    data = json.loads(CliRunner().invoke(main, ["prove", "--json", str(f)]).stdout)
    assert [(d["line"], d["col"], d["message"]) for d in data["diagnostics"]] == [
        (3, 12, "'get' takes one argument, an object"),
        (4, 9, "'put' needs an object: 'p' is not declared")]
    f.write_text("object o\nthread t { put(p) }\n")
    data = json.loads(CliRunner().invoke(main, ["prove", "--json", str(f)]).stdout)
    assert [d["message"] for d in data["diagnostics"]] == ["'put' needs an object: 'p' is not declared"]
    r = CliRunner().invoke(main, ["prove", "--json", str(tmp_path / "none.mproof")])
    assert r.exit_code == 2 and json.loads(r.stdout)["message"].startswith("cannot read")


def test_output_files_that_cannot_be_written_are_usage_errors(tmp_path):
    w = tmp_path / "w.json"
    assert invoke("prove", "--witness-out", str(w), DM_BAD).exit_code == 1
    folder = tmp_path / "folder"
    folder.mkdir()
    for args in (["export", str(w), "--format", "text", "-o", str(folder)],
                 ["export", str(w), "--format", "text", "-o", str(tmp_path / "no" / "such" / "x.txt")],
                 ["prove", "--export", f"text:{tmp_path / 'missing' / 'x.txt'}", DM_BAD]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert "modproof: error: cannot write" in r.output
        assert "internal error" not in r.output
    assert not (tmp_path / "no").exists() and not (tmp_path / "missing").exists()
    assert [p.name for p in folder.iterdir()] == []


def test_output_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        w = tmp_path / "w.json"
        assert invoke("prove", "--witness-out", str(w), DM_BAD).exit_code == 1
        assert w.stat().st_mode & 0o777 == 0o644
        w.chmod(0o600)   # a file that exists keeps its permissions
        assert invoke("prove", "--witness-out", str(w), DM_BAD).exit_code == 1
        assert w.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_output_goes_through_links_and_into_devices_and_fifos(tmp_path):
    # Replacing the path by renaming would turn /dev/null into a regular file.
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    assert invoke("prove", "--witness-out", str(link), DM_BAD).exit_code == 1
    assert link.is_symlink() and json.loads(target.read_text())["format"] == "modproof-witness"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    assert invoke("prove", "--witness-out", str(fifo), DM_BAD).exit_code == 1
    assert json.loads(reader.communicate(timeout=60)[0])["format"] == "modproof-witness"
    assert fifo.is_fifo()
    if os.path.exists("/dev/full"):
        r = CliRunner().invoke(main, ["prove", "--witness-out", "/dev/full", DM_BAD])
        assert r.exit_code == 2 and "cannot write /dev/full: No space left on device" in r.output
        assert not os.path.isfile("/dev/full")


def test_a_dash_writes_an_export_to_standard_output():
    r = invoke("prove", "--export", "mermaid:-", "--witness-out", "-", DM_BAD)
    assert r.exit_code == 1
    assert "sequenceDiagram" in r.output and '"format": "modproof-witness"' in r.output
    assert not os.path.exists("-")


def test_time_limits_are_numbers_and_inf_is_none():
    r = CliRunner().invoke(main, ["prove", "--timeout", "nan", DM_BAD])
    assert r.exit_code == 2 and "'nan' is not a number of seconds" in r.output
    for limit in ("inf", "1e12"):   # no limit, or one past what select() accepts
        r = invoke("prove", "--timeout", limit, DM_BAD)
        assert r.exit_code == 1 and "violated code-after-unload" in r.output


def test_bad_exports_are_refused_before_the_proof(tmp_path):
    # The model would take the whole time limit: a refusal must come first.
    slow = tmp_path / "slow.mproof"
    slow.write_text("var x = 0\nthread t[10000] { x = x + 1 }\n")
    for args, message in (
            (["--export", "foo:out"], "unknown witness format 'foo' in --export"),
            (["--witness-out", ""], "cannot write '': an empty path"),
            (["--export", f"json:{tmp_path / 'no' / 'w.json'}"], "No such file or directory"),
            (["--export", f"json:{tmp_path}"], "Is a directory"),
            (["--witness-out", str(tmp_path)], "is a directory")):
        r = CliRunner().invoke(main, ["prove", "--timeout", "600", *args, str(slow)])
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output and "slow.mproof:" not in r.output   # no verdict line


def test_sigterm_stops_the_engine_processes():
    # The portfolio runs its engines in child processes: `kill` of modproof must
    # not leave them running (a CI runner cancelling a job sends SIGTERM).
    import signal
    import tempfile
    import time
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, "big.mproof")
        with open(model, "w") as f:
            f.write("var x = 0\nthread t[10000] { x = x + 1 }\n")
        proc = subprocess.Popen([sys.executable, "-m", "modproof", "prove", model],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        children = []
        deadline = time.monotonic() + 60
        while not children and time.monotonic() < deadline:
            time.sleep(0.2)
            children = _children(proc.pid)
        assert children, "the portfolio started no engine processes"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 143 and "modproof: terminated" in err, err
        time.sleep(0.5)
        assert not [c for c in children if _alive(c)]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_an_unexpected_os_error_is_an_internal_error(monkeypatch):
    # Only output that cannot be written is the user's problem (exit 2 or 141).
    import errno

    import modproof.prove

    def broken(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(modproof.prove, "prove", broken)
    r = CliRunner().invoke(main, ["prove", DM_BAD])
    assert r.exit_code == 4 and "modproof: internal error: PermissionError" in r.output


def test_a_closed_output_pipe_is_not_an_internal_error():
    cmd = [sys.executable, "-m", "modproof", "show", DM_BAD]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        proc.stdout.close()           # the reader goes away before modproof writes
        err = proc.stderr.read().decode()
        code = proc.wait()
    assert code == 141, err
    assert "internal error" not in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["show", DM_BAD], ["--help"], ["--version"]])
def test_a_full_disk_on_standard_output_is_reported(args):
    # --help and --version print before any command runs, outside its handlers.
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "modproof", *args], stdout=full,
                           stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "modproof: error: cannot write the output: No space left on device"


def test_a_deferred_release_witness_replays_and_exports(tmp_path):
    f = tmp_path / "d.mproof"
    f.write_text("module m\nobject o refs 1 release rel\nvar x = 0\nfn rel in m { x = 1 }\n"
                 "thread t { put(o); unload(m) }\n")
    w = tmp_path / "w.json"
    r = invoke("prove", "--deferred-release", "--witness-out", str(w), str(f))
    assert r.exit_code == 1 and "release(o) executes 'x = 1'" in r.output
    assert json.loads(w.read_text())["deferred_release"] is True
    r = invoke("replay", str(f), str(w))
    assert r.exit_code == 0, r.output
    r = invoke("export", str(w), "--format", "text", "-o", "-")
    assert r.exit_code == 0 and "release(o)" in r.output


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(version=True), "witness format version True is not supported"),
    (lambda d: d.update(version=1.0), "witness format version 1.0 is not supported"),
    (lambda d: d.update(length=3), "\"length\" is 3 but the witness has 14 steps"),
    (lambda d: d.update(length="x"), "\"length\" is 'x'"),
    (lambda d: d["steps"][0].update(thread=0), "step 1: \"thread\" must be a thread's name"),
    (lambda d: d["steps"][0].update(pc=True), "step 1: \"pc\" must be an integer"),
    (lambda d: d.update(deferred_release="yes"), "\"deferred_release\" must be true or false"),
    (lambda d: d.update(threads=None), "\"threads\" must be a list of thread names"),
    (lambda d: d.update(initial=None), "\"initial\" must be an object"),
    (lambda d: d["steps"][0].update(state=[]), "step 1: \"state\" must be an object"),
    (lambda d: d["steps"][-1].update(violation="deadlock"),
     "step 14: \"violation\" is 'deadlock', but the witness's check is 'code-after-unload'"),
])
def test_a_malformed_witness_is_bad_input(tmp_path, edit, message):
    r = replay_edited(tmp_path, edit)
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_a_witness_nested_too_deeply_is_bad_input(tmp_path):
    w = tmp_path / "deep.json"
    w.write_text("[" * 100_000 + "]" * 100_000)
    for args in (["replay", DM_BAD, str(w)], ["export", str(w), "--format", "text"]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and "not a readable JSON witness: nested too deeply" in r.output


def test_export_finds_the_model_beside_the_witness(tmp_path, monkeypatch):
    # The witness names its model as given to `prove` (relative to where it ran).
    (tmp_path / "m.mproof").write_text((PROOFS / "dm_in_module.mproof").read_text())
    monkeypatch.chdir(tmp_path)
    assert invoke("prove", "--witness-out", "w.json", "m.mproof").exit_code == 1
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = invoke("export", str(tmp_path / "w.json"), "--format", "text")
    assert r.exit_code == 0 and "code-after-unload" in r.output
    data = json.loads((tmp_path / "w.json").read_text())
    for named, message in ((5, "has a \"file\" that is not a path; pass --model FILE"),
                           ("gone.mproof", "cannot find the model the witness names, gone.mproof; "
                                           "pass --model FILE")):
        (tmp_path / "w2.json").write_text(json.dumps(dict(data, file=named)))
        r = CliRunner().invoke(main, ["export", str(tmp_path / "w2.json"), "--format", "text"])
        assert r.exit_code == 2 and message in r.output


def test_a_violation_before_the_last_step_diverges(tmp_path):
    r = replay_edited(tmp_path, lambda d: d["steps"][3].update(violation="deadlock"))
    assert r.exit_code == 1
    assert "diverges at step 4: the witness has its violation here, but goes on for 10" in r.output


def test_a_witness_of_other_threads_diverges(tmp_path):
    r = replay_edited(tmp_path, lambda d: d["threads"].reverse())
    assert r.exit_code == 1 and "threads are not this file's threads" in r.output


def test_a_bound_of_zero_proves_nothing(tmp_path):
    f = tmp_path / "b0.mproof"
    f.write_text("var x = 0\nthread t { x = 1; assert x == 0 }\nexpect proved\n")
    r = invoke("prove", "--engine", "bmc", "--bound", "0", "--check-expect", str(f))
    assert r.exit_code == 1 and "unknown: a bound of 0 checks only the initial state" in r.output
    r = invoke("prove", "--engine", "bmc", "--bound", "0", str(f))
    assert r.exit_code == 3
    r = invoke("prove", "--engine", "bmc", "--bound", "1", str(f))
    assert r.exit_code == 0 and "proved for executions of up to 1 step (bounded" in r.output
    f.write_text("thread t { }\n")   # nothing can move: the initial state is everything
    assert "proved for all executions" in invoke("prove", "--engine", "bmc", "--bound", "0",
                                                 str(f)).output


def test_a_model_on_standard_input(tmp_path):
    text = open(DM_BAD).read()
    r = CliRunner().invoke(main, ["prove", "--engine", "explicit", "-"], input=text)
    assert r.exit_code == 1 and r.output.startswith("<stdin>: violated code-after-unload in 14 steps")
    r = CliRunner().invoke(main, ["check", "-"], input=text)
    assert r.exit_code == 0 and r.output.startswith("<stdin>: ok: ")
    r = CliRunner().invoke(main, ["prove", "-"], input="var x = \n")
    assert r.exit_code == 2
    assert "<stdin>:1:8: error: unexpected newline" in r.output and "    var x = \n" in r.output


@pytest.mark.parametrize("command", ["prove", "check", "show"])
def test_a_folder_is_bad_input_with_a_pointer_to_ci(tmp_path, command):
    r = CliRunner().invoke(main, [command, str(tmp_path)])
    assert r.exit_code == 2
    assert f"{tmp_path} is a folder, not a .mproof file ('modproof ci {tmp_path}'" in r.output


def test_a_folder_with_json_is_a_json_error(tmp_path):
    r = CliRunner().invoke(main, ["prove", "--json", str(tmp_path)])
    assert r.exit_code == 2
    assert json.loads(r.stdout)["verdict"] == "error"


def test_a_proof_says_which_functions_no_thread_runs(tmp_path):
    f = tmp_path / "m.mproof"
    f.write_text("module m\nobject o release rel\nvar x = 0\n"
                 "fn rel in core { x = 1 }\n"          # run by the put that reaches zero
                 "fn forgotten in m { module_put(m) }\n"
                 "fn helper in core { x = 2 }\n"
                 "thread t { put(o); helper() }\n")
    r = invoke("prove", str(f))
    assert r.exit_code == 0, r.output
    warned = [line.strip() for line in r.output.splitlines() if "is never called" in line]
    assert warned == [f"warning: {f}:5:4: fn forgotten is never called (no call, put, unload "
                      "or handler runs it): none of its code is checked"]
    data = json.loads(invoke("prove", "--json", str(f)).output)
    assert data["never_called"] == [{"fn": "forgotten", "line": 5, "col": 4}]
    checked = invoke("check", str(f))
    assert checked.exit_code == 0
    assert checked.output.splitlines()[1] == (f"{f}:5:4: warning: fn forgotten is never called "
                                              "(no call, put, unload or handler runs it)")


def test_a_model_without_threads_is_proved_and_says_nothing_runs(tmp_path):
    f = tmp_path / "empty.mproof"
    f.write_text("# nothing here yet\nmodule m\n")
    r = invoke("prove", str(f))
    assert r.exit_code == 0
    assert "1 state, depth 0" in r.output
    assert "warning: the model has no threads: nothing runs, so nothing can fail" in r.output


def test_the_engine_choices_and_defaults_come_from_the_registry():
    from modproof.ci_cmd import ci
    from modproof.engines import ENGINES, engine_help
    from modproof.options import DEFAULT_BOUND, DEFAULT_ENGINE
    for cmd in (main.commands["prove"], ci):
        params = {p.name: p for p in cmd.params}
        assert list(params["engine"].type.choices) == list(ENGINES)
        assert params["engine"].default == DEFAULT_ENGINE
        assert params["max_states"].default is None   # as many as the memory holds
        assert params["max_memory"].default is None   # a share of physical memory
        assert f"(default {DEFAULT_BOUND})" in params["bound"].help
    assert {p.name: p for p in main.commands["prove"].params}["engine"].help == engine_help()
    for e in ENGINES.values():
        assert f"{e.name}: {e.description}" in engine_help()
