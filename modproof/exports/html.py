"""The witness as one self-contained HTML page: a swim-lane timeline of the interleaving.

One lane (column) per thread, time flowing down: step N is a box (class `step`,
`data-step=N`) in its thread's lane on row N, indented by its call depth and
coloured by the owner whose code ran (core or a module; a legend names them).
A module's state changes (unloading, gone) are horizontal markers across all
lanes; the violating step has class `violation`.  The side panel shows a step's
statement, location, owner, effect and the whole state after it; the table
below the timeline shows every state of the trace.

The page needs nothing from the network: CSS and script are inline.  Without
script it is complete but static (the panel shows the violating step); the
script only makes boxes hoverable and clickable, and reads the steps from the
versioned JSON witness embedded in the page (`<script type="application/json"
id="mp-witness">`, format "modproof-witness").  All user text is escaped.
"""
from __future__ import annotations

import json
import re
from html import escape

from modproof.exports import informative_detail
from modproof.exports.jsonfmt import witness_to_json
from modproof.witness import STEP_CHECKS_STATE, Witness, WitnessStep, show_value

# Owner colours: core, then modules in order of appearance.  Red and amber are
# kept for the violation and the unload markers.
CORE_COLOUR = "#64748b"
MODULE_COLOURS = ("#2563eb", "#7c3aed", "#0f766e", "#be185d", "#15803d", "#9a3412", "#0369a1",
                  "#a21caf")


def _e(text) -> str:
    return escape(str(text), quote=True)


# NOTE(wrap-points): a statement or a state name in a narrow lane wraps where a
# reader would break it, after a comma and before an opening parenthesis with
# something inside (`queue_work(` / `poll_work)`, never `queue_work(p` / `oll_work)`):
# a <wbr> there, and `overflow-wrap: break-word` in the CSS, which breaks inside a
# name only when the name alone is wider than its box.  The script does the same.
_WRAP_POINTS = re.compile(r"(?<=,)|(?<=\S)(?=\((?!\)))")


def _wrap(text) -> str:
    """Escaped `text` with <wbr> at its natural wrap points (NOTE(wrap-points))."""
    return "<wbr>".join(_e(part) for part in _WRAP_POINTS.split(str(text)))


def _owners(w: Witness) -> list[str]:
    """"core" (when some step runs core code) and every module, in a fixed order."""
    mods = [k[len("state("):-1] for k, _ in w.initial if k.startswith("state(")]
    seen = [s.owner for s in w.steps]
    out = (["core"] if "core" in seen or not seen else [])
    out += list(dict.fromkeys(mods + [o for o in seen if o != "core"]))
    return out


def _fails_inside(step: WitnessStep) -> bool:
    """The step violates a check while it runs, so it never completes (NOTE(itf-crash-step))."""
    return step.violation is not None and step.violation not in STEP_CHECKS_STATE


def _changes_html(step: WitnessStep) -> str:
    return "".join(
        f' <span class="chg"><span class="k">{_wrap(k)}</span> {_e(show_value(a))} → '
        f'<b>{_e(show_value(b))}</b></span>' for k, a, b in step.changes)


def _pc_texts(w: Witness, program) -> dict[str, dict[str, str]]:
    """For each thread, the statement at each pc the trace shows (-1: the thread is done).

    The pcs are step ids of `modproof show`; the statement says where the thread
    stands.  From the program when given, else from the steps of the witness."""
    out: dict[str, dict[str, str]] = {t: {"-1": "done"} for t in w.threads}
    for s in w.steps:
        out[s.thread][str(s.pc)] = s.statement
    if program is not None:
        for t in program.threads:
            if t.name in out:
                out[t.name].update({str(st.id): st.text for st in t.steps})
    used = {(k[3:-1], str(v)) for s in (w.initial, *(x.state for x in w.steps))
            for k, v in s if k.startswith("pc(")}
    return {t: {pc: txt for pc, txt in m.items() if (t, pc) in used} for t, m in out.items()}


def _value_html(name: str, v, pcs) -> str:
    text = _e(show_value(v))
    if name.startswith("pc("):
        at = pcs.get(name[3:-1], {}).get(str(v))
        if at:
            text += f' <span class="at">{_e(at)}</span>'
    return text


def _state_table(items, changed: dict[str, object], caption: str, pcs) -> str:
    rows = []
    for k, v in items:
        if k in changed:
            rows.append(f'<tr class="changed"><th>{_e(k)}</th><td><s>{_e(show_value(changed[k]))}</s> '
                        f'{_value_html(k, v, pcs)}</td></tr>')
        else:
            rows.append(f"<tr><th>{_e(k)}</th><td>{_value_html(k, v, pcs)}</td></tr>")
    return (f'<table class="kv"><caption>{_e(caption)}</caption><tbody>{"".join(rows)}</tbody>'
            "</table>")


def _panel(w: Witness, step: WitnessStep | None, pcs) -> str:
    """The details panel for `step` (None: the initial state), as the script also builds it."""
    if step is None:    # a witness of no steps: the initial state already violates the check
        viol = f'<p class="vmsg"><b>VIOLATION {_e(w.check)}</b><br>{_e(w.message)}</p>'
        if w.cover is not None:   # (or, a cover witness, satisfies the cover)
            viol = f'<p class="cmsg"><b>COVER {_e(w.cover)}</b><br>{_e(w.message)}</p>'
        return ('<h2>Initial state</h2>' + viol
                + _state_table(w.initial, {}, "the initial state", pcs))
    owner = step.owner if step.owner_state == "core" else f"{step.owner} ({step.owner_state})"
    rows = [("thread", step.thread), ("location", f"{step.file}:{step.line}:{step.col}"),
            ("code of", owner)]
    if step.frame:
        rows.append(("in", " › ".join(step.frame)))
    if informative_detail(step):
        rows.append(("did", informative_detail(step)))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_wrap(v)}</dd>" for k, v in rows)
    head = f'<h2>Step {step.index} <span class="muted">of {w.length}</span></h2>'
    viol = ""
    if step.violation:
        viol = (f'<p class="vmsg"><b>VIOLATION {_e(step.violation)}</b><br>{_e(w.message)}</p>')
    caption = (f"state when step {step.index} ran (it does not complete)" if _fails_inside(step)
               else f"state after step {step.index}")
    changed = {k: a for k, a, _ in step.changes}
    return (head + viol + f'<p class="pstmt"><code>{_wrap(step.statement)}</code></p>'
            f'<dl class="facts">{dl}</dl>' + _state_table(step.state, changed, caption, pcs))


def _matrix(w: Witness) -> str:
    """Every state of the trace: one row per state name, one column per step."""
    names = [k for k, _ in w.initial]
    cols = [dict(w.initial)] + [dict(s.state) for s in w.steps]
    head = ['<th class="name">state</th>', '<th title="initial state">init</th>']
    for s in w.steps:
        cls = ' class="v"' if s.violation else ""
        head.append(f'<th{cls} title="{_e(s.thread)}: {_e(s.statement)}">{s.index}'
                    f'<span class="th">{_e(s.thread)}</span></th>')
    body = []
    for k in names:
        cells = [f'<th class="name">{_e(k)}</th>']
        for i, col in enumerate(cols):
            v = col.get(k)
            ch = i > 0 and cols[i - 1].get(k) != v and not k.startswith("pc(")
            cls = ' class="changed"' if ch else ""
            cells.append(f"<td{cls}>{_e(show_value(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ('<div class="matrix-wrap"><table class="matrix"><thead><tr>' + "".join(head)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def _script_json(data) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives literally."""
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _step_box(s: WitnessStep, row: int, col: int, own: int) -> str:
    """The step number in the gutter and the step's box in its lane."""
    classes = ["step", f"own-{own}"]
    if s.violation:
        classes.append("violation")
    if s.owner_state in ("unloading", "gone", "coming"):
        classes.append(f"in-{s.owner_state}")
    chip = "" if s.owner == "core" else (
        s.owner if s.owner_state == "loaded" else f"{s.owner} · {s.owner_state}")
    effect = ""
    if s.violation:
        effect += f' <span class="vtag">VIOLATION {_e(s.violation)}</span>'
    if informative_detail(s):
        effect += f' <span class="detail">{_e(informative_detail(s))}</span>'
    effect += _changes_html(s)
    frame = f' title="in {_e(" › ".join(s.frame))}"' if s.frame else ""
    return (
        f'<div class="num{" v" if s.violation else ""}" style="grid-row:{row}">{s.index}</div>'
        f'<div class="{" ".join(classes)}" data-step="{s.index}" tabindex="0" role="button" '
        f'aria-label="step {s.index}: {_e(s.thread)}: {_e(s.statement)}" '
        f'style="grid-column:{col};grid-row:{row};--depth:{len(s.frame)}"{frame}>'
        f'<div class="what"><code class="stmt">{_wrap(s.statement)}</code>{effect}</div>'
        + (f'<span class="chip">{_e(chip)}</span>' if chip else "<span></span>")
        + f'<span class="loc" title="{_e(f"{s.file}:{s.line}:{s.col}")}">{s.line}:{s.col}</span>'
        "</div>")


def _timeline(w: Witness, own_idx: dict[str, int], pcs) -> tuple[str, list[str]]:
    """The grid's cells, and which module-state markers it draws.

    Row 1 holds the lane heads; then one row per step, a marker row after each
    step that makes a module unloading or gone, and a last row that says where
    each thread stands at the end."""
    lane = {t: i + 2 for i, t in enumerate(w.threads)}    # grid column of each thread
    cells = ['<div class="corner" style="grid-column:1;grid-row:1">step</div>']
    cells += [f'<div class="lane-head" style="grid-column:{c}">{_wrap(t)}</div>'
              for t, c in lane.items()]
    drawn: list[str] = []
    row = 2
    for i, s in enumerate(w.steps):
        if w.loop is not None and i == w.loop:
            # A hang: a marker across the lanes where the loop that repeats for ever starts.
            cells.append(f'<div class="marker m-loop" style="grid-row:{row}"><span>loop: steps '
                         f'{w.loop + 1} to {len(w.steps)} repeat for ever</span></div>')
            drawn.append("loop")
            row += 1
        cells.append(_step_box(s, row, lane[s.thread], own_idx[s.owner]))
        row += 1
        for k, _, b in s.changes:
            if k.startswith("state(") and b in ("unloading", "gone", "loaded"):
                m = k[len("state("):-1]
                label = {"unloading": f"{m} is unloading", "gone": f"{m} is gone: its code is freed",
                         "loaded": f"{m} is live: its init function returned 0"}[b]
                cells.append(f'<div class="marker m-{b}" style="grid-row:{row}">'
                             f'<span>{_e(label)} <span class="muted">after step {s.index}</span>'
                             "</span></div>")
                drawn.append(b)
                row += 1
    final = dict(w.steps[-1].state) if w.steps else dict(w.initial)
    crashed = w.steps[-1].thread if w.steps and _fails_inside(w.steps[-1]) else None
    for t, c in lane.items():
        if t == crashed:        # its last box already says where it stopped
            continue
        pc = final.get(f"pc({t})")
        at = pcs.get(t, {}).get(str(pc)) or f"step {pc}"
        if pc == -1:
            what, cls = "finished", "fin"
        elif w.check == "deadlock":
            what, cls = f"blocked at {at}", "blocked"
        else:
            what, cls = f"next: {at}", "next"
        cells.append(f'<div class="end {cls}" style="grid-column:{c};grid-row:{row}">'
                     f"<span>{_e(what)}</span></div>")
    # The lanes' lifelines, behind the boxes.
    cells += [f'<div class="lane-bg" style="grid-column:{c};grid-row:2 / span {row - 1}"></div>'
              for c in lane.values()]
    return "".join(cells), list(dict.fromkeys(drawn))


def render(w: Witness, program=None) -> str:
    """The complete HTML document."""
    owners = _owners(w)
    pcs = _pc_texts(w, program)
    own_idx = {o: i for i, o in enumerate(owners)}
    modules = [o for o in owners if o != "core"]
    colour = {"core": CORE_COLOUR, **{m: MODULE_COLOURS[i % len(MODULE_COLOURS)]
                                      for i, m in enumerate(modules)}}
    owner_css = "".join(f".own-{i}{{--own:{colour[o]}}}" for o, i in own_idx.items())
    timeline, drawn = _timeline(w, own_idx, pcs)
    legend = "".join(f'<span class="key own-{own_idx[o]}"><i></i>{_e(o)}'
                     f'{"" if o == "core" else " <span class=muted>module</span>"}</span>'
                     for o in owners)
    legend += "".join(f'<span class="key mk-{b}"><i></i>module {b}</span>' for b in drawn if b != "loop")
    last = w.steps[-1] if w.steps else None
    n = w.length
    title = f"{w.file}: {w.headline}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="modproof">
<title>{_e(title)}</title>
<script>window.addEventListener("error", function (e) {{
  document.documentElement.dataset.jsError = String(e.message); }});</script>
<style>
{CSS}
{owner_css}
.timeline{{grid-template-columns:2.6rem repeat({max(len(w.threads), 1)}, minmax(min-content, 1fr))}}
</style>
</head>
<body>
<header>
<div class="brand">modproof witness</div>
<h1><span class="file">{_e(w.file)}</span> <span class="badge{" cover" if w.cover else ""}">{_e(w.headline)}</span>
<span class="muted steps">{n} step{"" if n == 1 else "s"}</span></h1>
<p class="message">{_e(w.message)}</p>
</header>
<nav class="legend" aria-label="legend">
<span class="lg">code of</span>{legend}
{"" if w.cover else '<span class="key vkey"><i></i>violation</span>'}
<span class="hint js-only">hover a step for the state after it; click to pin; ↑ ↓ to move</span>
</nav>
<main>
<div class="scroll">
<section class="timeline" aria-label="interleaving, one lane per thread">
{timeline}
</section>
</div>
<aside id="panel" aria-live="polite">
{_panel(w, last, pcs)}
</aside>
</main>
<section class="states">
<h2>State after each step</h2>
{_matrix(w)}
</section>
<script type="application/json" id="mp-witness">{_script_json(witness_to_json(w))}</script>
<script type="application/json" id="mp-pcs">{_script_json(pcs)}</script>
<script>
{SCRIPT}
</script>
</body>
</html>
"""


CSS = """
:root{--bg:#fff;--fg:#1e293b;--muted:#64748b;--line:#e2e8f0;--lane:#f8fafc;--panel:#f8fafc;
--red:#dc2626;--redbg:#fef2f2;--amber:#d97706;--amberbg:#fffbeb;--sel:#0284c7;
--mono:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace;
--sans:system-ui,-apple-system,"Segoe UI","DejaVu Sans",Roboto,sans-serif}
@media (prefers-color-scheme:dark){:root{--bg:#0f172a;--fg:#e2e8f0;--muted:#94a3b8;--line:#334155;
--lane:#111c31;--panel:#131f36;--redbg:#3b1219;--amberbg:#33240b;--sel:#38bdf8}}
*{box-sizing:border-box}
html{background:var(--bg);color:var(--fg);font:14px/1.4 var(--sans)}
body{margin:0;padding:14px 20px 28px}
code{font-family:var(--mono)}
.muted{color:var(--muted);font-weight:normal}
header{margin-bottom:8px}
.brand{font-size:11px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
h1{font-size:18px;margin:2px 0 4px;display:flex;flex-wrap:wrap;align-items:center;gap:10px}
h1 .file{font-family:var(--mono);font-weight:600}
.badge{background:var(--red);color:#fff;border-radius:4px;padding:2px 8px;font-size:13px;font-weight:600}
.badge.cover{background:#15803d}
.cmsg{border-left:4px solid #15803d;padding:6px 8px;margin:0 0 8px;font-size:13px}
.steps{font-size:13px}
.message{margin:0;font-size:15px}
.legend{display:flex;flex-wrap:wrap;align-items:center;gap:6px 14px;font-size:12px;
color:var(--muted);padding:6px 0 10px;border-bottom:1px solid var(--line);margin-bottom:10px}
.legend .key{display:inline-flex;align-items:center;gap:5px;color:var(--fg)}
.legend .key i{display:inline-block;width:12px;height:12px;border-radius:3px;
background:var(--own);opacity:.85}
.legend .mk-unloading i{height:0;border-top:2px dashed var(--amber);background:none}
.legend .mk-gone i{height:0;border-top:3px solid var(--red);background:none}
.legend .mk-loaded i{height:0;border-top:2px solid var(--muted, #888);background:none}
.legend .vkey i{background:var(--redbg);border:2px solid var(--red)}
.legend .hint{margin-left:auto}
.js-only{display:none}
html.js .js-only{display:inline}
main{display:flex;gap:16px;align-items:flex-start}
.scroll{flex:1;min-width:0;overflow-x:auto;padding:3px}
.timeline{display:grid;column-gap:10px;row-gap:4px;align-items:stretch}
.corner,.lane-head{font-size:11px;color:var(--muted);align-self:end;padding-bottom:2px}
.lane-head{font:600 13px var(--mono);color:var(--fg);text-align:center;background:var(--lane);
border:1px solid var(--line);border-radius:6px;padding:4px;min-width:15rem}
.lane-bg{z-index:0;background:linear-gradient(to right,transparent calc(50% - 1px),var(--line)
calc(50% - 1px),var(--line) calc(50% + 1px),transparent calc(50% + 1px))}
.num{grid-column:1;text-align:right;font:12px var(--mono);color:var(--muted);padding-top:5px}
.num.v{color:var(--red);font-weight:700}
.step{position:relative;z-index:1;margin-left:calc(var(--depth,0) * 14px);min-width:0;
background:color-mix(in srgb,var(--own) 9%,var(--bg));border:1px solid
color-mix(in srgb,var(--own) 35%,var(--bg));border-left:4px solid var(--own);border-radius:5px;
padding:3px 8px 3px 7px;cursor:default;outline:none}
html.js .step{cursor:pointer}
html.js .step:hover{box-shadow:0 1px 4px rgba(15,23,42,.18)}
.step.sel{box-shadow:0 0 0 2px var(--sel)}
.step.pinned{box-shadow:0 0 0 3px var(--sel)}
.step:focus-visible{box-shadow:0 0 0 3px var(--sel)}
.step{display:grid;grid-template-columns:1fr auto auto;column-gap:8px;align-items:baseline}
.what{overflow-wrap:break-word}
.stmt{font-size:13px;font-weight:600;margin-right:4px}
.chip{font-size:11px;color:#fff;background:var(--own);border-radius:9px;padding:0 7px;
white-space:nowrap}
.loc{font:11px var(--mono);color:var(--muted);white-space:nowrap;min-width:2.6em;text-align:right}
.what .chg{font-family:var(--mono);font-size:11.5px;color:var(--fg);margin-left:8px;
display:inline-block;max-width:calc(100% - 8px);overflow-wrap:break-word}
.what .chg .k{color:var(--muted)}
.what .detail{font-size:12px;color:var(--muted);font-style:italic;margin-left:4px}
.end{position:relative;z-index:1;text-align:center;font-size:12px;padding-top:2px}
.end span{background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:1px 10px;
color:var(--muted)}
.end.blocked span{color:var(--amber);border-color:var(--amber);background:var(--amberbg);
font-weight:600}
.step.in-unloading{border-style:dashed;border-left-style:solid}
.step.violation{background:var(--redbg);border:2px solid var(--red);border-left:6px solid var(--red)}
.marker.m-loop span{border-color:var(--red);color:var(--red)}
.step.violation .chip{background:var(--red)}
.vtag{color:var(--red);font-weight:700;font-size:11.5px;letter-spacing:.02em}
.marker{grid-column:2 / -1;position:relative;z-index:2;height:22px;display:flex;align-items:center}
.marker::before{content:"";position:absolute;left:0;right:0;top:50%;border-top:2px dashed var(--amber)}
.marker.m-gone::before{border-top:3px solid var(--red)}
.marker>span{position:relative;margin-left:auto;margin-right:auto;background:var(--amberbg);
color:var(--amber);border:1px solid var(--amber);border-radius:11px;padding:1px 10px;
font-size:12px;font-weight:600}
.marker>span .muted{font-weight:normal}
.marker.m-gone>span{background:var(--redbg);color:var(--red);border-color:var(--red)}
aside{width:380px;flex:none;position:sticky;top:10px;background:var(--panel);border:1px solid
var(--line);border-radius:8px;padding:10px 14px;max-height:calc(100vh - 20px);overflow:auto}
aside h2{font-size:15px;margin:0 0 6px}
.pstmt{margin:0 0 8px}
.pstmt code{font-size:13px;font-weight:600;overflow-wrap:break-word}
.vmsg{background:var(--redbg);border-left:4px solid var(--red);padding:6px 8px;margin:0 0 8px;
font-size:13px}
.vmsg b{color:var(--red)}
dl.facts{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0 0 10px;font-size:13px}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:break-word;min-width:0}
table{border-collapse:collapse;font-size:12.5px}
table.kv{width:100%}
caption{text-align:left;color:var(--muted);font-size:12px;padding:2px 0 4px}
.kv th,.kv td{text-align:left;padding:2px 6px;border-top:1px solid var(--line);font-family:var(--mono);
font-weight:normal}
.kv td{overflow-wrap:break-word}
.kv th{color:var(--muted);width:1%;white-space:nowrap;padding-right:14px}
.kv tr.changed td,.matrix td.changed{background:color-mix(in srgb,var(--amber) 18%,var(--bg));
font-weight:700}
.kv .at{color:var(--muted);font-family:var(--sans);font-size:11.5px;margin-left:6px}
.kv s{color:var(--muted);font-weight:normal;margin-right:4px}
.states{margin-top:22px}
.states h2{font-size:15px;margin:0 0 6px}
.matrix-wrap{overflow-x:auto}
.matrix th,.matrix td{padding:2px 7px;border:1px solid var(--line);font-family:var(--mono);
text-align:center;white-space:nowrap}
.matrix thead th{font-weight:600;vertical-align:bottom}
.matrix thead th.v{color:var(--red)}
.matrix .th{display:block;font-weight:normal;font-size:10.5px;color:var(--muted)}
@media (max-width:60rem){main{flex-direction:column;align-items:stretch}
aside{width:auto;position:static;max-height:none}}
.matrix th.name{text-align:left;font-weight:normal;color:var(--muted)}
"""

SCRIPT = r"""
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // Integers are mathematical: JSON.parse would round one beyond 2^53 to a float
  // (1.2345678903079242e+29), so such a literal is read as its exact digits.
  function parseExact(text) {
    return JSON.parse(text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g,
      function (tok) {
        if (!/^-?\d+$/.test(tok) || Number.isSafeInteger(Number(tok))) return tok;
        return '"' + tok + '"';
      }));
  }
  var w = parseExact(document.getElementById("mp-witness").textContent);
  var pcs = JSON.parse(document.getElementById("mp-pcs").textContent);
  var panel = document.getElementById("panel");
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".step"));
  var pinned = null;

  function show(v) {
    if (v === true) return "true";
    if (v === false) return "false";
    if (v === null) return "free";
    if (v === 4294967295) return "UINT_MAX";
    return String(v);
  }
  // NOTE(wrap-points) in html.py: <wbr> after a comma and before "(" with something inside.
  function wrapped(tag, cls, text) {
    var e = el(tag, cls);
    text.split(/(?<=,)|(?<=\S)(?=\((?!\)))/).forEach(function (part, i) {
      if (i) e.appendChild(document.createElement("wbr"));
      e.appendChild(document.createTextNode(part));
    });
    return e;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function value(td, k, v) {
    td.appendChild(document.createTextNode(show(v)));
    var m = /^pc\((.*)\)$/.exec(k);
    var at = m && pcs[m[1]] && pcs[m[1]][String(v)];
    if (at) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", "at", at)); }
  }
  function table(state, changed, caption) {
    var t = el("table", "kv"), b = el("tbody");
    t.appendChild(el("caption", "", caption));
    Object.keys(state).forEach(function (k) {
      var tr = el("tr"), td = el("td");
      tr.appendChild(el("th", "", k));
      if (Object.prototype.hasOwnProperty.call(changed, k)) {
        tr.className = "changed";
        td.appendChild(el("s", "", show(changed[k])));
        td.appendChild(document.createTextNode(" "));
      }
      value(td, k, state[k]);
      tr.appendChild(td);
      b.appendChild(tr);
    });
    t.appendChild(b);
    return t;
  }
  function render(i) {
    var s = w.steps[i - 1];
    panel.textContent = "";
    var h = el("h2", "", "Step " + s.index + " ");
    h.appendChild(el("span", "muted", "of " + w.length));
    panel.appendChild(h);
    if (s.violation) {
      var p = el("p", "vmsg");
      p.appendChild(el("b", "", "VIOLATION " + s.violation));
      p.appendChild(el("br"));
      p.appendChild(document.createTextNode(w.message));
      panel.appendChild(p);
    }
    var ps = el("p", "pstmt");
    ps.appendChild(wrapped("code", "", s.statement));
    panel.appendChild(ps);
    var dl = el("dl", "facts");
    var owner = s.owner_state === "core" ? s.owner : s.owner + " (" + s.owner_state + ")";
    var facts = [["thread", s.thread],
                 ["location", s.location.file + ":" + s.location.line + ":" + s.location.col],
                 ["code of", owner]];
    if (s.frame.length) facts.push(["in", s.frame.join(" \u203a ")]);
    var did = s.detail;
    if (s.kind === "call" && did === "calls " + s.statement.replace(/\(\)$/, "")) did = "";
    if (s.kind === "return" && did === s.statement.replace("return from", "returns from")) did = "";
    if (did) facts.push(["did", did]);
    facts.forEach(function (f) { dl.appendChild(el("dt", "", f[0])); dl.appendChild(wrapped("dd", "", f[1])); });
    panel.appendChild(dl);
    var changed = {};
    s.changes.forEach(function (c) { changed[c.name] = c.before; });
    var crashed = s.violation && !s.changes.length && s.violation !== "invariant" &&
                  s.violation !== "deadlock";
    panel.appendChild(table(s.state, changed, crashed
      ? "state when step " + s.index + " ran (it does not complete)"
      : "state after step " + s.index));
  }
  function select(box, pin) {
    boxes.forEach(function (b) { b.classList.remove("sel", "pinned"); });
    if (pin) pinned = box;
    box.classList.add(pin ? "pinned" : "sel");
    if (pinned && pinned !== box) pinned.classList.add("pinned");
    render(Number(box.dataset.step));
  }
  boxes.forEach(function (box) {
    box.addEventListener("mouseenter", function () { if (!pinned) select(box, false); });
    box.addEventListener("click", function () {
      if (pinned === box) { pinned = null; select(box, false); } else { select(box, true); }
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); box.click(); }
    });
    box.addEventListener("focus", function () { if (!pinned) select(box, false); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && pinned) { pinned.classList.remove("pinned"); pinned = null; return; }
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    var cur = pinned || document.querySelector(".step.sel") || boxes[boxes.length - 1];
    var i = boxes.indexOf(cur) + (e.key === "ArrowDown" ? 1 : -1);
    if (i < 0 || i >= boxes.length) return;
    e.preventDefault();
    select(boxes[i], Boolean(pinned));
    boxes[i].scrollIntoView({block: "nearest"});
  });
  document.body.dataset.ready = "1";
})();
"""
