"""Tiny sample books built through Sphinx's test app (sphinx.testing), in the
style of MyST-NB's own tests: execution by book/tools/execute.py, rendering by
Sphinx from the cache only. Part of `make test-fast` (one small kernel run)."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from sphinx.errors import ExtensionError
from sphinx.testing.util import SphinxTestApp

import build
import execute
from conftest import ROOT, myst_header

CHAPTER = myst_header() + "\n" + textwrap.dedent("""\
    # One

    Prose that the cache key does not see.

    ```{code-cell} ipython3
    from pathlib import Path
    print(Path("samples/data.csv").read_text().split()[1])
    ```
""")


@pytest.fixture
def sample_book(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    (book / "chapters" / "samples").mkdir(parents=True)
    (book / "chapters" / "01-one.md").write_text(CHAPTER)
    (book / "chapters" / "samples" / "data.csv").write_text("answer\n42\n")
    (book / "index.md").write_text("# Sample\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: chapters/01-one\n")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["sphinx"]["config"]["extensions"] = ["myst_nb", "handbook"]
    config["sphinx"]["config"]["templates_path"] = []
    config["sphinx"]["config"]["html_static_path"] = []
    config["sphinx"]["config"]["html_css_files"] = []
    config["sphinx"]["config"]["html_theme"] = "basic"
    config["sphinx"]["config"].pop("html_theme_options", None)
    config["html"].pop("favicon", None)
    config["execute"]["cache"] = str(book / "_build" / ".jupyter_cache")
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    build.generate_conf(book)
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    yield book
    sys.path.remove(str(ROOT / "book" / "_ext"))


def sphinx_app(book: Path) -> tuple[SphinxTestApp, io.StringIO]:
    status = io.StringIO()
    app = SphinxTestApp(
        "html", srcdir=book, builddir=book / "_build" / ".site", status=status, warning=status,
        confoverrides={"handbook_node_modules": str(ROOT / "node_modules")},
    )
    return app, status


def test_sphinx_renders_from_the_cache_that_execute_filled(sample_book):
    assert execute.main(sample_book) == 0
    published = sample_book / "_build" / ".site" / "html" / "_notebooks" / "chapters"
    notebook = json.loads((published / "01-one.ipynb").read_text())
    assert notebook["cells"][1]["outputs"][0]["text"] == ["42\n"]
    assert (published / "samples" / "data.csv").is_file(), "chapter files belong beside the notebook"

    app, status = sphinx_app(sample_book)
    try:
        app.build()
    finally:
        app.cleanup()
    log = status.getvalue()
    assert "Using cached notebook" in log and "Executing notebook" not in log, log
    page = (sample_book / "_build" / ".site" / "html" / "chapters" / "01-one.html").read_text()
    assert "42" in page

    # A prose edit leaves the code, and so the cache key, unchanged: nothing executes.
    source = sample_book / "chapters" / "01-one.md"
    source.write_text(source.read_text().replace("Prose that", "Prose, edited, that"))
    assert execute.main(sample_book) == 0


def test_a_notebook_missing_from_the_cache_stops_the_build_instead_of_executing(sample_book):
    """What happens if execute.py's cache key and myst-nb's ever disagree:
    myst-nb finds no record, and the build fails rather than execute in Sphinx."""
    app, status = sphinx_app(sample_book)
    try:
        with pytest.raises(ExtensionError, match="chapters/01-one: its notebook is not in the execution cache"):
            app.build()
    finally:
        app.cleanup()
    assert "Executing notebook" not in status.getvalue()
    assert not (sample_book / "_build" / ".site" / "html" / "chapters" / "01-one.html").exists()


def test_an_executing_mode_is_refused(sample_book):
    status = io.StringIO()
    with pytest.raises(Exception, match="nb_execution_mode is 'force'"):
        SphinxTestApp("html", srcdir=sample_book, builddir=sample_book / "_build" / ".site",
                      status=status, warning=status, confoverrides={"nb_execution_mode": "force"})


def test_theme_override_guard_names_the_template_to_recheck(sample_book, monkeypatch):
    templates = sample_book / "templates"
    templates.mkdir()
    (templates / "layout.html").write_text('{%- extends "!layout.html" %}\n')
    (templates / "footer-extra.html").write_text("<p>unlisted</p>\n")
    import handbook

    monkeypatch.setitem(handbook.THEME_OVERRIDES, "layout.html", ("pydata-sphinx-theme", "0.0.1"))
    status = io.StringIO()
    with pytest.raises(ExtensionError) as error:
        SphinxTestApp("html", srcdir=sample_book, builddir=sample_book / "_build" / ".site",
                      status=status, warning=status, confoverrides={"templates_path": ["templates"]})
    message = str(error.value)
    assert "templates/layout.html overrides pydata-sphinx-theme 0.0.1's template" in message
    assert "re-check it" in message
    assert "templates/footer-extra.html is not in THEME_OVERRIDES" in message


def test_the_real_overrides_match_the_installed_theme():
    import handbook

    root = ROOT / "book" / "_templates"
    overrides = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    assert overrides == sorted(handbook.THEME_OVERRIDES)
    assert handbook.same_asset_digest(root / "static" / "webpack-macros.html")
