"""The built book holds what the toc promises, to the chapter standard."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from bs4 import BeautifulSoup

from conftest import EXECUTED, ROOT, chapter_sources, toc_docnames

CHAPTER_NAME = re.compile(r"^(\d\d)-[a-z0-9-]+\.md$")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
CHAPTERS = chapter_sources()


def executed_notebook(source: Path) -> nbformat.NotebookNode:
    path = EXECUTED / source.relative_to(ROOT).with_suffix(".ipynb")
    assert path.is_file(), f"{path} missing: was the book built?"
    return nbformat.read(path, as_version=4)


def test_chapters_are_numbered_01_to_15_in_toc_order():
    names = [path.name for path in CHAPTERS]
    assert all(CHAPTER_NAME.match(name) for name in names), names
    assert [int(name[:2]) for name in names] == list(range(1, 16))
    on_disk = sorted(p.name for p in (ROOT / "chapters").glob("*.md"))
    assert on_disk == sorted(names), "a chapter file is not in _toc.yml"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_parses_with_jupytext_and_declares_python3(source):
    notebook = jupytext.read(source)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.metadata["jupytext"]["text_representation"]["format_name"] == "myst"
    assert any(cell.cell_type == "code" for cell in notebook.cells)


@pytest.mark.parametrize("docname", toc_docnames())
def test_every_toc_entry_has_a_built_page(site, docname):
    assert (site / f"{docname}.html").is_file()


def test_no_error_output_outside_raises_exception_cells():
    strays = []
    for notebook_path in EXECUTED.rglob("*.ipynb"):
        if "samples" in notebook_path.parts:
            continue
        notebook = nbformat.read(notebook_path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            tags = cell.metadata.get("tags", [])
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors and "raises-exception" not in tags:
                strays.append(f"{notebook_path.name} cell {index + 1}: {errors[0].ename}")
    assert not strays


def test_no_traceback_on_a_page_outside_raises_exception_cells(site):
    strays = []
    for page in site.glob("chapters/*.html"):
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for traceback in soup.select(".output.traceback"):
            cell = traceback.find_parent(class_="cell")
            if cell is None or "tag_raises-exception" not in cell.get("class", []):
                strays.append(page.name)
    assert not strays


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_meets_the_standard(source):
    """At least five executed cells with output, 800 words of prose, a closing checklist."""
    notebook = executed_notebook(source)
    with_output = [c for c in notebook.cells if c.cell_type == "code" and c.get("outputs")]
    assert len(with_output) >= 5, f"only {len(with_output)} code cells with output"
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    prose = re.sub(r"```.*?```", " ", prose, flags=re.S)
    assert len(WORD.findall(prose)) >= 800, "fewer than 800 words of prose"
    headings = re.findall(r"^#{2,3} (.+)$", prose, flags=re.M)
    assert headings and re.search(r"checklist|summary", headings[-1], re.I), headings[-1:]


def test_execution_status_page_lists_every_chapter(site):
    soup = BeautifulSoup((site / "book" / "execution-status.html").read_text(), "html.parser")
    table = soup.find("table")
    assert table is not None, "the nb-exec-table is missing"
    rows = table.get_text(" ")
    for source in CHAPTERS:
        assert source.stem in rows
    assert "❌" not in rows


# Lines that are high-entropy by nature, never secrets: embedded images and the
# 32-hex-digit model ids of saved ipywidgets state. Everything else is scanned.
NOT_SECRETS = [
    r'"image/(png|jpeg|gif)": "',
    r"application/vnd\.jupyter\.widget-state\+json",
    r'^\s*"([0-9a-f]{32})": \{$',
    r'"(model_id|layout|style)": "(IPY_MODEL_)?[0-9a-f]{32}"',
    r'"IPY_MODEL_[0-9a-f]{32}"',
]


def test_published_site_passes_the_secret_scan(site):
    """detect-secrets over every page, source and executed notebook we publish."""
    targets = [str(p) for p in site.rglob("*.html") if "lite" not in p.relative_to(site).parts[:1]]
    targets += [str(p) for p in site.glob("_sources/**/*") if p.is_file()]
    targets += [str(p) for p in EXECUTED.rglob("*.ipynb")]
    scan = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "--all-files",
         *(arg for line in NOT_SECRETS for arg in ("--exclude-lines", line)), *targets],
        capture_output=True, text=True, check=True,
    )
    findings = json.loads(scan.stdout)["results"]
    assert findings == {}, json.dumps(findings, indent=1)[:2000]
