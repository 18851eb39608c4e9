"""The whole site works under a sub-path, as a GitHub project page is served (/<repo>/).

The built site is served under /handbook/ only, with the host's 404 behaviour:
a missing path answers 404 with /handbook/404.html. A browser starts at
/handbook/ and crawls every page it can reach by links, then checks search,
the downloads, the widgets, the JupyterLite launch target and the 404 page.
Every request must stay under /handbook/ and succeed.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

from conftest import QuietHandler, site_pages, toc_docnames

PREFIX = "/handbook/"
WIDGET_OUTPUT = "div.cell_output:has(script[type='application/vnd.jupyter.widget-view+json'])"


class SubPathHandler(QuietHandler):
    """Serves the site under PREFIX only; elsewhere, and for missing files, 404.html."""

    def translate_path(self, path):
        if not path.startswith(PREFIX):
            return "/nonexistent-outside-the-sub-path"
        return super().translate_path("/" + path[len(PREFIX):])

    def send_head(self):
        path = Path(self.translate_path(urlsplit(self.path).path))
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            body = (Path(self.directory) / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            import io

            return io.BytesIO(body)
        return super().send_head()


@pytest.fixture(scope="module")
def sub_path_site(site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SubPathHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    server.shutdown()
    server.server_close()


class Watch:
    def __init__(self, page, origin: str, allow_404: tuple[str, ...] = ()):
        self.problems: list[str] = []
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and not r.url.endswith(allow_404)
                and self.problems.append(f"HTTP {r.status}: {r.url}"))
        page.on("request", lambda r: r.url.startswith(("data:", "blob:", "about:", origin))
                or self.problems.append(f"request outside the sub-path: {r.url}"))


def open_page(browser, url: str, origin: str, **watch):
    context = browser.new_context()
    page = context.new_page()
    return context, page, Watch(page, origin, **watch)


def test_every_page_is_reachable_and_loads_under_the_sub_path(browser, sub_path_site, site):
    # The root, and the two pages reached by a form and a script rather than a link.
    seen, queue, problems = set(), [sub_path_site, f"{sub_path_site}search.html", f"{sub_path_site}genindex.html"], []
    while queue:
        url = queue.pop()
        context, page, watch = open_page(browser, url, sub_path_site)
        try:
            page.goto(url, wait_until="networkidle")
            final = urldefrag(page.url).url.split("?")[0]
            links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        finally:
            context.close()
        seen.add(final)
        problems += [f"{url}: {p}" for p in watch.problems]
        for link in links:
            link = urldefrag(link).url
            if not link.startswith("http://127.0.0.1"):
                continue
            if not link.startswith(sub_path_site):
                problems.append(f"{url}: link leaves the sub-path: {link}")
            elif link.endswith(".html") and "/lite/" not in link and link not in seen and link not in queue:
                queue.append(link)
    expected = {sub_path_site + f"{name}.html" for name in toc_docnames()}
    assert not expected - seen, f"not reached from the root: {sorted(expected - seen)}"
    pages = {sub_path_site + str(p.relative_to(site)) for p in site_pages()} - {
        f"{sub_path_site}index.html", f"{sub_path_site}404.html"}
    assert not pages - seen, f"not reached: {sorted(pages - seen)}"
    assert not problems, "\n".join(problems[:40])


def test_search_works_under_the_sub_path(browser, sub_path_site):
    context, page, watch = open_page(browser, sub_path_site, sub_path_site)
    try:
        page.goto(f"{sub_path_site}search.html?q=nbval", wait_until="networkidle")
        page.wait_for_selector("#search-results li a", timeout=15000)
        links = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
    finally:
        context.close()
    assert any(link.startswith(f"{sub_path_site}chapters/15-ci-cd-and-testing.html") for link in links), links
    assert not watch.problems, "\n".join(watch.problems)


def test_downloads_and_the_lite_launch_target_resolve(browser, sub_path_site):
    context, page, watch = open_page(browser, sub_path_site, sub_path_site)
    try:
        page.goto(f"{sub_path_site}chapters/05-magic-commands.html", wait_until="networkidle")
        hrefs = page.eval_on_selector_all(
            ".dropdown-download-buttons a[href], .handbook-lite-launch a[href]", "links => links.map(a => a.href)")
        statuses = {href: page.request.get(href).status for href in hrefs}
        launch = next(href for href in hrefs if "/lite/" in href)
        page.goto(launch, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-NotebookPanel", state="attached", timeout=120000)
    finally:
        context.close()
    assert any(h.endswith(".ipynb") for h in statuses) and any(h.endswith(".md") for h in statuses), statuses
    assert launch.startswith(f"{sub_path_site}lite/")
    bad = {h: s for h, s in statuses.items() if s != 200}
    if any(h.endswith(".pdf") for h in bad) and not any((Path(__file__).parents[1] / "_build/html/_pdf").glob("*")):
        bad = {h: s for h, s in bad.items() if not h.endswith(".pdf")}  # make pdf not run
    assert not bad, bad
    assert all(h.startswith(sub_path_site) for h in statuses), statuses


def test_widgets_render_under_the_sub_path(browser, sub_path_site):
    context, page, watch = open_page(browser, sub_path_site, sub_path_site)
    try:
        page.goto(f"{sub_path_site}chapters/10-widgets-and-interactivity.html", wait_until="networkidle")
        page.locator(WIDGET_OUTPUT).first.scroll_into_view_if_needed()
        page.wait_for_selector(".widget-slider", timeout=30000)
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)


def test_the_404_page_works_at_any_depth_under_the_sub_path(browser, sub_path_site):
    missing = f"{sub_path_site}no/such/chapter.html"
    context, page, watch = open_page(browser, missing, sub_path_site, allow_404=("chapter.html", "book/index.html"))
    try:
        response = page.goto(missing, wait_until="networkidle")
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Page not found"
        home = page.locator("a[data-site-path]")
        page.wait_for_function(
            "prefix => document.querySelector('a[data-site-path]').href.startsWith(prefix)", arg=sub_path_site)
        assert home.get_attribute("href") == f"{PREFIX}book/index.html"
        assert page.locator("form").get_attribute("action") == f"{PREFIX}search.html"
        home.click()
        page.wait_for_load_state("networkidle")
        assert page.url == f"{sub_path_site}book/index.html"
        assert page.locator("h1").first.inner_text().startswith("The Jupyter Field Handbook")
    finally:
        context.close()
    assert not watch.problems, "\n".join(watch.problems)
