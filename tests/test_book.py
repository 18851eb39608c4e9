"""The built book holds what the toc promises, to the chapter standard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

import bookinfo
from check_chapter import naming_problems, standard_problems
from conftest import EXECUTED, ROOT, chapter_sources, toc_docnames

CHAPTERS = chapter_sources()  # from _toc.yml, in toc order


def executed_notebook(source: Path) -> nbformat.NotebookNode:
    path = EXECUTED / source.relative_to(ROOT).with_suffix(".ipynb")
    assert path.is_file(), f"{path} missing: was the book built?"
    return nbformat.read(path, as_version=4)


def test_chapters_are_numbered_in_toc_order_and_all_in_the_toc():
    assert CHAPTERS, "_toc.yml names no chapter"
    assert naming_problems(ROOT) == []


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_reads_as_a_myst_notebook_and_declares_python3(source):
    notebook = bookinfo.read_notebook(source, ROOT).notebook
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
    assert standard_problems(executed_notebook(source)) == []


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
