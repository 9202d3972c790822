"""The engines modproof can run, each stated once in `ENGINES`.

An entry names an engine, describes it in one line (the `--engine` help of
`modproof prove` and `modproof ci`), lists the `Options` fields it reads, and
gives the function that runs it in the calling process: `run(program, options)
-> Result`, the engine's own answer (a violation carries the engine's trace;
`modproof.prove` replays it into a witness).  `run_engine` runs it in a process
of its own that can always be stopped (NOTE(child-processes) in
modproof/supervise.py).  The portfolio, `auto`, is one more entry: its
`members` are the entries it races (`modproof/portfolio.py`).  The command
line, `modproof ci` and the pytest plugin take their engine names and help from
here, and `modproof.prove` runs whatever entry `Options.engine` names.

To add an engine: write its runner below and add one entry.  An engine's
implementation is imported only when it runs, so reading the registry (for
`--help`, say) costs nothing.

NOTE(template-engine): a program with a `thread NAME[*]` group is a template
(spec/sizes.py): the engines above answer for one size only, so `run_engine`
gives every template to the entry whose `templates` is set, the all-sizes
engine (modproof/allsizes.py), whatever `Options.engine` names; its answer
says so (`Stats.engine`).  `--engine all-sizes` given a program without such a
group runs the portfolio.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Optional

from modproof.options import Options

if TYPE_CHECKING:
    from modproof.result import Result
    from modproof.spec.model import Program
    from modproof.supervise import OnProgress

Runner = Callable[["Program", Options], "Result"]


@dataclass(frozen=True)
class Engine:
    name: str
    description: str             # one line, for `--engine` help
    options: tuple[str, ...]     # the `Options` fields it reads
    run: Runner
    members: tuple[str, ...] = ()   # a portfolio: the engines it races, the first tried first
    templates: bool = False         # answers for every size of `thread NAME[*]` (NOTE(template-engine))


def _explicit(program: Program, opts: Options) -> Result:
    from modproof.explicit import prove_explicit
    return prove_explicit(program, max_states=opts.state_budget(), timeout=opts.timeout,
                          reduce=opts.reduce, max_memory=opts.max_memory, report=opts.report)


def _bmc(program: Program, opts: Options) -> Result:
    """Z3: bounded model checking up to the bound, closed by k-induction where it can be.

    k-induction's base case is BMC itself, so a violation is still a shortest one;
    when the induction does not close within the bound, what remains is the
    bounded proof."""
    from modproof.encoder.kinduction import prove_kinduction
    return prove_kinduction(program, max_k=opts.bound, timeout=opts.timeout, bounded_fallback=True,
                            report=opts.report)


def _all_sizes(program: Program, opts: Options) -> Result:
    """Every number of copies of `thread NAME[*]`: the counter abstraction, its Z3
    certificate, and the explicit engine on the smallest sizes (NOTE(all-sizes))."""
    from modproof.allsizes import prove_all_sizes
    return prove_all_sizes(program, max_states=opts.state_budget(), timeout=opts.timeout,
                           reduce=opts.reduce).result


def _portfolio(program: Program, opts: Options, on_progress: Optional[OnProgress] = None) -> Result:
    from modproof.portfolio import prove_portfolio
    members = ENGINES[opts.engine].members
    return prove_portfolio(program, opts, {name: ENGINES[name].run for name in members},
                           on_progress)


_EXPLICIT = Engine("explicit", "breadth-first search of the reachable states",
                   ("max_states", "timeout", "reduce", "max_memory"), _explicit)
_BMC = Engine("bmc", "Z3 bounded model checking closed by k-induction",
              ("bound", "timeout", "max_memory"), _bmc)
_AUTO = Engine("auto", "the portfolio (explicit and bmc in parallel, first conclusive answer)",
               tuple(dict.fromkeys(o for e in (_EXPLICIT, _BMC) for o in e.options)), _portfolio,
               members=(_EXPLICIT.name, _BMC.name))

_ALL_SIZES = Engine("all-sizes", "every number of copies of thread NAME[*] (counter abstraction "
                    "certified by Z3, smallest violating size by explicit search); files with "
                    "[*] always run it", ("max_states", "timeout", "reduce", "max_memory"), _all_sizes,
                    templates=True)

ENGINES: dict[str, Engine] = {e.name: e for e in (_AUTO, _BMC, _EXPLICIT, _ALL_SIZES)}   # in --help's order
NAMES = tuple(ENGINES)


def run_engine(program: Program, opts: Options, on_progress: Optional[OnProgress] = None) -> Result:
    """The answer of the engine `opts.engine` names (ValueError for a name not in
    ENGINES), from a process of its own (a portfolio starts one per member);
    `on_progress` gets what the engines report as they go (modproof/supervise.py).
    Raises modproof.supervise.EngineFailed when an engine raised."""
    try:
        engine = ENGINES[opts.engine]
    except KeyError:
        raise ValueError(f"unknown engine {opts.engine!r}") from None
    if program.unbounded and not engine.templates:   # NOTE(template-engine)
        engine = next(e for e in ENGINES.values() if e.templates)
    elif engine.templates and not program.unbounded:
        engine = ENGINES["auto"]
    if engine.members:
        return _portfolio(program, replace(opts, engine=engine.name), on_progress)
    from modproof.supervise import run_isolated
    return run_isolated(engine.name, engine.run, program, opts, on_progress)


def engine_help() -> str:
    """Every engine and what it does, for `--engine` help."""
    return "; ".join(f"{e.name}: {e.description}" for e in ENGINES.values()) + "."


def readers(option: str) -> str:
    """The engines (not portfolios) that read the `Options` field `option`, for an
    option's help: "bmc", "explicit", "bmc and explicit"."""
    names = [e.name for e in ENGINES.values() if not e.members and option in e.options]
    return " and ".join(names)


__all__ = ["Engine", "ENGINES", "NAMES", "run_engine", "engine_help", "readers", "Runner"]
