"""The handbook as PDF (`make pdf`, book/tools/pdf.py), checked with pypdf.

The book PDF has an outline with every chapter (and their sections), each
chapter's title and one of its executed outputs in its text, no blank page,
no code line cut at the page edge (its longest code lines are there whole),
and internal links that land on a destination in the document. Each chapter
page links its own PDF.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import EXECUTED, ROOT, SITE, toc_docnames

PDF_DIR = ROOT / "_build" / "pdf"
BOOK = PDF_DIR / "jupyter-field-handbook.pdf"
CHAPTERS = [name for name in toc_docnames() if name.startswith("chapters/")]
FOOTER = re.compile(r"^\s*\d+\s*/\s*\d+\s*$")


@cache
def reader(path: Path = BOOK):
    from pypdf import PdfReader

    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make pdf`")
    return PdfReader(path)


def squash(text: str) -> str:
    """Text without whitespace (lines wrap anywhere) and ligatures (chromium writes "ﬁ")."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@cache
def pages_of(path: Path = BOOK) -> list[str]:
    return [page.extract_text() for page in reader(path).pages]


@cache
def book_text() -> str:
    return squash("".join(pages_of()))


def outline_titles(items, depth=0):
    for item in items:
        if isinstance(item, list):
            yield from outline_titles(item, depth + 1)
        else:
            yield depth, item.title.strip()


def chapter_title(docname: str) -> str:
    soup = BeautifulSoup((SITE / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
    return soup.find("h1").get_text(" ", strip=True).rstrip("#").strip()


def one_executed_output(docname: str) -> str:
    """A line of text one of the chapter's code cells printed when the book was built."""
    notebook = json.loads((EXECUTED / f"{docname}.ipynb").read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or tags & {"remove-output", "remove-cell", "hide-output"}:
            continue
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain") or ""
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                line = line.strip()
                if 12 <= len(line) <= 60 and "\x1b" not in line and line.isprintable():
                    return line
    pytest.fail(f"{docname}: no printed output found")


def test_outline_has_every_chapter_and_their_sections():
    titles = list(outline_titles(reader().outline))
    names = [title for _, title in titles]
    for docname in CHAPTERS:
        assert chapter_title(docname) in names, (chapter_title(docname), names[:40])
    assert sum(1 for depth, _ in titles if depth >= 1) >= 3 * len(CHAPTERS)  # sections under chapters
    doubled = [t for _, t in titles if len(t) > 6 and t[: len(t) // 2] == t[len(t) // 2:]]
    assert not doubled, doubled
    # In toc order.
    positions = [names.index(chapter_title(docname)) for docname in CHAPTERS]
    assert positions == sorted(positions)


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_title_and_an_executed_output_are_in_the_pdf(docname):
    assert squash(chapter_title(docname)) in book_text()
    output = one_executed_output(docname)
    assert squash(output) in book_text(), output


def test_landing_page_comes_first():
    first = squash(pages_of()[0])
    assert squash("The Jupyter Field Handbook") in first


def test_no_page_is_blank():
    blank = []
    for number, text in enumerate(pages_of(), 1):
        lines = [line for line in text.splitlines() if line.strip() and not FOOTER.match(line)]
        has_image = bool(reader().pages[number - 1].images) if lines == [] else True
        if not lines and not has_image:
            blank.append(number)
    assert not blank, f"blank pages: {blank}"


def test_page_numbers_are_printed():
    pages = pages_of()
    total = len(pages)
    for number in (1, total // 2, total):
        assert f"{number} / {total}" in pages[number - 1]


def longest_code_lines(docname: str, count: int = 3) -> list[str]:
    """The longest lines of the chapter's visible code cells: the first to be cut."""
    notebook = json.loads((EXECUTED / f"{docname}.ipynb").read_text(encoding="utf-8"))
    lines = []
    for cell in notebook["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "code" and not tags & {"remove-input", "remove-cell"}:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            lines += [line for line in source.splitlines() if line.strip() and line.isprintable()]
    return sorted(lines, key=len, reverse=True)[:count]


@pytest.mark.parametrize("docname", CHAPTERS)
def test_no_code_line_is_cut_at_the_page_edge(docname):
    """Code wraps at the page edge: the longest code lines are in the PDF whole.

    (Chromium does not write the text of a clipped, scrolled-away part of a line.
    pdf.py also measures every code block at the printed width before printing.)
    """
    missing = [line for line in longest_code_lines(docname) if squash(line) not in book_text()]
    assert not missing, missing


def test_internal_links_land_on_destinations():
    book = reader()
    names = set(book.named_destinations)
    internal, broken = 0, []
    for page in book.pages:
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            if annotation.get("/Subtype") != "/Link":
                continue
            destination = annotation.get("/Dest")
            if destination is None and "/A" in annotation and "/D" in annotation["/A"]:
                destination = annotation["/A"]["/D"]
            if destination is None:
                continue
            internal += 1
            if isinstance(destination, str) and destination not in names:
                broken.append(destination)
    assert internal >= 2 * len(CHAPTERS)
    assert not broken, broken[:20]


@pytest.mark.parametrize("docname", CHAPTERS)
def test_each_chapter_pdf_is_that_chapter_and_is_linked_from_its_page(docname):
    chapter = reader(PDF_DIR / f"{docname}.pdf")
    titles = [title for _, title in outline_titles(chapter.outline)]
    assert titles and titles[0] == chapter_title(docname)
    assert (SITE / "_pdf" / f"{docname}.pdf").is_file()
    page = (SITE / f"{docname}.html").read_text(encoding="utf-8")
    assert f'href="../_pdf/{docname}.pdf"' in page
