"""Hypothesis strategies: random well-formed `.mproof` programs.

Programs have 2 to 4 threads (sometimes a `thread NAME[2]`), modules with
refcounts, unload and exit functions, objects whose release functions live in a
module or in core, completions, a mutex, vars and locals, calls between
functions with owners, `if`/`while`/`choose`/`atomic`, the `try_` queries, and
sometimes RCU read-side sections and grace periods (v2), whose hidden state
belongs to threads.
They are finite-state by construction (the only loops are bounded by a var that
only grows), and valid by construction (calls only go to later functions, so no
cycle; release and exit functions make no calls).
"""
from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def programs(draw) -> str:
    n_mod = draw(st.integers(0, 2))
    mods = [f"m{i}" for i in range(n_mod)]
    owners = ["core"] + mods
    n_obj = draw(st.integers(0, 2))
    objs = [f"o{i}" for i in range(n_obj)]
    comps = ["c0"] if draw(st.booleans()) else []
    mutexes = ["l0"] if draw(st.booleans()) else []
    rcu = draw(st.integers(0, 3)) == 0   # v2 RCU: hidden state that belongs to threads
    lines: list[str] = []
    fns: list[str] = []

    def simple(allow_release_put: bool, allow_block: bool, in_atomic: bool = False) -> str:
        """One primitive or assignment."""
        opts = ["v = v + 1", "b = not b", "assert v < 3", "await b or v > 0"]
        if in_atomic:
            opts = ["v = v + 1", "b = not b", "assert v < 4", "await v < 3"]
        for o in objs:
            opts.append(f"get({o})")
            if allow_release_put or o not in released:
                opts.append(f"put({o})")
        for c in comps:
            opts += [f"complete({c})", f"reinit({c})", f"complete_all({c})"]
            if allow_block:
                opts.append(f"wait({c})")
        for m in mods:
            opts += [f"module_get({m})", f"module_put({m})"]
            if allow_block:
                opts.append(f"unload({m})")
        for l in mutexes:
            if allow_block:
                opts.append(f"lock({l})")
            opts.append(f"unlock({l})")
        if rcu and not in_atomic:
            opts += ["rcu_read_lock()", "rcu_read_unlock()"]
            if allow_block:
                opts.append("synchronize_rcu()")
        return draw(st.sampled_from(opts))

    def cond(with_try: bool) -> str:
        opts = ["b", "not b", "v < 2", "v == 0", "x > 0"]
        opts += [f"refs({o}) > 1" for o in objs] + [f"loaded({m})" for m in mods]
        opts += [f"done({c}) > 0" for c in comps] + [f"locked({l})" for l in mutexes]
        if with_try:
            opts += [f"try_get({o})" for o in objs] + [f"try_module_get({m})" for m in mods]
        return draw(st.sampled_from(opts))

    def block(depth: int, callable_fns: list[str], in_fn: bool, in_atomic: bool = False) -> list[str]:
        n = draw(st.integers(1, 3))
        out = []
        for _ in range(n):
            kinds = ["simple", "simple", "local"]
            if not in_atomic:
                if callable_fns:
                    kinds.append("call")
                kinds.append("return")
                if depth < 2:
                    kinds += ["if", "choose", "atomic", "while"]
            elif depth < 2:
                kinds += ["if", "choose"]
            k = draw(st.sampled_from(kinds))
            if k == "simple":
                out.append(simple(True, not in_atomic, in_atomic) if not in_atomic
                           else simple(False, False, True))
            elif k == "local":
                out.append(draw(st.sampled_from(["x = x + 1", "x = v"])))
            elif k == "call":
                out.append(f"{draw(st.sampled_from(callable_fns))}()")
            elif k == "return":
                out.append("return")
                break
            elif k == "if":
                then = "; ".join(block(depth + 1, callable_fns, in_fn, in_atomic))
                text = f"if {cond(True)} {{ {then} }}"
                if draw(st.booleans()):
                    text += f" else {{ {'; '.join(block(depth + 1, callable_fns, in_fn, in_atomic))} }}"
                out.append(text)
            elif k == "choose":
                a = "; ".join(block(depth + 1, callable_fns, in_fn, in_atomic))
                b = "; ".join(block(depth + 1, callable_fns, in_fn, in_atomic))
                out.append(f"choose {{ {a} }} or {{ {b} }}")
            elif k == "atomic":
                out.append(f"atomic {{ {'; '.join(block(depth + 1, [], in_fn, True))} }}")
            elif k == "while":
                body = "; ".join(block(depth + 1, callable_fns, in_fn, in_atomic))
                out.append(f"while v < 2 {{ {body}; v = v + 1 }}")
        return out

    # Release and exit functions: simple statements only (no calls, no puts of
    # released objects, nothing that blocks), so they never form a call cycle.
    released: set[str] = set()
    for o in objs:
        if draw(st.booleans()):
            released.add(o)
    exits = {m for m in mods if draw(st.booleans())}
    for m in mods:
        refs = draw(st.integers(0, 2))
        lines.append(f"module {m} refs {refs}" + (f" exit {m}_exit" if m in exits else ""))
        if m in exits:
            body = "; ".join(simple(False, False) for _ in range(draw(st.integers(1, 2))))
            lines.append(f"fn {m}_exit in {draw(st.sampled_from(owners))} {{ local x = 0; {body} }}")
    for o in objs:
        refs = draw(st.integers(1, 2))
        lines.append(f"object {o} refs {refs}" + (f" release {o}_rel" if o in released else ""))
        if o in released:
            body = "; ".join(simple(False, False) for _ in range(draw(st.integers(1, 2))))
            lines.append(f"fn {o}_rel in {draw(st.sampled_from(owners))} {{ local x = 0; {body} }}")
    for c in comps:
        lines.append(f"completion {c}")
    for l in mutexes:
        lines.append(f"mutex {l}")
    lines.append("var v = 0")
    lines.append("var b = false")
    n_fn = draw(st.integers(0, 2))
    fns = [f"f{i}" for i in range(n_fn)]
    for i, f in enumerate(fns):
        body = "\n    ".join(block(1, fns[i + 1:], True))
        lines.append(f"fn {f} in {draw(st.sampled_from(owners))} {{\n    local x = 0\n    {body}\n}}")
    n_threads = draw(st.integers(2, 4))
    copies_used = False
    for i in range(n_threads):
        name = f"t{i}"
        if not copies_used and n_threads < 4 and draw(st.integers(0, 3)) == 0:
            name += "[2]"
            copies_used = True
        owner = draw(st.sampled_from(owners))
        body = "\n    ".join(block(0, fns, False))
        lines.append(f"thread {name} in {owner} {{\n    local x = 0\n    {body}\n}}")
    if draw(st.booleans()):
        lines.append(f"invariant inv: {draw(st.sampled_from(['v < 3', 'not b or v > 0', 'v != 2']))}")
    if draw(st.booleans()):
        lines.append(f"cover cv: {draw(st.sampled_from(['v == 2', 'b and v > 0', 'v == 1']))}")
    return "\n".join(lines) + "\n"


@st.composite
def programs_v2(draw) -> str:
    """Random programs that use every primitive and every version-2 construct:
    storage `in MOD`, work items, delayed work items and workqueues (flushed,
    drained, destroyed), timers, call_rcu and grace periods, wait_timeout, the
    exit helpers, try_ queries, and atomic blocks that touch storage in a module.
    Finite-state by construction (loops are bounded by a var that only grows;
    workers and timers have boolean state, the flushes and drains small counts)."""
    mods = ["m0", "m1"][:draw(st.integers(1, 2))]
    owners = ["core"] + mods
    homes = [None] + mods
    objs, comps = ["o0", "o1"], ["c0", "c1"]
    lines: list[str] = []
    for m in mods:
        exit_fn = draw(st.booleans())
        lines.append(f"module {m} refs {draw(st.integers(1, 2))}" + (f" exit {m}_exit" if exit_fn else ""))
        if exit_fn:
            body = draw(st.sampled_from(["cancel_work_sync(w0)", "flush_workqueue(q0)",
                                         "del_timer_sync(t0)", "timer_shutdown_sync(t0)",
                                         "rcu_barrier()", "complete(c0)", "v = v + 1",
                                         "drain_workqueue(q0)", "destroy_workqueue(q0)",
                                         "cancel_delayed_work_sync(d0)",
                                         "flush_scheduled_work()"]))
            lines.append(f"fn {m}_exit in {draw(st.sampled_from(owners))} {{ {body} }}")
    for o in objs:
        home = draw(st.sampled_from(homes))
        rel = draw(st.booleans())
        lines.append(f"object {o} refs {draw(st.integers(1, 2))}" + (f" release {o}_rel" if rel else "")
                     + (f" in {home}" if home else ""))
        if rel:
            lines.append(f"fn {o}_rel in {draw(st.sampled_from(owners))} {{ "
                         f"{draw(st.sampled_from(['complete(c1)', 'v = v + 1', 'b = true']))} }}")
    for c in comps:
        home = draw(st.sampled_from(homes))
        lines.append(f"completion {c}" + (f" done {draw(st.integers(0, 1))}" if draw(st.booleans()) else "")
                     + (f" in {home}" if home else ""))
    lines += ["mutex l0", "var v = 0", "var b = false", "workqueue q0",
              f"work w0 runs w0_fn on q0", "timer t0 runs t0_fn",
              "delayed_work d0 runs d0_fn" + draw(st.sampled_from([" on q0", ""]))]
    lines.append(f"fn w0_fn in {draw(st.sampled_from(owners))} {{ "
                 f"{draw(st.sampled_from(['v = v + 1', 'complete(c0)', 'mod_timer(t0)', 'get(o0)']))} }}")
    lines.append(f"fn t0_fn in {draw(st.sampled_from(owners))} {{ "
                 f"{draw(st.sampled_from(['b = true', 'queue_work(w0)', 'complete(c1)']))} }}")
    d0_body = ['v = v + 1', 'queue_delayed_work(d0)', 'queue_work(w0)', 'complete(c1)']
    lines.append(f"fn d0_fn in {draw(st.sampled_from(owners))} {{ {draw(st.sampled_from(d0_body))} }}")
    lines.append(f"fn cb in {draw(st.sampled_from(owners))} {{ "
                 f"{draw(st.sampled_from(['v = v + 1', 'put(o1)', 'complete(c0)']))} }}")

    def prim() -> str:
        m, o, c = (draw(st.sampled_from(xs)) for xs in (mods, objs, comps))
        return draw(st.sampled_from([
            f"get({o})", f"put({o})", f"complete({c})", f"complete_all({c})", f"reinit({c})",
            f"wait({c})", "lock(l0); b = not b; unlock(l0)", f"module_get({m})", f"module_put({m})",
            f"unload({m})", "queue_work(w0)", "flush_work(w0)", "cancel_work_sync(w0)",
            "flush_workqueue(q0)", "mod_timer(t0)", "del_timer_sync(t0)", "call_rcu(cb)",
            "drain_workqueue(q0)", "flush_scheduled_work()", "queue_delayed_work(d0)",
            "mod_delayed_work(d0)", "cancel_delayed_work(d0)", "cancel_delayed_work_sync(d0)",
            "flush_delayed_work(d0)", "flush_work(d0)",
            "rcu_read_lock()", "rcu_read_unlock()", "synchronize_rcu()", f"wait_timeout({c})",
            "v = v + 1", "b = not b", "assert v < 3", f"await done({c}) > 0 or v > 0",
        ]))

    def in_atomic() -> str:
        o, c, m = (draw(st.sampled_from(xs)) for xs in (objs, comps, mods))
        return draw(st.sampled_from([
            f"get({o})", f"complete({c})", f"reinit({c})", f"module_put({m})", f"module_get({m})",
            f"if refs({o}) > 1 {{ v = v + 1 }}", f"if b and done({c}) > 0 {{ b = false }}",
            f"if false {{ complete({c}) }}", f"await done({c}) > 0", "assert v < 3",
            f"if try_get({o}) {{ b = true }}", "if locked(l0) { unlock(l0) }", "v = v + 1",
        ]))

    def stmt() -> str:
        kind = draw(st.sampled_from(["prim", "prim", "prim", "atomic", "if", "while"]))
        if kind == "prim":
            return prim()
        if kind == "atomic":
            return "atomic { " + "; ".join(in_atomic() for _ in range(draw(st.integers(1, 3)))) + " }"
        if kind == "if":
            o, m = draw(st.sampled_from(objs)), draw(st.sampled_from(mods))
            c = draw(st.sampled_from([f"try_get({o})", f"try_module_get({m})", f"loaded({m})",
                                      f"refs({o}) == 1", "locked(l0)", "b"]))
            return f"if {c} {{ {prim()} }} else {{ {prim()} }}"
        return f"while v < 2 {{ {prim()}; v = v + 1 }}"

    n = draw(st.integers(2, 3))
    for i in range(n):
        name = f"p{i}" + ("[2]" if i == 0 and draw(st.integers(0, 3)) == 0 else "")
        body = [stmt() for _ in range(draw(st.integers(1, 4)))]
        end = draw(st.sampled_from(["", "", f"module_put_and_exit({draw(st.sampled_from(mods))})",
                                    f"complete_and_exit({draw(st.sampled_from(comps))})"]))
        if end:
            body.append(end)
        lines.append(f"thread {name} in {draw(st.sampled_from(owners))} {{\n    "
                     + "\n    ".join(body) + "\n}")
    if draw(st.booleans()):
        lines.append(f"invariant inv: {draw(st.sampled_from(['v < 3', 'not b or v > 0']))}")
    return "\n".join(lines) + "\n"


@st.composite
def programs_v3(draw) -> str:
    """Random programs with the version-3 constructs of issue 17, part A: C comments
    and braces on the next line, unary minus, locals initialised from expressions,
    `break` and `continue`, `THIS_MODULE` in a module's code, the decrements that
    return a result (`refcount_dec_and_test`, `atomic_dec_and_test`,
    `refcount_dec_not_one`), `not try_get`, try_ results stored, `kref_put` with its
    result, `kref_put_mutex` / `kref_put_lock` on an object whose release function
    unlocks the mutex (`p0`, put only so), and modules with `init FN` (which may
    fail) and `depends`.  Finite-state and valid by construction, as `programs`:
    loops are bounded by a counter that grows first, calls go only to later
    functions, release, exit and init functions make no calls."""
    n_mod = draw(st.integers(1, 2))
    mods = [f"m{i}" for i in range(n_mod)]
    inits = {m for m in mods if draw(st.booleans())}
    depends = {"m1": "m0"} if n_mod == 2 and draw(st.booleans()) else {}
    objs = ["o0", "o1"][:draw(st.integers(1, 2))]
    released = {o for o in objs if draw(st.booleans())}
    lines: list[str] = ["/* random v3 program */", "mutex l0", "var v = 0  // a counter",
                        "var b = false", f"var n = {draw(st.sampled_from(['-1', '0', '2']))}"]

    def brace() -> str:   # the kernel's style, sometimes
        return "\n{" if draw(st.integers(0, 3)) == 0 else " {"

    def simple(owner: str, releasing: bool) -> str:
        opts = ["v = v + 1", "b = not b", "n = -n", "n = n - -1", "assert v < 3"]
        for o in objs:
            opts += [f"get({o})"]
            if releasing or o not in released:
                opts += [f"put({o})", f"kref_put({o})"]
        opts += ["get(p0)"]
        if releasing:
            opts += [draw(st.sampled_from(["kref_put_mutex(p0, l0)", "kref_put_lock(p0, l0)"]))]
        for m in mods:
            opts += [f"module_get({m})", f"module_put({m})"]
        if owner != "core":
            opts += ["module_get(THIS_MODULE)", "module_put(THIS_MODULE)"]
        opts += ["lock(l0)", "unlock(l0)"] if releasing else []
        return draw(st.sampled_from(opts))

    def cond(owner: str) -> str:
        opts = ["b", "not b", "v < 2", "-n > 0", "x == -1", "try_get(p0)", "not try_get(p0)"]
        opts += [f"try_get({o})" for o in objs] + [f"not try_get({o})" for o in objs]
        opts += [f"refcount_dec_and_test({o})" for o in objs]
        opts += [f"not atomic_dec_and_test({o})" for o in objs]
        opts += [f"refcount_dec_not_one({o})" for o in objs]
        opts += [f"kref_put({o})" for o in objs] + [f"not kref_put({o})" for o in objs]
        opts += ["kref_put_mutex(p0, l0)", "not kref_put_lock(p0, l0)"]
        if owner != "core":
            opts += ["loaded(THIS_MODULE)", "try_module_get(THIS_MODULE)"]
        opts += [f"try_module_get({m})" for m in mods]
        return draw(st.sampled_from(opts))

    def block(depth: int, fns: list[str], owner: str, in_loop: bool) -> list[str]:
        out = []
        for _ in range(draw(st.integers(1, 3))):
            kinds = ["simple", "simple", "local", "store"]
            if fns:
                kinds.append("call")
            if in_loop:
                kinds += ["break", "continue"]
            if depth < 2:
                kinds += ["if", "while"]
            k = draw(st.sampled_from(kinds))
            if k == "simple":
                out.append(simple(owner, True))
            elif k == "local":
                out.append(draw(st.sampled_from(["x = x + 1", "x = -v", "x = -(x - n)"])))
            elif k == "store":
                o = draw(st.sampled_from(objs))
                out.append(draw(st.sampled_from([
                    f"r = try_get({o})", f"r = kref_put({o})", f"b = try_get({o})",
                    f"b = refcount_dec_and_test({o})", "r = kref_put_mutex(p0, l0)"])))
            elif k == "call":
                out.append(f"{draw(st.sampled_from(fns))}()")
            elif k in ("break", "continue"):
                out.append(f"if {cond(owner)} {{ {k} }}")
            elif k == "if":
                then = "; ".join(block(depth + 1, fns, owner, in_loop))
                out.append(f"if {cond(owner)}{brace()} {then} }}")
            elif k == "while":
                body = "; ".join(block(depth + 1, fns, owner, True))
                # the counter grows before anything can `continue`: the loop is bounded
                out.append(f"while v < 2{brace()} v = v + 1; {body} }}")
        return out

    def locals_() -> str:
        return ("local x = " + draw(st.sampled_from(["0", "-1", "v + 1", "-n"]))
                + "; local r = " + draw(st.sampled_from(["false", "x > 0", "not b"])))

    for m in mods:
        opts = ""
        if m in inits:
            opts += f" init {m}_init exit {m}_exit"
        elif draw(st.booleans()):
            opts += f" exit {m}_exit"
        if m in depends:
            opts += f" depends {depends[m]}"
        lines.append(f"module {m} refs {draw(st.integers(0, 1))}{opts}")
        if "exit" in opts:
            lines.append(f"fn {m}_exit in {m} {{ {simple(m, False)} }}")
        if m in inits:
            body = "; ".join(simple(m, False) for _ in range(draw(st.integers(0, 2))))
            result = draw(st.sampled_from(["return 0", "return -12", "choose { return 0 } "
                                           "or { return -12 }", "if b { return -n } else { return n }"]))
            lines.append(f"fn {m}_init in {m}{brace()}\n    {body + '; ' if body else ''}{result}\n}}")
    owners = ["core"] + mods
    for o in objs:
        if o in released:
            lines.append(f"object {o} refs {draw(st.integers(1, 2))} release {o}_rel")
            owner = draw(st.sampled_from(owners))
            lines.append(f"fn {o}_rel in {owner} {{ {simple(owner, False)} }}")
        else:
            lines.append(f"object {o} refs {draw(st.integers(1, 2))}")
    lines.append(f"object p0 refs {draw(st.integers(1, 2))} release p0_rel")
    lines.append(f"fn p0_rel in {draw(st.sampled_from(owners))} {{ v = v + 1; unlock(l0) }}")
    fns = [f"f{i}" for i in range(draw(st.integers(0, 2)))]
    for i, f in enumerate(fns):
        owner = draw(st.sampled_from(owners))
        body = "\n    ".join(block(1, fns[i + 1:], owner, False))
        lines.append(f"fn {f} in {owner}{brace()}\n    {locals_()}\n    {body}\n}}")
    for i in range(draw(st.integers(2, 3))):
        owner = draw(st.sampled_from(owners))
        body = "\n    ".join(block(0, fns, owner, False))
        lines.append(f"thread t{i} in {owner}{brace()}  # a thread\n    {locals_()}\n    {body}\n}}")
    if draw(st.booleans()):
        lines.append(f"thread admin {{ unload({draw(st.sampled_from(mods))}) }}")
    if draw(st.booleans()):
        lines.append(f"cover cv: {draw(st.sampled_from(['v == 2', 'n == 1', 'b and v > 0']))}")
    return "\n".join(lines) + "\n"


@st.composite
def programs_memory(draw) -> str:
    """Random programs with struct memory (issue 17, constructs 1 and 2): a struct
    with a var and some of a kref (whose release frees its container or not), a
    completion and a mutex; memory allocated from the start (an array) and a
    pointer allocated by kzalloc; kzalloc and kfree anywhere, fields read and
    written, in atomic too, a function with a memory and an int parameter, and
    copies of a thread that use `self`, each copy's own memory, an ops table
    (calls through it, `fops_get`/`fops_put` of its owner, present or NULL) and a
    `for` walk of the array.  Loop-free, so finite-state."""
    fields = ["var x = 0"]
    has_k = draw(st.booleans())
    has_c = draw(st.booleans())
    has_m = draw(st.booleans())
    frees = draw(st.booleans())
    if has_k:
        fields.append("object k release s_rel")
    if has_c:
        fields.append("completion c")
    if has_m:
        fields.append("mutex m")
    lines = ["struct s {\n    " + "\n    ".join(fields) + "\n}", "struct s *p", "struct s a[2]",
             "var v = 0", "struct q { var y = 0 }", "struct q *own[*]"]
    if has_k:
        lines.append("fn s_rel(struct s *d) in core { " + ("kfree(d)" if frees else "d.x = 9")
                     + " }")
    lines.append("fn g(struct s *d, int n) in core { d.x = n; v = v + 1 }")
    # an ops table whose owner module is unloaded by a thread, with or without .owner
    owner = draw(st.sampled_from([", .owner = m", ""]))
    lines += ["module m refs 1", "struct ops { fn run\n    module owner }",
              f"struct ops t = {{ .run = bump{owner} }}", "fn bump in m { v = v + 1 }"]

    def stmt(mem: list[str], depth: int) -> str:
        e = draw(st.sampled_from(mem))
        opts = [f"kzalloc({e})", f"kfree({e})", f"{e}.x = {e}.x + 1", f"{e}->x = 1",
                f"assert {e}.x < 3", f"g({e}, 2)", f"v = {e}.x",
                "if fops_get(t) { t.run(); fops_put(t) }", "for e in a { if e.x > 0 { v = 1 } }"]
        if has_k:
            opts += [f"get({e}.k)", f"put({e}.k)", f"assert refs({e}.k) > 0"]
        if has_c:
            opts += [f"complete({e}.c)", f"wait({e}.c)"]
        if has_m:
            opts += [f"lock({e}.m)", f"unlock({e}.m)"]
        if depth < 1:
            inner = "; ".join(stmt(mem, depth + 1) for _ in range(draw(st.integers(1, 2))))
            opts += [f"if {e}.x > 0 {{ {inner} }}",
                     f"atomic {{ {e}.x = 2; assert {e}.x == 2 }}"]
        return draw(st.sampled_from(opts))

    for i in range(draw(st.integers(2, 3))):
        # t0 allocates p first; the others touch p rarely (else most answers are null-deref)
        mem = ["p", "a[0]", "a[1]"] if i == 0 else ["a[0]", "a[1]", "a[0]", "a[1]", "p"]
        body = "; ".join(stmt(mem, 0) for _ in range(draw(st.integers(1, 3))))
        if i == 0:
            body = "kzalloc(p); " + body
        lines.append(f"thread t{i} {{ {body} }}")
    if draw(st.booleans()):
        body = "; ".join(stmt(["a[self]", "p"], 0) for _ in range(draw(st.integers(1, 2))))
        # each copy's own memory (NOTE(per-copy)): its life, and a value from shared state
        mine = draw(st.sampled_from(["kzalloc(own[self]); own[self].y = v; kfree(own[self])",
                                     "own[self].y = 1", "kzalloc(own[self]); kfree(own[self]); "
                                     "kfree(own[self])", ""]))
        lines.append(f"thread u[2] {{ {body}{'; ' + mine if mine else ''} }}")
    if draw(st.booleans()):
        lines.append("thread rm { module_put(m); unload(m) }")
    if draw(st.booleans()):
        lines.append(f"cover cv: v == 2")
    return "\n".join(lines) + "\n"


@st.composite
def programs_kthread(draw) -> str:
    """Random programs with kthreads (issue 17, construct 7; docs/language.md "Threads
    started at run time"): one or two kthreads, in core code or in a module, whose
    bodies may loop until `kthread_should_stop()`, return on their own, or leave
    with `module_put_and_exit`; controllers that create, run, wake, stop
    (`kthread_stop`, `kthread_stop_put`) and hold references to them
    (`get_task_struct`, `put_task_struct`), and may unload the module.  Valid and
    finite-state and without cycles (the differential tests compare safety; every
    execution ends) by construction: counters stop at 2."""
    ks = ["k0"] if draw(st.integers(0, 3)) else ["k0", "k1"]   # two: BMC's time grows fast
    lines = ["module m0 refs " + draw(st.sampled_from(["0", "1"])), "var v = 0", "var b = false",
             "var up = false"]
    for k in ks:
        owner = draw(st.sampled_from(["core", "m0"]))
        body = []
        for _ in range(draw(st.integers(1, 3))):
            body.append(draw(st.sampled_from([
                "if v < 2 { v = v + 1 }", "b = not b", "await kthread_should_stop()",
                "while not kthread_should_stop() and v < 2 { v = v + 1 }",
                "if kthread_should_stop() { return }", "module_get(m0); module_put(m0)",
                "await b"])))
        if draw(st.integers(0, 3)):   # the usual shape: it returns only when told to
            body.append("await kthread_should_stop()")
        if draw(st.integers(0, 3)) == 0:   # the module reference the thread was given
            body = ["module_get(m0)"] + body + [draw(st.sampled_from(
                ["module_put_and_exit(m0)", "module_put(m0)"]))]
        lines.append(f"kthread {k} in {owner} {{ {'; '.join(body)} }}")
    for i in range(draw(st.integers(1, 2))):
        body = []
        if i == 0:   # the first controller creates them (mostly), as a probe would
            for k in ks:
                body.append(draw(st.sampled_from([
                    f"kthread_run({k})", f"kthread_run({k})", f"kthread_create({k})",
                    f"kthread_create({k}); get_task_struct({k}); wake_up_process({k})"])))
            body.append("up = true")
        else:        # the others use them once they are there
            body.append("await up")
        for _ in range(draw(st.integers(1, 3))):
            k = draw(st.sampled_from(ks))
            body.append(draw(st.sampled_from([
                f"wake_up_process({k})", f"kthread_stop({k})", f"kthread_stop({k})",
                f"kthread_stop({k})", f"get_task_struct({k}); kthread_stop_put({k})",
                f"get_task_struct({k}); put_task_struct({k})", f"kthread_stop_put({k})",
                f"put_task_struct({k})", "b = true", "b = true", "if v < 2 { v = v + 1 }"])))
        lines.append(f"thread c{i} {{ {'; '.join(body)} }}")
    if draw(st.booleans()):
        lines.append("thread admin { unload(m0) }")
    if draw(st.booleans()):
        lines.append(f"cover cv: {draw(st.sampled_from(['v == 2', 'b', 'not loaded(m0)']))}")
    return "\n".join(lines) + "\n"
