"""The built parser is cached in the user's cache folder; the cache must never
change what is parsed, and a missing, unwritable or damaged cache must only cost
time."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import PROOFS
from modproof.grammar import parser as P
from modproof.spec.diagnostics import SpecError

SOURCE = (PROOFS / "dm_in_module.mproof").read_text()
BROKEN = "module dm\nthread t {\n  get(\n}\n"


def fresh_parser():
    """A parser built now, by the same path a new process takes."""
    return P._lark.__wrapped__()


def parse_with(parser, text):
    return parser.parse(P._lexable(text))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MODPROOF_CACHE_DIR", str(folder))
    return folder


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_first_use_writes_one_cache_file_and_no_temporary(cache_dir):
    fresh_parser()
    names = cache_files(cache_dir)
    assert len(names) == 1 and names[0].startswith("parser-") and names[0].endswith(".lark")


def test_a_cached_parser_parses_exactly_as_a_built_one(cache_dir, monkeypatch):
    built = fresh_parser()          # builds and writes the cache
    loaded = fresh_parser()         # loads it
    monkeypatch.setenv("MODPROOF_CACHE_DIR", "")
    uncached = fresh_parser()
    assert parse_with(loaded, SOURCE) == parse_with(uncached, SOURCE) == parse_with(built, SOURCE)
    # The lexer callback that reserves keywords survives loading from the cache.
    def kinds(parser):
        return [(t.type, t.value) for t in parser.lex(P._lexable(SOURCE))]
    assert kinds(loaded) == kinds(uncached)
    assert P._reserve_keyword in loaded.lexer_conf.callbacks.values()


def test_syntax_errors_are_the_same_with_the_cache(cache_dir, monkeypatch):
    def message():
        P._lark.cache_clear()
        try:
            with pytest.raises(SpecError) as err:
                P.parse(BROKEN, "b.mproof")
            return [str(d.span) + d.message for d in err.value.diagnostics]
        finally:
            P._lark.cache_clear()
    first = message()      # builds the cache
    second = message()     # uses it
    monkeypatch.setenv("MODPROOF_CACHE_DIR", "")
    assert first == second == message()


def test_a_damaged_cache_file_is_ignored(cache_dir):
    fresh_parser()
    (name,) = cache_files(cache_dir)
    (cache_dir / name).write_bytes(b"not a parser at all\n\x00\x01")
    parser = fresh_parser()
    assert parse_with(parser, SOURCE).data == parse_with(P._open(), SOURCE).data


def test_an_unwritable_cache_folder_means_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv("MODPROOF_CACHE_DIR", str(blocker / "cache"))
    parser = fresh_parser()
    assert parse_with(parser, SOURCE) is not None
    assert blocker.read_text() == "a file where the folder should be"


def test_the_cache_name_follows_the_grammar(cache_dir):
    a = P._cache_path("start: NAME")
    b = P._cache_path("start: NUMBER")
    assert a is not None and Path(a).parent == cache_dir and a != b


def test_empty_setting_disables_the_cache(monkeypatch):
    monkeypatch.setenv("MODPROOF_CACHE_DIR", "")
    assert P._cache_path("start: NAME") is None


def test_default_folder_is_the_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("MODPROOF_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert Path(P._cache_path("g")).parent == tmp_path / "modproof"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Path(P._cache_path("g")).parent == tmp_path / "home" / ".cache" / "modproof"
    assert os.environ["HOME"]  # the cache never falls back to a relative '~' folder
