"""modproof: formal verification of Linux-kernel lifetime races.

The pipeline (see ARCHITECTURE.md): text -> `modproof.grammar` (Lark parse tree,
AST) -> `modproof.spec` (checks, lowered program model, reference semantics) ->
engines (`modproof.encoder` for Z3, `modproof.explicit` for explicit states) ->
verdict and witness -> exports.
"""

__version__ = "0.1.0"
# Where the project lives (pyproject.toml's [project.urls] says the same): the
# SARIF reports' tool.driver.informationUri.
HOMEPAGE = "https://github.com/modproof/modproof"


def allow_long_integers() -> None:
    """Let this process print and parse integers of any length.

    LANGUAGE.md's integers are mathematical; since Python 3.11 int<->str refuses
    more than 4300 digits by default, which a witness value or a JSON number can
    exceed.  The command line calls this once per process (and in CI workers).
    """
    import sys
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)
