"""What book/_ext/page_speed.py promises about every built page's head.

Lighthouse (make audit) measures the result; these check the causes, on every
page: nothing blocks rendering but one stylesheet, heavy scripts load only
where they are used, and the trimmed icon fonts still hold every icon the
stylesheet can draw.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import SITE, site_pages

# The root index.html only redirects to book/index.html; 404.html is
# self-contained, so it works at any depth (book/_ext/seo.py).
PAGES = [p for p in site_pages() if 'http-equiv="Refresh"' not in p.read_text() and p.name != "404.html"]
THEME_STYLESHEETS = ["styles/pydata-sphinx-theme.css", "styles/sphinx-book-theme.css", "sphinx-design.min.css"]


def head_of(page: Path) -> BeautifulSoup:
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").head


def page_id(page: Path) -> str:
    return str(page.relative_to(SITE))


def bundle() -> Path:
    bundles = sorted((SITE / "_static" / "styles").glob("handbook.*.css"))
    assert len(bundles) == 1, bundles
    return bundles[0]


def test_pages_are_found():
    assert len(PAGES) >= 18, PAGES


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_script_blocks_rendering(page):
    blocking = [
        script["src"] for script in head_of(page).find_all("script", src=True)
        if not ({"defer", "async"} & set(script.attrs) or script.get("type") == "module")
    ]
    assert not blocking, f"{page_id(page)} loads scripts that block rendering: {blocking}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_one_stylesheet_the_bundle(page):
    links = [link["href"] for link in head_of(page).find_all("link", rel="stylesheet")]
    assert len(links) == 1, f"{page_id(page)} links {links}"
    assert (page.parent / links[0]).resolve() == bundle().resolve()


def test_bundle_keeps_only_the_rules_pages_can_use():
    theme = sum((SITE / "_static" / sheet).stat().st_size for sheet in THEME_STYLESHEETS)
    assert bundle().stat().st_size < theme / 2
    css = bundle().read_text(encoding="utf-8")
    # Used on the pages, so kept: the layout, admonitions, code cells, dark mode.
    for selector in (".bd-sidebar-primary", ".admonition", "div.cell_output", 'html[data-theme=dark]'):
        assert selector in css, selector
    # In the theme's stylesheet, never used here: an icon and two Bootstrap components.
    for selector in (".fa-chess-knight", ".placeholder-wave", ".btn-outline-warning"):
        assert selector in (SITE / "_static" / THEME_STYLESHEETS[0]).read_text(encoding="utf-8")
        assert selector not in css, selector


def test_icon_fonts_hold_every_icon_the_bundle_draws():
    from fontTools.ttLib import TTFont

    css = bundle().read_text(encoding="utf-8")
    fonts = re.findall(r"url\((handbook\.fa-[\w-]+\.[0-9a-f]+\.woff2)\)", css)
    assert len(fonts) == 3, fonts
    glyphs = set()
    for font in fonts:
        glyphs |= set(TTFont(bundle().parent / font).getBestCmap())
    # Icons drawn by escape ("\f105") and by private-use characters in custom properties.
    drawn = {int(code, 16) for code in re.findall(r'"\\([0-9a-fA-F]{4,5})"', css)}
    drawn |= {ord(char) for char in css if 0xE000 <= ord(char) <= 0xF8FF}
    assert len(drawn) >= 10
    assert not drawn - glyphs, sorted(hex(code) for code in drawn - glyphs)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_search_index_only_on_the_search_page(page):
    scripts = [script["src"] for script in head_of(page).find_all("script", src=True)]
    if page.name == "search.html":
        assert any("searchindex.js" in src for src in scripts)
    else:
        assert not [src for src in scripts if re.search(r"searchindex|searchtools|language_data", src)]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_mathjax_only_where_there_is_math(page):
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    has_math = bool(soup.select(".math"))
    loads_mathjax = any("mathjax" in script["src"] for script in soup.find_all("script", src=True))
    assert loads_mathjax == has_math, page_id(page)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_widget_manager_is_not_loaded_up_front(page):
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    scripts = soup.find_all("script")
    assert not [s["src"] for s in scripts if re.search(r"require\.js|embed-amd\.js", s.get("src", ""))]
    has_widgets = bool(soup.find("script", type="application/vnd.jupyter.widget-view+json"))
    loads_them_when_seen = any("IntersectionObserver" in script.text for script in scripts)
    assert loads_them_when_seen == has_widgets, page_id(page)


def test_some_pages_have_math_and_widgets():
    """The two checks above are not vacuous."""
    texts = {page_id(page): page.read_text(encoding="utf-8") for page in PAGES}
    assert sum("mathjax/tex-chtml.js" in text for text in texts.values()) >= 1
    widgets = BeautifulSoup(texts["chapters/10-widgets-and-interactivity.html"], "html.parser")
    assert widgets.find("script", type="application/vnd.jupyter.widget-view+json")
