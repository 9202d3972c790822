"""Compare the vendored calibration examples with the shared design folder's.

    python tests/tools/calibration_sync.py [SHARED] [--update]

The tests read only tests/calibration, a copy of the examples kept beside
LANGUAGE.md (SHARED, default ../shared/examples next to the checkout).  This
lists the files that differ or exist on one side only and exits 1 if there are
any (0 when the two agree, 2 when SHARED is not there); `--update` copies the
shared files over the vendored ones (it never deletes one).
"""
from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "tests" / "calibration"


def differences(shared: Path, vendored: Path) -> list[tuple[str, str]]:
    """(file name, how it differs) for each file that is not the same on both sides."""
    names = sorted({p.name for p in shared.iterdir() if p.is_file()}
                   | {p.name for p in vendored.iterdir() if p.is_file()})
    out = []
    for name in names:
        a, b = shared / name, vendored / name
        if not b.exists():
            out.append((name, "only in the shared folder"))
        elif not a.exists():
            out.append((name, "only in tests/calibration"))
        elif not filecmp.cmp(a, b, shallow=False):
            out.append((name, "differs"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shared", nargs="?", type=Path, default=ROOT.parent / "shared" / "examples")
    ap.add_argument("--update", action="store_true", help="copy the shared files into tests/calibration")
    args = ap.parse_args(argv)
    if not (args.shared / "expected.tsv").is_file():
        print(f"{args.shared}: no calibration examples there", file=sys.stderr)
        return 2
    diffs = differences(args.shared, VENDORED)
    for name, how in diffs:
        print(f"{name}: {how}")
    if args.update:
        for name, how in diffs:
            if how != "only in tests/calibration":
                shutil.copy2(args.shared / name, VENDORED / name)
        print(f"updated {sum(how != 'only in tests/calibration' for _, how in diffs)} file(s)")
        return 0
    if not diffs:
        print(f"tests/calibration matches {args.shared}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
