"""Print the built site as PDF with Debian's chromium (Playwright page.pdf). `make pdf` runs this.

Writes
  _build/pdf/jupyter-field-handbook.pdf   the landing page and every chapter, in toc order
  _build/pdf/chapters/NN-slug.pdf          each chapter alone
and copies them into the site as _build/html/_pdf/..., where each chapter
page's download menu links its own PDF (book/_ext/chapter_pdf.py).

How: the site is served from 127.0.0.1 and each page printed with the print
stylesheet (book/_static/print.css, part of the site's stylesheet). For the
whole book, one document is put together from the landing page and the
chapters' article content (ids prefixed per chapter, links between them made
internal), so cross-references become links inside the PDF. Chromium writes a
tagged PDF with an outline built from the headings (chapters, then sections),
and page numbers in the footer. Code cells that the page collapses are opened,
so the PDF has all the code. A code block wider than the page fails the run.

Usage: python book/tools/pdf.py [SITE_DIR] [OUT_DIR]
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
BOOK_PDF = "jupyter-field-handbook.pdf"
SITE_PDF_DIR = "_pdf"
LANDING = "book/index"
# Where the assembled book is served: beside the landing page, so relative
# URLs (all pages are one folder deep) resolve as on the pages themselves.
ASSEMBLED = "book/__handbook-print__.html"
PDF_OPTIONS = {
    "format": "A4",
    "print_background": True,
    "outline": True,
    "tagged": True,
    "display_header_footer": True,
    "header_template": "<span></span>",
    "footer_template": (
        '<div style="width:100%;font-size:8px;text-align:center;color:#555;">'
        '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
    ),
    "margin": {"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
}
PRINT_CSS = ROOT / "book" / "_static" / "print.css"
PRINT_WIDTH_PX = round((210 - 30) / 25.4 * 96)  # A4 less 15 mm margins, in CSS pixels
OVERFLOWING = """() => Array.from(document.querySelectorAll('article pre, article table'))
  .filter(el => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
  .map(el => el.textContent.trim().split('\\n')[0].slice(0, 80))"""
HEADINGS = """() => Array.from(document.querySelectorAll('article :is(h1, h2, h3, h4, h5, h6)'))
  .filter(h => h.offsetParent !== null).map(h => h.innerText.replace(/\\s+/g, ' ').trim())"""
PREPARE = """async () => {
  for (const details of document.querySelectorAll('article details')) details.open = true;
  await document.fonts.ready;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
}"""


def toc_pages(root: Path) -> list[str]:
    """The landing page and the chapters, in toc order."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    return [LANDING] + [name for name in parse_toc_yaml(root / "_toc.yml") if name.startswith("chapters/")]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def slug(docname: str) -> str:
    return docname.replace("/", "-")


def assemble(site: Path, docnames: list[str], base_url: str) -> str:
    """One HTML document: the landing page's shell, every page's article in turn."""
    targets = {f"{name}.html": slug(name) for name in docnames}
    shell = BeautifulSoup((site / f"{LANDING}.html").read_text(encoding="utf-8"), "html.parser")
    article = shell.select_one("article.bd-article")
    article.clear()
    head_scripts = {tag.get("src") for tag in shell.head.find_all("script") if tag.get("src")}
    for name in docnames:
        page = BeautifulSoup((site / f"{name}.html").read_text(encoding="utf-8"), "html.parser")
        # Scripts a chapter needs that the landing page does not load (MathJax);
        # not the widget manager: a widget prints as a one-line note.
        for script in page.head.find_all("script", src=True):
            src = script["src"]
            if src not in head_scripts and "mathjax" in src.lower():
                shell.head.append(script)
                head_scripts.add(src)
        content = page.select_one("article.bd-article")
        prefix = slug(name)
        for tag in content.find_all(id=True):
            tag["id"] = f"{prefix}--{tag['id']}"
        for tag in content.find_all("label", attrs={"for": True}):
            tag["for"] = f"{prefix}--{tag['for']}"
        page_url = urljoin("http://site/", f"{name}.html")
        for link in content.find_all("a", href=True):
            absolute = urljoin(page_url, link["href"])
            parts = urlsplit(absolute)
            if parts.netloc != "site":
                continue
            path = unquote(parts.path.lstrip("/"))
            if path in targets:
                link["href"] = f"#{targets[path]}--{parts.fragment}" if parts.fragment else f"#{targets[path]}"
            elif base_url:
                link["href"] = urljoin(base_url, path) + (f"#{parts.fragment}" if parts.fragment else "")
            else:
                link.unwrap()  # a page not in the PDF, and no published address to point to
        part = shell.new_tag("div", attrs={"class": "handbook-print-part", "id": prefix})
        part.extend(list(content.contents))
        article.append(part)
    shell.title.string = shell.title.get_text().split(" — ")[0]
    return str(shell)


def print_page(browser, url: str, out: Path, route_html: str | None = None) -> list[str]:
    # The viewport is the printable width of an A4 page (210 mm less the margins),
    # so what is measured before printing is what is printed.
    context = browser.new_context(viewport={"width": PRINT_WIDTH_PX, "height": 1000})
    page = context.new_page()
    if route_html is not None:
        page.route(url, lambda route: route.fulfill(body=route_html, content_type="text/html"))
    try:
        page.goto(url, wait_until="networkidle")
        page.emulate_media(media="print")
        # The whole print stylesheet: the site's bundle drops rules for elements
        # only the assembled book has.
        page.add_style_tag(content=PRINT_CSS.read_text(encoding="utf-8"))
        page.evaluate(PREPARE)
        overflowing = page.evaluate(OVERFLOWING)
        headings = page.evaluate(HEADINGS)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(out), **PDF_OPTIONS)
    finally:
        context.close()
    mend_outline(out, headings)
    return overflowing


def mended(title: str, headings: set[str]) -> str:
    """Chromium sometimes writes a heading's title into the outline with part of it
    repeated ("Cell magicsCell magics"), for a heading near a page break. The
    page's headings say what the title is."""
    title = " ".join(title.split())
    if title in headings:
        return title
    for heading in headings:
        rest = title[len(heading):]
        if title.startswith(heading) and rest and heading.endswith(rest.strip()):
            return heading
    return title


def mend_outline(path: Path, headings: list[str]) -> None:
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=str(path))
    known, changed = set(headings), 0
    outlines = writer._root_object.get("/Outlines")
    stack = [outlines.get_object().get("/First")] if outlines is not None else []
    while stack:
        node = stack.pop()
        while node is not None:
            node = node.get_object()
            title = str(node.get("/Title", ""))
            if (fixed := mended(title, known)) != title:
                node[NameObject("/Title")] = TextStringObject(fixed)
                changed += 1
            if "/First" in node:
                stack.append(node["/First"])
            node = node.get("/Next")
    if changed:
        writer.write(str(path))


def base_url_of(root: Path) -> str:
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
    url = ((config.get("html") or {}).get("baseurl") or "").strip()
    return url if not url or url.endswith("/") else url + "/"


def digest(*parts: bytes) -> str:
    """What a PDF is made from: its pages, the print stylesheet and this tool."""
    tool = Path(__file__).read_bytes() + PRINT_CSS.read_bytes()
    return hashlib.sha256(tool + b"".join(parts)).hexdigest()[:16]


def main(site: Path, out: Path) -> int:
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    if not (site / f"{LANDING}.html").is_file():
        raise SystemExit(f"{site} has no built site: run `make book` first")
    docnames = toc_pages(ROOT)
    record = out / "pdf.json"
    previous = json.loads(record.read_text()).get("digests", {}) if record.is_file() else {}
    html = {name: (site / f"{name}.html").read_bytes() for name in docnames}
    digests = {f"{name}.pdf": digest(html[name]) for name in docnames[1:]}
    digests[BOOK_PDF] = digest(*html.values())
    # Only what changed since the last run is printed again.
    stale = {key for key, value in digests.items() if previous.get(key) != value or not (out / key).is_file()}
    server, base = serve(site)
    problems, timings = [], {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for name in docnames[1:]:
                    if f"{name}.pdf" in stale:
                        begun = time.perf_counter()
                        for line in print_page(browser, f"{base}{name}.html", out / f"{name}.pdf"):
                            problems.append(f"{name}: wider than the page: {line}")
                        timings[name] = round(time.perf_counter() - begun, 2)
                if BOOK_PDF in stale:
                    begun = time.perf_counter()
                    book = assemble(site, docnames, base_url_of(ROOT))
                    for line in print_page(browser, f"{base}{ASSEMBLED}", out / BOOK_PDF, route_html=book):
                        problems.append(f"book: wider than the page: {line}")
                    timings["book"] = round(time.perf_counter() - begun, 2)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        raise SystemExit("ERROR: code or tables wider than the page (see above); no PDF published")
    # Into the site, where the chapter pages link them.
    published = site / SITE_PDF_DIR
    shutil.rmtree(published, ignore_errors=True)
    for pdf in out.rglob("*.pdf"):
        target = published / pdf.relative_to(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pdf, target)
    elapsed = time.perf_counter() - started
    sizes = {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*.pdf"))}
    record.write_text(json.dumps({"seconds": round(elapsed, 1), "printed": len(stale), "render_seconds": timings,
                                  "bytes": sizes, "digests": digests}, indent=2) + "\n")
    print(f"{out / BOOK_PDF} ({sizes[BOOK_PDF] / 1e6:.1f} MB) and {len(sizes) - 1} chapter PDFs: "
          f"{len(stale)} printed in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    site_dir = Path(args[0]) if args else ROOT / "_build" / "html"
    out_dir = Path(args[1]) if len(args) > 1 else ROOT / "_build" / "pdf"
    sys.exit(main(site_dir.resolve(), out_dir.resolve()))
