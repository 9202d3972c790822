"""modproof: formal verification of Linux-kernel lifetime races.

The pipeline (see ARCHITECTURE.md): text -> `modproof.grammar` (Lark parse tree,
AST) -> `modproof.spec` (checks, lowered program model, reference semantics) ->
engines (`modproof.encoder` for Z3, `modproof.explicit` for explicit states) ->
verdict and witness -> exports.
"""

__version__ = "0.1.0"
