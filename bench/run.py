"""Benchmark: modproof against Spin on the dm family, and every file in proofs/ per engine.

    python bench/run.py                 # K = 1 2 4 8 16 32, reader[*], then proofs/
    python bench/run.py --k 1 2 4 8     # fewer sizes
    python bench/run.py --no-proofs     # only the dm family (and its reader[*] rows)
    python bench/run.py --patterns      # the kernel patterns of language v3 against Spin

Both tools run in the same invocation on the same machine, one after the other,
so the ratios are meaningful on a shared, noisy machine even if the absolute
times are not.  The `reader[*]` rows set modproof's answer for every number of
readers (one run) against Spin at the largest K it finished in the same run.  Spin's time includes `spin -a` and compiling pan (a user pays
both); it runs DFS on the safe variant and BFS on the crash, with its default
partial-order reduction.  modproof runs `modproof prove` (the default portfolio)
as a fresh process.  Peak memory is the child's maximum resident set size.
Verdicts must agree, or the run fails.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from dm_family import dm_model  # noqa: E402

SPIN_TIMEOUT = 600


def run_measured(cmd, cwd=None, timeout=None):
    """Run `cmd`; (exit code or None on timeout, wall seconds, peak RSS in MB, output).
    Waits through os.wait4, whose rusage gives the child's peak memory."""
    timeout = SPIN_TIMEOUT if timeout is None else timeout
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        deadline = start + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                return None, time.monotonic() - start, None, ""
            time.sleep(0.005)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return proc.returncode, wall, ru.ru_maxrss / 1024.0, out.read().decode(errors="replace")


def modproof_cmd() -> list[str]:
    exe = shutil.which("modproof", path=str(Path(sys.executable).parent)) or shutil.which("modproof")
    return [exe] if exe else [sys.executable, "-m", "modproof"]


def run_modproof(path: Path, engine: str = "auto"):
    code, wall, mem, out = run_measured(modproof_cmd() + ["prove", "--engine", engine, str(path)])
    verdict = {0: "proved", 1: "violated", 3: "unknown"}.get(code, f"error({code})")
    return verdict, wall, mem, out


def run_spin(k: int, crash: bool, workdir: Path):
    src = HERE / "promela" / "dm_family.pml"
    shutil.copy(src, workdir / "dm.pml")
    return run_pan(workdir, "dm.pml", bfs=crash, defs=[f"-DK={k}"] + (["-DCRASH"] if crash else []))


def run_pan(workdir: Path, model: str, bfs: bool, defs=()):
    """spin -a, cc, ./pan on `model` in `workdir`: (verdict, seconds, MB), the
    generation and compilation of pan included, as a user pays them."""
    total, peak = 0.0, 0.0
    steps = [["spin", *defs, "-a", model],
             ["cc", "-O2", "-DSAFETY", "-DMEMLIM=8192", *(["-DBFS"] if bfs else []), "-DVECTORSZ=4096",
              "-o", "pan", "pan.c"],
             ["./pan", "-m1000000"]]
    out = ""
    for cmd in steps:
        code, wall, mem, out = run_measured(cmd, cwd=workdir)
        total += wall
        peak = max(peak, mem or 0)
        if code is None:
            return "timeout", total, peak
    return spin_verdict(out), total, peak


def spin_verdict(out: str) -> str:
    """What pan's output says: violated, proved, out of memory (an incomplete
    search) or unknown."""
    # A violation pan reports is one, complete search or not (it stops at the first).
    if (re.search(r"^pan:\S*\s+(assertion violated|invalid end state)", out, re.M)
            or re.search(r"errors: [1-9]", out)):
        return "violated"
    # pan stopped at -DMEMLIM prints "errors: 0" too, after "Search not completed":
    # an incomplete search is no proof.
    if ("out of memory" in out or "memory limit" in out.lower() or "MEMLIM bound" in out
            or "Search not completed" in out):
        return "out of memory"
    if "errors: 0" in out:
        return "proved"
    return "unknown"


def dm_table(ks: list[int], spin_runs: dict = None) -> tuple[list[str], bool]:
    """The fixed-K rows; `spin_runs` gets Spin's (verdict, seconds, MB) per (K, crash)."""
    rows = ["| K | variant | verdict (modproof / Spin) | modproof s | Spin s | Spin/modproof time | "
            "modproof MB | Spin MB |", "|---|---|---|---|---|---|---|---|"]
    spin_runs = {} if spin_runs is None else spin_runs
    agree = True
    models = HERE / "models"
    models.mkdir(exist_ok=True)
    for k in ks:
        for crash in (False, True):
            name = f"dm_{'crash' if crash else 'safe'}_k{k}.mproof"
            path = models / name
            path.write_text(dm_model(k, safe=not crash))
            mv, mt, mm, _ = run_modproof(path)
            with tempfile.TemporaryDirectory() as d:
                sv, st, sm = run_spin(k, crash, Path(d))
            spin_runs[(k, crash)] = (sv, st, sm)
            ok = mv == sv or sv in ("timeout", "out of memory")
            agree &= ok
            unfinished = sv in ("timeout", "out of memory")   # Spin's time is a lower bound
            ratio = "-" if not mt else (f"> {st / mt:.0f}x" if unfinished else f"{st / mt:.1f}x")
            rows.append(f"| {k} | {'crash' if crash else 'safe'} | {mv} / {sv}{'' if ok else ' DISAGREE'} | "
                        f"{mt:.2f} | {st:.2f}{'' if ok and mv == sv else '+'} | {ratio} | "
                        f"{mm:.0f} | {sm:.0f} |")
            print(rows[-1], flush=True)
    return rows, agree


def star_table(spin_runs: dict) -> tuple[list[str], bool]:
    """modproof on `thread reader[*]` (every number of readers, one run) against Spin
    at the largest K it finished in this run (its verdict covers that K only)."""
    rows = ["| readers | variant | modproof verdict | modproof s | Spin: largest K finished, "
            "verdict | Spin s | Spin/modproof time | modproof MB | Spin MB |",
            "|---|---|---|---|---|---|---|---|---|"]
    agree = True
    models = HERE / "models"
    models.mkdir(exist_ok=True)
    for crash in (False, True):
        path = models / f"dm_{'crash' if crash else 'safe'}_all.mproof"
        path.write_text(dm_model("*", safe=not crash))
        mv, mt, mm, out = run_modproof(path)
        head = out.splitlines()[0].split(": ", 1)[-1] if out else mv
        done = [k for (k, c), (v, _, _) in spin_runs.items() if c == crash and v in ("proved", "violated")]
        if done:
            k = max(done)
            sv, st, sm = spin_runs[(k, crash)]
            agree &= sv == mv
            spin = f"K = {k}, {sv}"
            cells = f"{st:.2f} | {st / mt:.1f}x | {mm:.0f} | {sm:.0f}"
        else:
            spin, cells = "none finished", f"- | - | {mm:.0f} | -"
        rows.append(f"| any | {'crash' if crash else 'safe'} | {head} | {mt:.2f} | {spin} | {cells} |")
        print(rows[-1], flush=True)
    return rows, agree


def all_sizes_files_table() -> list[str]:
    """Every file of proofs/ with `thread NAME[*]`: the default engine's time."""
    rows = ["| file | verdict | s |", "|---|---|---|"]
    for path in sorted((ROOT / "proofs").rglob("*.mproof")):
        if "[*]" not in path.read_text():
            continue
        v, t, _, out = run_modproof(path)
        head = out.splitlines()[0].split(": ", 1)[-1] if out else v
        rows.append(f"| {path.relative_to(ROOT)} | {head} | {t:.2f} |")
        print(rows[-1], flush=True)
    return rows


def run_spin_exported(path: Path, workdir: Path, bfs: bool):
    """Spin on the Promela modproof exports for `path` (docs/promela.md): (verdict,
    seconds, MB); the export's own time is not counted (it is modproof's work)."""
    code, _, _, out = run_measured(modproof_cmd() + ["export", "--format", "promela", str(path),
                                                     "-o", str(workdir / "model.pml")])
    if code != 0:
        return f"export failed({code})", 0.0, 0.0
    return run_pan(workdir, "model.pml", bfs)


def patterns_table(first: int = 17) -> tuple[list[str], bool]:
    """The kernel patterns of language v3 (proofs/kernel/NN_*, NN >= `first`): modproof
    (the default portfolio) against Spin on the exported Promela, in the same run."""
    rows = ["| pattern file | verdict (modproof / Spin) | modproof s | Spin s | Spin/modproof time | "
            "modproof MB | Spin MB |", "|---|---|---|---|---|---|---|"]
    agree = True
    for path in sorted((ROOT / "proofs" / "kernel").glob("*.mproof")):
        number = path.name.split("_", 1)[0]
        if not number.isdigit() or int(number) < first:
            continue
        if re.search(r"\bthread\s+\w+\s*\[\s*\*\s*\]", path.read_text()):
            continue   # every number of copies: a Promela model has one (the [*] rows above)
        mv, mt, mm, _ = run_modproof(path)
        with tempfile.TemporaryDirectory() as d:
            sv, st, sm = run_spin_exported(path, Path(d), bfs=mv == "violated")
        ok = mv == sv or sv in ("timeout", "out of memory")
        agree &= ok
        unfinished = sv in ("timeout", "out of memory")
        ratio = "-" if not mt else (f"> {st / mt:.0f}x" if unfinished else f"{st / mt:.1f}x")
        rows.append(f"| {path.stem} | {mv} / {sv}{'' if ok else ' DISAGREE'} | {mt:.2f} | "
                    f"{st:.2f}{'' if not unfinished else '+'} | {ratio} | {mm:.0f} | {sm:.0f} |")
        print(rows[-1], flush=True)
    return rows, agree


def proofs_table() -> list[str]:
    rows = ["| file | explicit s | bmc s | auto s | verdict |", "|---|---|---|---|---|"]
    for path in sorted((ROOT / "proofs").rglob("*.mproof")):
        times = {}
        verdicts = set()
        for engine in ("explicit", "bmc", "auto"):
            v, t, _, _ = run_modproof(path, engine)
            times[engine] = t
            verdicts.add(v)
        rel = path.relative_to(ROOT)
        rows.append(f"| {rel} | {times['explicit']:.2f} | {times['bmc']:.2f} | {times['auto']:.2f} | "
                    f"{'/'.join(sorted(verdicts))} |")
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    global SPIN_TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--no-proofs", action="store_true")
    ap.add_argument("--patterns", action="store_true",
                    help="only the kernel patterns of language v3 against Spin on the exported Promela")
    ap.add_argument("--spin-timeout", type=float, default=600.0,
                    help="seconds each Spin command may take (default %(default)s)")
    args = ap.parse_args()
    SPIN_TIMEOUT = args.spin_timeout
    for tool in ("spin", "cc"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed (apt-get install spin gcc)", file=sys.stderr)
            return 2
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    if args.patterns:
        rows, agree = patterns_table()
        print("\n".join(rows))
        if not agree:
            print("bench: verdicts disagree", file=sys.stderr)
        return 0 if agree else 1
    spin_runs: dict = {}
    rows, agree = dm_table(args.k, spin_runs)
    print("\n".join(rows))
    print()
    star, star_agree = star_table(spin_runs)
    agree &= star_agree
    print("\n".join(star))
    print()
    print("\n".join(all_sizes_files_table()))
    if not args.no_proofs:
        print()
        print("\n".join(proofs_table()))
    if not agree:
        print("bench: verdicts disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
