"""Text to AST: the front door of modproof.

`parse(text, path)` and `parse_file(path)` return a `SpecFile` (modproof.spec.ast)
or raise `SpecError` whose diagnostics point at the mistakes, first one first.
They never raise anything else for bad input; any other exception is a bug.

The parser only builds: every node is what the text says, with its span, and
nothing is checked beyond the grammar (unknown names, a primitive without its
argument, `local` in the wrong place, ... are `modproof.spec.check`'s business).
Input is lexed with line endings normalised: CRLF and a lone CR become LF, which
keeps every line and column as editors and the renderer of diagnostics
(`spec.diagnostics.source_lines`) count them.  Nothing else ends a line: a form
feed or vertical tab is white space, as in C, and U+2028 and the like are
characters (in a comment, part of it).  A leading byte-order mark is not part of
the text: columns on the first line do not count it, as editors do not show it.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import sys
import tempfile
from typing import Optional

import lark
from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedInput, VisitError

from modproof.grammar import errors
from modproof.grammar.errors import KEYWORDS
from modproof.spec import ast
from modproof.spec import vocabulary as V
from modproof.spec.diagnostics import Diagnostic, Note, SpecError, source_lines

MAX_ERRORS = 20  # syntax errors reported per file, at most

_PRIMS = {p.value: p for p in ast.Prim}
_QUERIES = {q.value: q for q in ast.QueryKind}
_KEYWORD_TYPES = {word: word.upper() for word in KEYWORDS}


def _reserve_keyword(tok: Token) -> Token:
    # NOTE(keywords): see modproof.lark; a NAME that spells a keyword is that keyword.
    kind = _KEYWORD_TYPES.get(tok.value)
    return Token.new_borrow_pos(kind, tok.value, tok) if kind else tok


_GRAMMAR = "modproof.lark"
_LARK_OPTIONS = dict(parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True)


def _open(**extra) -> Lark:
    return Lark.open(_GRAMMAR, rel_to=__file__, lexer_callbacks={"NAME": _reserve_keyword},
                     **_LARK_OPTIONS, **extra)


@functools.lru_cache(maxsize=None)
def _lark() -> Lark:
    """The parser, built once per process: a Lark instance is immutable once built.

    Building the LALR tables costs about 0.1 s, more than parsing and proving a
    small model together, so the built parser is kept in the user's cache folder
    (see `_cache_path`) and loaded from there when the grammar, Lark and Python
    are the same.  Without a usable cache folder the parser is built every time.
    """
    with open(os.path.join(os.path.dirname(__file__), _GRAMMAR), encoding="utf-8") as f:
        cached = _cache_path(f.read())
    if cached is None:
        parser = _open()
    elif os.path.exists(cached):
        parser = _open(cache=cached)
    else:
        parser = _build_into_cache(cached)
    missing = set(_KEYWORD_TYPES.values()) - {t.name for t in parser.terminals}
    assert not missing, f"grammar lacks keyword terminals {sorted(missing)}"
    return parser


def _cache_path(grammar: str) -> Optional[str]:
    """Where the built parser for this grammar is kept, or None for no cache.

    MODPROOF_CACHE_DIR names the folder (empty: no cache); otherwise
    $XDG_CACHE_HOME/modproof or ~/.cache/modproof.  The name carries a digest of
    the grammar and the Lark and Python versions, so a stale file is never read
    (Lark checks the digest stored inside it too).
    """
    folder = os.environ.get("MODPROOF_CACHE_DIR")
    if folder is None:
        home = os.path.expanduser("~")
        base = os.environ.get("XDG_CACHE_HOME") or (home != "~" and os.path.join(home, ".cache"))
        folder = os.path.join(base, "modproof") if base else ""
    if not folder:
        return None
    key = f"{grammar}\0{_LARK_OPTIONS}\0{lark.__version__}\0{sys.version_info[:2]}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return os.path.join(folder, f"parser-{digest}.lark")


def _build_into_cache(cached: str) -> Lark:
    """Build the parser, saving it to a private file then renaming it to `cached`.

    Lark writes its cache file in place; going through a private name means a
    concurrent `modproof ci -j N` never reads a half-written file.  Any OS error
    (read-only home, full disk) just means no cache.
    """
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".parser-", suffix=".tmp", dir=os.path.dirname(cached))
        os.close(fd)
        os.unlink(tmp)  # Lark must not find an empty cache file
    except OSError:
        return _open()
    try:
        parser = _open(cache=tmp)
        if os.path.exists(tmp):
            os.replace(tmp, cached)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return parser


# --------------------------------------------------------------------------- public API


def parse(text: str, path: str = "<input>") -> ast.SpecFile:
    """Parse the text of a `.mproof` file; `path` is used in spans and messages."""
    lexed = _lexable(text)
    nul = lexed.find("\0")
    if nul >= 0:
        raise SpecError([Diagnostic(_span_at(lexed, nul, path), _NUL_MESSAGE)])
    try:
        tree = _lark().parse(lexed)
    except UnexpectedInput as first:
        raise SpecError(_syntax_errors(lexed, path, first)) from None
    try:
        decls = _Builder(path).transform(tree)
    except VisitError as exc:  # a bug in the builder: show the real exception
        raise exc.orig_exc from None
    return ast.SpecFile(decls=decls, path=path, source=text)


def parse_bytes(data: bytes, path: str = "<input>") -> ast.SpecFile:
    """Parse a file's bytes, which must be UTF-8 text without NUL bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        nul = data.find(b"\0", 0, exc.start)
        bad = exc.start if nul < 0 else nul  # report whichever comes first
        before = _lexable(data[:bad].decode("utf-8"))
        message = (_NUL_MESSAGE if nul >= 0
                   else f"file is not UTF-8 text (invalid byte 0x{data[bad]:02x})")
        raise SpecError([Diagnostic(_span_at(before + "?", len(before), path), message)]) from None
    return parse(text, path)


MAX_INPUT_BYTES = 16 * 1024 * 1024   # the largest model modproof reads (docs/language.md)


def read_limited(f, path: str) -> bytes:
    """All of binary stream `f`, or a SpecError when it holds more than
    MAX_INPUT_BYTES (a device such as /dev/zero would never end)."""
    data = f.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise SpecError([Diagnostic(ast.Span(path, 1, 1, 1, 2),
                                    f"input is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB, "
                                    "the most modproof reads; a model is a few kilobytes")])
    return data


def parse_file(path: str | os.PathLike) -> ast.SpecFile:
    """Read and parse a file; its path (as given) names it in spans."""
    with open(path, "rb") as f:
        data = read_limited(f, str(path))
    return parse_bytes(data, str(path))


# --------------------------------------------------------------------------- input hygiene


def _decimal(digits: str) -> int:
    """The value of a decimal literal of any length.  LANGUAGE.md's integers are
    mathematical, but int() refuses more than 4300 digits by default (a guard
    against slow conversions of untrusted text), so long literals go in pieces."""
    if len(digits) <= 4000:
        return int(digits)
    value = 0
    for i in range(0, len(digits), 4000):
        piece = digits[i:i + 4000]
        value = value * 10 ** len(piece) + int(piece)
    return value

_NUL_MESSAGE = "file contains a NUL byte; expected UTF-8 text"



def _lexable(text: str) -> str:
    """The text the lexer sees: same lines and columns, LF line ends only."""
    text = "\n".join(source_lines(text))   # lines as the renderer of diagnostics counts them
    return text[1:] if text.startswith("\ufeff") else text


def _span_at(lexed: str, pos: int, path: str) -> ast.Span:
    """The one-character span of `lexed[pos]`."""
    line = lexed.count("\n", 0, pos) + 1
    col = pos - (lexed.rfind("\n", 0, pos) + 1) + 1
    return ast.Span(path, line, col, line, col + 1)


# --------------------------------------------------------------------------- syntax errors

# Every declaration word, the v2 ones too (vocabulary.ALL_DECL_KEYWORDS).
_DECL_START = re.compile(r"(%s)(?![A-Za-z0-9_])" % "|".join(V.ALL_DECL_KEYWORDS))


def _syntax_errors(text: str, path: str, first: UnexpectedInput) -> list[Diagnostic]:
    """The first syntax error, then those found by re-parsing from later declarations.

    Recovery restarts at the next line that begins, in column 1, with a
    declaration keyword: the only state carried across lines is the nesting of
    blocks, and a declaration written at the margin starts afresh.  The lines
    before it are blanked, so positions stay those of the file.
    """
    lines = text.split("\n")
    diag, at_end = errors.diagnose(first, text, path)
    diags = [diag]
    start = 1
    while len(diags) < MAX_ERRORS and not at_end:
        restart = _restart_line(lines, diags[-1].span, start)
        if restart is None:
            break
        start = restart
        chunk = "\n" * (restart - 1) + "\n".join(lines[restart - 1:])
        try:
            _lark().parse(chunk)
            break
        except UnexpectedInput as exc:
            diag, at_end = errors.diagnose(exc, chunk, path)
            diags.append(diag)
    return diags


def _restart_line(lines: list[str], span: ast.Span, start: int) -> Optional[int]:
    first = span.line if span.col == 1 else span.line + 1
    for number in range(max(first, start + 1), len(lines) + 1):
        if _DECL_START.match(lines[number - 1]):
            return number
    return None


# --------------------------------------------------------------------------- tree to AST


@v_args(meta=True)
class _Builder(Transformer_NonRecursive):
    """Builds `modproof.spec.ast` nodes from the parse tree; checks nothing."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def _span(self, meta) -> ast.Span:
        return ast.Span(self._path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, tok: Token) -> ast.Span:
        return ast.Span(self._path, tok.line, tok.column, tok.end_line, tok.end_column)

    # ---- file and declarations

    def start(self, meta, decls):
        return tuple(decls)

    def module_decl(self, meta, children):
        name, *options = children
        opts: dict = {}
        for key, value, span, where in options:
            if key in opts:   # the grammar lets options come in any order, each once
                raise SpecError([Diagnostic(where, f"option '{key}' given twice in the "
                                            f"declaration of module '{name.value}'",
                                            (Note(opts[key][2], "first given here"),))])
            opts[key] = (value, span, where)
        opts = {k: v[:2] for k, v in opts.items()}
        refs, _ = opts.get("refs", (0, ast.NO_SPAN))
        exit_fn, exit_span = opts.get("exit", (None, ast.NO_SPAN))
        init_fn, init_span = opts.get("init", (None, ast.NO_SPAN))
        deps, _ = opts.get("depends", (((), ()), ast.NO_SPAN))
        return ast.ModuleDecl(name.value, refs, exit_fn, name_span=self._tok(name),
                              exit_span=exit_span, span=self._span(meta), init=init_fn,
                              init_span=init_span, depends=deps[0], depends_spans=deps[1])

    def module_init(self, meta, children):
        word, fn = children
        return ("init", fn.value, self._tok(fn), self._span(meta))

    def module_depends(self, meta, children):
        word, *names = children
        return ("depends", (tuple(n.value for n in names), tuple(self._tok(n) for n in names)),
                self._tok(word), self._span(meta))

    def object_decl(self, meta, children):
        name, *options = children
        opts = dict((key, (value, span)) for key, value, span, *_ in (o for o in options if o))
        refs, _ = opts.get("refs", (1, ast.NO_SPAN))
        release, release_span = opts.get("release", (None, ast.NO_SPAN))
        storage, storage_span = opts.get("in", (None, ast.NO_SPAN))
        deferred = any(o and o[0] == "release" and o[3] for o in options)
        return ast.ObjectDecl(name.value, refs, release, name_span=self._tok(name),
                              release_span=release_span, span=self._span(meta),
                              storage=storage, storage_span=storage_span, deferred=deferred)

    def storage(self, meta, children):
        return ("in", children[0].value, self._tok(children[0]))

    def workqueue_decl(self, meta, children):
        (name,) = children
        return ast.WorkqueueDecl(name.value, name_span=self._tok(name), span=self._span(meta))

    def work_decl(self, meta, children):
        name, fn, queue = children
        return ast.WorkDecl(name.value, fn.value, None if queue is None else queue.value,
                            name_span=self._tok(name), fn_span=self._tok(fn),
                            queue_span=ast.NO_SPAN if queue is None else self._tok(queue),
                            span=self._span(meta))

    def delayed_work_decl(self, meta, children):
        name, fn, queue = children
        return ast.DelayedWorkDecl(name.value, fn.value, None if queue is None else queue.value,
                                   name_span=self._tok(name), fn_span=self._tok(fn),
                                   queue_span=ast.NO_SPAN if queue is None else self._tok(queue),
                                   span=self._span(meta))

    def timer_decl(self, meta, children):
        name, fn = children
        return ast.TimerDecl(name.value, fn.value, name_span=self._tok(name),
                             fn_span=self._tok(fn), span=self._span(meta))

    def spinlock_decl(self, meta, children):
        (name,) = children
        return ast.SpinlockDecl(name.value, name_span=self._tok(name), span=self._span(meta))

    def rwsem_decl(self, meta, children):
        (name,) = children
        return ast.RwsemDecl(name.value, name_span=self._tok(name), span=self._span(meta))

    def irq_decl(self, meta, children):
        name, fn = children
        return ast.IrqDecl(name.value, fn.value, name_span=self._tok(name),
                           fn_span=self._tok(fn), span=self._span(meta))

    def module_refs(self, meta, children):
        return ("refs", _decimal(children[0]), self._tok(children[0]), self._span(meta))

    object_refs = module_refs

    def module_exit(self, meta, children):
        return ("exit", children[0].value, self._tok(children[0]), self._span(meta))

    def object_release(self, meta, children):
        name, deferred = children
        return ("release", name.value, self._tok(name), deferred is not None)

    def completion_decl(self, meta, children):
        name, done, storage = children
        st, st_span = (None, ast.NO_SPAN) if storage is None else storage[1:]
        return ast.CompletionDecl(name.value, 0 if done is None else _decimal(done),
                                  name_span=self._tok(name), span=self._span(meta),
                                  storage=st, storage_span=st_span)

    def mutex_decl(self, meta, children):
        (name,) = children
        return ast.MutexDecl(name.value, name_span=self._tok(name), span=self._span(meta))

    def var_decl(self, meta, children):
        name, value = children
        return ast.VarDecl(name.value, value, name_span=self._tok(name), span=self._span(meta))

    def fn_decl(self, meta, children):
        name, params, returns, owner, body = children
        return ast.FnDecl(name.value, owner.value, body, name_span=self._tok(name),
                          owner_span=self._tok(owner), span=self._span(meta),
                          params=() if params is None else params,
                          returns=None if returns is None else returns.value,
                          returns_span=ast.NO_SPAN if returns is None else self._tok(returns))

    def fn_returns(self, meta, children):
        _arrow, typ = children
        return typ

    def call0(self, meta, children):
        (name,) = children
        if name.value in _QUERIES:   # refs(): a query without its argument
            at = ast.Span(self._path, meta.end_line, meta.end_column - 1, meta.end_line,
                          meta.end_column)
            raise SpecError([Diagnostic(at, f"unexpected ')'; '{name.value}' takes one argument, "
                                        f"as in {name.value}(x)")])
        return ast.Query(None, name.value, "", arg_span=self._span(meta), span=self._span(meta))

    def params(self, meta, children):
        return tuple(c for c in children if c is not None)

    def param_ptr(self, meta, children):
        _word, struct, _star, name = children
        return ast.Param("struct", name.value, struct.value, name_span=self._tok(name),
                         span=self._span(meta))

    def param_plain(self, meta, children):
        typ, name = children
        return ast.Param(typ.value, name.value, None, name_span=self._tok(name),
                         span=self._span(meta))

    def _param_of(kind: str):
        def make(self, meta, children):
            (name,) = children
            return ast.Param(kind, name.value, None, name_span=self._tok(name), span=self._span(meta))
        return make

    param_fn = _param_of("fn")
    param_object = _param_of("object")
    param_completion = _param_of("completion")
    param_mutex = _param_of("mutex")

    def struct_decl(self, meta, children):
        _word, name, *fields = children
        return ast.StructDecl(name.value, tuple(f for f in fields if f is not None),
                              name_span=self._tok(name), span=self._span(meta))

    def instance_decl(self, meta, children):
        _word, struct, star, name, count, init = children
        init = init or ()
        per_element = bool(init) and isinstance(init[0], list)
        per_copy = count is not None and count.type == "STAR"
        return ast.InstanceDecl(struct.value, name.value, star is not None,
                                None if count is None or per_copy else _decimal(count),
                                per_copy=per_copy,
                                struct_span=self._tok(struct), name_span=self._tok(name),
                                span=self._span(meta), inits=() if per_element else init,
                                element_inits=tuple(tuple(e) for e in init) if per_element else ())

    def instance_init(self, meta, children):
        return tuple(c for c in children if c is not None)

    def element_init(self, meta, children):
        return [c for c in children if c is not None]

    def field_init(self, meta, children):
        name, value = children
        return ast.FieldInit(name.value, value.value, self._span(meta))

    def fn_field(self, meta, children):
        (name,) = children
        return ast.FnField(name.value, name_span=self._tok(name), span=self._span(meta))

    def module_field(self, meta, children):
        (name,) = children
        return ast.ModuleField(name.value, name_span=self._tok(name), span=self._span(meta))

    def path(self, meta, children):
        """A path, as one NAME token of its normalised text (`p->x` is `p.x`)."""
        text = children[0].value
        for tok in children[1:]:
            if isinstance(tok, tuple):     # an index
                text += f"[{tok[1]}]"
            elif tok.type != "ARROW":
                text += "." + tok.value
        return Token("NAME", text, start_pos=children[0].start_pos, line=meta.line,
                     column=meta.column, end_line=meta.end_line, end_column=meta.end_column)

    def index(self, meta, children):
        (tok,) = children
        return ("index", _decimal(tok) if tok.type == "INT" else tok.value)

    def neg_int(self, meta, children):
        return Token("INT", "-" + children[1].value, line=meta.line, column=meta.column,
                     end_line=meta.end_line, end_column=meta.end_column)

    def thread_decl(self, meta, children):
        name, count, owner, service, body = children
        star = count is not None and count.type == "STAR"
        return ast.ThreadDecl(
            name.value, None if count is None or star else _decimal(count),
            None if owner is None else owner.value, body,
            name_span=self._tok(name),
            owner_span=ast.NO_SPAN if owner is None else self._tok(owner),
            count_span=ast.NO_SPAN if count is None else self._tok(count),
            span=self._span(meta), service=service is not None, unbounded=star)

    def kthread_decl(self, meta, children):
        name, owner, body = children
        return ast.ThreadDecl(
            name.value, None, None if owner is None else owner.value, body,
            name_span=self._tok(name),
            owner_span=ast.NO_SPAN if owner is None else self._tok(owner),
            span=self._span(meta), kthread=True)

    def invariant_decl(self, meta, children):
        name, expr = children
        return ast.InvariantDecl(name.value, expr, name_span=self._tok(name),
                                 span=self._span(meta))

    def cover_decl(self, meta, children):
        name, expr = children
        return ast.CoverDecl(name.value, expr, name_span=self._tok(name), span=self._span(meta))

    def expect_decl(self, meta, children):
        if children[0].type == "PROVED":
            bound = children[1] if len(children) > 1 else None
            if bound is None:
                return ast.ExpectDecl("proved", span=self._span(meta))
            return ast.ExpectDecl("proved", bound=_decimal(bound), bound_span=self._tok(bound),
                                  span=self._span(meta))
        check = children[1]
        return ast.ExpectDecl("violated", check.value, check_span=self._tok(check),
                              span=self._span(meta))

    def literal(self, meta, children):
        if len(children) == 2:    # v3: a negative initial value, `var x = -1`
            return ast.IntLit(-_decimal(children[1]), span=self._span(meta))
        (tok,) = children
        if tok.type == "INT":
            return ast.IntLit(_decimal(tok), span=self._tok(tok))
        return ast.BoolLit(tok.type == "TRUE", span=self._tok(tok))

    # ---- statements

    def block(self, meta, stmts):
        return tuple(stmts)

    def local_stmt(self, meta, children):
        name, value = children
        return ast.Local(name.value, value, name_span=self._tok(name), span=self._span(meta))

    def call_stmt(self, meta, children):
        name, *rest = children
        arg, more = (rest[0], rest[1:]) if rest else (None, [])
        more = [m for m in more if m is not None]
        extra = tuple(m.value for m in more)
        extra_spans = tuple(self._tok(m) for m in more)
        span = self._span(meta)
        if name.value == "fops_put" and arg is not None and not more:
            # v3: fops_put(F) is module_put(F.owner) (include/linux/fs.h)
            return ast.PrimStmt(ast.Prim.MODULE_PUT, arg.value + ".owner", arg_span=self._tok(arg),
                                span=span)
        if name.value in _PRIMS:
            if arg is None:  # point at the ')' where the argument is missing
                arg_span = ast.Span(self._path, meta.end_line, meta.end_column - 1,
                                    meta.end_line, meta.end_column)
                return ast.PrimStmt(_PRIMS[name.value], None, arg_span=arg_span, span=span)
            return ast.PrimStmt(_PRIMS[name.value], arg.value, arg_span=self._tok(arg), span=span,
                                extra=extra, extra_spans=extra_spans)
        return ast.CallStmt(name.value, None if arg is None else arg.value,
                            fn_span=self._tok(name), span=span, extra=extra,
                            extra_spans=extra_spans,
                            arg_span=ast.NO_SPAN if arg is None else self._tok(arg))

    def assign_stmt(self, meta, children):
        target, value = children
        return ast.Assign(target.value, value, target_span=self._tok(target), span=self._span(meta))

    def assert_stmt(self, meta, children):
        return ast.Assert(children[0], span=self._span(meta))

    def await_stmt(self, meta, children):
        return ast.Await(children[0], span=self._span(meta))

    def return_stmt(self, meta, children):
        (value,) = children
        return ast.Return(span=self._span(meta), value=value)

    def for_stmt(self, meta, children):
        _word, var, array, body = children
        return ast.For(var.value, array.value, body, var_span=self._tok(var),
                       array_span=self._tok(array), span=self._span(meta))

    def break_stmt(self, meta, children):
        return ast.Break(span=self._span(meta))

    def continue_stmt(self, meta, children):
        return ast.Continue(span=self._span(meta))

    def if_stmt(self, meta, children):
        cond, then, *rest = children  # Lark leaves no placeholder for an absent else
        orelse = rest[0] if rest else None
        if isinstance(orelse, ast.If):  # `else if ...`
            orelse = (orelse,)
        return ast.If(cond, then, orelse, span=self._span(meta))

    def while_stmt(self, meta, children):
        cond, body = children
        return ast.While(cond, body, span=self._span(meta))

    def choose_stmt(self, meta, branches):
        return ast.Choose(tuple(branches), span=self._span(meta))

    def atomic_stmt(self, meta, children):
        return ast.Atomic(children[0], span=self._span(meta))

    # ---- expressions

    def or_op(self, meta, children):
        left, right = children
        return ast.Binary(ast.BinOp.OR, left, right, span=self._span(meta))

    def and_op(self, meta, children):
        left, right = children
        return ast.Binary(ast.BinOp.AND, left, right, span=self._span(meta))

    def not_op(self, meta, children):
        return ast.Not(children[0], span=self._span(meta))

    def neg(self, meta, children):
        _minus, operand = children
        return ast.Minus(operand, span=self._span(meta))

    def compare(self, meta, children):
        left, op, right = children
        return ast.Binary(ast.BinOp(op.value), left, right, span=self._span(meta))

    arith = compare

    def int_lit(self, meta, children):
        return ast.IntLit(_decimal(children[0]), span=self._span(meta))

    def true_lit(self, meta, children):
        return ast.BoolLit(True, span=self._span(meta))

    def false_lit(self, meta, children):
        return ast.BoolLit(False, span=self._span(meta))

    def name(self, meta, children):
        return ast.Name(children[0].value, span=self._span(meta))

    def query(self, meta, children):
        name, arg, *more = children
        if name.value == "fops_get" and not more:
            # v3: fops_get(F) is try_module_get(F.owner) (include/linux/fs.h)
            return ast.Query(ast.QueryKind.TRY_MODULE_GET, "try_module_get", arg.value + ".owner",
                             arg_span=self._tok(arg), span=self._span(meta))
        return ast.Query(_QUERIES.get(name.value), name.value, arg.value,
                         arg_span=self._tok(arg), span=self._span(meta),
                         extra=tuple(m.value for m in more),
                         extra_spans=tuple(self._tok(m) for m in more))

    def query0(self, meta, children):
        # v3: a query without an argument (kthread_should_stop()); its arg is "".
        (name,) = children
        return ast.Query(None, name.value, "", span=self._span(meta))

    def paren(self, meta, children):
        # No node for parentheses: the inner expression's span grows to cover them.
        return dataclasses.replace(children[0], span=self._span(meta))
