"""Shared fixtures: paths to the built book, fixture books, a local server, a browser."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "tools"))
import bookinfo  # noqa: E402

SITE = Path(os.environ.get("HANDBOOK_SITE", ROOT / "_build" / "html"))
# The executed notebooks as readers download them and nbval runs them.
EXECUTED = SITE / bookinfo.NOTEBOOKS
FIXTURE_BOOK = Path(__file__).parent / "fixtures" / "book"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# Folders of the built site that hold no Sphinx pages: the JupyterLite app, assets,
# sources and notebooks.
NOT_PAGES = {"lite", "_static", "_sources", "_notebooks", "_images"}


def site_pages() -> list[Path]:
    """Every HTML page Sphinx wrote into the site (the root redirect included)."""
    return sorted(p for p in SITE.rglob("*.html") if not NOT_PAGES & set(p.relative_to(SITE).parts))


def toc_docnames() -> list[str]:
    return bookinfo.docnames(ROOT)


def chapter_sources() -> list[Path]:
    return bookinfo.chapters(ROOT)


# Tests that need the built site (make book) or build books of their own are
# marked `build`; tests that drive chromium are marked `browser`.
# `make test-fast` runs everything else.
BUILD_MODULES = {"test_book", "test_links", "test_page_speed", "test_site_browser", "test_lite",
                 "test_build_faults", "test_add_chapter", "test_pdf", "test_seo", "test_subpath",
                 "test_html_valid", "test_drift"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.module.__name__ in BUILD_MODULES or fixtures & {"site", "served_site", "fixture_book"}:
            item.add_marker(pytest.mark.build)
        if fixtures & {"browser", "lite_page", "page"}:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE} has no built site: run `make book` first (make test does)")
    return SITE


def myst_header(extra: str = "") -> str:
    """The jupytext header of a MyST notebook chapter in a test book; `extra` adds
    top-level metadata lines (e.g. mystnb settings) before the closing ---."""
    return (
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n"
        f"{extra}---\n"
    )


def copy_fixture_book(book: Path) -> Path:
    """tests/fixtures/book at `book`, with the real extensions, templates, static
    files and tools that _config.yml and the build point at."""
    shutil.copytree(FIXTURE_BOOK, book)
    for folder in ("_ext", "_templates", "_static", "tools"):
        shutil.copytree(ROOT / "book" / folder, book / "book" / folder)
    (book / "node_modules").symlink_to(ROOT / "node_modules")
    return book


@pytest.fixture
def fixture_book(tmp_path: Path):
    """A copy of tests/fixtures/book that uses the real _config.yml and extensions.

    Returns a function build(timeout=None) -> CompletedProcess, running the real
    build driver on the copy, so each test adds one fault and checks the result.
    """
    book = copy_fixture_book(tmp_path / "book")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] = "Fixture book"

    def write_config() -> None:
        (book / "_config.yml").write_text(yaml.safe_dump(config))

    def build(timeout: int | None = None, rewrite_config: bool = True) -> subprocess.CompletedProcess:
        if timeout is not None:
            config["execute"]["timeout"] = timeout
        if rewrite_config:
            write_config()
        return subprocess.run(
            [sys.executable, str(ROOT / "book" / "tools" / "build.py"), str(book)],
            capture_output=True, text=True, timeout=300, env={**os.environ, "HANDBOOK_LITE": "off"},
        )

    build.book = book
    build.write_config = write_config
    return build


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".mjs": "text/javascript"}

    def log_message(self, *args):  # keep pytest output readable
        pass


@pytest.fixture(scope="session")
def served_site(site: Path):
    """_build/html served on 127.0.0.1 on a free port; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
