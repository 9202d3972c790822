"""The AST back to `.mproof` text.

`to_source(spec)` prints a whole file, `expr_to_source(expr)` one expression and
`stmt_header(stmt)` the one-line text by which a witness names a statement.
Contract: for every file the parser accepts, parsing `to_source(parse(text))`
gives a tree equal to `parse(text)` (spans aside).  Expressions get the fewest
parentheses the precedence of LANGUAGE.md allows (loosest first: or, and, not,
comparisons, + -; the binary operators group to the left and comparisons do
not chain), so the parentheses that remain are the ones that change the tree.
"""
from __future__ import annotations

from modproof.spec.ast import (
    Assert, Assign, Atomic, Await, Binary, BinOp, BoolLit, Break, CallStmt, Choose, CompletionDecl,
    Continue, CoverDecl, DelayedWorkDecl, ExpectDecl, Expr, FnDecl, If, IntLit, InvariantDecl,
    Local, Minus, ModuleDecl, MutexDecl, Name, Not, ObjectDecl, PrimStmt, Query, Return, SpecFile,
    Stmt, ThreadDecl, TimerDecl, VarDecl, While, WorkDecl, WorkqueueDecl, For, StructDecl,
    InstanceDecl, FnField, ModuleField, IrqDecl, RwsemDecl, SpinlockDecl,
)

INDENT = "    "
WIDTH = 80  # a compound statement this short or shorter may be printed on one line

# Binding strength, loosest first (v3: unary minus above + -).
_OR, _AND, _NOT, _CMP, _SUM, _UNARY, _ATOM = range(1, 8)
_PREC = {BinOp.OR: _OR, BinOp.AND: _AND, BinOp.ADD: _SUM, BinOp.SUB: _SUM}


def _prec(op: BinOp) -> int:
    return _PREC.get(op, _CMP)


# --------------------------------------------------------------------------- expressions


def expr_to_source(expr: Expr) -> str:
    """The expression as source text, with only the parentheses it needs."""
    # Iterative, so that a long chain such as a + b + ... + z cannot exhaust the
    # recursion limit: `done` holds (text, binding strength) of finished operands.
    done: list[tuple[str, int]] = []
    work: list[tuple[Expr, bool]] = [(expr, False)]
    while work:
        node, children_done = work.pop()
        if isinstance(node, Binary) and not children_done:
            work += [(node, True), (node.right, False), (node.left, False)]
        elif isinstance(node, (Not, Minus)) and not children_done:
            work += [(node, True), (node.operand, False)]
        elif isinstance(node, Binary):
            (right, right_prec), (left, left_prec) = done.pop(), done.pop()
            prec = _prec(node.op)
            if left_prec < prec or (prec == _CMP and left_prec == _CMP):
                left = f"({left})"
            if right_prec <= prec:
                right = f"({right})"
            done.append((f"{left} {node.op.value} {right}", prec))
        elif isinstance(node, Not):
            operand, operand_prec = done.pop()
            done.append((f"not ({operand})" if operand_prec < _NOT else f"not {operand}", _NOT))
        elif isinstance(node, Minus):
            operand, operand_prec = done.pop()
            # -(-x) rather than --x, which reads as a decrement
            wrap = operand_prec < _UNARY or isinstance(node.operand, Minus) or operand.startswith("-")
            done.append((f"-({operand})" if wrap else f"-{operand}", _UNARY))
        else:
            done.append((_atom(node), _ATOM))
    ((text, _),) = done
    return text


def _atom(expr: Expr) -> str:
    if isinstance(expr, BoolLit):
        return "true" if expr.value else "false"
    if isinstance(expr, IntLit):
        return str(expr.value)
    if isinstance(expr, Name):
        return expr.id
    if isinstance(expr, Query):
        return f"{expr.name}({', '.join(((expr.arg,) if expr.arg else ()) + expr.extra)})"
    raise TypeError(f"not an expression: {expr!r}")


# --------------------------------------------------------------------------- statements


def stmt_header(stmt: Stmt) -> str:
    """One line naming the statement: `put(md_kobj)`, `if found`, `while not stop`,
    `choose`; an `atomic` block (one step) is printed whole, on one line."""
    if isinstance(stmt, If):
        return f"if {expr_to_source(stmt.cond)}"
    if isinstance(stmt, While):
        return f"while {expr_to_source(stmt.cond)}"
    if isinstance(stmt, For):
        return f"for {stmt.var} in {stmt.array}"
    if isinstance(stmt, Choose):
        return "choose"
    return _inline(stmt)


def _simple(stmt: Stmt) -> str:
    if isinstance(stmt, PrimStmt):
        return f"{stmt.kind.value}({', '.join(((stmt.arg or ''),) + stmt.extra)})"
    if isinstance(stmt, CallStmt):
        return f"{stmt.fn}({', '.join(((stmt.arg or ''),) + stmt.extra)})"
    if isinstance(stmt, Assign):
        return f"{stmt.target} = {expr_to_source(stmt.value)}"
    if isinstance(stmt, Assert):
        return f"assert {expr_to_source(stmt.cond)}"
    if isinstance(stmt, Await):
        return f"await {expr_to_source(stmt.cond)}"
    if isinstance(stmt, Return):
        return "return" if stmt.value is None else f"return {expr_to_source(stmt.value)}"
    if isinstance(stmt, Local):
        return f"local {stmt.name} = {expr_to_source(stmt.value)}"
    if isinstance(stmt, Break):
        return "break"
    if isinstance(stmt, Continue):
        return "continue"
    raise TypeError(f"not a simple statement: {stmt!r}")


def _inline(stmt: Stmt) -> str:
    """A statement on one line, blocks as `{ a; b }`."""
    if isinstance(stmt, If):
        text = f"if {expr_to_source(stmt.cond)} {_inline_block(stmt.then)}"
        if stmt.orelse is not None:
            if _is_else_if(stmt.orelse):
                text += f" else {_inline(stmt.orelse[0])}"
            else:
                text += f" else {_inline_block(stmt.orelse)}"
        return text
    if isinstance(stmt, While):
        return f"while {expr_to_source(stmt.cond)} {_inline_block(stmt.body)}"
    if isinstance(stmt, For):
        return f"for {stmt.var} in {stmt.array} {_inline_block(stmt.body)}"
    if isinstance(stmt, Choose):
        return "choose " + " or ".join(_inline_block(b) for b in stmt.branches)
    if isinstance(stmt, Atomic):
        return f"atomic {_inline_block(stmt.body)}"
    return _simple(stmt)


def _inline_block(body: tuple[Stmt, ...]) -> str:
    return "{ " + "; ".join(_inline(s) for s in body) + " }" if body else "{ }"


def _is_else_if(orelse: tuple[Stmt, ...]) -> bool:
    return len(orelse) == 1 and isinstance(orelse[0], If)


def _fits_inline(stmt: Stmt, indent: str) -> bool:
    """Short compound statements read best on one line: an atomic block always
    (it is one step), others when each block holds at most one simple statement."""
    if len(indent) + len(_inline(stmt)) > WIDTH:
        return False
    if isinstance(stmt, Atomic):
        return True
    blocks: list[tuple[Stmt, ...]] = []
    if isinstance(stmt, If):
        blocks = [stmt.then] + ([stmt.orelse] if stmt.orelse is not None else [])
    elif isinstance(stmt, While):
        blocks = [stmt.body]
    elif isinstance(stmt, Choose):
        blocks = list(stmt.branches)
    return all(len(b) <= 1 and not isinstance(s, (If, While, Choose, Atomic, For))
               for b in blocks for s in b)


def _stmt_lines(stmt: Stmt, indent: str, out: list[str]) -> None:
    if not isinstance(stmt, (If, While, Choose, Atomic, For)) or _fits_inline(stmt, indent):
        out.append(indent + _inline(stmt))
    elif isinstance(stmt, If):
        out.append(f"{indent}if {expr_to_source(stmt.cond)}")
        _block_lines(stmt.then, indent, out)
        while stmt.orelse is not None and _is_else_if(stmt.orelse):
            stmt = stmt.orelse[0]
            out[-1] += f" else if {expr_to_source(stmt.cond)}"
            _block_lines(stmt.then, indent, out)
        if stmt.orelse is not None:
            out[-1] += " else"
            _block_lines(stmt.orelse, indent, out)
    elif isinstance(stmt, While):
        out.append(f"{indent}while {expr_to_source(stmt.cond)}")
        _block_lines(stmt.body, indent, out)
    elif isinstance(stmt, For):
        out.append(f"{indent}for {stmt.var} in {stmt.array}")
        _block_lines(stmt.body, indent, out)
    elif isinstance(stmt, Choose):
        out.append(f"{indent}choose")
        for i, branch in enumerate(stmt.branches):
            if i:
                out[-1] += " or"
            _block_lines(branch, indent, out)
    else:
        out.append(f"{indent}atomic")
        _block_lines(stmt.body, indent, out)


def _block_lines(body: tuple[Stmt, ...], indent: str, out: list[str]) -> None:
    """Appends ` {` to the last line, the body one level deeper, and `}`."""
    if not body:
        out[-1] += " { }"
        return
    out[-1] += " {"
    for stmt in body:
        _stmt_lines(stmt, indent + INDENT, out)
    out.append(indent + "}")


# --------------------------------------------------------------------------- files


def _decl_lines(decl, out: list[str]) -> None:
    if isinstance(decl, ModuleDecl):
        out.append(f"module {decl.name}" + (f" refs {decl.refs}" if decl.refs != 0 else "")
                   + (f" exit {decl.exit}" if decl.exit is not None else "")
                   + (f" init {decl.init}" if decl.init is not None else "")
                   + (f" depends {', '.join(decl.depends)}" if decl.depends else ""))
    elif isinstance(decl, ObjectDecl):
        out.append(f"object {decl.name}" + (f" refs {decl.refs}" if decl.refs != 1 else "")
                   + (f" release {decl.release}" if decl.release is not None else "")
                   + (" deferred" if decl.deferred else "")
                   + (f" in {decl.storage}" if decl.storage is not None else ""))
    elif isinstance(decl, CompletionDecl):
        out.append(f"completion {decl.name}" + (f" done {decl.done}" if decl.done != 0 else "")
                   + (f" in {decl.storage}" if decl.storage is not None else ""))
    elif isinstance(decl, WorkqueueDecl):
        out.append(f"workqueue {decl.name}")
    elif isinstance(decl, WorkDecl):
        out.append(f"work {decl.name} runs {decl.fn}" + (f" on {decl.queue}" if decl.queue else ""))
    elif isinstance(decl, TimerDecl):
        out.append(f"timer {decl.name} runs {decl.fn}")
    elif isinstance(decl, DelayedWorkDecl):
        out.append(f"delayed_work {decl.name} runs {decl.fn}"
                   + (f" on {decl.queue}" if decl.queue else ""))
    elif isinstance(decl, MutexDecl):
        out.append(f"mutex {decl.name}")
    elif isinstance(decl, SpinlockDecl):
        out.append(f"spinlock {decl.name}")
    elif isinstance(decl, RwsemDecl):
        out.append(f"rwsem {decl.name}")
    elif isinstance(decl, IrqDecl):
        out.append(f"irq {decl.name} runs {decl.fn}")
    elif isinstance(decl, VarDecl):
        out.append(f"var {decl.name} = {_atom(decl.value)}")
    elif isinstance(decl, FnDecl):
        params = ""
        if decl.params:
            params = "(" + ", ".join(f"struct {p.struct} *{p.name}" if p.type == "struct"
                                     else f"{p.type} {p.name}" for p in decl.params) + ")"
        out.append(f"fn {decl.name}{params}" + (f" -> {decl.returns}" if decl.returns else "")
                   + f" in {decl.owner}")
        _block_lines(decl.body, "", out)
    elif isinstance(decl, StructDecl):
        fields: list[str] = []
        for f in decl.fields:
            if isinstance(f, FnField):
                fields.append(f"fn {f.name}")
            elif isinstance(f, ModuleField):
                fields.append(f"module {f.name}")
            else:
                _decl_lines(f, fields)
        out.append(f"struct {decl.name} {{" + "".join(f"\n{INDENT}{x}" for x in fields)
                   + ("\n}" if fields else " }"))
    elif isinstance(decl, InstanceDecl):
        def group(inits) -> str:
            return "{ " + ", ".join(f".{n} = {v}" for n, v, _ in inits) + " }"
        init = ""
        if decl.element_inits:
            init = " = { " + ", ".join(group(g) for g in decl.element_inits) + " }"
        elif decl.inits:
            init = " = " + group(decl.inits)
        out.append(f"struct {decl.struct} {'*' if decl.pointer else ''}{decl.name}"
                   + (f"[{decl.count}]" if decl.count is not None else "[*]" if decl.per_copy else "")
                   + init)
    elif isinstance(decl, ThreadDecl) and decl.kthread:
        out.append(f"kthread {decl.name}" + (f" in {decl.owner}" if decl.owner is not None else ""))
        _block_lines(decl.body, "", out)
    elif isinstance(decl, ThreadDecl):
        out.append(f"thread {decl.name}" + (f"[{decl.count}]" if decl.count is not None else "[*]" if decl.unbounded else "")
                   + (f" in {decl.owner}" if decl.owner is not None else "")
                   + (" service" if decl.service else ""))
        _block_lines(decl.body, "", out)
    elif isinstance(decl, InvariantDecl):
        out.append(f"invariant {decl.name}: {expr_to_source(decl.expr)}")
    elif isinstance(decl, CoverDecl):
        out.append(f"cover {decl.name}: {expr_to_source(decl.expr)}")
    elif isinstance(decl, ExpectDecl):
        out.append(f"expect {decl.verdict}" + (f" {decl.check}" if decl.check else "")
                   + (f" up to {decl.bound}" if decl.bound is not None else ""))
    else:
        raise TypeError(f"not a declaration: {decl!r}")


def to_source(spec: SpecFile) -> str:
    """The whole file as text; a blank line sets functions and threads apart."""
    out: list[str] = []
    previous_block = False
    for decl in spec.decls:
        block = isinstance(decl, (FnDecl, ThreadDecl))
        if out and (block or previous_block):
            out.append("")
        _decl_lines(decl, out)
        previous_block = block
    return "\n".join(out) + "\n" if out else ""
