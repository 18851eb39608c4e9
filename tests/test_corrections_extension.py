"""book/_ext/corrections.py on tiny books built in-process (MyST-NB's test style)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sphinx.testing.util import SphinxTestApp

from conftest import ROOT

CONF = f"""
import sys
sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
extensions = ["myst_parser", "corrections"]
myst_enable_extensions = ["colon_fence"]
# Our own dict: without it Sphinx 7 adds '.md' to its shared default source_suffix
# dict, and every later in-process build (test_sample_books) reads '.md' as 'markdown'.
source_suffix = {{".rst": "restructuredtext", ".md": "markdown"}}
"""


def make_book(srcdir: Path, pages: dict[str, str]) -> None:
    srcdir.mkdir(parents=True, exist_ok=True)
    (srcdir / "conf.py").write_text(CONF)
    for name, text in pages.items():
        (srcdir / f"{name}.md").write_text(text)


def build(srcdir: Path) -> SphinxTestApp:
    app = SphinxTestApp("html", srcdir=srcdir, status=None, warning=None)
    app.build()
    return app


def html(app: SphinxTestApp, docname: str) -> BeautifulSoup:
    return BeautifulSoup((Path(app.outdir) / f"{docname}.html").read_text(), "html.parser")


@pytest.fixture
def book(tmp_path):
    srcdir = tmp_path / "src"
    make_book(srcdir, {
        "index": "# Book\n\n```{toctree}\nb\na\nlist\n```\n",
        "a": "# Chapter A\n\n:::{correction} `%timeit` runs **7** times by default\n"
             ":name: corr-a\nThe guide says 3.\n:::\n\nSee {ref}`the fix <corr-a>`.\n",
        "b": "# Chapter B\n\n:::{correction} First in B\nBody.\n:::\n\n"
             ":::{correction} Second in B\nBody.\n:::\n",
        "list": "# All corrections\n\n```{corrections-list}\n```\n",
    })
    return srcdir


def test_a_correction_renders_as_one_titled_box_with_its_claim(book):
    app = build(book)
    try:
        box = html(app, "a").select_one("div.admonition.correction")
        assert box["id"] == "corr-a"
        assert box.select_one(".admonition-title").get_text() == "Correction to the field guide"
        assert box.select_one(".correction-claim").get_text() == "%timeit runs 7 times by default"
        assert html(app, "a").select_one('a[href="#corr-a"]').get_text() == "the fix"
        assert [b["id"] for b in html(app, "b").select("div.correction")] == ["correction-1", "correction-2"]
        assert not app._warning.getvalue()
    finally:
        app.cleanup()


def test_the_list_follows_toc_order_and_links_each_correction(book):
    app = build(book)
    try:
        page = html(app, "list")
        links = [(a["href"], a.get_text()) for a in page.select("ol.corrections-entries a")]
        assert links == [
            ("b.html#correction-1", "First in B"),
            ("b.html#correction-2", "Second in B"),
            ("a.html#corr-a", "%timeit runs 7 times by default"),
        ]
        assert "3 corrections in 2 chapters." in page.get_text()
    finally:
        app.cleanup()


def test_the_list_is_rewritten_when_a_chapter_changes(book):
    build(book).cleanup()
    (book / "a.md").write_text("# Chapter A\n\n:::{correction} A new claim\nBody.\n:::\n")
    app = build(book)
    try:
        texts = [a.get_text() for a in html(app, "list").select("ol.corrections-entries a")]
        assert texts == ["First in B", "Second in B", "A new claim"]
    finally:
        app.cleanup()


def test_a_prose_edit_leaves_the_list_page_alone(book):
    build(book).cleanup()
    listed = (book / "_build" / "html" / "list.html").stat().st_mtime_ns
    (book / "a.md").write_text((book / "a.md").read_text() + "\nMore prose.\n")
    app = build(book)
    try:
        assert "More prose." in html(app, "a").get_text()
        assert (Path(app.outdir) / "list.html").stat().st_mtime_ns == listed
    finally:
        app.cleanup()
    (book / "b.md").write_text("# Chapter B, renamed\n\n:::{correction} First in B\nBody.\n:::\n")
    app = build(book)
    try:
        assert html(app, "list").select_one(".corrections-chapter").get_text() == "Chapter B, renamed"
    finally:
        app.cleanup()
