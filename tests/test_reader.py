"""What a careful reader checks: corrections, admonition titles, machine paths, page fit."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from urllib.parse import urldefrag

import nbformat
import pytest
from bs4 import BeautifulSoup

from conftest import EXECUTED, ROOT, chapter_sources

CORRECTIONS_PAGE = "book/corrections.html"
# Directive openings, with or without the colon fence.
CORRECTION = re.compile(r"^(?::{3,}|`{3,})\{correction\}", re.MULTILINE)
# The specific admonitions take no title: text after the directive name runs into the body.
TITLED_ADMONITION = re.compile(
    r"^(?::{3,}|`{3,})\{(attention|caution|danger|error|hint|important|note|seealso|tip|warning)\}"
    r"[ \t]+(\S.*)$",
    re.MULTILINE,
)
OLD_STYLE_CORRECTION = re.compile(r"\{admonition\}\s*Correction to the field guide")
CLOSING_FENCE = re.compile(r"^(:{3,}|`{3,})\s*$")
# A path on the machine that ran the code: its temp dir, home, interpreter prefix,
# the book's own folder, or any absolute site-packages path. Masked forms such as
# <tmp>/x are fine, and so are example paths like /home/jovyan in a config.
MACHINE_ROOTS = sorted(
    {tempfile.gettempdir(), str(Path.home()), sys.prefix, str(ROOT)}, key=len, reverse=True
)
MACHINE_PATH = re.compile(
    r"(?:^|(?<=[\s'\"(=:,\[]))(?:"
    + "|".join(re.escape(root.rstrip("/")) + r"(?:/|\b)" for root in MACHINE_ROOTS)
    + r"|/\S*site-packages)",
    re.MULTILINE,
)


def book_sources() -> list[Path]:
    return chapter_sources() + sorted((ROOT / "book").glob("*.md"))


def titled_admonitions(text: str) -> list[tuple[int, str, str]]:
    """(line, directive, title) for every specific admonition written with a title."""
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2))
        for match in TITLED_ADMONITION.finditer(text)
    ]


def corrections_without_proof(text: str) -> list[int]:
    """Lines of {correction} directives whose proof does not follow them.

    The proof is the next code cell, allowed after at most one short paragraph that
    introduces it (up to six lines); or a line saying why it is not executed ("Not executed here: ...").
    """
    lines = text.splitlines()
    missing = []
    for number, line in enumerate(lines):
        if not CORRECTION.match(line):
            continue
        fence = re.match(r"^(:{3,}|`{3,})", line).group(1)
        end = next(i for i in range(number + 1, len(lines)) if lines[i].strip() == fence)
        rest = [lines[i] for i in range(end + 1, len(lines))]
        while rest and not rest[0].strip():
            rest.pop(0)
        if rest and rest[0].startswith("Not executed here"):
            continue
        intro = 0
        while intro < len(rest) and rest[intro].strip() and not rest[intro].startswith("```"):
            intro += 1
        following = [r for r in rest[intro:] if r.strip()][:1]
        if not (intro <= 6 and following and following[0].startswith("```{code-cell}")):
            missing.append(number + 1)
    return missing


def test_titled_admonition_check_finds_the_mistake():
    text = "intro\n\n:::{tip} Pin your versions\nbody\n:::\n\n:::{admonition} Fine\n:class: tip\n:::\n"
    assert titled_admonitions(text) == [(3, "tip", "Pin your versions")]


def test_no_specific_admonition_has_a_title():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {{{name}}} {title!r} renders as body text; "
        f"use {{admonition}} {title} with :class: {name}"
        for path in book_sources()
        for line, name, title in titled_admonitions(path.read_text())
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source", chapter_sources(), ids=lambda p: p.stem)
def test_corrections_use_one_form_and_come_with_proof(source):
    text = source.read_text()
    assert not OLD_STYLE_CORRECTION.search(text), "use the {correction} directive"
    missing = corrections_without_proof(text)
    assert not missing, (
        f"{source.name}: corrections at lines {missing} are followed by neither a code cell "
        "nor a 'Not executed here: ...' line"
    )


def test_corrections_page_lists_every_correction_and_each_link_resolves(site):
    page = BeautifulSoup((site / CORRECTIONS_PAGE).read_text(), "html.parser")
    listed = []
    for link in page.select("ol.corrections-entries a"):
        target, anchor = urldefrag(link["href"])
        listed.append(((site / "book" / target).resolve(), anchor))
    on_pages = []
    for source in chapter_sources():
        html = site / source.relative_to(ROOT).with_suffix(".html")
        soup = BeautifulSoup(html.read_text(), "html.parser")
        on_pages += [(html.resolve(), box["id"]) for box in soup.select("div.admonition.correction")]
    in_sources = sum(len(CORRECTION.findall(s.read_text())) for s in chapter_sources())
    assert in_sources > 0
    assert len(on_pages) == in_sources
    assert listed == on_pages, "the corrections page is not the book's corrections in toc order"


def output_texts(output) -> list[str]:
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return ["\n".join(output.traceback)]
    data = output.get("data", {})
    return [str(data[key]) for key in ("text/plain", "text/html", "text/markdown") if key in data]


def test_no_published_output_shows_a_machine_path(site):
    found = []
    for path in sorted((EXECUTED / "chapters").glob("[0-9][0-9]-*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            for output in cell.get("outputs", []):
                for text in output_texts(output):
                    for match in MACHINE_PATH.finditer(text):
                        line = text[: match.start()].rsplit("\n", 1)[-1] + text[match.start():].split("\n")[0]
                        found.append(f"{path.name} cell {index + 1}: {line.strip()[:100]}")
    for source in chapter_sources():
        html = site / source.relative_to(ROOT).with_suffix(".html")
        soup = BeautifulSoup(html.read_text(), "html.parser")
        for output in soup.select("div.cell_output"):
            for match in MACHINE_PATH.finditer(output.get_text()):
                found.append(f"{html.name} (page output): {match.group(0)}")
    assert not found, "\n".join(found)


# Code and output blocks, and table containers, as myst-nb and the theme write them.
MEASURE_OVERFLOW = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const scrolls = el => el.scrollWidth > el.clientWidth + 1;
  const blocks = [...document.querySelectorAll(
      'article div.highlight pre, article div.cell_output pre, article div.output pre')]
      .filter(el => el.offsetParent !== null);
  const tables = [...document.querySelectorAll('article table')]
      .filter(el => el.offsetParent !== null);
  const tableScrolls = t => t.scrollWidth > t.closest('article').clientWidth + 1
      || (t.parentElement && scrolls(t.parentElement));
  return {
    blocks: blocks.length,
    scrolling: blocks.filter(scrolls).map(el => el.textContent.split('\\n')
        .reduce((a, b) => a.length >= b.length ? a : b, '').slice(0, 90)),
    tables: tables.filter(tableScrolls).map(t => t.textContent.trim().slice(0, 60)),
  };
}"""


def test_code_outputs_and_tables_fit_a_1280px_window(served_site, browser):
    """At most 2% of code and output blocks scroll sideways, and no table does."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    total, scrolling, tables = 0, [], []
    for source in chapter_sources():
        docname = source.relative_to(ROOT).with_suffix("")
        page.goto(f"{served_site}/{docname}.html")
        found = page.evaluate(MEASURE_OVERFLOW)
        total += found["blocks"]
        scrolling += [f"{docname.name}: {line!r}" for line in found["scrolling"]]
        tables += [f"{docname.name}: table {text!r}" for text in found["tables"]]
    page.close()
    assert total > 100, "no code blocks found: did the page structure change?"
    assert len(scrolling) <= 0.02 * total, (
        f"{len(scrolling)} of {total} blocks scroll at 1280 px (limit 2%):\n" + "\n".join(scrolling)
    )
    assert not tables, "\n".join(tables)


def test_landing_page_gives_every_chapter_a_line(site):
    """Each toc chapter has a row saying what the reader will be able to do after it."""
    page = BeautifulSoup((site / "book" / "index.html").read_text(), "html.parser")
    rows = {}
    for row in page.select("article table tbody tr"):
        link = row.select_one("a")
        cells = row.find_all("td")
        if link and len(cells) == 2:
            rows[(site / "book" / urldefrag(link["href"])[0]).resolve()] = cells[1].get_text(strip=True)
    for source in chapter_sources():
        html = (site / source.relative_to(ROOT).with_suffix(".html")).resolve()
        assert html in rows, f"book/index.md has no row for {source.name}"
        assert len(rows[html].split()) >= 6, f"{source.name}: say what the reader will be able to do"
    assert len(page.select(".search-button-field")) == 1, "one search box, not two"
