"""Syntax errors in the user's words.

`diagnose(exc, text, path)` turns one of Lark's `UnexpectedInput` exceptions,
raised while parsing `text` (the text as lexed: LF line ends), into a
`Diagnostic` (and says whether the parser had reached the end of the file):
where the mistake is, what was found there and what could have stood there,
said with the words of LANGUAGE.md ('{', a name, a statement, end of
statement) and never with the grammar's terminal names.  Common mistakes are
named (a '{' on the next line, chained comparisons, a misplaced else or or,
unary minus, C operators); an unclosed '{' or '(' gets a note at its place.
It also owns the vocabulary: KEYWORDS and OPTION_WORDS.  Pure functions.
"""
from __future__ import annotations

import unicodedata
from typing import Iterable, Optional

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from modproof.spec import vocabulary as V
from modproof.spec.ast import Span
from modproof.spec.diagnostics import Diagnostic, Note

# The vocabulary's words (modproof.spec.vocabulary): keywords are never names;
# the option words are keywords only where a declaration's options stand, so
# `refs(o)` and `done(c)` parse as queries (and the checker, not the grammar,
# rejects declaring them); the v2 declaration words are soft keywords, only at
# the start of a declaration.
DECL_KEYWORDS = V.DECL_KEYWORDS
KEYWORDS = V.KEYWORDS
OPTION_WORDS = V.OPTION_WORDS
QUERIES = frozenset(q.name for q in V.QUERIES)
V2_DECL_KEYWORDS = V.SOFT_DECL_KEYWORDS

END = "$END"
SEP = "_SEP"
CONTINUATIONS = frozenset({"_CONT_ELSE", "_CONT_OR"})  # newline before else / or
BRACE_LINE = "_BRACE_LINE"   # v3: the line break before a '{' on the next line

DECL_STARTS = frozenset(word.upper() for word in DECL_KEYWORDS + V2_DECL_KEYWORDS)
STMT_STARTS = frozenset({"LOCAL", "NAME", "ASSERT", "AWAIT", "RETURN", "IF", "WHILE",
                         "CHOOSE", "ATOMIC", "BREAK", "CONTINUE", "FOR"})
OPERAND_STARTS = frozenset({"NAME", "INT", "TRUE", "FALSE", "LPAR"})
COMPARISONS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE"})
OPERATORS = COMPARISONS | {"PLUS", "MINUS", "AND", "OR"}
OPENERS = {"LBRACE": "'{'", "LPAR": "'('", "LSQB": "'['"}

_PUNCTUATION = {
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['",
    "RSQB": "']'", "COLON": "':'", "EQUAL": "'='", "EQ": "'=='", "NE": "'!='", "COMMA": "','",
    "LT": "'<'", "LE": "'<='", "GT": "'>'", "GE": "'>='", "PLUS": "'+'", "MINUS": "'-'",
    "STAR": "'*'", "_DOT": "'.'", "ARROW": "'->'",
}
_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "CHECK": "the name of a check (such as code-after-unload)",
    END: "end of file",
    "_CONT_ELSE": "'else'",
    "_CONT_OR": "'or'",
    BRACE_LINE: "'{'",
    "COMMENT": "a comment",
    "C_COMMENT": "a comment",
    "C_BLOCK_COMMENT": "a comment",
    "SHOULD_STOP": "a name",
}
# The order in which expected things are listed.
_ORDER = ("LSQB", "IN", "LPAR", "NAME", "TRUE", "FALSE", "INT", "STAR", "CHECK", "PROVED",
          "VIOLATED", "UP", "TO", "REFS", "EXIT", "INIT", "DEPENDS", "RELEASE", "DEFERRED", "DONE",
          "EQUAL", "COLON", "ELSE", "OR", "COMMA", "RSQB", "RPAR", "LBRACE", SEP, "RBRACE", END)

_CHAR_HINTS = {
    "!": "write 'not', or '!=' to compare",
    "&": "write 'and'",
    "|": "write 'or'",
    "*": "expressions have only + and -",
    "/": "expressions have only + and -",
    "%": "expressions have only + and -",
    '"': "there are no strings",
    "'": "there are no strings",
    ",": "a primitive or query takes one argument, a function call none",
}


def diagnose(exc: UnexpectedInput, text: str, path: str) -> tuple[Diagnostic, bool]:
    """The diagnostic for one syntax error, and whether it is at the end of the file."""
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, text, path), False
    assert isinstance(exc, UnexpectedToken), exc
    found = _retype(exc.token)
    expected = _accepts(exc)
    if found.type in CONTINUATIONS and found.type not in expected and SEP in expected:
        found, expected = _past_line_break(exc, found)
    if found.type == END:
        return _at_end(exc, expected, text, path), True
    span = _token_span(found, text, path)
    what = describe_found(found)
    before = text.split("\n")[found.line - 1][max(found.column - 3, 0):found.column - 1]
    if found.type == "EQUAL" and before in ("==", "!=", "<=", ">="):   # x === 1, x !== 1
        span = Span(path, found.line, found.column - 2, found.line, found.column + 1)
        message = f"unexpected '{before}='; write '{before}' to compare"
    elif found.type == "EQ" and before.endswith("=") and OPERAND_STARTS <= expected:
        span = Span(path, found.line, found.column - 1, found.line, found.column + 2)
        message = "unexpected '==='; a comparison is not a statement ('=' assigns)"
    elif found.type == "EQUAL" and before.endswith("="):
        span = Span(path, found.line, found.column - 1, found.line, found.column + 1)
        message = "unexpected '=='; a comparison is not a statement ('=' assigns)"
    elif (why := _explanation(found, expected, text)) is not None:
        message = f"unexpected {what}; {why}"
    else:
        message = f"unexpected {what}; expected {describe_expected(expected)}"
        if (hint := _hint(found, expected, text)) is not None:
            message += f" ({hint})"
    notes: tuple[Note, ...] = ()
    if (found.type in (SEP, *CONTINUATIONS, "LBRACE", "RBRACE")
            and ("RPAR" in expected or "RSQB" in expected)):
        notes = _unclosed_note(exc, path, "LPAR" if "RPAR" in expected else "LSQB")
    elif found.type in DECL_STARTS and "RBRACE" in expected and not (
            found.type == "VAR" and found.column > 1):   # an indented var: meant as a local
        notes = _unclosed_note(exc, path, "LBRACE", text, (found.line, found.column))
    return Diagnostic(span, message, notes), False


# --------------------------------------------------------------------------- pieces


def describe_found(tok: Token) -> str:
    """How the user would name what the parser found."""
    if tok.type == END:
        return "end of file"
    if tok.type in (SEP, *CONTINUATIONS):
        return "';'" if tok.value.startswith(";") else "newline"
    return f"'{tok.value}'"


def describe_terminal(name: str, top_level: bool = False) -> str:
    """Words for one expected terminal of the grammar."""
    if name == SEP:
        what = "declaration" if top_level else "statement"
        return f"end of {what} (newline or ;)"
    if name in _WORDS:
        return _WORDS[name]
    if name in _PUNCTUATION:
        return _PUNCTUATION[name]
    if name.isalpha() and name.isupper():  # a keyword: MODULE is 'module'
        return f"'{name.lower()}'"
    if name.lower() in V.ALL_DECL_KEYWORDS:  # DELAYED_WORK is 'delayed_work'
        return f"'{name.lower()}'"
    return "a token"  # not reached: tests check every terminal has words


def describe_expected(expected: Iterable[str]) -> str:
    """Words for a set of expected terminals, summarised where a group is complete."""
    rest = set(expected) - CONTINUATIONS
    if BRACE_LINE in rest:   # '{' on the header's line or the next: one '{'
        rest = (rest - {BRACE_LINE}) | {"LBRACE"}
    if "RPAR" in rest:       # a second argument (v3: kref_put_mutex(o, m)) is rare: not worth saying
        rest.discard("COMMA")
    top_level = END in rest
    items = []
    if DECL_STARTS <= rest:  # between declarations: blank lines are not worth naming
        items.append("a declaration (" + ", ".join(DECL_KEYWORDS + V2_DECL_KEYWORDS) + ")")
        rest -= DECL_STARTS | {SEP}
    if STMT_STARTS <= rest:
        items.append("a statement")
        rest -= STMT_STARTS | {SEP}
    if OPERAND_STARTS <= rest:
        items.append("an expression")
        rest -= OPERAND_STARTS | {"NOT", "MINUS"}   # (v3: '-' starts one too)
    operators: set[str] = set()
    if "PLUS" in rest:  # right after an operand ('or' alone is a choose's); a
        operators = rest & OPERATORS  # '(' there would make a name a query: not worth saying
        rest -= OPERATORS | {"LPAR"}
    if SEP in rest:  # after a complete statement: its end is the thing to name
        rest -= {END, "RBRACE"}
    if items and rest == {END}:
        rest = set()
    items += [describe_terminal(name, top_level) for name in _ORDER if name in rest]
    items += sorted(describe_terminal(name, top_level) for name in rest - set(_ORDER))
    if operators:
        items.append("an operator")
    return _join(items) if items else "nothing more"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _retype(tok: Token) -> Token:
    # The lexer's fallback may read a keyword as a name or a check name.
    if tok.type in ("NAME", "CHECK") and tok.value in KEYWORDS:
        return Token.new_borrow_pos(tok.value.upper(), tok.value, tok)
    return tok


def _past_line_break(exc: UnexpectedToken, found: Token) -> tuple[Token, set[str]]:
    """A newline lexed as the start of `else`/`or` where neither may follow: the
    newline ends the statement, and the keyword after it is what is out of place."""
    word = "else" if found.type == "_CONT_ELSE" else "or"
    keyword = Token(word.upper(), word, line=found.end_line, column=found.end_column,
                    end_line=found.end_line, end_column=found.end_column + len(word))
    parser = exc.interactive_parser.copy(deepcopy_values=False)
    parser.feed_token(Token(SEP, "\n"))
    return keyword, set(parser.accepts())


def _char_before(text: str, tok: Token) -> str:
    line = text.split("\n")[tok.line - 1]
    return line[tok.column - 2] if tok.column >= 2 else ""


# v3: what may continue a path after a name (`.x`, `->x`, `[i]`); never listed as
# expected, since a name is complete without them.
PATH_CONTINUATIONS = frozenset({"_DOT", "ARROW"})


def _accepts(exc: UnexpectedToken) -> set[str]:
    parser = getattr(exc, "interactive_parser", None)
    got = set(parser.accepts()) if parser is not None else set(exc.expected or ())
    if got & PATH_CONTINUATIONS:
        got -= PATH_CONTINUATIONS | {"LSQB"}
    # v3: kthread_should_stop() is a NAME that the lexer tells apart (NOTE(keywords))
    return got - {"SHOULD_STOP"}


def _explanation(found: Token, expected: set[str], text: str) -> Optional[str]:
    """What is wrong, for mistakes common enough to name, said instead of the
    list of what was expected."""
    kind = found.type
    if _keyword_as_name(found, expected, text):
        return None   # said by _hint: "'else' is a keyword"
    line = text.split("\n")[found.line - 1]
    if kind == "_DOT" and line[:found.column - 1].rstrip()[-1:].isdigit():
        return "integers are whole decimal numbers"
    if kind == "LPAR" and expected <= {"EQUAL"} and "." in line[:found.column - 1]:
        return ("there are no methods: a primitive is written as in get(o), and a field of "
                "struct memory is a value, as in p.count or put(p.kref)")
    if describe_found(found) == "newline" and "LBRACE" in expected:
        return ("expected '{' (a block opens on the line of its header, or alone at the start "
                "of the next line)")
    if kind in COMPARISONS and "PLUS" in expected and kind not in expected:
        return "comparisons do not chain (join two comparisons with 'and')"
    if kind == "NOT" and OPERAND_STARTS <= expected and "NOT" not in expected:
        return ("'not' binds more loosely than comparisons and + -: "
                "put it in parentheses, as in (not x)")
    if kind == "ELSE" and "ELSE" not in expected:
        return "'else' must follow the '}' of an if block, on the same line or a later one"
    if (kind == "RPAR" and expected == {"NAME"}
            and _previous_char(text, found.line, found.column) == "("):
        name = _name_before_paren(text, found.line, found.column)
        if name in QUERIES:
            return f"'{name}' takes one argument, as in {name}(x)"
        return ("a call is a statement of its own, not part of an expression "
                "(a query takes one argument, as in refs(o))")
    if kind == "OR" and "OR" not in expected and (STMT_STARTS | DECL_STARTS) & expected:
        if (_previous_char(text, found.line, found.column) == "}"
                or _next_char(text, found.end_line, found.end_column) == "{"):
            return "'or' must follow the '}' of a choose branch, on the same line or a later one"
        return "an expression cannot continue on the next line"
    if kind == "RBRACE" and DECL_STARTS <= expected:
        return "there is no open block to close"
    return None


def _keyword_as_name(found: Token, expected: set[str], text: str) -> bool:
    """Whether `found` is a keyword written as a name: where only a name may stand
    (`var or = 0`, `get(else)`), or as the target of an assignment (`else = 1`)."""
    if found.value not in KEYWORDS or found.type in expected or "NAME" not in expected:
        return False
    if not (OPERAND_STARTS <= expected or STMT_STARTS <= expected):
        return True
    after = _code(text.split("\n")[found.end_line - 1][found.end_column - 1:]).lstrip()
    return after.startswith("=") and not after.startswith("==")


def _hint(found: Token, expected: set[str], text: str = "") -> Optional[str]:
    """A hint to add, in parentheses, after the list of what was expected."""
    kind = found.type
    if kind == "MINUS" and expected <= {"INT", "STAR"}:   # refs N, done N, thread T[K]
        return "a count cannot be negative"
    if kind == "STAR" and "STAR" not in expected:
        return _CHAR_HINTS["*"]
    if expected == {"INT", "STAR"}:
        return "thread NAME[K] declares K copies, thread NAME[*] any number of them"
    if kind == "EQUAL" and "PLUS" in expected and "EQUAL" not in expected:
        return "write '==' to compare"
    if kind == "NAME" and text and _char_before(text, found).isdigit():   # 0x10, 10u
        return "integers are decimal digits only"
    if (kind in ("PLUS", "MINUS") and "EQUAL" in expected and "PLUS" not in expected and text
            and text.split("\n")[found.line - 1][found.column:found.column + 1]
            in (found.value, "=")):
        name = _name_before_paren(text, found.line, found.column) or "x"   # x++, x += 1
        return f"there is no ++, --, += or -=: assign, as in {name} = {name} {found.value} 1"
    if (kind == "GT" and OPERAND_STARTS <= expected and text
            and _previous_char(text, found.line, found.column) == "<"):
        return "write '!=' for 'not equal'"
    if kind == "VAR" and "RBRACE" in expected and found.column > 1:
        return ("'var' declares a shared variable at the top level; a variable of this body "
                "is declared at its start with 'local NAME = VALUE'")
    if kind in DECL_STARTS and "RBRACE" in expected:
        return "a declaration cannot stand inside a block: is a '}' missing?"
    if text and _keyword_as_name(found, expected, text):
        return f"'{found.value}' is a keyword"
    if expected - CONTINUATIONS == {"OR"}:
        return "a choose has at least two branches"
    if expected in ({"IN"}, {"IN", "LPAR"}):
        return ("a function names its owner: fn NAME in OWNER { ... }, or "
                "fn NAME(PARAMETERS) in OWNER { ... }" if "LPAR" in expected else
                "a function names its owner: fn NAME in OWNER { ... }")
    if expected == {"TRUE", "FALSE", "INT"}:
        return "an initial value is a literal"
    return None


def _at_end(exc: UnexpectedToken, expected: set[str], text: str, path: str) -> Diagnostic:
    line, col = end_of_code(text)
    span = Span(path, line, col, line, col + 1)
    for closer, opener in (("RBRACE", "LBRACE"), ("RPAR", "LPAR"), ("RSQB", "LSQB")):
        if closer in expected:
            what = describe_terminal(closer)
            return Diagnostic(span, f"unexpected end of file; expected {what}",
                              _unclosed_note(exc, path, opener, text, (line, col)))
    return Diagnostic(span, f"unexpected end of file; expected {describe_expected(expected)}")


def _unclosed_note(exc: UnexpectedInput, path: str, opener: str, text: str = "",
                   error_at: Optional[tuple[int, int]] = None) -> tuple[Note, ...]:
    """A note at the innermost opener of that kind the parser has not closed yet.

    For a '{', the parser's answer is the brace that the '}'s, matched in order,
    leave open; when the indentation says that an inner block lost its '}' (a '}'
    alone on its line, indented less than the line of the '{' it matched), the
    note points at that block instead: that is where the '}' is missing."""
    parser = getattr(exc, "interactive_parser", None)
    stack = getattr(getattr(parser, "parser_state", None), "value_stack", None) or ()
    for value in reversed(stack):
        if isinstance(value, Token) and value.type == opener:
            if opener == "LBRACE" and text and error_at is not None:
                inner = _lost_close_brace(text, (value.line, value.column), error_at)
                if inner is not None:
                    line, col, close_line = inner
                    span = Span(path, line, col, line, col + 1)
                    return (Note(span, "this '{' is not closed, judging by the indentation: "
                                 f"the '}}' on line {close_line} lines up with an outer block"),)
            span = Span(path, value.line, value.column, value.line, value.column + 1)
            return (Note(span, f"this {OPENERS[opener]} is not closed"),)
    return ()


def _lost_close_brace(text: str, opener: tuple[int, int],
                      error_at: tuple[int, int]) -> Optional[tuple[int, int, int]]:
    """The '{' between `opener` and `error_at` whose '}' the indentation says is
    missing: the first '{' matched by a '}' that stands first on its line, on a
    later line, indented less than the line of that '{' (tabs count to the next
    multiple of 8).  Its line and column and the '}''s line; None if there is none."""
    lines = text.split("\n")
    open_braces: list[tuple[int, int, int]] = []   # line, column, indentation of its line
    for number in range(opener[0], min(error_at[0], len(lines)) + 1):
        code = _code(lines[number - 1])
        indent = len(code) - len(code.lstrip(" \t\f\v"))
        width = len(code[:indent].expandtabs(8))
        start = opener[1] - 1 if number == opener[0] else 0
        stop = error_at[1] - 1 if number == error_at[0] else len(code)
        for i in range(start, min(stop, len(code))):
            if code[i] == "{":
                open_braces.append((number, i + 1, width))
            elif code[i] == "}":
                if not open_braces:
                    return None
                line, col, its_width = open_braces.pop()
                if i == indent and number != line and width < its_width:
                    return line, col, number
    return None


def _bad_character(exc: UnexpectedCharacters, text: str, path: str) -> Diagnostic:
    char = exc.char
    span = Span(path, exc.line, exc.column, exc.line, exc.column + 1)
    if char == "'":
        shown = '"\'"'
    elif char.isprintable() and char != " " and char.isascii():
        shown = f"'{char}'"
    elif char.isprintable() and char != " ":
        shown = f"'{char}' (U+{ord(char):04X} {unicodedata.name(char, 'unnamed')})"
    else:
        shown = f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character').lower()})"
    message = f"unexpected character {shown}"
    hint = _CHAR_HINTS.get(char)
    following = text.split("\n")[exc.line - 1][exc.column:exc.column + 1]
    if char == "/" and following == "*":   # a C comment that is not closed
        hint = "this /* comment is not closed with */"
    elif char == ".":
        preceding = text.split("\n")[exc.line - 1][exc.column - 2:exc.column - 1]
        hint = ("integers are whole decimal numbers" if preceding.isdigit()
                else "there are no fields or methods: a primitive is written as in get(o)")
    if hint is None and not char.isascii() and char.isidentifier():
        hint = "names are ASCII letters, digits and _"
    if hint:
        message += f" ({hint})"
    return Diagnostic(span, message)


def _token_span(tok: Token, text: str, path: str) -> Span:
    if tok.type in (SEP, *CONTINUATIONS) and tok.value.startswith("\n"):
        # An unexpected line end: point just after the line's code, not its comment.
        line = tok.line
        code = _code(text.split("\n")[line - 1])
        return Span(path, line, len(code) + 1, line, len(code) + 2)
    if tok.type in (SEP, *CONTINUATIONS):
        return Span(path, tok.line, tok.column, tok.line, tok.column + 1)
    return Span(path, tok.line, tok.column, tok.end_line, tok.end_column)


def _code(line: str) -> str:
    """A line without its comment and trailing blanks ('#', and v3 '//' and '/*',
    always start a comment; a '/*' comment that spans lines is not followed)."""
    for mark in ("#", "//", "/*"):
        line = line.split(mark, 1)[0]
    return line.rstrip(" \t\f\v")


def end_of_code(text: str) -> tuple[int, int]:
    """Line and column just after the last character of code in `text`."""
    lines = text.split("\n")
    for number in range(len(lines), 0, -1):
        code = _code(lines[number - 1])
        if code.strip():
            return number, len(code) + 1
    return 1, 1


def _next_char(text: str, line: int, col: int) -> str:
    """The first character of code at or after line:col on that line ('' if none)."""
    return _code(text.split("\n")[line - 1][col - 1:]).strip()[:1]


def _name_before_paren(text: str, line: int, col: int) -> str:
    """The name just before the '(' that precedes line:col on that line ('' if none)."""
    before = text.split("\n")[line - 1][: col - 1].rstrip()
    if before.endswith("("):
        before = before[:-1].rstrip()
    end = len(before)
    while end > 0 and (before[end - 1].isalnum() or before[end - 1] == "_"):
        end -= 1
    return before[end:]


def _previous_char(text: str, line: int, col: int) -> str:
    """The last character of code before line:col ('' at the start of the file)."""
    lines = text.split("\n")
    before = _code(lines[line - 1][: col - 1])
    while not before.strip() and line > 1:
        line -= 1
        before = _code(lines[line - 1])
    return before.strip()[-1:] if before.strip() else ""
