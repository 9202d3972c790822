"""The fault audit of issue 18, as a script anyone can run against the `modproof` command.

    python tests/tools/audit.py [--models N] [--witnesses N] [--signals N] [--seed S]
                                [-j JOBS] [--short] [--only CLASS,...]

Four classes of hostile use, each run through the command line as a CI job
would, and each held to the README's exit-code table:

models     mutated models (lines dropped, repeated, swapped; words replaced; bytes
           inserted; the file cut short) through `check` and `prove` (the
           explicit and Z3 engines, with a time limit): exit 0 to 3, never an
           internal error or a traceback; an exit 2 names a position in the file.
witnesses  damaged witness files (fields dropped, values of another type, huge
           numbers and strings, steps cut, reordered or invented, truncated JSON)
           through `replay` and `export`: exit 0, 1 or 2, never an internal
           error, and an error message of reasonable length.
outputs    output that cannot be written: a missing folder, a folder that is a
           file, a read-only folder, /dev/full, a closed standard output, a
           reader that went away: exit 2 or 141 and no partial or temporary file.
signals    SIGINT and SIGTERM at random points of `prove` (each engine) and of
           `ci -j 2`: exit 130 or 143 within a second, no internal error, no
           process left behind, no temporary file.

Prints one line per finding and a summary per class; exits 1 when there is a
finding.  `--short` is the version the test suite runs (tests/test_audit_script.py);
the defaults are the full audit (a few minutes on two cores).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODPROOF = [sys.executable, "-m", "modproof"]
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
POSITION = re.compile(r":\d+:\d+: error: |: error: ")
BAD = ("internal error", "Traceback")


class Findings:
    def __init__(self):
        self.items: list[str] = []

    def add(self, cls: str, what: str, detail: str = "") -> None:
        line = f"[{cls}] {what}" + (f"\n    {detail.strip()[:600]}" if detail else "")
        self.items.append(line)
        print(line, flush=True)


def run(args, timeout=120, **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([*MODPROOF, *args], capture_output=True, text=True,
                              timeout=timeout, errors="replace", **kw)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, -999, "", f"did not end within {timeout} s")


def corpus() -> list[Path]:
    return sorted((ROOT / "proofs").rglob("*.mproof"))


# --------------------------------------------------------------------------- models


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    words = sorted(set(WORD.findall(text))) or ["x"]
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        i = rng.randrange(len(lines))
        if kind == 0 and len(lines) > 1:
            del lines[i]
        elif kind == 1:
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        elif kind == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 3:
            found = list(WORD.finditer(lines[i]))
            if found:
                m = rng.choice(found)
                lines[i] = lines[i][:m.start()] + rng.choice(words) + lines[i][m.end():]
        elif kind == 4:
            junk = rng.choice(["{", "}", "(", ")", ";", "atomic {", "\x00", "\u00e9", "99999999999"
                               "999999999999", "-", "==", "#", "\t", "\xff"])
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + junk + lines[i][pos:]
        elif kind == 5:
            text2 = "\n".join(lines)
            return text2[:rng.randrange(len(text2) + 1)]
        else:
            found = list(re.finditer(r"\d+", lines[i]))
            if found:
                m = rng.choice(found)
                lines[i] = lines[i][:m.start()] + str(rng.choice([0, 1, 2, 7, 40, 10**30]))\
                    + lines[i][m.end():]
    return "\n".join(lines)


def audit_models(n: int, rng: random.Random, jobs: int, tmp: Path, out: Findings,
                 limit: float) -> int:
    sources = [p.read_text() for p in corpus()]
    cases = []
    for k in range(n):
        f = tmp / f"mutant{k}.mproof"
        f.write_text(mutate(rng.choice(sources), rng))
        engine = rng.choice(["explicit", "bmc", "auto"])
        cases.append((f, ["check", str(f)]))
        cases.append((f, ["prove", "--engine", engine, "--timeout", f"{limit:g}", str(f)]))

    def one(case):
        f, args = case
        r = run(args)
        text = r.stdout + r.stderr
        if r.returncode not in (0, 1, 2, 3) or any(b in text for b in BAD):
            out.add("models", f"{' '.join(args[:-1])} {f.name}: exit {r.returncode}", text)
        elif r.returncode == 2 and not POSITION.search(r.stderr):
            out.add("models", f"{args[0]} {f.name}: exit 2 without a positioned error", r.stderr)
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, cases))
    return len(cases)


# --------------------------------------------------------------------------- witnesses


sys.set_int_max_str_digits(0)
HUGE = int("9" * 100_001)


def damage(data: dict, rng: random.Random) -> object:
    d = json.loads(json.dumps(data))
    kind = rng.randrange(12)
    steps = d.get("steps", [])
    if kind == 0:
        d.pop(rng.choice(sorted(d)), None)
    elif kind == 1:
        d[rng.choice(sorted(d))] = rng.choice([None, True, 1, 1.0, "x", [], {}, HUGE, "y" * 100_000])
    elif kind == 2 and steps:
        s = rng.choice(steps)
        if s:
            s[rng.choice(sorted(s))] = rng.choice([None, True, 0, -1, 1.5, "t", [], HUGE])
    elif kind == 3 and steps:
        del steps[rng.randrange(len(steps)):]
    elif kind == 4 and len(steps) > 1:
        i, j = rng.sample(range(len(steps)), 2)
        steps[i], steps[j] = steps[j], steps[i]
    elif kind == 5 and steps:
        steps.insert(rng.randrange(len(steps)), json.loads(json.dumps(rng.choice(steps))))
    elif kind == 6 and steps:
        s = rng.choice(steps)
        if isinstance(s.get("state"), dict) and s["state"]:
            k = rng.choice(sorted(s["state"]))
            v = s["state"][k]
            s["state"][k] = rng.choice([not v if isinstance(v, bool) else v, float(v)
                                        if isinstance(v, (int, float)) and v is not None else 1,
                                        True, 1, "x", None, HUGE])
    elif kind == 7:
        return "TRUNCATE"
    elif kind == 8:
        d["version"] = rng.choice([HUGE, True, 1.0, "1", 2])
    elif kind == 9:
        d["check"] = rng.choice(["x" * 100_000, "deadlock", "hang", None, 3])
    elif kind == 10:
        d["file"] = rng.choice(["/nonexistent", "", None, "z" * 100_000, 1])
    else:
        d["loop"] = rng.choice([0, 1, HUGE, -1, True, None])
    return d


def audit_witnesses(n: int, rng: random.Random, jobs: int, tmp: Path, out: Findings) -> int:
    witnesses = []
    for p in corpus():
        if "violated" not in p.read_text() or len(witnesses) >= 12:
            continue
        w = tmp / f"{p.stem}.json"
        r = run(["prove", "--engine", "explicit", "--witness-out", str(w), str(p)])
        if r.returncode == 1 and w.exists():
            witnesses.append((p, json.loads(w.read_text())))
    cases = []
    for k in range(n):
        model, data = rng.choice(witnesses)
        f = tmp / f"damaged{k}.json"
        bad = damage(data, rng)
        if bad == "TRUNCATE":
            text = json.dumps(data)
            f.write_text(text[:rng.randrange(len(text))])
        else:
            f.write_text(json.dumps(bad))
        cases.append(["replay", str(model), str(f)])
        cases.append(["export", str(f), "--model", str(model), "--format",
                      rng.choice(["text", "json", "itf", "sarif", "mermaid", "html"]), "-o",
                      str(tmp / f"export{k}.out")])

    def one(args):
        r = run(args)
        text = r.stdout + r.stderr
        if r.returncode not in (0, 1, 2) or any(b in text for b in BAD):
            out.add("witnesses", f"{args[0]} {Path(args[-1] if args[0] == 'replay' else args[1]).name}:"
                    f" exit {r.returncode}", text)
        elif r.returncode != 0 and len(r.stderr) + len(r.stdout) > 5000:
            out.add("witnesses", f"{args[0]}: an error message of {len(text)} characters",
                    text[:300])
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, cases))
    return len(cases)


# --------------------------------------------------------------------------- outputs


def audit_outputs(tmp: Path, out: Findings) -> int:
    bad = str(ROOT / "proofs" / "dm_in_module.mproof")
    ok = str(ROOT / "proofs" / "dm_builtin.mproof")
    plain = tmp / "plain"
    plain.write_text("a file")
    ro = tmp / "readonly"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    places = [tmp / "missing" / "w.json", plain / "w.json", tmp, ro / "w.json"]
    if os.path.exists("/dev/full"):
        places.append(Path("/dev/full"))
    count = 0
    for place in places:
        for args in (["prove", "--witness-out", str(place), bad],
                     ["prove", "--export", f"html:{place}", bad],
                     ["ci", "--junit", str(place / "j.xml") if place == tmp else str(place), ok]):
            if args[0] == "ci" and (place == tmp or str(place).startswith(str(tmp / "missing"))):
                continue   # ci creates the folders of its reports (as pytest's --junitxml)
            if os.geteuid() == 0 and place.parent == ro:
                continue   # root writes into a read-only folder
            r = run(args)
            count += 1
            if r.returncode != 2 or any(b in r.stderr for b in BAD):
                out.add("outputs", f"{' '.join(args[:-1])}: exit {r.returncode}", r.stderr)
    # Closed standard output, full standard output, a reader that went away.
    for args in (["prove", ok], ["check", ok], ["show", ok], ["--help"]):
        proc = subprocess.Popen([*MODPROOF, *args], stdout=None, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(1), text=True)
        err = proc.communicate(timeout=120)[1]
        count += 1
        if proc.returncode != 2 or any(b in err for b in BAD):
            out.add("outputs", f"{' '.join(args)} >&-: exit {proc.returncode}", err)
        r_fd, w_fd = os.pipe()
        os.close(r_fd)
        proc = subprocess.Popen([*MODPROOF, *args], stdout=w_fd, stderr=subprocess.PIPE, text=True)
        os.close(w_fd)
        err = proc.communicate(timeout=120)[1]
        count += 1
        if proc.returncode != 141 or any(b in err for b in BAD):
            out.add("outputs", f"{' '.join(args)} | (reader gone): exit {proc.returncode}", err)
    for folder in (tmp, plain.parent, ro):
        for f in folder.iterdir():
            if f.name.endswith(".tmp"):
                out.add("outputs", f"a temporary file was left: {f}")
    ro.chmod(stat.S_IRWXU)
    return count


# --------------------------------------------------------------------------- signals


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            kids = []
        found.update(kids)
        todo += kids
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def audit_signals(n: int, rng: random.Random, tmp: Path, out: Findings) -> int:
    big = tmp / "big.mproof"
    big.write_text("var x = 0\nthread t[3000] { x = x + 1 }\n")
    deep = ROOT / "bench" / "models" / "dm_safe_k32.mproof"
    corpus_dir = tmp / "corpus"
    corpus_dir.mkdir()
    for f in list(corpus())[:6]:
        shutil.copy(f, corpus_dir / f.name)
    shutil.copy(deep, corpus_dir / "deep.mproof")
    (corpus_dir / "big.mproof").write_text(big.read_text() + "expect proved\n")
    outdir = tmp / "signal-out"
    outdir.mkdir()
    count = 0
    for k in range(n):
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        engine = rng.choice(["auto", "bmc", "explicit", "ci"])
        model = rng.choice([big, deep])
        if engine == "ci":
            args = ["ci", "-j", "2", "--junit", str(outdir / "j.xml"), str(corpus_dir)]
        else:
            args = ["prove", "--engine", engine, "--witness-out", str(outdir / f"w{k}.json"),
                    str(model)]
        delay = rng.uniform(0.0, 3.0)
        proc = subprocess.Popen([*MODPROOF, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        seen: set[int] = set()
        end = time.monotonic() + delay
        while time.monotonic() < end and proc.poll() is None:
            seen |= _descendants(proc.pid)
            time.sleep(0.01)
        if proc.poll() is not None:
            proc.communicate()
            continue
        seen |= _descendants(proc.pid)
        sent = time.monotonic()
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        took = time.monotonic() - sent
        err = proc.stderr.read()
        proc.stdout.read()
        count += 1
        what = f"{' '.join(args[:3])} {sig.name} after {delay:.2f} s"
        # (a signal before modproof's first line meets Python's start-up: -N, as a shell's 128 + N)
        if proc.returncode not in (128 + sig, -sig):
            out.add("signals", f"{what}: exit {proc.returncode}", err)
        if took > 1.0:
            out.add("signals", f"{what}: {took:.2f} s from the signal to the exit")
        if any(b in err for b in BAD):
            out.add("signals", f"{what}: {err.strip()[:200]}", err)
        time.sleep(0.3)
        left = [p for p in seen if _alive(p)]
        if left:
            out.add("signals", f"{what}: processes left behind: {left}")
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        for f in outdir.iterdir():
            if f.name.endswith(".tmp"):
                out.add("signals", f"{what}: a temporary file was left: {f.name}")
    return count


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=400)
    ap.add_argument("--witnesses", type=int, default=200)
    ap.add_argument("--signals", type=int, default=40)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--prove-timeout", type=float, default=5.0,
                    help="seconds for each proof of a mutated model")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--short", action="store_true",
                    help="the test suite's version: a few of each class")
    ap.add_argument("--only", default="models,witnesses,outputs,signals")
    args = ap.parse_args(argv)
    if args.short:
        args.models, args.witnesses, args.signals, args.prove_timeout = 8, 8, 4, 2.0
    rng = random.Random(args.seed)
    only = set(args.only.split(","))
    out = Findings()
    counts = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "models" in only:
            counts["models"] = audit_models(args.models, rng, args.jobs, tmp, out,
                                            args.prove_timeout)
        if "witnesses" in only:
            counts["witnesses"] = audit_witnesses(args.witnesses, rng, args.jobs, tmp, out)
        if "outputs" in only:
            counts["outputs"] = audit_outputs(tmp, out)
        if "signals" in only:
            counts["signals"] = audit_signals(args.signals, rng, tmp, out)
    for cls, n in counts.items():
        bad = sum(1 for f in out.items if f.startswith(f"[{cls}]"))
        print(f"{cls}: {n} runs, {bad} findings")
    return 1 if out.items else 0


if __name__ == "__main__":
    sys.exit(main())
