"""Be found: sitemap, robots.txt, canonical URLs, share metadata, root and 404 pages.

All of it follows html.baseurl (book/_ext/seo.py). The site `make test` checks
is built without one, so it is checked for what a local build must have; the
fixture book is built with a base URL to check what a published site has.
"""

from __future__ import annotations

import os
import subprocess
import sys
from xml.etree import ElementTree

import pytest
import yaml
from bs4 import BeautifulSoup

from conftest import ROOT, copy_fixture_book, toc_docnames

BASE = "https://example.org/handbook/"


def meta(soup: BeautifulSoup, key: str) -> str | None:
    tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
    return tag.get("content") if tag else None


@pytest.mark.parametrize("docname", toc_docnames())
def test_every_page_has_share_metadata(site, docname):
    soup = BeautifulSoup((site / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
    assert meta(soup, "og:title") and meta(soup, "og:description") and meta(soup, "description")
    assert meta(soup, "og:site_name") == "The Jupyter Field Handbook"
    assert meta(soup, "twitter:card") == "summary"
    # Without a base URL nothing may be relative where an absolute URL is required.
    assert meta(soup, "og:url") is None and meta(soup, "og:image") is None
    assert soup.find("link", rel="canonical") is None


def test_every_chapter_is_described_by_its_own_first_paragraph(site):
    descriptions = {}
    for docname in toc_docnames():
        soup = BeautifulSoup((site / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
        description = meta(soup, "description")
        assert description == meta(soup, "og:description")
        assert len(description) <= 200
        opening = " ".join(soup.select_one("article p").get_text().split())
        assert opening.startswith(description.removesuffix("\u2026")), docname
        descriptions[docname] = description
    assert len(set(descriptions.values())) == len(descriptions)


def test_local_site_root_robots_and_404(site):
    root = (site / "index.html").read_text(encoding="utf-8")
    assert root.startswith("<!DOCTYPE html>")
    soup = BeautifulSoup(root, "html.parser")
    assert soup.title.get_text() == "The Jupyter Field Handbook"
    assert soup.find("link", rel="canonical")["href"] == "book/index.html"
    assert soup.find("meta", attrs={"http-equiv": "Refresh"})["content"].endswith("url=book/index.html")
    assert (site / "robots.txt").read_text() == "User-agent: *\nAllow: /\n"
    assert not (site / "sitemap.xml").exists()
    not_found = BeautifulSoup((site / "404.html").read_text(encoding="utf-8"), "html.parser")
    assert not_found.h1.get_text() == "Page not found"
    # Self-contained: no stylesheet, script or image from a relative URL.
    assert not not_found.find_all(["link"], rel="stylesheet")
    assert not [t for t in not_found.find_all(src=True)]


@pytest.fixture(scope="module")
def published_fixture(tmp_path_factory):
    """The fixture book built as the deploy workflow builds: with html.baseurl set."""
    book = copy_fixture_book(tmp_path_factory.mktemp("seo") / "book")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] = "Fixture book"
    config["html"]["baseurl"] = BASE.rstrip("/")  # seo.py adds the final slash
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, str(ROOT / "book" / "tools" / "build.py"), str(book)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HANDBOOK_LITE": "off"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return book / "_build" / "html"


def test_published_site_has_a_sitemap_of_every_page(published_fixture):
    tree = ElementTree.parse(published_fixture / "sitemap.xml")
    namespace = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = sorted(loc.text for loc in tree.findall("s:url/s:loc", namespace))
    assert urls == [f"{BASE}chapters/good.html", f"{BASE}index.html"]
    robots = (published_fixture / "robots.txt").read_text()
    assert robots.endswith(f"\nSitemap: {BASE}sitemap.xml\n")


def test_published_pages_have_canonical_urls_and_share_cards(published_fixture):
    soup = BeautifulSoup((published_fixture / "chapters" / "good.html").read_text(), "html.parser")
    assert soup.find("link", rel="canonical")["href"] == f"{BASE}chapters/good.html"
    assert meta(soup, "og:url") == f"{BASE}chapters/good.html"
    assert meta(soup, "og:image") == f"{BASE}_static/social-card.png"
    assert meta(soup, "og:image:alt")
    assert meta(soup, "twitter:card") == "summary_large_image"
    from PIL import Image

    with Image.open(published_fixture / "_static" / "social-card.png") as card:
        assert card.size == (1200, 630)


def test_published_404_page_uses_the_base_path(published_fixture):
    soup = BeautifulSoup((published_fixture / "404.html").read_text(), "html.parser")
    assert soup.find("a", attrs={"data-site-path": True})["href"] == "/handbook/index.html"
    assert soup.find("form")["action"] == "/handbook/search.html"
    assert soup.find("script") is None  # no probing needed when the path is known


def test_sitemap_survives_an_incremental_build(published_fixture):
    """A rebuild that rewrites no page still lists every page."""
    book = published_fixture.parents[1]
    result = subprocess.run(
        [sys.executable, str(ROOT / "book" / "tools" / "build.py"), str(book)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HANDBOOK_LITE": "off"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (published_fixture / "sitemap.xml").read_text().count("<url>") == 2
