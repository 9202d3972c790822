"""JUnit XML for CI runs: one testcase per `.mproof` file.

The layout is the one CI servers read (Jenkins, GitLab, GitHub test reporters):
`<testsuites>` holding one `<testsuite name="modproof">` with `tests`,
`failures`, `errors`, `skipped` and `time`, and one `<testcase>` per file with
`classname` from its folder (`proofs/checks` -> `proofs.checks`), `name` from
its file name, `file` and `time`.  A verdict that does not match the file's
`expect` line is a `<failure>` whose text is the rendered result with its
witness (of type "bounded-proof" for a proof only up to a bound where the file
asks for more, NOTE(bounded-expect)); a file that could not be checked is an `<error>` with the rendered
diagnostics; a file an interrupted run did not reach is `<skipped>`.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Iterable, Optional

from modproof import ci_result

# Characters XML 1.0 cannot carry (a diagnostic may quote a line with a NUL byte).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def classname(path: str, root: Optional[str] = None) -> str:
    """The file's folder, relative to `root` (default: the current folder) when inside
    it, as a dotted name; "modproof" for a file in the root itself."""
    from modproof.exports.sarif import relative_to_root   # a linked file keeps its folder
    rel = relative_to_root(path, root)
    if rel is None:
        rel = os.path.realpath(path).lstrip(os.sep)
    parts = [p for p in os.path.dirname(rel).split(os.sep) if p and p != os.curdir]
    return ".".join(parts) or "modproof"


def _testname(path: str) -> str:
    base = os.path.basename(path)
    return base[:-len(".mproof")] if base.endswith(".mproof") else base


def ci_to_junit(results, root: Optional[str] = None, suite: str = "modproof",
                properties: Iterable[tuple[str, str]] = ()) -> str:
    """The JUnit XML document of a CI run.

    `results` is a `modproof.ci_result.CiRun` (files it did not reach become
    skipped testcases) or an iterable of `FileResult`s."""
    if isinstance(results, ci_result.CiRun):
        rows = list(zip(results.files, results.results))
        total = results.seconds
        interrupted = results.interrupted
    else:
        rows = [(r.path, r) for r in results]
        total = sum(r.seconds for _, r in rows)
        interrupted = False
    done = [r for _, r in rows if r is not None]
    counts = {
        "tests": len(rows),
        "failures": sum(1 for r in done if r.status in (ci_result.FAIL, ci_result.BOUNDED)),
        "errors": sum(1 for r in done if r.status == ci_result.ERROR),
        "skipped": len(rows) - len(done),
    }
    top = ET.Element("testsuites", name=suite, time=f"{total:.3f}",
                     **{k: str(v) for k, v in counts.items()})
    ts = ET.SubElement(top, "testsuite", name=suite, time=f"{total:.3f}",
                       timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
                       **{k: str(v) for k, v in counts.items()})
    props = list(properties)
    if props:
        pe = ET.SubElement(ts, "properties")
        for k, v in props:
            ET.SubElement(pe, "property", name=k, value=str(v))
    for path, r in rows:
        tc = ET.SubElement(ts, "testcase", classname=classname(path, root), name=_testname(path),
                           file=path, time=f"{r.seconds:.3f}" if r is not None else "0.000")
        if r is None:
            why = "the run was interrupted before this file" if interrupted else "not run"
            ET.SubElement(tc, "skipped", message=why)
            continue
        if r.status in (ci_result.FAIL, ci_result.BOUNDED):
            kind = "bounded-proof" if r.status == ci_result.BOUNDED else "expectation-mismatch"
            el = ET.SubElement(tc, "failure", message=_clean(r.reason), type=kind)
            el.text = _clean(r.detail)
        elif r.status == ci_result.ERROR:
            kind = {ci_result.INPUT_ERROR: "input-error",
                    ci_result.MISSING_EXPECT: "missing-expect",
                    ci_result.INTERNAL_ERROR: "internal-error"}.get(r.error, "error")
            el = ET.SubElement(tc, "error", message=_clean(r.reason), type=kind)
            el.text = _clean(r.detail)
        else:
            out = ET.SubElement(tc, "system-out")
            out.text = _clean(r.detail)
    ET.indent(top)
    return ET.tostring(top, encoding="unicode", xml_declaration=True) + "\n"


__all__ = ["ci_to_junit", "classname"]
