"""Replaying a JSON witness file (format "modproof-witness", version 1) on a program:
the execution of a violation ("check"), or one that reaches a cover ("cover")."""
from __future__ import annotations

from modproof.exports.jsonfmt import FORMAT, VERSION
from modproof.result import RawTrace
from modproof.spec.model import CHECKS, Program
from modproof.spec.vocabulary import LIVENESS_CHECKS
from modproof.spec.limits import MAX_COPIES
from modproof.witness import ReplayError, Witness, replay, replay_cover, state_items


class WitnessFileError(Exception):
    """The file is not a witness of this format (bad input, exit 2)."""


def _typed(obj: dict, key: str, kind: type, what: str, where: str = "") -> None:
    """`obj[key]`, when there, must be a `kind` (an int is not a bool here)."""
    if key in obj and (not isinstance(obj[key], kind) or (kind is int and type(obj[key]) is bool)):
        raise WitnessFileError(f"{where}\"{key}\" must be {what}")


def _same_state(items, recorded: dict) -> bool:
    """The state `items` (state_items) is the one recorded, value for value and type
    for type: JSON's `true` is not the integer 1, and neither `1` nor `1.0` is a
    boolean (Python would say they are equal)."""
    mine = dict(items)
    return mine.keys() == recorded.keys() and all(
        type(v) is type(recorded[k]) and v == recorded[k] for k, v in mine.items())


def replay_file(p: Program, data) -> Witness:
    """Replay `data` (a parsed witness file); raise ReplayError at the first divergence."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WitnessFileError(f"not a modproof witness (expected \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if type(version) is not int or version != VERSION:   # not True, not 1.0
        raise WitnessFileError(f"witness format version {short_value(version)} is not supported "
                               f"(this modproof reads version {VERSION})")
    cover = data.get("cover")   # an execution that reaches a cover, not a violation
    if cover is not None and "check" in data:
        raise WitnessFileError("a witness has a \"check\" (a violation) or a \"cover\" (an "
                               "execution that reaches it), not both")
    if cover is not None and not isinstance(cover, str):
        raise WitnessFileError("\"cover\" must be the name of a cover")
    check = data.get("check")
    if cover is None and check not in CHECKS:
        raise WitnessFileError(f"unknown check {short_value(check)}")
    steps = data.get("steps")
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise WitnessFileError("\"steps\" must be a list of objects")
    length = data.get("length")
    if length is not None and (type(length) is not int or length != len(steps)):
        raise WitnessFileError(f"\"length\" is {short_value(length)} but the witness has "
                               f"{len(steps)} steps")
    deferred = data.get("deferred_release", False)
    if type(deferred) is not bool:
        raise WitnessFileError("\"deferred_release\" must be true or false")
    if deferred != p.deferred_release:
        raise WitnessFileError("the witness was found with" + ("" if deferred else "out")
                               + " --deferred-release, the program lowered with"
                               + ("" if p.deferred_release else "out") + " it")
    loop = data.get("loop")
    if loop is not None and (type(loop) is not int or not 1 <= loop <= len(steps)):
        raise WitnessFileError(f"\"loop\" must be the index of a step (1 to {len(steps)}), "
                               f"not {short_value(loop)}")
    if cover is not None and loop is not None:
        raise WitnessFileError("an execution that reaches a cover has no \"loop\"")
    if cover is None and (loop is None) != (check not in LIVENESS_CHECKS):
        raise WitnessFileError(f"a '{check}' witness " + ("needs" if loop is None else "has no")
                               + " \"loop\" (the step its repeating part starts at)")
    p = _sized(p, data)
    # Fields a hand-made witness may leave out, but not give another type.
    _typed(data, "threads", list, "a list of thread names")
    _typed(data, "initial", dict, "an object")
    for i, s in enumerate(steps):   # ("index" is for readers: steps count by position)
        if not isinstance(s.get("thread"), str):
            raise WitnessFileError(f"step {i + 1}: \"thread\" must be a thread's name")
        _typed(s, "pc", int, "an integer", f"step {i + 1}: ")
        _typed(s, "state", dict, "an object", f"step {i + 1}: ")
        violation = s.get("violation")
        if violation is not None and cover is not None:
            raise WitnessFileError(f"step {i + 1}: \"violation\" is {violation!r}, but an "
                                   "execution that reaches a cover violates nothing")
        if violation is not None and i + 1 == len(steps) and violation != check:
            raise WitnessFileError(f"step {i + 1}: \"violation\" is {short_value(violation)}, "
                                   f"but the witness's check is {check!r}")
    threads = data.get("threads")
    if threads is not None and threads != [t.name for t in p.threads]:
        raise ReplayError(0, "the witness's threads are not this file's threads, in "
                          "declaration order")
    names = {t.name: i for i, t in enumerate(p.threads)}
    moves = []
    for i, s in enumerate(steps):
        t = s.get("thread")
        if t not in names:
            raise ReplayError(i + 1, f"the witness moves thread {short_value(t)}, which this file "
                              "does not have")
        if s.get("violation") is not None and i + 1 < len(steps):
            raise ReplayError(i + 1, f"the witness has its violation here, but goes on for "
                              f"{len(steps) - i - 1} more step(s)")
        moves.append((names[t], None))

    # The recorded pc and state of each step must be what the reference semantics gives.
    def match(i: int, state) -> bool:
        want = steps[i].get("state")
        if want is None:
            return True
        return _same_state(state_items(p, state), want)

    initial = data.get("initial")
    from modproof.spec.semantics import initial as init_state
    if isinstance(initial, dict) and not _same_state(state_items(p, init_state(p)), initial):
        raise ReplayError(0, "the witness's initial state is not this file's initial state")
    if cover is not None:
        w = replay_cover(p, cover, moves, match=match)
    else:
        w = replay(p, RawTrace(tuple(moves), check, loop=None if loop is None else loop - 1),
                   match=match)
    for i, s in enumerate(steps):
        if s.get("pc") is not None and s["pc"] != w.steps[i].pc:
            raise ReplayError(i + 1, f"the witness has {w.steps[i].thread} at step "
                              f"{short_value(s['pc'])}, "
                              f"but it is at step {w.steps[i].pc} ({w.steps[i].statement})")
    return w


def _sized(p: Program, data: dict) -> Program:
    """NOTE(unbounded): a witness of a file with `thread NAME[*]` ran with `sizes`
    copies of each such group: it replays on the program of those sizes."""
    sizes = data.get("sizes")
    if sizes is None and not p.unbounded:
        return p
    if sizes is None:
        raise WitnessFileError(f"the file has thread {p.unbounded[0]}[*], so the witness needs "
                               "\"sizes\" (the number of copies it ran with)")
    if (not isinstance(sizes, dict) or set(sizes) != set(p.unbounded)
            or not all(type(k) is int and 1 <= k <= MAX_COPIES for k in sizes.values())):
        raise WitnessFileError("\"sizes\" must give each thread NAME[*] group of the file ("
                               + ", ".join(p.unbounded) + f") a number of copies from 1 to {MAX_COPIES}"
                               if p.unbounded else "\"sizes\" given, but the file has no "
                               "thread NAME[*]")
    from modproof.spec.sizes import instantiate
    return instantiate(p, sizes)


def short_value(v) -> str:
    """A value for a message, cut short when long (a 100,000-digit number)."""
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
