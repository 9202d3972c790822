"""The first lines the `modproof` command runs: signals are taken over before anything else.

NOTE(early-signals): importing the command line (click, the parser) takes a
tenth of a second, and Python's own SIGINT handler would print a
KeyboardInterrupt traceback for a Ctrl-C that lands in it.  Until a command
runs, SIGINT and SIGTERM end the process at once with the exit code the README
promises (130, 143) and one line that says so; `modproof.cli`'s command group
then installs the handlers that stop engine processes and CI workers first.
"""
import os
import signal


def _early(signum, frame) -> None:   # pragma: no cover - measured by tests in a subprocess
    word = b"interrupted" if signum == signal.SIGINT else b"terminated"
    try:
        os.write(2, b"modproof: " + word + b"\n")
    except OSError:
        pass
    os._exit(128 + signum)


def run() -> None:
    """The console entry point: `modproof ...` and `python -m modproof ...`."""
    signal.signal(signal.SIGINT, _early)
    signal.signal(signal.SIGTERM, _early)
    from modproof.cli import main
    main(prog_name="modproof")
