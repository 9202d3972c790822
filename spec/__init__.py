"""The AST, the checks on it, the lowered program model and its reference semantics."""
