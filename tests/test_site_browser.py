"""The site in a real browser: Debian's chromium driven by Playwright.

Every page of _build/html (the JupyterLite app aside, see test_lite.py) is
loaded from 127.0.0.1 and must show no console error, no uncaught error, no
failed request, no request leaving 127.0.0.1, no serious or critical axe-core
violation and no image without alt text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import ROOT, SITE, chapter_sources, site_pages, toc_docnames

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# A cell output holding a saved widget view; the widget manager loads when one nears the screen.
WIDGET_OUTPUT = "div.cell_output:has(script[type='application/vnd.jupyter.widget-view+json'])"
PAGES = [str(p.relative_to(SITE)) for p in site_pages()]


class PageWatch:
    """Collects everything that went wrong while a page loaded."""

    def __init__(self, page, base_url: str):
        self.problems: list[str] = []
        self.requested: list[str] = []
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        page.on("request", lambda r: self._check_host(r.url, base_url))

    def _check_host(self, url: str, base_url: str) -> None:
        if not url.startswith((base_url, "data:", "blob:", "about:")):
            self.problems.append(f"third-party request: {url}")


def open_page(browser, served_site, path: str, color_scheme: str = "light"):
    context = browser.new_context(color_scheme=color_scheme)
    page = context.new_page()
    watch = PageWatch(page, served_site)
    page.goto(f"{served_site}/{path}", wait_until="networkidle")
    return context, page, watch


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in result["violations"] if v["impact"] in impacts
    ]


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly_and_is_accessible(browser, served_site, path):
    context, page, watch = open_page(browser, served_site, path)
    try:
        images_without_alt = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.src)"
        )
        violations = axe_violations(page)
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)
    assert not images_without_alt, images_without_alt
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("term, chapter", [
    ("papermill", "09-advanced-features"),
    ("nbval", "15-ci-cd-and-testing"),
])
def test_search_finds_the_chapter(browser, served_site, term, chapter):
    context, page, watch = open_page(browser, served_site, f"search.html?q={term}")
    try:
        page.wait_for_selector("#search-results li", timeout=15000)
        links = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
    finally:
        context.close()
    assert any(chapter in link for link in links), links
    assert not watch.problems, "\n".join(watch.problems)


def test_dark_mode_toggle_switches_theme_and_stays_readable(browser, served_site):
    context, page, watch = open_page(browser, served_site, "chapters/04-how-to-use.html")
    try:
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        # The toggle cycles light -> dark -> auto; click until the theme is dark.
        for _ in range(3):
            page.locator("button.theme-switch-button").first.click()
            if page.evaluate("document.documentElement.dataset.theme") == "dark":
                break
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        violations = axe_violations(page)
    finally:
        context.close()
    assert not violations, "\n".join(violations)
    assert not watch.problems, "\n".join(watch.problems)


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_page_title_matches_its_toc_entry(site, source):
    """The sidebar entry, the page's H1 and its <title> all carry the same name."""
    docname = str(source.relative_to(ROOT).with_suffix(""))
    soup = BeautifulSoup((site / "book" / "index.html").read_text(), "html.parser")
    toc_link = soup.select_one(f'nav.bd-links a[href$="{Path(docname).name}.html"]')
    page = BeautifulSoup((site / f"{docname}.html").read_text(), "html.parser")
    heading = page.find("h1").get_text(" ", strip=True).rstrip("#").strip()
    assert toc_link is not None, docname
    assert toc_link.get_text(" ", strip=True) == heading
    assert page.title.get_text().startswith(heading)


def test_code_cells_have_copy_buttons(browser, served_site):
    context, page, watch = open_page(browser, served_site, "chapters/01-what-is-jupyter.html")
    try:
        inputs = page.locator(".cell_input div.highlight").count()
        buttons = page.locator(".cell_input button.copybtn").count()
    finally:
        context.close()
    assert inputs >= 5 and buttons == inputs


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_long_code_cells_are_collapsed(source):
    """A code cell of more than 30 lines is tagged hide-input (or removed from the page),
    unless it is tagged show-input: a block readers copy whole stays open on purpose."""
    import jupytext

    long_and_open = []
    for index, cell in enumerate(jupytext.read(source).cells):
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "code" and len(cell.source.splitlines()) > 30:
            if not tags & {"hide-input", "hide-cell", "remove-input", "remove-cell", "show-input"}:
                long_and_open.append(index + 1)
    assert not long_and_open, f"cells {long_and_open} are long: tag them hide-input"


def test_every_page_is_crawled():
    assert len(PAGES) >= len(toc_docnames()) + 2  # plus search and genindex
    assert all(re.match(r"[\w./-]+\.html$", p) for p in PAGES)


def test_saved_widgets_render_and_jslink_works_without_a_kernel(browser, served_site):
    """Chapter 10's saved widget state renders, and its jslink/jsdlink links respond in the page."""
    from playwright.sync_api import expect

    context, page, watch = open_page(browser, served_site, "chapters/10-widgets-and-interactivity.html")
    try:
        # The widget manager waits until a widget output comes near the screen.
        assert not [url for url in watch.requested if "embed-amd.js" in url]
        page.locator(WIDGET_OUTPUT).first.scroll_into_view_if_needed()
        page.wait_for_selector(".widget-slider", timeout=30000)
        assert [url for url in watch.requested if "embed-amd.js" in url]
        assert page.locator(".widget-slider").count() >= 3
        assert page.locator(".widget-dropdown select").count() >= 1

        # Two-way jslink: typing into the IntText moves the slider it is linked to.
        pair = page.locator(".widget-hbox").filter(has=page.get_by_text("mirror", exact=True)).first
        mirror = pair.locator("input[type=number]")
        mirror.fill("55")
        mirror.press("Enter")
        expect(pair.locator(".widget-readout")).to_have_text("55")

        # One-way jsdlink: moving the leader slider moves the follower progress bar.
        lead = page.locator(".widget-hbox").filter(has=page.get_by_text("jsdlink", exact=True)).first
        bar = lead.locator(".progress-bar")
        before = bar.evaluate("el => el.style.width")
        lead.locator(".noUi-handle, .slider-handle, [role=slider]").first.focus()
        page.keyboard.press("End")
        expect(lead.locator(".widget-readout")).to_have_text("1.00")
        assert bar.evaluate("el => el.style.width") != before
        # The page crawl ran axe before any widget was drawn; run it on them now.
        violations = axe_violations(page)
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)
    assert not violations, "\n".join(violations)


def test_widgets_are_readable_in_dark_mode(browser, served_site):
    """With the system in dark mode (the book's default mode is auto), drawn widgets pass axe."""
    context, page, watch = open_page(browser, served_site, "chapters/10-widgets-and-interactivity.html", "dark")
    try:
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        for output in page.locator(WIDGET_OUTPUT).all():
            output.scroll_into_view_if_needed()
        page.wait_for_selector(".widget-dropdown select", timeout=30000)
        violations = axe_violations(page)
    finally:
        context.close()
    assert not violations, "\n".join(violations)
    assert not watch.problems, "\n".join(watch.problems)


# Computed styles compared between the bundle and the theme's own stylesheets.
STYLE_PROPERTIES = [
    "display", "position", "visibility", "float", "width", "height", "margin-top", "margin-left",
    "padding-top", "padding-left", "color", "background-color", "border-top-width", "border-left-color",
    "font-family", "font-size", "font-weight", "line-height", "text-align", "overflow-x", "opacity",
]
NO_TRANSITIONS = "*, *::before, *::after { transition: none !important; animation: none !important; }"
COMPUTED_STYLES = """properties => Array.from(document.querySelectorAll('body *'), element => {
  const style = getComputedStyle(element), before = getComputedStyle(element, '::before');
  return [element.tagName + '.' + element.className,
          ...properties.map(name => style.getPropertyValue(name)), before.content, before.fontFamily];
})"""


@pytest.mark.parametrize("path", [
    "book/index.html", "chapters/02-when-to-use-jupyter.html", "chapters/10-widgets-and-interactivity.html",
    "search.html",
])
@pytest.mark.parametrize("width, color_scheme", [(1280, "dark"), (412, "light")])
def test_bundled_stylesheet_styles_pages_like_the_originals(browser, served_site, site, path, width, color_scheme):
    """The purged bundle must leave every element styled as the theme's full stylesheets do."""
    bundle = next((site / "_static" / "styles").glob("handbook.*.css"))
    sources = re.search(r"from: ([^*]+) \*/", bundle.read_text(encoding="utf-8")).group(1).split()
    prefix = "../" * path.count("/")
    original_links = "".join(f'<link rel="stylesheet" href="{prefix}{source}" />' for source in sources)

    def with_original_stylesheets(route):
        html = (site / path).read_text(encoding="utf-8")
        html = re.sub(r'<link rel="stylesheet" href="[^"]*handbook\.[0-9a-f]+\.css" />', original_links, html)
        route.fulfill(body=html, content_type="text/html")

    styles = []
    for original in (False, True):
        context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=color_scheme)
        page = context.new_page()
        if original:
            page.route(f"{served_site}/{path}", with_original_stylesheets)
        try:
            page.goto(f"{served_site}/{path}", wait_until="networkidle")
            for output in page.locator(WIDGET_OUTPUT).all():
                output.scroll_into_view_if_needed()
            if page.locator(WIDGET_OUTPUT).count():
                page.wait_for_selector(".widget-dropdown select", timeout=30000)
            page.evaluate("window.scrollTo(0, 0)")
            # Finish every CSS transition (hover and theme colours fade in over ~0.2 s), so
            # both variants are compared at rest, not at whatever frame a busy machine reached.
            page.add_style_tag(content=NO_TRANSITIONS)
            styles.append(page.evaluate(COMPUTED_STYLES, STYLE_PROPERTIES))
        finally:
            context.close()
    assert len(styles[0]) == len(styles[1]) > 100
    differences = [
        f"{bundled[0]}: {name} {value!r} (original {original_value!r})"
        for bundled, original in zip(*styles, strict=True)
        for name, value, original_value in zip(
            ["tag", *STYLE_PROPERTIES, "::before content", "::before font"], bundled, original, strict=True
        )
        if value != original_value
    ]
    assert not differences, "\n".join(differences[:20])
