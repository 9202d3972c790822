"""The HTML export in a real browser: headless Chromium loads the page, runs its
script without errors, answers hover and click, and draws a non-blank timeline.

Skipped when no Chromium binary is found, and failed instead when
MODPROOF_REQUIRE_TOOLS=1 (CI installs Debian's chromium and sets it).
MODPROOF_REGEN=1 also refreshes the README's screenshot, docs/img/dm_in_module_timeline.png.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import REGEN, ROOT, missing_tool
from modproof.exports import render_export
from modproof.prove import Options, prove
from modproof.spec.lower import load

SCREENSHOT = ROOT / "docs" / "img" / "dm_in_module_timeline.png"
WINDOW = (1400, 900)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _chromium()


@pytest.fixture
def chromium() -> str:
    """The browser's path; the test is skipped (or failed, conftest.missing_tool) without one."""
    if CHROMIUM is None:
        missing_tool("no chromium binary found")
    return CHROMIUM


needs_chromium = pytest.mark.usefixtures("chromium")


def _run(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on `page` with a fresh profile and nothing from the network."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", "--hide-scrollbars",
           f"--user-data-dir={profile}", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def dm_page(tmp_path_factory) -> tuple[Path, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        p = load("proofs/dm_in_module.mproof")
    w = prove(p, Options(engine="explicit")).witness
    html = render_export("html", w, p)
    path = tmp_path_factory.mktemp("html") / "dm_in_module.html"
    path.write_text(html, encoding="utf-8")
    return path, html


def _dump(tmp_path: Path, page: Path) -> str:
    r = _run(tmp_path, page, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def _body_attr(dom: str, name: str) -> str | None:
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    m = re.search(rf'\b{name}="([^"]*)"', body.group(1))
    return m.group(1) if m else None


@needs_chromium
def test_the_page_loads_and_its_script_runs(dm_page, tmp_path):
    page, _ = dm_page
    dom = _dump(tmp_path, page)
    assert _body_attr(dom, "data-ready") == "1", "the page's script did not finish"
    assert "data-js-error" not in dom
    assert re.search(r'<html[^>]*class="js"', dom)
    steps = re.findall(r'<div class="step[ "][^>]*data-step="(\d+)"', dom)
    assert steps == [str(i) for i in range(1, 15)]
    assert len(re.findall(r'class="step[^"]*\bviolation\b', dom)) == 1


_PROBE = """<script>
(function () {
  var b = document.body, panel = document.getElementById("panel");
  function box(n) { return document.querySelector('.step[data-step="' + n + '"]'); }
  function text() { return panel.textContent.replace(/\\s+/g, ""); }
  b.dataset.server = text();
  box(14).dispatchEvent(new MouseEvent("mouseenter"));
  b.dataset.client = text();
  box(7).dispatchEvent(new MouseEvent("mouseenter"));
  b.dataset.hover7 = panel.textContent;
  box(7).click();
  box(3).dispatchEvent(new MouseEvent("mouseenter"));
  b.dataset.pinned7 = panel.textContent;
  b.dataset.pins = document.querySelectorAll(".step.pinned").length;
  document.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowDown"}));
  b.dataset.down = panel.querySelector("h2").textContent;
  b.dataset.probed = "1";
})();
</script></body>"""


@needs_chromium
def test_hover_and_click_show_the_state_after_a_step(dm_page, tmp_path):
    page, html = dm_page
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", _PROBE), encoding="utf-8")
    dom = _dump(tmp_path, probe)
    attr = lambda name: _body_attr(dom, name)  # noqa: E731
    assert attr("data-probed") == "1" and "data-js-error" not in dom
    # The script builds the same panel as the page shows without script.
    assert attr("data-server") == attr("data-client")
    assert "Step 7 of 14" in attr("data-hover7")
    assert "complete(kobj_released)" in attr("data-hover7")
    assert "state after step 7" in attr("data-hover7")
    assert "dm_kobject_release" in attr("data-hover7")
    # A click pins step 7: hovering step 3 no longer changes the panel.
    assert attr("data-pinned7") == attr("data-hover7") and attr("data-pins") == "1"
    assert attr("data-down").startswith("Step 8")


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGB rows of an 8-bit non-interlaced RGB(A) PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, head = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    width, height, depth, colour, _, _, interlace = head
    assert depth == 8 and colour in (2, 6) and interlace == 0, head
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [b"".join(r[i:i + 3] for i in range(0, stride, bpp)) for r in rows]


@needs_chromium
def test_screenshot_is_a_drawn_timeline(dm_page, tmp_path):
    page, _ = dm_page
    shot = tmp_path / "timeline.png"
    r = _run(tmp_path, page, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    data = shot.read_bytes()
    width, height, rows = _png_pixels(data)
    assert (width, height) == WINDOW
    pixels = [row[i:i + 3] for row in rows[::4] for i in range(0, len(row), 12)]
    colours = set(pixels)
    assert len(colours) > 50, "the page looks blank"
    white = sum(p == b"\xff\xff\xff" for p in pixels)
    assert white < 0.95 * len(pixels)
    # The violation's red (#dc2626) and dm's blue (#2563eb) are drawn.
    def near(rgb, want):
        return all(abs(c - w) <= 12 for c, w in zip(rgb, want))
    assert any(near(p, (0xdc, 0x26, 0x26)) for p in colours)
    assert any(near(p, (0x25, 0x63, 0xeb)) for p in colours)
    if REGEN:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(data)


def test_the_readme_screenshot_is_a_png():
    if not SCREENSHOT.exists():
        pytest.fail(f"{SCREENSHOT} is missing; run with MODPROOF_REGEN=1 to create it")
    width, height, _ = _png_pixels(SCREENSHOT.read_bytes())
    assert (width, height) == WINDOW


# --------------------------------------------------------------------------- wrapping

# For every statement, lane head and state name in a step box: where the browser
# wrapped it, as "text before|text after", when that is not a natural point (a
# space, after a comma, before "("): NOTE(wrap-points) in modproof/exports/html.py.
_WRAP_PROBE = """<script>
(function () {
  var bad = [], breaks = 0;
  document.querySelectorAll(".step .stmt, .lane-head, .chg .k").forEach(function (box) {
    var chars = [];
    var walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (var n = walker.nextNode(); n; n = walker.nextNode()) {
      for (var i = 0; i < n.data.length; i++) chars.push([n, i]);
    }
    var text = chars.map(function (c) { return c[0].data[c[1]]; }).join("");
    var prevTop = null;
    chars.forEach(function (c, k) {
      var r = document.createRange();
      r.setStart(c[0], c[1]);
      r.setEnd(c[0], c[1] + 1);
      var rects = r.getClientRects();
      if (!rects.length) return;
      var top = rects[rects.length - 1].top;
      if (prevTop !== null && top > prevTop + 4) {
        breaks++;
        var a = text[k - 1], b = text[k];
        if (!(a === "," || a === " " || b === " " || b === "("))
          bad.push(text.slice(0, k) + "|" + text.slice(k));
      }
      prevTop = top;
    });
  });
  document.body.dataset.breaks = breaks;
  document.body.dataset.bad = bad.join(" ;; ");
  document.body.dataset.probed = "1";
})();
</script></body>"""


@needs_chromium
@pytest.mark.parametrize("name", ["kernel/08_timer_rearm_bug", "kernel/06_call_rcu_synchronize_bug"])
@pytest.mark.parametrize("width", [700, 1400])
def test_names_wrap_at_natural_points_in_narrow_lanes(name, width, tmp_path):
    # Before NOTE(wrap-points), lanes of 15rem broke "queue_work(poll_work)" as
    # "queue_work(p" / "oll_work)" and "cancel_work_sync" as "cancel_wor" / "k_sync".
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        p = load(f"proofs/{name}.mproof")
    html = render_export("html", prove(p, Options(engine="explicit")).witness, p)
    assert "<wbr>(" in html
    page = tmp_path / "wrap.html"
    page.write_text(html.replace("</body>", _WRAP_PROBE), encoding="utf-8")
    r = _run(tmp_path, page, f"--window-size={width},900", "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    attr = lambda key: _body_attr(r.stdout, key)  # noqa: E731
    assert attr("data-probed") == "1" and "data-js-error" not in r.stdout
    assert attr("data-bad") == ""
    assert int(attr("data-breaks")) > 0   # names did wrap: the check saw something
