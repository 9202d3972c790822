"""A pytest plugin: `.mproof` files as tests that pass when the verdict matches `expect`.

Installed as the `pytest11` entry point `modproof`, so pytest loads it whenever
modproof is installed; it does nothing until a run opts in, with `--modproof`
on the command line or `modproof_collect = true` in the ini file.  Then each
`.mproof` file pytest collects becomes one test item that proves the file
(`modproof.ci.check_file`, the same check as `modproof ci`) and fails with the
verdict and its witness when it does not match.

Options: `--modproof-engine` (or ini `modproof_engine`; default auto, the
portfolio `modproof ci` runs),
`--modproof-bound`, `--modproof-timeout` (seconds per file), and the ini flag
`modproof_allow_missing_expect`.
"""
from __future__ import annotations

import pytest

# NOTE(lazy-plugin): pytest imports this module in every run once modproof is
# installed, opted in or not; of modproof, only the registry of engines (names,
# help and defaults: modproof.engines and modproof.options, which import no
# engine) is imported for the options' help, the rest only when a run opts in.

_OPTIONS = pytest.StashKey[object]()   # the CiOptions of a run that opted in


def pytest_addoption(parser) -> None:
    from modproof.engines import NAMES, readers
    from modproof.options import DEFAULT_ENGINE

    group = parser.getgroup("modproof", "modproof: .mproof files as tests")
    group.addoption("--modproof", action="store_true", default=False,
                    help="collect .mproof files as tests (also: ini modproof_collect = true)")
    group.addoption("--modproof-engine", default=None, metavar="ENGINE",
                    help=f"engine for .mproof tests: {', '.join(NAMES[:-1])} or {NAMES[-1]} "
                         f"(default: ini modproof_engine, else {DEFAULT_ENGINE})")
    group.addoption("--modproof-bound", type=int, default=None,
                    help=f"most steps an execution may take for the {readers('bound')} engine")
    group.addoption("--modproof-timeout", type=float, default=None,
                    help="seconds per .mproof file; past it the verdict is unknown (a failure)")
    parser.addini("modproof_collect", type="bool", default=False,
                  help="collect .mproof files as tests")
    parser.addini("modproof_engine", default=DEFAULT_ENGINE, help="engine for .mproof tests")
    parser.addini("modproof_allow_missing_expect", type="bool", default=False,
                  help="a .mproof file without an expect line passes instead of failing")


def _enabled(config) -> bool:
    return bool(config.getoption("modproof") or config.getini("modproof_collect"))


def pytest_configure(config) -> None:
    if _enabled(config):
        config.stash[_OPTIONS] = _options(config)   # bad options stop the run here


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".mproof" and _enabled(parent.config):
        return MproofFile.from_parent(parent, path=file_path)
    return None


def _options(config):
    from modproof.ci import CiOptions
    from modproof.engines import NAMES
    from modproof.options import DEFAULT_BOUND, DEFAULT_ENGINE

    engine = (config.getoption("modproof_engine") or config.getini("modproof_engine")
              or DEFAULT_ENGINE)
    if engine not in NAMES:
        raise pytest.UsageError(f"modproof_engine = {engine!r}: the engines are "
                                f"{', '.join(NAMES)}")
    bound = config.getoption("modproof_bound")
    return CiOptions(engine=engine, bound=DEFAULT_BOUND if bound is None else bound,
                     timeout=config.getoption("modproof_timeout"),
                     allow_missing_expect=bool(config.getini("modproof_allow_missing_expect")))


class MproofFile(pytest.File):
    """One `.mproof` file: one item, named after the file."""

    def collect(self):
        yield MproofItem.from_parent(self, name=self.path.stem)


class MproofMismatch(Exception):
    """The file's verdict does not match its expectation (carries the FileResult)."""

    def __init__(self, result):
        super().__init__(result.reason)
        self.result = result


class MproofItem(pytest.Item):
    def runtest(self) -> None:
        from modproof.ci import check_file

        r = check_file(str(self.path), self.config.stash[_OPTIONS])
        self.user_properties.append(("modproof_verdict", r.got))
        if not r.passed:
            raise MproofMismatch(r)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, MproofMismatch):
            r = excinfo.value.result
            if r.error == "input":        # modproof.ci.INPUT_ERROR: the diagnostics say it all
                return r.detail
            if r.error is not None:
                return f"{r.path}: {r.reason}\n\n{r.detail}"
            if r.status == "bounded":     # modproof.ci.BOUNDED: proved only up to a bound
                return f"{r.path}: bounded: {r.reason}\n\n{r.detail}"
            return f"{r.path}: expected {r.expected}, got {r.got}\n{r.reason}\n\n{r.detail}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"modproof: {self.path.name}"
