"""Witness exports: every format, the golden Mermaid and ITF files, ITF's structure,
the JSON witness schema, and HTML's structure and escaping."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import jsonschema
import pytest
from click.testing import CliRunner

from conftest import ROOT, TESTS, compare_golden, proof_files
from modproof.cli import main
from modproof.exports import FORMATS, render_export, witness_schema, write_export
from modproof.exports.itf import VARS, witness_to_itf
from modproof.exports.jsonfmt import witness_to_json
from modproof.exports.mermaid import escape as mermaid_escape
from modproof.prove import Options, prove
from modproof.result import Violated
from modproof.spec.lower import load, load_text
from modproof.witness import Witness, WitnessStep

GOLDEN = TESTS / "golden"
# The formats of this file; other writers in the registry have their own tests.
WITNESS_FORMATS = ("text", "json", "itf", "mermaid", "html")
DM = "proofs/dm_in_module.mproof"


def _witness(rel: str):
    """Program and witness of a file under the checkout, named by its relative path
    (so that golden files do not depend on the directory the tests run in)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        p = load(rel)
    r = prove(p, Options(engine="explicit"))
    assert isinstance(r, Violated), rel
    return p, r.witness


@pytest.fixture(scope="module")
def dm():
    return _witness(DM)


def _violated_files() -> list[str]:
    out = []
    for f in proof_files():
        rel = str(f.relative_to(ROOT))
        p = load(str(f))
        if p.expect is not None and p.expect.verdict == "violated":
            out.append(rel)
    return out


VIOLATED = _violated_files()


def test_the_corpus_has_violated_files():
    assert DM in VIOLATED and len(VIOLATED) >= 5


# --------------------------------------------------------------------------- registry


def test_the_registry_has_the_witness_formats():
    assert set(WITNESS_FORMATS) <= set(FORMATS)


@pytest.mark.parametrize("fmt", WITNESS_FORMATS)
def test_every_format_renders_the_dm_witness(dm, fmt, tmp_path):
    p, w = dm
    text = render_export(fmt, w, p)
    assert text.endswith("\n") and "dm_kobject_release" in text
    path = tmp_path / f"w.{fmt}"
    write_export(fmt, w, p, str(path))
    assert path.read_text(encoding="utf-8") == text
    if fmt in ("json", "itf"):
        json.loads(text)


def test_formats_render_without_the_program(dm):
    _, w = dm
    for fmt in WITNESS_FORMATS:
        assert render_export(fmt, w, None)


def test_unknown_format_names_the_known_ones(dm):
    p, w = dm
    with pytest.raises(ValueError, match=r"unknown export format 'dot'; the formats are text, json, "):
        render_export("dot", w, p)


def test_cli_writes_every_export(tmp_path):
    args = ["prove", "--engine", "explicit", str(ROOT / DM)]
    for fmt in FORMATS:
        args[1:1] = ["--export", f"{fmt}:{tmp_path / ('w.' + fmt)}"]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 1, r.output
    for fmt in FORMATS:
        assert (tmp_path / f"w.{fmt}").stat().st_size > 100


# --------------------------------------------------------------------------- golden files


def test_mermaid_golden(dm):
    p, w = dm
    compare_golden(GOLDEN / "dm_in_module.mmd", render_export("mermaid", w, p))


def test_itf_golden(dm):
    p, w = dm
    compare_golden(GOLDEN / "dm_in_module.itf.json", render_export("itf", w, p))


# --------------------------------------------------------------------------- ITF


def _decode(v):
    """An ITF expression as a Python value (maps as dicts, records as dicts)."""
    if isinstance(v, dict) and set(v) == {"#bigint"}:
        assert re.fullmatch(r"-?[0-9]+", v["#bigint"])
        return int(v["#bigint"])
    if isinstance(v, dict) and set(v) == {"#map"}:
        return {k: _decode(x) for k, x in v["#map"]}
    if isinstance(v, dict):
        assert not any(k.startswith("#") for k in v)
        return {k: _decode(x) for k, x in v.items()}
    assert isinstance(v, (bool, str)), f"{v!r} is not an ITF value of this trace"
    return v


def _bare_ints(v) -> list:
    if isinstance(v, bool) or isinstance(v, str):
        return []
    if isinstance(v, int):
        return [v]
    items = v.values() if isinstance(v, dict) else v
    return [x for i in items for x in _bare_ints(i)]


def _as_witness_state(st: dict) -> dict:
    """An ITF state back in the witness's names (modproof.witness.state_items)."""
    out = {}
    for var, prefix in (("pc", "pc"), ("refs", "refs"), ("done", "done"),
                        ("module_refs", "module_refs"), ("module_state", "state"),
                        ("holder", "holder")):
        for k, v in _decode(st[var]).items():
            out[f"{prefix}({k})"] = None if var == "holder" and v == "" else v
    out.update(_decode(st["vars"]))
    out.update(_decode(st["locals"]))
    return out


@pytest.mark.parametrize("rel", VIOLATED)
def test_itf_structure(rel):
    p, w = _witness(rel)
    t = json.loads(render_export("itf", w, p))
    assert t == witness_to_itf(w)
    meta = t["#meta"]
    assert meta["format"] == "ITF" and meta["source"] == rel
    assert meta["format-description"] == "https://apalache-mc.org/docs/adr/015adr-trace.html"
    assert t["vars"] == list(VARS)
    assert len(t["states"]) == w.length + 1
    for i, st in enumerate(t["states"]):
        assert st["#meta"] == {"index": i}
        assert set(st) == set(t["vars"]) | {"#meta"}, f"state {i} lacks a var"
        # No bare JSON integer anywhere in a state: integers are {"#bigint": ...}.
        assert not _bare_ints({k: v for k, v in st.items() if k != "#meta"}), f"state {i}"
        want = dict(w.initial) if i == 0 else dict(w.steps[i - 1].state)
        assert _as_witness_state(st) == want
        if i == 0:
            assert [st[k] for k in ("mp_thread", "mp_statement", "mp_violation")] == ["", "", ""]
        else:
            s = w.steps[i - 1]
            assert st["mp_thread"] == s.thread and st["mp_statement"] == s.statement
            assert st["mp_owner"] == s.owner
            assert st["mp_location"] == f"{s.file}:{s.line}:{s.col}"
            assert st["mp_violation"] == (w.check if i == w.length else "")


def test_itf_final_state_of_dm(dm):
    _, w = dm
    last = witness_to_itf(w)["states"][-1]
    assert last["module_state"] == {"#map": [["dm", "gone"]]}
    assert last["mp_thread"] == "reader" and last["mp_owner"] == "dm"
    assert last["mp_violation"] == "code-after-unload"
    assert last["holder"] == {"#map": []} and last["vars"] == {"published": False}


# --------------------------------------------------------------------------- JSON schema


@pytest.fixture(scope="module")
def validator():
    schema = witness_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("rel", VIOLATED)
def test_every_witness_matches_the_schema(rel, validator):
    _, w = _witness(rel)
    data = witness_to_json(w)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors
    # What a schema cannot say.
    assert data["length"] == len(data["steps"])
    assert [s["index"] for s in data["steps"]] == list(range(1, data["length"] + 1))
    assert [s["violation"] for s in data["steps"]] == [None] * (data["length"] - 1) + [data["check"]]
    assert all(set(s["state"]) == set(data["initial"]) for s in data["steps"])


@pytest.mark.parametrize("src", [
    # Locals of v2 workers' functions: the worker's name has parentheses.
    "module m\nvar x = 0\nfn h in m { local k = 1\n x = k }\nwork w runs h\n"
    "thread t { queue_work(w); unload(m) }\n",
    "module m\nvar x = 0\nfn cb in m { local k = 1\n x = k }\n"
    "thread r[2] { local n = 0\n call_rcu(cb); n = 1 }\nthread t { unload(m) }\n",
])
def test_worker_and_copy_locals_match_the_schema(src, validator):
    p = load_text(src, "w.mproof")
    r = prove(p, Options(engine="explicit"))
    assert isinstance(r, Violated)
    data = witness_to_json(r.witness)
    assert any("(" in k and "." in k for k in data["initial"]), data["initial"]
    assert _errors(validator, data) == []


def _errors(validator, data) -> list[str]:
    return [e.message for e in validator.iter_errors(data)]


def test_the_schema_rejects_what_modproof_never_writes(dm, validator):
    _, w = dm
    good = witness_to_json(w)
    assert _errors(validator, {**good, "version": 2}) == ["1 was expected"]
    assert _errors(validator, {**good, "format": "itf"})
    missing = dict(good)
    del missing["steps"]
    assert _errors(validator, missing) == ["'steps' is a required property"]
    assert _errors(validator, {**good, "extra": 1})
    assert _errors(validator, {**good, "check": "use-after-kfree"})
    bad_state = json.loads(json.dumps(good))
    bad_state["steps"][0]["state"]["state(dm)"] = "unloaded"
    assert _errors(validator, bad_state) == ["'unloaded' is not one of ['loaded', 'unloading', 'gone', 'coming']"]
    bad_step = json.loads(json.dumps(good))
    bad_step["steps"][0]["location"]["line"] = 0
    assert _errors(validator, bad_step)


def test_the_schema_is_package_data():
    from importlib import resources
    assert resources.files("modproof").joinpath("schemas/witness.schema.json").is_file()
    assert (ROOT / "modproof" / "schemas" / "witness.schema.json").is_file()


# --------------------------------------------------------------------------- Mermaid

_MESSAGE = re.compile(r"^    (\w+)(->>|-->>|-x)(\w+): (.*)$")


def test_mermaid_structure(dm):
    p, w = dm
    src = render_export("mermaid", w, p)
    lines = src.splitlines()
    assert lines[:3] == ["sequenceDiagram", "    title proofs/dm_in_module.mproof violated "
                         "code-after-unload", "    autonumber"]
    declared = {m.group(1) for m in re.finditer(r"^    participant (\w+) as ", src, re.M)}
    assert declared == {"T0", "T1", "CORE", "M0"}
    messages = [m for m in map(_MESSAGE.match, lines) if m]
    # autonumber numbers messages: one message per step keeps them the step numbers.
    assert len(messages) == w.length
    for m, s in zip(messages, w.steps):
        assert {m.group(1), m.group(3)} <= declared
        assert m.group(4).startswith(mermaid_escape(s.statement))
    assert "    Note over M0: dm is unloading" in lines
    assert "    Note over M0: dm is gone#58; its code is freed" in lines
    i = lines.index("    rect rgb(255, 228, 228)")
    assert lines[i + 1].startswith("    T0-xM0: return from dm_kobject_release")
    assert lines[i + 2].startswith("    Note over T0,M0: VIOLATION code-after-unload<br/>reader returns")
    assert lines[i + 3] == "    end" and i + 4 == len(lines)


def test_mermaid_escapes_what_its_grammar_treats_specially():
    assert mermaid_escape("a; b # c: d % e <x> & f") == "a#59; b #35; c#58; d #37; e #60;x#62; #38; f"
    assert mermaid_escape("two\nlines") == "two lines"
    src = render_export("mermaid", hostile_witness(), None)
    for line in src.splitlines()[1:]:
        # After the separator, only entity codes and <br/> may hold '#', ';', '<', '>'.
        text = line.split(": ", 1)[1] if ": " in line else line
        rest = re.sub(r"#\w+;|<br/>", "", text)
        assert not re.search(r"[#;<>%]", rest), line
    assert "participant T1 as end" in src and "<script>" not in src


# --------------------------------------------------------------------------- HTML


class _Elements(HTMLParser):
    """Collects (tag, attrs) of every start tag and the text of each <script>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data

    def with_class(self, cls: str) -> list[dict]:
        return [a for _, a in self.tags if cls in (a.get("class") or "").split()]


def _parse(text: str) -> _Elements:
    p = _Elements()
    p.feed(text)
    p.close()
    return p


def test_html_has_one_box_per_step(dm):
    p, w = dm
    page = render_export("html", w, p)
    doc = _parse(page)
    steps = doc.with_class("step")
    assert [a["data-step"] for a in steps] == [str(i) for i in range(1, w.length + 1)]
    assert [a["data-step"] for a in doc.with_class("violation")] == [str(w.length)]
    # Each box sits in its thread's lane (column 2 + thread index).
    for a, s in zip(steps, w.steps):
        assert f"grid-column:{w.threads.index(s.thread) + 2};" in a["style"]
    assert len(doc.with_class("lane-head")) == len(w.threads)
    assert len(doc.with_class("m-unloading")) == 1 and len(doc.with_class("m-gone")) == 1
    assert "dm is gone: its code is freed" in page and "reader returns from dm_kobject_release" in page
    assert "<title>proofs/dm_in_module.mproof: violated code-after-unload</title>" in page


def test_html_is_self_contained(dm):
    p, w = dm
    page = render_export("html", w, p)
    doc = _parse(page)
    assert not [a for _, a in doc.tags if "src" in a or "href" in a]
    assert not re.search(r"@import|url\(|https?://", page)


def test_html_embeds_the_json_witness(dm, validator):
    p, w = dm
    doc = _parse(render_export("html", w, p))
    blob = next(a for t, a in doc.tags if a.get("id") == "mp-witness")
    assert blob.get("type") == "application/json"
    data = json.loads(doc.scripts[[a.get("id") for t, a in doc.tags if t == "script"].index("mp-witness")])
    assert data == witness_to_json(w)
    assert not _errors(validator, data)


def hostile_witness() -> Witness:
    """A hand-built witness whose every user string tries to break out of its format."""
    evil = '<script>alert("x")</script></textarea>; # %% end & "q" \'s\''
    st = (("pc(t<1>)", 1), ("pc(end)", 0), ("state(m<b>)", "loaded"), ("v", 3),
          ("t<1>.x", True))

    def step(i, thread, owner, ostate, changes=(), violation=None):
        return WitnessStep(
            index=i, thread=thread, thread_index=0 if thread == "t<1>" else 1, pc=0,
            kind="assign", statement=evil, file="<img src=x onerror=alert(1)>.mproof", line=1, col=1,
            owner=owner, owner_state=ostate, frame=("f</script>",), detail="</script><b>detail</b>",
            changes=changes, state=st, violation=violation)
    return Witness(
        file="<img src=x onerror=alert(1)>.mproof", check="assertion",
        message="msg </script><script>alert(2)</script>", threads=("t<1>", "end"),
        initial=(("pc(t<1>)", 0), ("pc(end)", 0), ("state(m<b>)", "loaded"), ("v", 1),
                 ("t<1>.x", False)),
        steps=(step(1, "t<1>", "core", "core", changes=(("v", 1, 3), ("t<1>.x", False, True))),
               step(2, "end", "m<b>", "loaded"),
               step(3, "t<1>", "m<b>", "loaded", violation="assertion")))


def test_html_escapes_user_text():
    w = hostile_witness()
    page = render_export("html", w, None)
    doc = _parse(page)
    assert len(doc.with_class("step")) == 3
    # Exactly the page's own scripts: the error hook, two JSON blobs and the viewer.
    assert [t for t, _ in doc.tags].count("script") == 4
    assert page.count("<script") == 4 and page.count("</script>") == 4
    assert "<img" not in page and "<b>detail" not in page and "<textarea" not in page.lower()
    assert "&lt;/script&gt;&lt;b&gt;detail&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;.mproof" in page
    # The JSON blobs parse back to the witness.
    data = json.loads(doc.scripts[1])
    assert data == witness_to_json(w)


def test_every_format_survives_the_hostile_witness():
    w = hostile_witness()
    for fmt in WITNESS_FORMATS:
        assert render_export(fmt, w, None)
    t = json.loads(render_export("itf", w, None))
    assert t["states"][1]["mp_statement"] == w.steps[0].statement
    assert _as_witness_state(t["states"][3]) == dict(w.steps[2].state)


def test_an_initial_state_violation_renders():
    """An invariant false in the initial state has a witness of no steps."""
    w = Witness(file="i.mproof", check="invariant", message="invariant bad (x == 1) is false in "
                "the initial state", threads=("t",), initial=(("pc(t)", 0), ("x", 0)), steps=())
    for fmt in WITNESS_FORMATS:
        assert render_export(fmt, w, None)
    assert "Note over T0: the initial state violates invariant" in render_export("mermaid", w, None)
    assert len(json.loads(render_export("itf", w, None))["states"]) == 1
    assert 'class="step' not in render_export("html", w, None)


def test_an_initial_state_violation_without_threads_declares_its_participant():
    # Mermaid would otherwise invent a participant labelled "CORE" for the note.
    w = Witness(file="i.mproof", check="invariant", message="invariant bad (x == 1) is false in "
                "the initial state", threads=(), initial=(("x", 0),), steps=())
    mmd = render_export("mermaid", w, None)
    assert "participant CORE as core" in mmd
    assert mmd.index("participant CORE as core") < mmd.index("Note over CORE:")


def test_an_initial_state_violation_shows_in_the_html_panel():
    w = Witness(file="i.mproof", check="invariant", message="invariant bad (x == 1) is false in "
                "the initial state", threads=("t",), initial=(("pc(t)", 0), ("x", 0)), steps=())
    page = render_export("html", w, None)
    aside = page[page.index('id="panel"'):page.index("</aside>")]
    assert "VIOLATION invariant" in aside and "is false in the initial state" in aside
    assert "before step 1" not in aside                 # there is no step 1


def _browser():
    from conftest import missing_tool
    from test_html_browser import CHROMIUM, _body_attr, _run
    if CHROMIUM is None:
        missing_tool("no chromium binary found")
    return _run, _body_attr


_BIG_PROBE = """<script>
(function () {
  var b = document.body, panel = document.getElementById("panel");
  document.querySelector('.step[data-step="2"]').dispatchEvent(new MouseEvent("mouseenter"));
  b.dataset.hover2 = panel.textContent;
  var over = 0;
  document.querySelectorAll(".step").forEach(function (box) {
    var right = box.getBoundingClientRect().right;
    box.querySelectorAll(".chg").forEach(function (c) {
      if (c.getBoundingClientRect().right > right + 0.5) over++;
    });
  });
  b.dataset.overflow = String(over);
  b.dataset.probed = "1";
})();
</script></body>"""


def test_html_shows_huge_integers_exactly_and_inside_their_boxes(tmp_path):
    """Integers are mathematical: the hover panel (built by the script from the embedded
    JSON) shows them digit for digit, not as a rounded float, and a long change wraps
    inside its step's box instead of running into the next lane."""
    run, body_attr = _browser()
    src = ("var big = 123456789012345678901234567890\n"
           "thread t[2] { big = big + 18446744073709551616 }\n"
           "thread r { assert big < 123456789012345678901234567891 }\n"
           "expect violated assertion\n")
    p = load_text(src, "big.mproof")
    r = prove(p, Options(engine="explicit"))
    assert isinstance(r, Violated) and r.witness.length >= 2
    after2 = dict(r.witness.steps[1].state)["big"]
    assert after2 > 2 ** 64
    page = tmp_path / "big.html"
    page.write_text(render_export("html", r.witness, p).replace("</body>", _BIG_PROBE),
                    encoding="utf-8")
    res = run(tmp_path, page, "--dump-dom", "--window-size=1400,900")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert body_attr(dom, "data-probed") == "1" and "data-js-error" not in dom
    hover = body_attr(dom, "data-hover2")
    assert str(after2) in hover, hover
    assert "e+" not in hover
    assert body_attr(dom, "data-overflow") == "0"


def test_the_docs_show_the_golden_diagram():
    docs = (ROOT / "docs" / "witness-format.md").read_text(encoding="utf-8")
    fence = re.search(r"```mermaid\n(.*?)```", docs, re.S)
    assert fence and fence.group(1) == (GOLDEN / "dm_in_module.mmd").read_text(encoding="utf-8")


def test_the_schema_names_every_step_kind_and_module_state():
    # a witness step's kind is a StepKind (v3: the loader's module_live, module_going
    # and ref_module too), its owner's state one of the module states or core
    from modproof.spec.model import MODULE_STATE_NAMES, StepKind
    schema = json.loads((ROOT / "modproof" / "schemas" / "witness.schema.json").read_text())
    step = schema["$defs"]["step"]["properties"] if "$defs" in schema else None
    if step is None:
        step = next(v for v in _walk(schema) if isinstance(v, dict) and "owner_state" in v)
    assert set(step["kind"]["enum"]) == {k.value for k in StepKind}
    assert set(step["owner_state"]["enum"]) == {"core", *MODULE_STATE_NAMES}


def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)
