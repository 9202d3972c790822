"""Whole files edited at random, line by line and word by word: the pipeline
(parse, check, lower, the explicit engine, replay) either rejects the file with
a SpecError whose diagnostics point into it, or gives a verdict whose witness
replays.  Nothing else may escape: on a user's file that would be an internal
error.  Edits at the level of lines and words (rather than characters, as in
test_parser.py) keep many files parseable, so the checker, the lowering and
the engine see unusual but well-formed programs."""
from __future__ import annotations

import os
import random
import re

from conftest import EXAMPLES, expected_rows, proof_files
from modproof.explicit import prove_explicit
from modproof.result import Unknown, Violated
from modproof.spec.diagnostics import SpecError, render_all
from modproof.spec.lower import load_text
from modproof.witness import replay

ROUNDS = int(os.environ.get("MODPROOF_MANGLE", "300"))
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")


def sources() -> list[str]:
    paths = list(proof_files()) + [EXAMPLES / r["file"] for r in expected_rows()]
    return [p.read_text() for p in sorted(set(paths))]


def mangle(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    words = sorted(set(WORD.findall(text)))
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(6)
        i = rng.randrange(len(lines))
        if kind == 0:                                   # drop a line
            del lines[i]
        elif kind == 1:                                 # repeat a line elsewhere
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        elif kind == 2:                                 # swap two lines
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        else:                                           # replace a word by another word of the file
            found = list(WORD.finditer(lines[i]))
            if found:
                m = rng.choice(found)
                new = rng.choice(words + ["0", "1", "2", "core", "true", "false"])
                lines[i] = lines[i][:m.start()] + new + lines[i][m.end():]
        if not lines:
            lines = [""]
    return "\n".join(lines)


def test_mangled_files_are_rejected_or_proved_with_replayable_witnesses():
    rng = random.Random(1124)
    texts = sources()
    seen = {"rejected": 0, "lowered": 0}
    for n in range(ROUNDS):
        text = mangle(rng.choice(texts), rng)
        try:
            program = load_text(text, "m.mproof")
        except SpecError as err:
            seen["rejected"] += 1
            assert err.diagnostics, text
            lines = text.split("\n")
            for d in err.diagnostics:
                assert 1 <= d.span.line <= len(lines) + 1, (d, text)
            render_all(err.diagnostics, text)
            continue
        seen["lowered"] += 1
        r = prove_explicit(program, max_states=3000, timeout=5, reduce=n % 2 == 0)
        seen[r.verdict] = seen.get(r.verdict, 0) + 1
        if isinstance(r, Unknown):
            # Only the budgets given here, or a loop in `atomic` beyond its limit.
            assert r.reason.startswith(("state budget exhausted", "timeout after",
                                        "an atomic block's loop")), (r.reason, text)
        if isinstance(r, Violated):
            w = replay(program, r.trace)
            assert w.check == r.check and len(w.steps) == len(r.trace.steps), text
    # Both paths must have been exercised, or the test proves little; of the files
    # lowered, most must be decided (proved or with a witness that replayed).
    assert seen["rejected"] > ROUNDS // 10 and seen["lowered"] > ROUNDS // 10, seen
    assert seen.get("unknown", 0) <= seen["lowered"] // 10, seen
