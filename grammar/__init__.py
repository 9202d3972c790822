"""The concrete syntax of modproof: `modproof.lark` and the parser built from it.

`parse(text, path)`, `parse_bytes(data, path)` and `parse_file(path)` return a
`modproof.spec.ast.SpecFile` or raise `modproof.spec.diagnostics.SpecError`.
"""
from modproof.grammar.errors import KEYWORDS, OPTION_WORDS
from modproof.grammar.parser import parse, parse_bytes, parse_file

__all__ = ["KEYWORDS", "OPTION_WORDS", "parse", "parse_bytes", "parse_file"]
