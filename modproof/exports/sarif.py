"""SARIF 2.1.0 (the OASIS Static Analysis Results Interchange Format) for witnesses and CI runs.

`witness_to_sarif(witness, program)` gives a log with one run and one result;
`ci_to_sarif(results)` gives one run with a result for every violation found and
every file that failed: a file that does not load (`input-error`, one result per
diagnostic), a verdict that does not match its `expect` line without a
violation to show for it (`expectation-mismatch`), a proof only up to a bound
where the `expect` line asks for more (`bounded-proof`), a bug in modproof
(`internal-error`).  A violation the file itself declares with `expect violated
CHECK` is still reported, carrying an in-source suppression that says so, so
that code-scanning tools show the negative examples of a corpus as dismissed.

A violation's `codeFlows[0]` holds one `threadFlow` per thread that moved, each
with that thread's steps, and a last one, id "all" ("all threads" when a thread is
named `all`: ids are unique within a code flow), with every step in global order.  A step is a `threadFlowLocation`: `executionOrder` is its global step
number, `module` its owner ("core" or a module), `kinds` says what it does
(`step_kinds`), `state` the values it changed (after the step), and
`importance` is "essential" for the violating step, "important" for the steps
that matter to a module's lifetime (they change a module's state or refcount,
or run the code of a module whose state changes in the witness), else
"unimportant".

URIs are relative to a root folder (default: the current one) under the base id
`%SRCROOT%`; a file outside the root gets an absolute `file:` URI.  Columns
count Unicode code points, as modproof's spans do.  `partialFingerprints` hash
the file, the check and the violating statement's text, never line numbers, so
a result keeps its identity when lines move.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from modproof import HOMEPAGE, __version__, ci_result
from modproof.spec.model import CHECKS, Program
from modproof.witness import Witness, WitnessStep, show_value

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
SRCROOT = "%SRCROOT%"
FINGERPRINT = "modproof/v1"

INPUT_ERROR = "input-error"
EXPECTATION_MISMATCH = "expectation-mismatch"
BOUNDED_PROOF = "bounded-proof"
INTERNAL_ERROR = "internal-error"

# rule id -> its `name`: PascalCase, and never the id itself in another case (SARIF
# validators warn when a rule's name is its id: a name should say more).
RULE_NAMES: dict[str, str] = {
    "code-after-unload": "CodeRunsAfterModuleUnload",
    "use-after-unload": "ModuleMemoryUsedAfterUnload",
    "get-after-release": "GetOfReleasedObject",
    "put-after-release": "PutOfReleasedObject",
    "module-refcount-underflow": "ModuleRefcountBelowZero",
    "module-get-after-unload": "ModuleReferenceTakenAfterUnload",
    "use-after-free": "MemoryUsedAfterFree",
    "double-free": "MemoryFreedTwice",
    "null-deref": "NullPointerDereference",
    "unlock-not-held": "UnlockOfMutexNotHeld",
    "sleep-in-atomic": "SleepInAtomicContext",
    "assertion": "AssertionFails",
    "invariant": "InvariantViolated",
    "deadlock": "EveryThreadBlocked",
    "hang": "ThreadNeverFinishes",
    INPUT_ERROR: "FileDoesNotCheck",
    EXPECTATION_MISMATCH: "VerdictDoesNotMatchExpectLine",
    BOUNDED_PROOF: "ProofOnlyUpToABound",
    INTERNAL_ERROR: "ModproofInternalError",
}

# rule id -> (shortDescription, fullDescription, help)
RULES: dict[str, tuple[str, str, str]] = {
    "use-after-unload": (
        "An object or completion that lived in a module's memory is used after the module was unloaded.",
        "A thread touches an object or a completion declared `in MOD` - a get, put, complete, "
        "wait, or a query of its count - after MOD was unloaded and its memory freed (or, "
        "for a completion on a stack modelled as a module, after the frame returned). In the "
        "kernel this is a use-after-free of module data.",
        "Make sure nothing can reach the storage once it is freed: wait for every user "
        "before the module (or the stack frame) goes away, e.g. wait without a timeout, "
        "cancel or flush deferred work, or move the object into refcounted memory whose "
        "last put frees it."),
    "code-after-unload": (
        "Code of a module runs after the module was unloaded.",
        "A thread executes a statement owned by a module - its function body, a return into "
        "one of its functions, a release or exit callback it provides - after unload freed "
        "the module's code. In the kernel this is a jump into freed memory: an oops, or "
        "worse, silent execution of whatever was loaded there next.",
        "Nothing that can still run may live in the module once its last reference can be "
        "dropped. Usual fixes: move the code that drops the last reference out of the module "
        "(a release callback in built-in code, as dm-builtin.c does for dm's kobject); end a "
        "kernel thread with module_put_and_kthread_exit() (module_put_and_exit() on older "
        "kernels) or complete_and_exit() instead of returning into module code; in the exit "
        "function, flush or cancel everything that can call back into the module before it "
        "returns (flush_work(), cancel_work_sync(), del_timer_sync(), kthread_stop(), "
        "rcu_barrier()); and pin the module with try_module_get()/module_put() around work "
        "that runs its code on behalf of someone else."),
    "get-after-release": (
        "A reference is taken on an object whose count already reached zero.",
        "get() on an object whose reference count is zero: its release function has run or "
        "is running, so the new reference points at freed memory (a use-after-free).",
        "Look objects up with kref_get_unless_zero() / refcount_inc_not_zero() (try_get), "
        "under the lock that protects the lookup structure, and unpublish the object "
        "(remove it from lists, idr, hash tables or sysfs) before its last reference is "
        "dropped, so that no lookup can find an object on its way out."),
    "put-after-release": (
        "A reference is dropped on an object whose count already reached zero.",
        "put() on an object whose reference count is already zero: a double put, so the "
        "release function runs twice or the put touches freed memory.",
        "Balance get() and put() on every path, including error paths: make exactly one path "
        "own each reference, and clear the pointer that holds it (or set a flag under a lock) "
        "when the reference is handed over or dropped, so a second path cannot put it again."),
    "module-refcount-underflow": (
        "module_put() on a module whose reference count is already zero.",
        "module_put() drops a module reference nobody holds: the count underflows and the "
        "module can be unloaded while code still relies on it.",
        "Pair every module_put() with a try_module_get() that succeeded (or a __module_get() "
        "made while holding a reference), on every path; do not put in the error path a "
        "reference the success path did not take."),
    "module-get-after-unload": (
        "A module reference is taken after the module began unloading.",
        "A module reference is taken on a module that is unloading or gone: unload no longer "
        "waits for references, so the holder will run or return into freed code.",
        "Use try_module_get(), which fails once unload has begun, and handle its failure "
        "(-ENODEV, or skip the work). __module_get() is only safe when the caller already "
        "holds a reference, for example one pinned by an open file's fops->owner."),
    "use-after-free": (
        "Memory is used after it was freed.",
        "A field of struct memory (or a task_struct) is read, written or operated on after "
        "kfree() (or the last put) freed it: in the kernel a use-after-free that KASAN "
        "reports, and a corruption when the memory is reused.",
        "Make the free the last use: stop or synchronize everything that may still reach "
        "the memory (free_irq, cancel_work_sync, del_timer_sync, synchronize_rcu, "
        "kthread_stop) before kfree, or give every user a reference and free in the "
        "release function."),
    "double-free": (
        "Memory is freed twice.",
        "kfree() of struct memory that is already freed: in the kernel a double free that "
        "corrupts the allocator.",
        "Free on one path only: set the pointer to NULL after kfree, or let a reference "
        "count decide who frees."),
    "null-deref": (
        "Struct memory that was never allocated is used.",
        "A field of struct memory declared 'struct S *p' is used before kzalloc(p): in the "
        "kernel a NULL pointer dereference (an oops).",
        "Allocate before publishing the pointer, and make every user wait until it is "
        "published (a completion, a flag under a lock), or check the pointer first."),
    "sleep-in-atomic": (
        "A primitive that may sleep runs in atomic context.",
        "A wait, a mutex lock, a flush, synchronize_rcu or another sleeping primitive runs "
        "while the thread holds a spinlock, has preemption or interrupts disabled, or runs "
        "in an irq handler or a timer or RCU callback: in the kernel 'BUG: scheduling while "
        "atomic' or 'sleeping function called from invalid context'.",
        "Move the sleeping call out of the atomic section (drop the spinlock first, or defer "
        "it to a work item), or use the non-sleeping variant."),
    "unlock-not-held": (
        "A mutex is unlocked by a thread that does not hold it.",
        "unlock() of a mutex the thread does not hold: the mutex is free or held by another "
        "thread. In the kernel this corrupts the lock state (and lockdep reports it).",
        "Unlock only on the paths that locked: keep lock and unlock in the same function, "
        "use a single unlock label on error paths, and do not hand a held mutex to another "
        "thread to release."),
    "assertion": (
        "An assert statement is false.",
        "An `assert` in the design fails in some execution: the condition the design relies "
        "on at that point does not hold.",
        "Read the witness to see which interleaving breaks the assumption; then either order "
        "the threads (a completion, a lock, a reference held across the window) or correct "
        "the assertion if it claimed too much."),
    "invariant": (
        "A declared invariant is false in a reachable state.",
        "An `invariant` of the file is false after some step of some execution (or in the "
        "initial state).",
        "Find in the witness the step that breaks it: usually an update that must happen "
        "atomically with another, or under the lock the invariant assumes; put both under "
        "that lock (or an `atomic` block that models it), or weaken the invariant to what "
        "the design really keeps."),
    "deadlock": (
        "Every thread that has not finished is blocked.",
        "The execution reaches a state in which no thread can move and at least one has not "
        "finished: a wait() for a completion nobody will complete, a lock() on a mutex that "
        "will not be released, or an unload() waiting for module references that are never "
        "dropped.",
        "Check what each blocked thread waits for in the last state: complete the completion "
        "on every path (including error paths), take locks in one global order, and drop "
        "every module reference before the unload that waits for it."),
    "hang": (
        "A thread that must finish never does, though other threads keep running.",
        "Some fair infinite execution (every thread that can move again and again does) "
        "never lets a thread that must finish finish: it is blocked for good, for example "
        "holding a lock the work it flushes is waiting for, or it loops for ever, while "
        "other threads (a polling timer, a re-queued work item) keep the system moving, so "
        "there is no deadlock. The witness is a lasso: steps to a loop that repeats for ever.",
        "Read what the hung thread waits for in the loop and which thread should have given "
        "it: break the cycle of waits (do not flush or wait for work while holding a lock it "
        "takes), stop the self-re-arming timer or work before waiting for it, or declare a "
        "thread that runs for ever by design `service`."),
    INPUT_ERROR: (
        "The file does not parse or check.",
        "The .mproof file has a syntax error, refers to something not declared, or breaks "
        "another rule of the language, so nothing was proved.",
        "Fix the mistake the message points at; `modproof check FILE` shows every "
        "diagnostic with the source line."),
    EXPECTATION_MISMATCH: (
        "The verdict does not match the file's expect line.",
        "The file's `expect` line is missing, or the verdict differs from it without a "
        "violation to show for it: it expects a violation that was not found, the verdict "
        "is unknown (which never counts as proved), or a `cover` was never reached, so the "
        "proof may hold only because nothing interesting can happen.",
        "If the design was fixed on purpose, update the expect line; if a violation should "
        "be found, check that the racing paths are modelled; for an unknown verdict raise "
        "--bound or --timeout; for an unreached cover, find which assumption makes it "
        "unreachable."),
    BOUNDED_PROOF: (
        "The file was proved only up to a bound, and its expect line asks for more.",
        "Bounded model checking found no violation in the executions of up to the bound's "
        "number of steps, and its k-induction did not close, so longer executions were not "
        "explored. `expect proved` asks for a proof for all executions, and `expect proved "
        "up to N` for one of at least N steps, so this is not a pass: it is reported as "
        "bounded, with the bound.",
        "Prove the file with the explicit engine or the default portfolio, which explore every "
        "execution of a finite model; or raise --bound; or, when a bounded proof is all you "
        "want, say which bound you accept: `expect proved up to N`."),
    INTERNAL_ERROR: (
        "modproof failed on this file.",
        "An exception inside modproof itself: a bug in the tool, not in the file.",
        "Report it with the input file; `MODPROOF_DEBUG=1 modproof prove FILE` shows a "
        "traceback."),
}
RULE_IDS = tuple(CHECKS) + (INPUT_ERROR, EXPECTATION_MISMATCH, BOUNDED_PROOF, INTERNAL_ERROR)


def schema() -> dict:
    """The official SARIF 2.1.0 JSON schema (OASIS, errata 01), shipped with modproof."""
    import json
    from importlib.resources import files
    text = files("modproof").joinpath("schemas/sarif-2.1.0.schema.json").read_text("utf-8")
    return json.loads(text)


def rules() -> list[dict]:
    """A reportingDescriptor for every check and for the CI rules, in RULE_IDS order."""
    out = []
    for rid in RULE_IDS:
        short, full, help_text = RULES[rid]
        out.append({
            "id": rid,
            "name": RULE_NAMES[rid],
            "shortDescription": {"text": short},
            "fullDescription": {"text": full},
            "help": {"text": help_text},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["modproof", "check" if rid in CHECKS else "ci"]},
        })
    return out


def _driver() -> dict:
    return {"name": "modproof", "version": __version__, "semanticVersion": __version__,
            "informationUri": HOMEPAGE, "rules": rules()}


def _log(run: dict) -> dict:
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _run(results: list[dict], root: str, invocation: Optional[dict] = None) -> dict:
    run = {
        "tool": {"driver": _driver()},
        "originalUriBaseIds": {SRCROOT: {"uri": Path(root).resolve().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if invocation is not None:
        run["invocations"] = [invocation]
    return run


# --------------------------------------------------------------------------- locations


def relative_to_root(path: str, root: Optional[str] = None) -> Optional[str]:
    """`path` relative to `root` (default: the current folder), or None outside it.

    The path as named comes first: a proof file that is a symbolic link into another
    folder is still the repository's file (code scanning maps URIs to files of the
    checkout); with links resolved second, for a root reached through a link."""
    root = root or os.getcwd()
    for r, p in ((os.path.abspath(root), os.path.abspath(path)),
                 (os.path.realpath(root), os.path.realpath(path))):
        rel = os.path.relpath(p, r)
        if not (rel == os.pardir or rel.startswith(os.pardir + os.sep)):
            return rel
    return None


def artifact_location(path: str, root: Optional[str] = None) -> dict:
    """`path` relative to `root` under %SRCROOT%, or an absolute file URI outside it."""
    rel = relative_to_root(path, root)
    if rel is None:
        return {"uri": Path(os.path.realpath(path)).as_uri()}
    return {"uri": quote(rel.replace(os.sep, "/"), safe="/-._~"), "uriBaseId": SRCROOT}


def _region(line: int, col: int, end_line: int = 0, end_col: int = 0) -> Optional[dict]:
    if line < 1:
        return None
    region = {"startLine": line, "startColumn": max(col, 1)}
    if end_line >= line and end_col >= 1 and (end_line, end_col) > (line, max(col, 1)):
        region.update(endLine=end_line, endColumn=end_col)
    return region


def _location(path: str, root, line: int = 0, col: int = 0, end_line: int = 0, end_col: int = 0,
              message: Optional[str] = None) -> dict:
    phys: dict = {"artifactLocation": artifact_location(path, root)}
    region = _region(line, col, end_line, end_col)
    if region:
        phys["region"] = region
    loc: dict = {"physicalLocation": phys}
    if message:
        loc["message"] = {"text": message}
    return loc


def _span_location(path: str, root, span, message: Optional[str] = None) -> dict:
    return _location(path, root, span.line, span.col, span.end_line, span.end_col, message)


def _fingerprint(*parts: str) -> dict:
    h = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return {FINGERPRINT: h[:32]}


# --------------------------------------------------------------------------- witness steps

_KINDS = {
    "get": ["acquire"], "put": ["release"],
    "lock": ["acquire", "lock"], "unlock": ["release", "lock"],
    "module_get": ["acquire", "module"], "module_put": ["release", "module"],
    "module_put_and_exit": ["release", "module", "exit"], "complete_and_exit": ["signal", "exit"],
    "unload": ["unload", "module"], "unload_free": ["unload", "module", "memory"],
    "wait": ["wait"], "await": ["wait"], "complete": ["signal"], "complete_all": ["signal"],
    "reinit": ["value"], "assign": ["value"], "assert": ["assert"],
    "branch": ["branch"], "choose": ["branch"], "atomic": ["atomic"],
    "call": ["call"], "return": ["return"],
}


def step_kinds(step: WitnessStep) -> list[str]:
    """SARIF threadFlowLocation kinds of a step: the well-known 'acquire', 'release',
    'call', 'return', 'branch', 'true'/'false', 'lock', 'exit', 'danger' where they fit,
    and modproof's own 'wait', 'signal', 'unload', ... for the rest."""
    kinds = list(_KINDS.get(step.kind, [step.kind]))
    if step.kind == "branch" and step.detail in ("test is true", "test is false"):
        kinds.append(step.detail.rsplit(" ", 1)[1])
    if step.kind in ("put", "unload") and "calls " in step.detail:
        kinds.append("call")       # a release or exit function runs next
    if step.kind == "return" and step.detail.startswith("the thread function returns"):
        kinds.append("exit")
    if step.violation:
        kinds.append("danger")
    return list(dict.fromkeys(kinds))


def _lifetime_modules(w: Witness) -> set[str]:
    """Modules whose state (loaded, unloading, gone) changes in the witness."""
    out = set()
    for s in w.steps:
        for name, _, _ in s.changes:
            if name.startswith("state(") and name.endswith(")"):
                out.add(name[len("state("):-1])
    return out


def _importance(s: WitnessStep, lifetime: set[str]) -> str:
    if s.violation:
        return "essential"
    if s.owner in lifetime or any(n.startswith(("state(", "module_refs("))
                                  for n, _, _ in s.changes):
        return "important"
    return "unimportant"


def _step_message(s: WitnessStep) -> str:
    owner = s.owner if s.owner_state == "core" else f"{s.owner} ({s.owner_state})"
    text = f"step {s.index}: {s.thread} [{owner}] {s.statement}"
    notes = [s.detail] if s.detail else []
    notes += [f"{k}: {show_value(a)} -> {show_value(b)}" for k, a, b in s.changes]
    if s.violation:
        notes.append(f"VIOLATION {s.violation}")
    return text + (" - " + "; ".join(notes) if notes else "")


def _thread_flow_location(s: WitnessStep, root, lifetime: set[str]) -> dict:
    tfl = {
        "location": _location(s.file, root, s.line, s.col, message=_step_message(s)),
        "kinds": step_kinds(s),
        "module": s.owner,
        "executionOrder": s.index,
        "importance": _importance(s, lifetime),
        "nestingLevel": len(s.frame),
        "properties": {"thread": s.thread, "statement": s.statement,
                       "ownerState": s.owner_state, "frame": list(s.frame)},
    }
    if s.changes:
        tfl["state"] = {k: {"text": show_value(b)} for k, _, b in s.changes}
    if s.frame:
        tfl["stack"] = {"frames": [{"module": s.owner, "properties": {"function": fn}}
                                   for fn in reversed(s.frame)]}
    return tfl


def code_flow(w: Witness, root: Optional[str] = None) -> dict:
    """One threadFlow per thread that moved, in thread order, then "all" in global order."""
    lifetime = _lifetime_modules(w)
    initial = {k: {"text": show_value(v)} for k, v in w.initial if not k.startswith("pc(")}
    flows = []
    for name in w.threads:
        steps = [s for s in w.steps if s.thread == name]
        if steps:
            flows.append({"id": name, "message": {"text": f"thread {name}"},
                          "initialState": initial,
                          "locations": [_thread_flow_location(s, root, lifetime) for s in steps]})
    # Thread flow ids are unique within the code flow: a thread named `all` leaves "all"
    # to itself, and the merged flow takes an id no thread name can have (a space).
    merged = "all" if "all" not in w.threads else "all threads"
    flows.append({"id": merged, "message": {"text": "all threads in execution order"},
                  "initialState": initial,
                  "locations": [_thread_flow_location(s, root, lifetime) for s in w.steps]})
    return {"message": {"text": w.message}, "threadFlows": flows}


def _violation_site(w: Witness) -> tuple[int, int, str]:
    """(line, col, statement text) of the violation, for its location and fingerprint:
    the site replay recorded (for a witness of no steps, the invariant false in the
    initial state, or where a thread is blocked in an initial deadlock)."""
    if w.site is not None:
        return w.site.line, w.site.col, w.site.text
    if w.steps:   # a witness made by hand
        last = next((s for s in reversed(w.steps) if s.violation), w.steps[-1])
        return last.line, last.col, last.statement
    return 0, 0, ""


def violation_result(w: Witness, root: Optional[str] = None, path: Optional[str] = None) -> dict:
    """The SARIF result of one violation, with its code flows."""
    path = path or w.file
    line, col, text = _violation_site(w)
    res = {
        "ruleId": w.check,
        "ruleIndex": RULE_IDS.index(w.check) if w.check in RULE_IDS else -1,
        "level": "error",
        "message": {"text": w.message},
        "locations": [_location(path, root, line, col)],
        "partialFingerprints": _fingerprint(artifact_location(path, root)["uri"], w.check, text),
        "properties": {"steps": w.length, "threads": list(w.threads)},
    }
    if w.steps:
        res["codeFlows"] = [code_flow(w, root)]
    return res


def witness_to_sarif(witness: Witness, program: Optional[Program] = None,
                     root: Optional[str] = None) -> dict:
    """A SARIF log: one run, one result, the witness as its code flows.  (`program`,
    which every export takes, is not needed: the witness knows where it is.)  A
    cover witness is not a finding: ValueError."""
    if witness.cover is not None:
        raise ValueError(f"an execution that reaches cover {witness.cover} is not a finding")
    root = root or os.getcwd()
    return _log(_run([violation_result(witness, root)], root))


# --------------------------------------------------------------------------- CI runs


def _result(rule: str, message: str, location: dict, fingerprint: dict, **extra) -> dict:
    return {"ruleId": rule, "ruleIndex": RULE_IDS.index(rule), "level": "error",
            "message": {"text": message}, "locations": [location],
            "partialFingerprints": fingerprint, **extra}


def file_results(fr, root: Optional[str] = None) -> list[dict]:
    """The SARIF results of one `modproof.ci_result.FileResult` (none for a clean pass)."""
    from modproof.result import Violated

    uri = artifact_location(fr.path, root)["uri"]
    out: list[dict] = []
    if fr.error == ci_result.INPUT_ERROR:
        if not fr.diagnostics:
            return [_result(INPUT_ERROR, fr.reason, _location(fr.path, root),
                            _fingerprint(uri, INPUT_ERROR, fr.reason))]
        for d in fr.diagnostics:
            related = [dict(_span_location(fr.path, root, n.span, n.message), id=i)
                       for i, n in enumerate(d.notes)]
            extra = {"relatedLocations": related} if related else {}
            out.append(_result(INPUT_ERROR, d.message, _span_location(fr.path, root, d.span),
                               _fingerprint(uri, INPUT_ERROR, d.message), **extra))
        return out
    if fr.error == ci_result.INTERNAL_ERROR:
        return [_result(INTERNAL_ERROR, fr.reason, _location(fr.path, root),
                        _fingerprint(uri, INTERNAL_ERROR, fr.reason))]
    program, r = fr.program, fr.result
    exp = program.expect if program is not None else None
    if isinstance(r, Violated):
        res = violation_result(r.witness, root, path=fr.path)
        if fr.status == ci_result.OK:
            res["suppressions"] = [{
                "kind": "inSource", "status": "accepted",
                "justification": f"the file expects it: 'expect {fr.expected}'"}]
        res["properties"]["expected"] = fr.expected or None
        out.append(res)
    if fr.error == ci_result.MISSING_EXPECT:
        out.append(_result(EXPECTATION_MISMATCH, f"{fr.path} has no expect line, so its verdict "
                           f"({fr.got}) cannot be checked", _location(fr.path, root, 1, 1),
                           _fingerprint(uri, EXPECTATION_MISMATCH, "missing")))
    elif fr.status == ci_result.BOUNDED:
        # NOTE(bounded-expect): a proof up to a bound, where the expect line asks for more.
        out.append(_result(BOUNDED_PROOF, fr.reason, _span_location(fr.path, root, exp.span),
                           _fingerprint(uri, BOUNDED_PROOF, fr.expected),
                           properties={"expected": fr.expected, "got": fr.got,
                                       "bound": getattr(r, "bound", None)}))
    elif fr.status == ci_result.FAIL and not (isinstance(r, Violated) and exp is not None
                                              and exp.verdict == "proved"):
        # expected a violation and got none, or another one; unknown; an unreached cover
        loc = (_span_location(fr.path, root, exp.span) if exp is not None
               else _location(fr.path, root))
        missed = [c for c in program.covers if any(cr.name == c.name and not cr.reached
                                                   for cr in r.covers)]
        related = []
        if fr.got == "proved" and fr.expected == "proved" and missed:
            loc = _span_location(fr.path, root, missed[0].span)
            related = [dict(_span_location(fr.path, root, c.span, f"cover {c.name}"), id=i)
                       for i, c in enumerate(missed[1:])]
        extra = {"relatedLocations": related} if related else {}
        out.append(_result(EXPECTATION_MISMATCH, fr.reason, loc,
                           _fingerprint(uri, EXPECTATION_MISMATCH, fr.expected, fr.got),
                           properties={"expected": fr.expected, "got": fr.got}, **extra))
    return out


def ci_to_sarif(results, root: Optional[str] = None) -> dict:
    """A SARIF log of a CI run: one run, the results of every file in order.

    `results` is a `modproof.ci_result.CiRun` or an iterable of `FileResult`s (None
    entries, files not run, are skipped)."""
    root = root or os.getcwd()
    interrupted = bool(getattr(results, "interrupted", False))
    items = [r for r in getattr(results, "results", results) if r is not None]
    out: list[dict] = []
    for fr in items:
        out += file_results(fr, root)
    internal = [fr for fr in items if fr.error == ci_result.INTERNAL_ERROR]
    invocation = {"executionSuccessful": not internal and not interrupted,
                  "properties": {"files": len(items),
                                 "passed": sum(1 for fr in items if fr.passed),
                                 "interrupted": interrupted}}
    if interrupted:
        invocation["exitCode"] = 130
    return _log(_run(out, root, invocation))


__all__ = ["witness_to_sarif", "ci_to_sarif", "schema", "violation_result", "file_results",
           "code_flow", "rules", "step_kinds", "artifact_location", "RULE_IDS", "SARIF_VERSION"]
