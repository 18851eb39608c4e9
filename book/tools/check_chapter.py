"""Check one chapter the way the build and CI will, without touching _build.

    .venv/bin/python book/tools/check_chapter.py chapters/05-magic-commands.md

Executes the chapter in its own folder (as the build does), then in a scratch
copy: reports run time, prose words and code cells with output, and checks the
chapter standard (standard_problems: five executed cells with output, 800 words
of prose, no error outside a raises-exception cell, a closing checklist; a
chapters/NN-slug.md name in toc order); runs nbval (full mode, sanitized) on
the executed notebook twice; scans it with detect-secrets. Exit status 1 on any
problem. The tests apply the same standard_problems() to every built chapter.
For authors: the full-book check is `make book`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bookinfo  # noqa: E402
from execute import execute_one  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SANITIZE = ROOT / "tests" / "nbval-sanitize.cfg"
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
CHAPTER_NAME = re.compile(r"^(\d\d)-[a-z0-9-]+\.md$")
MIN_CELLS_WITH_OUTPUT = 5
MIN_PROSE_WORDS = 800


def prose_words(notebook) -> int:
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    text = re.sub(r"```.*?```", " ", text, flags=re.S)  # fenced code is not prose
    return len(WORD.findall(text))


def stray_errors(notebook) -> list[int]:
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            found.append(index + 1)
    return found


def standard_problems(notebook) -> list[str]:
    """What keeps an executed chapter notebook from the chapter standard (empty: none)."""
    problems = []
    with_output = [c for c in notebook.cells if c.cell_type == "code" and c.get("outputs")]
    if len(with_output) < MIN_CELLS_WITH_OUTPUT:
        problems.append(f"only {len(with_output)} code cells with output (at least {MIN_CELLS_WITH_OUTPUT})")
    words = prose_words(notebook)
    if words < MIN_PROSE_WORDS:
        problems.append(f"{words} words of prose (at least {MIN_PROSE_WORDS})")
    if stray_errors(notebook):
        problems.append(f"error output outside raises-exception in cells {stray_errors(notebook)}")
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    headings = re.findall(r"^#{2,3} (.+)$", re.sub(r"```.*?```", " ", prose, flags=re.S), flags=re.M)
    if not headings or not re.search(r"checklist|summary", headings[-1], re.I):
        problems.append(f"the last section is {headings[-1:] or 'missing'}, not a checklist")
    return problems


def naming_problems(book: Path) -> list[str]:
    """Chapters are chapters/NN-slug.md, numbered 01, 02, ... in toc order, all in the toc."""
    names = [path.name for path in bookinfo.chapters(book)]
    problems = [f"{name} is not named NN-slug.md" for name in names if not CHAPTER_NAME.match(name)]
    numbers = [int(name[:2]) for name in names if CHAPTER_NAME.match(name)]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"chapters are numbered {numbers} in toc order, not 1 to {len(numbers)}")
    on_disk = {p.name for p in (Path(book) / bookinfo.CHAPTERS).glob("*.md")}
    problems += [f"chapters/{name} is not in _toc.yml" for name in sorted(on_disk - set(names))]
    return problems


def main(chapter: Path) -> int:
    chapter = chapter.resolve()
    book = bookinfo.find_book(chapter)
    try:
        item = bookinfo.read_notebook(chapter, book)
    except bookinfo.BookError as error:
        print(f"ERROR: {error}")
        return 1
    executed, seconds, error = execute_one(item)
    if error:
        print(error)
        return 1
    code = [c for c in executed.cells if c.cell_type == "code"]
    with_output = [c for c in code if c.get("outputs")]
    print(f"{chapter.name}: ran in {seconds:.1f} s; {prose_words(executed)} words of prose; "
          f"{len(code)} code cells, {len(with_output)} with output")
    problems = standard_problems(executed)
    if chapter in bookinfo.chapters(book):
        problems += [p for p in naming_problems(book) if chapter.name in p or "numbered" in p]
    else:
        problems.append(f"{chapter.relative_to(book)} is not in _toc.yml")

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "chapters"
        shutil.copytree(chapter.parent, work, ignore=shutil.ignore_patterns("*.md", "__pycache__"))
        target = work / (chapter.stem + ".ipynb")
        executed.metadata.pop("source_map", None)
        nbformat.write(executed, target)
        for attempt in (1, 2):
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                 f"--nbval-sanitize-with={SANITIZE}", "--nbval-cell-timeout=120", str(target)],
                cwd=work, capture_output=True, text=True,
            )
            tail = "\n".join(result.stdout.strip().splitlines()[-60:])
            print(f"nbval run {attempt}: {'passed' if result.returncode == 0 else 'FAILED'}")
            if result.returncode != 0:
                print(tail)
                problems.append(f"nbval run {attempt} failed")
                break
        scan = subprocess.run(
            [sys.executable, "-m", "detect_secrets", "scan", "--all-files", str(target)],
            capture_output=True, text=True,
        )
        findings = json.loads(scan.stdout or "{}").get("results", {})
        if findings:
            problems.append(f"detect-secrets found: {json.dumps(findings)[:500]}")
    for problem in problems:
        print("PROBLEM:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
