"""Version 3, struct memory (issue 17 #1, #2): struct types, instances and arrays,
kzalloc/kfree, paths, parameters and `self`.  One small program per case with
its verdict written out by hand from docs/language.md ("Struct memory"), the
engines agreeing on it (explicit, Z3, Spin on the exported Promela); then the
witnesses in the user's words, the layout, and the error messages."""
from __future__ import annotations

import pytest

from modproof.explicit import prove_explicit
from modproof.result import Violated
from modproof.spec.diagnostics import SpecError
from modproof.spec.lower import load_text
from modproof.witness import replay
from engine_cases import engines_agree, spin_agrees, spin_runs, verdict_of as _verdict
from test_spin import needs_spin, spin_tools  # noqa: F401 (a fixture)

PRIV = "struct priv {\n    var loaded = false\n    completion fw_done\n}\n"
KREF = ("struct dev {\n    var open = false\n    object kref release dev_release\n}\n"
        "fn dev_release(struct dev *d) in core { kfree(d) }\n")

OPS = ("module m refs 1\nvar v = 0\nstruct ops {\n    fn run\n    module owner\n}\n"
       "fn bump in m { v = v + 1 }\n")

PER_COPY = "struct s { var x = 0 }\nstruct s *f[*]\n"

# name: (source, verdict, check)
CASES = {
    "never_allocated_is_null": (PRIV + "struct priv *p\nthread cb { p->loaded = true }",
                                "violated", "null-deref"),
    "allocated_from_the_start": (PRIV + "struct priv p\nthread a { p.loaded = true; "
                                 "complete(p.fw_done); wait(p.fw_done) }", "proved", None),
    "use_after_kfree": (PRIV + "struct priv *p\nvar published = false\n"
                        "thread probe { kzalloc(p); published = true; kfree(p) }\n"
                        "thread cb { await published; complete(p.fw_done) }",
                        "violated", "use-after-free"),
    "wait_before_kfree_is_safe": (PRIV + "struct priv *p\nvar published = false\n"
                                  "thread probe { kzalloc(p); published = true; wait(p.fw_done); kfree(p) }\n"
                                  "thread cb { await published; p.loaded = true; complete(p.fw_done) }",
                                  "proved", None),
    "double_free": (PRIV + "struct priv *p\nthread a { kzalloc(p); kfree(p); kfree(p) }",
                    "violated", "double-free"),
    "kfree_null_does_nothing": (PRIV + "struct priv *p\nthread a { kfree(p); kfree(p) }",
                                "proved", None),
    "kzalloc_of_live_memory_leaks": (PRIV + "struct priv p\nthread a { kzalloc(p) }",
                                     "violated", "assertion"),
    # kzalloc sets every field anew: var, kref (kref_init), completion, mutex
    "kzalloc_resets_every_field": ("""struct s {
    var x = 0
    object kref
    completion c
    mutex m
}
struct s *p
thread a {
    kzalloc(p)
    p.x = 5; get(p.kref); complete(p.c); lock(p.m)
    kfree(p)
    kzalloc(p)
    assert p.x == 0 and refs(p.kref) == 1 and done(p.c) == 0 and not locked(p.m)
}""", "proved", None),
    "the_release_gets_its_container": (KREF + "struct dev devs[2]\n"
                                       "thread user[2] { devs[self].open = true; put(devs[self].kref) }\n"
                                       "thread peek { local o = false; o = devs[1].open }",
                                       "violated", "use-after-free"),
    "a_reference_per_user_is_safe": (KREF + "struct dev devs[2]\n"
                                     "thread user[2] { devs[self].open = true; put(devs[self].kref) }",
                                     "proved", None),
    "a_query_touches_memory": (KREF + "struct dev *d\nthread a { kzalloc(d); put(d.kref) }\n"
                               "thread b { await refs(d.kref) == 0 }", "violated", "null-deref"),
    "int_parameter": ("struct s { var x = 0 }\nstruct s p\n"
                      "fn set(struct s *d, int n) in core { d.x = n + 1 }\n"
                      "thread a { local k = 2; set(p, k); assert p.x == 3; set(p, -1); assert p.x == 0 }",
                      "proved", None),
    "bool_parameter_wrong_claim": ("struct s { var on = false }\nstruct s p\n"
                                   "fn set(struct s *d, bool b) in core { d.on = b }\n"
                                   "thread a { set(p, true); assert not p.on }",
                                   "violated", "assertion"),
    "fn_parameter_is_the_function_passed": ("var v = 0\nfn inc in core { v = v + 1 }\n"
                                            "fn dbl in core { v = v + v }\n"
                                            "fn twice(fn cb) in core { cb(); cb() }\n"
                                            "thread a { twice(inc); twice(dbl); assert v == 8 }",
                                            "proved", None),
    "function_result": ("struct s { var x = 0 }\nstruct s p\n"
                        "fn alive(struct s *q) -> bool in core { return q.x > 0 }\n"
                        "fn pick(int n) -> int in core { if n > 2 { return n - 2 } else { return n + 1 } }\n"
                        "var v = 0\nthread a { local ok = false; local k = 0; p.x = 1\n"
                        "  ok = alive(p); k = pick(5); v = pick(1); assert ok and k == 3 and v == 2 }",
                        "proved", None),
    "function_result_races": ("var v = 0\nfn read -> int in core { return v }\n"
                              "thread a { local k = 0; k = read(); assert k == 0 }\n"
                              "thread b { v = 1 }", "violated", "assertion"),
    "object_parameter": ("object o\nfn drop(object x) in core { put(x) }\n"
                         "thread a { drop(o); drop(o) }", "violated", "put-after-release"),
    "self_is_the_copy_index": ("var sum = 0\nthread t[3] { atomic { sum = sum + self } }\n"
                               "thread c { await sum == 3 }", "proved", None),
    "memory_in_atomic": (PRIV + "struct priv *p\n"
                         "thread a { kzalloc(p); atomic { p.loaded = true; assert p.loaded } }\n"
                         "thread b { kfree(p) }", "violated", "use-after-free"),
    # ---------------------------------------------------------------- ops tables
    "call_through_a_table": (OPS + "struct ops t = { .run = bump, .owner = m }\n"
                             "thread a { t.run(); t->run(); assert v == 2 }", "proved", None),
    "fops_get_without_owner_pins_nothing": (OPS + "struct ops t = { .run = bump }\n"
                                            "thread a { if fops_get(t) { t.run(); fops_put(t) } }\n"
                                            "thread r { module_put(m); unload(m) }",
                                            "violated", "code-after-unload"),
    "fops_get_with_owner_pins": (OPS + "struct ops t = { .run = bump, .owner = m }\n"
                                 "thread a { if fops_get(t) { t.run(); fops_put(t) } }\n"
                                 "thread r { module_put(m); unload(m) }", "proved", None),
    "for_walks_every_element": ("struct nb { var linked = false\n fn call }\n"
                                "struct nb ch[3] = { { .call = inc }, { .call = inc }, { .call = dbl } }\n"
                                "var v = 1\nfn inc in core { v = v + 1 }\nfn dbl in core { v = v + v }\n"
                                "thread a { ch[1].linked = true; ch[2].linked = true\n"
                                "  for n in ch { if n.linked { n.call() } }\n  assert v == 4 }",
                                "proved", None),
    "for_sees_a_concurrent_unlink": ("struct nb { var linked = true }\nstruct nb ch[2]\n"
                                     "var seen = 0\n"
                                     "thread w { for n in ch { if n.linked { seen = seen + 1 } } }\n"
                                     "thread u { ch[1].linked = false }\n"
                                     "thread c { await seen == 2 }", "violated", "deadlock"),
    # ---------------------------------------------------------------- each copy's own memory
    "per_copy_memory_is_each_copys_own": (PER_COPY + "thread t[2] { kzalloc(f[self]); f[self].x = 1\n"
                                          "  assert f[self].x == 1; kfree(f[self]) }", "proved", None),
    "shared_memory_is_not": ("struct s { var x = 0 }\nstruct s *g\n"
                             "thread t[2] { kzalloc(g); g.x = 1; assert g.x == 1; kfree(g) }",
                             "violated", "assertion"),
    "per_copy_double_free": (PER_COPY + "thread t[2] { kzalloc(f[self]); kfree(f[self]); kfree(f[self]) }",
                             "violated", "double-free"),
    "per_copy_through_a_parameter": (PER_COPY + "fn use(struct s *p) in core { p->x = p->x + 1 }\n"
                                     "thread t[2] { kzalloc(f[self]); use(f[self]); use(f[self])\n"
                                     "  assert f[self].x == 2 }", "proved", None),
    "null_method_through_a_parameter": (OPS + "struct ops t = { .run = bump }\nstruct ops u\n"
                                        "fn go(struct ops *o) in core { o->run() }\n"
                                        "thread a { go(t); go(u) }", "violated", "null-deref"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_explicit_and_z3_agree_with_the_case(name):
    engines_agree(name, CASES[name])


@pytest.fixture(scope="module")
def spin_verdicts():
    return spin_runs(CASES, CASES)


@needs_spin
@pytest.mark.parametrize("name", sorted(CASES))
def test_spin_agrees_with_the_case(name, spin_verdicts):
    spin_agrees(name, CASES[name], spin_verdicts)


# --------------------------------------------------------------------------- witnesses


def _witness(src: str):
    p = load_text(src, "w.mproof")
    r = prove_explicit(p)
    assert isinstance(r, Violated), r
    return replay(p, r.trace)


def test_the_witness_names_fields_and_shows_the_memory_freed():
    w = _witness(CASES["the_release_gets_its_container"][0])
    assert w.check == "use-after-free"
    lines = [(s.thread, s.statement, dict((k, (a, b)) for k, a, b in s.changes)) for s in w.steps]
    assert lines[0][0] == "user[1]" and lines[0][2] == {"devs[1].open": (False, True)}
    free = [ln for ln in lines if "memory(devs[1])" in ln[2]]
    assert free and free[0][1] == "kfree(d)" and free[0][2]["memory(devs[1])"] == ("live", "freed")
    assert lines[-1][0] == "peek" and "devs[1]" in w.steps[-1].statement


def test_kzalloc_shows_the_memory_live():
    w = _witness(CASES["double_free"][0])
    assert [s.statement for s in w.steps] == ["kzalloc(p)", "kfree(p)", "kfree(p)"]
    assert ("memory(p)", "not allocated", "live") in w.steps[0].changes
    assert w.message.endswith("p was freed already")


# --------------------------------------------------------------------------- layout


def test_fields_are_declarations_named_by_their_path():
    p = load_text(KREF + "struct dev devs[2]\nstruct dev *one\nthread a { }", "l.mproof")
    assert [o.name for o in p.objects] == ["devs[0].kref", "devs[1].kref", "one.kref"]
    assert [v.name for v in p.vars if not v.name.startswith("memory(")] == \
        ["devs[0].open", "devs[1].open", "one.open"]
    inits = {v.name: v.init for v in p.vars if v.name.startswith("memory(")}
    assert inits == {"memory(devs[0])": 1, "memory(devs[1])": 1, "memory(one)": 0}


def test_copies_that_use_self_are_not_interchangeable():
    same = load_text("var x = 0\nthread t[2] { x = 1 }", "s.mproof")
    assert same.copy_groups() == ((0, 1),)
    differ = load_text("struct s { var x = 0 }\nstruct s a[2]\nthread t[2] { a[self].x = 1 }",
                       "d.mproof")
    assert differ.copy_groups() == ()


def test_each_copys_own_memory_is_its_locals_and_keeps_copies_interchangeable():
    p = load_text(PER_COPY + "thread t[3] { kzalloc(f[self]); f[self].x = 1; kfree(f[self]) }",
                  "pc.mproof")
    assert p.copy_groups() == ((0, 1, 2),)
    assert [s.name for s in p.threads[0].locals] == ["memory(f[self])", "f[self].x"]
    assert not any(v.name.startswith(("f[", "memory(f")) for v in p.vars)


def test_a_star_group_with_its_own_memory_is_proved_for_every_number():
    from modproof.prove import prove
    ok = load_text(PER_COPY + "var n = 0\n"
                   "thread t[*] { kzalloc(f[self]); f[self].x = 1; kfree(f[self]) }", "all.mproof")
    r = prove(ok)
    assert r.verdict == "proved" and r.scope == "all-sizes" and r.certified
    bad = load_text(PER_COPY + "thread t[*] { f[self].x = 1 }", "bad.mproof")
    r = prove(bad)
    assert _verdict(r) == ("violated", "null-deref") and dict(r.sizes) == {"t": 1}


def test_a_v1_name_self_keeps_its_meaning():
    p = load_text("var self = 4\nthread t[2] { self = self + 1 }\nthread c { assert self < 6 }",
                  "v1.mproof")
    assert _verdict(prove_explicit(p)) == ("proved", None)


# --------------------------------------------------------------------------- errors

ERRORS = {
    "no such field": (PRIV + "struct priv p\nthread a { p.lodaed = true }",
                      "struct 'priv' has no field 'lodaed'; did you mean 'loaded'?"),
    "index out of range": (PRIV + "struct priv ps[2]\nthread a { ps[2].loaded = true }",
                           "'ps[2]' is out of range: 'ps' has 2 elements (0 to 1)"),
    "array without index": (PRIV + "struct priv ps[2]\nthread a { ps.loaded = true }",
                            "'ps' is an array of struct memory: name an element, as in ps[0].loaded"),
    "self outside copies": (PRIV + "struct priv ps[2]\nthread a { ps[self].loaded = true }",
                            "thread 'a' has no copies"),
    "self beyond the array": (PRIV + "struct priv ps[2]\nthread a[3] { ps[self].loaded = true }",
                              "thread 'a' has 3 copies but 'ps' only 2 elements"),
    "self in a star thread": (PRIV + "struct priv ps[2]\nthread a[*] { ps[self].loaded = true }",
                              "not supported yet"),
    "unknown struct": ("struct priv *p\nthread a { }", "unknown struct type 'priv'"),
    # found by mutating the corpus: a use of memory of an unknown struct type crashed
    "use of an unknown struct": ("struct priv *p\nthread a { p.x = 1; kfree(p) }",
                                 "unknown struct type 'priv'"),
    "too deep": (PRIV + "struct priv p\nthread a { p.loaded.x = true }", "one field deep"),
    "not memory": ("var v = 0\nthread a { v.x = 1 }", "'v' is a var, not struct memory"),
    "argument count": (PRIV + "struct priv p\nfn f(struct priv *d) in core { }\nthread a { f() }",
                       "function 'f' takes 1 argument (struct priv *d), not 0"),
    "argument type": ("struct a { var x = 0 }\nstruct b { var y = 0 }\nstruct b q\nstruct a r\n"
                      "fn f(struct a *d) in core { }\nthread t { f(q) }",
                      "parameter 'd' of 'f' is a 'struct a *': 'q' is struct b memory"),
    "int argument": ("struct a { var x = 0 }\nstruct a r\nfn f(int n) in core { }\nthread t { f(r) }",
                     "parameter 'n' of 'f' is int: pass a literal, a var or a local, not 'r'"),
    "release parameter": ("struct a { object k release rel }\nstruct a r\n"
                          "fn rel(int n) in core { }\nthread t { put(r.k) }",
                          "takes no parameter or one 'struct a *'"),
    "work with parameters": (PRIV + "fn f(struct priv *d) in core { }\nstruct priv p\n"
                             "work w runs f\nthread t { queue_work(w) }",
                             "is called by the kernel without arguments"),
    "kfree of a var": ("var v = 0\nthread a { kfree(v) }", "'kfree' needs struct memory"),
    "kzalloc hint": ("struct s { var x = 0 }\nstruct s *p\nthread a { kmalloc(p) }",
                     "the built-in for it is 'kzalloc'"),
    "field refs": ("struct s { object k refs 2 }\nthread a { }", "starts with count 1"),
    "per-copy index": (PER_COPY + "thread t[2] { f[0].x = 1 }", "'f' has one element per copy"),
    "per-copy two groups": (PER_COPY + "thread t[2] { f[self].x = 1 }\nthread u[2] { f[self].x = 2 }",
                            "'f[*]' already belongs to the copies of thread 't'"),
    "per-copy kref": ("struct s { object k }\nstruct s *f[*]\nthread t[2] { }",
                      "its struct may hold only vars"),
    "per-copy in an invariant": (PER_COPY + "thread t[2] { }\ninvariant i: f[self].x >= 0",
                                 "an invariant or a cover sees only shared state"),
    "per-copy walked": (PER_COPY + "thread t[2] { for e in f { } }", "which no other thread can walk"),
    "per-copy without copies": (PER_COPY + "thread t { f[self].x = 1 }", "thread 't' has no copies"),
    "callback with parameters": ("fn g(int n) in core { }\nfn h in core { }\n"
                                 "fn twice(fn cb) in core { cb() }\nthread a { twice(g) }",
                                 "'cb' of 'twice' is a callback called without arguments"),
    "recursion through a callback": ("fn other in core { }\nfn rec(fn cb) in core { cb() }\n"
                                     "fn loop in core { rec(loop) }\nthread a { loop() }",
                                     "'loop' calls itself through a function reference"),
    "result falls off the end": ("fn f -> int in core { if true { return 1 } }\n"
                                 "thread a { local x = 0; x = f() }",
                                 "every path must end with 'return VALUE'"),
    "no result": ("fn g in core { }\nvar x = 0\nthread a { x = g() }",
                  "function 'g' returns no value"),
    "result type": ("fn f -> bool in core { return true }\nvar x = 0\nthread a { x = f() }",
                    "the assigned value must be int, but 'f' returns bool"),
    "result in a condition": ("fn f -> bool in core { return true }\nthread a { if f() { } }",
                              "the whole value assigned"),
    "bare return": ("fn f -> int in core { return }\nthread a { }", "write 'return VALUE'"),
    "null method": (OPS + "struct ops t\nthread a { t.run() }",
                    "'t.run' is NULL (its table's initializer sets no .run)"),
    "init of a var": ("struct s { var x = 0 }\nstruct s p = { .x = 1 }\nthread a { }",
                      "only the fn and module fields of an ops table are initialized here"),
    "init of no field": (OPS + "struct ops t = { .runn = bump }\nthread a { }",
                         "struct 'ops' has no field 'runn'; did you mean 'run'?"),
    "owner THIS_MODULE": (OPS + "struct ops t = { .owner = THIS_MODULE }\nthread a { }",
                          "name the module, as in .owner = drv"),
    "for over a var": ("var v = 0\nthread a { for x in v { } }",
                       "'for x in v' walks an array of struct memory: 'v' is a var"),
    "break in for": ("struct s { var x = 0 }\nstruct s a[2]\nthread t { for e in a { break } }",
                     "'break' in the body of a 'for' is not supported yet"),
    "too many element initializers": ("struct s { fn f }\nfn g in core { }\n"
                                      "struct s a[1] = { { .f = g }, { .f = g } }\nthread t { }",
                                      "'a' has 1 element but 2 initializers"),
    "method not a function": (OPS + "struct ops t = { .run = v }\nthread a { }",
                              "'.run' of 't' names a function: 'v' is a var"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_say_what_is_wrong(name):
    src, words = ERRORS[name]
    with pytest.raises(SpecError) as e:
        load_text(src, "e.mproof")
    text = "\n".join(d.message for d in e.value.diagnostics)
    assert words in text, text
    assert all(d.span.line >= 1 for d in e.value.diagnostics)
