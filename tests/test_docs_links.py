"""Every relative link in the repository's Markdown files names a file that is in
the repository, and so does every file name ending in `.md` in the prose.

A reader (or GitHub's renderer) follows `[text](path)` and `![alt](path)`
relative to the Markdown file; a name such as docs/language.md (in backticks or
not) is looked up there or from the repository root.  Web addresses and in-page anchors
are not checked (no network in tests).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT

SKIP = {".git", ".venv", "node_modules", "__pycache__"}
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_NAME = re.compile(r"(?<![\w/.:-])(\w[\w./-]*\.md)(?!\w)")   # LANGUAGE.md, docs/a.md
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def markdown_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md")
                  if not any(part in SKIP or part.endswith(".egg-info")
                             for part in p.relative_to(ROOT).parts))


def references(text: str) -> list[tuple[str, str]]:
    """(kind, target) of every relative link and `NAME.md` in `text`, code blocks left out."""
    prose = FENCE.sub("", text)
    out = [("link", t) for t in LINK.findall(prose)
           if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I) and not t.startswith("#")]
    out += [("name", t) for t in MD_NAME.findall(LINK.sub("", prose))]
    return out


def test_the_link_finder_sees_links_images_and_names():
    text = ("See [the docs](docs/language.md#files), ![shot](img/a.png \"title\"), "
            "[web](https://example.org/x.md), [here](#top), `STYLE.md` and LANGUAGE.md's.\n"
            "```\n[not a link](nowhere.md)\n```\n")
    assert references(text) == [("link", "docs/language.md#files"), ("link", "img/a.png"),
                                ("name", "STYLE.md"), ("name", "LANGUAGE.md")]


@pytest.mark.parametrize("md", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_reference_resolves(md: Path):
    missing = []
    for kind, target in references(md.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0]
        if not path:
            continue
        places = [md.parent / path] + ([ROOT / path] if kind == "name" else [])
        if not any(p.exists() for p in places):
            missing.append(f"{kind} {target}")
    assert not missing, f"{md.relative_to(ROOT)} refers to files not in the repository: {missing}"
