"""README's "Adding a chapter", followed to the letter in a copy of the book:
one new file and one toc line, then the build and the chapter standard accept it.
Marked `build` (it builds the copied book; the real cache is copied too, so only
the new chapter executes)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import bookinfo
from check_chapter import naming_problems
from conftest import ROOT

README_STEPS = re.compile(r"## Adding a chapter\n(.*?)\n## ", re.S)


def new_chapter(number: int) -> str:
    """Step 1: start from an existing chapter's front matter, a label, the heading,
    executed code cells and a closing checklist."""
    template = (ROOT / "chapters" / "01-what-is-jupyter.md").read_text()
    front_matter = template[: template.index("\n---", 3) + 4]
    paragraph = ("A maintainer who adds a chapter writes prose for readers first, then small "
                 "cells that prove each claim against the real package, so the page and the "
                 "notebook say the same thing every time the book is built. ") * 4
    sections = []
    for index in range(1, 6):
        sections.append(f"## Step {index}\n\n{paragraph}\n\n```{{code-cell}} ipython3\n"
                        f"squares = [n * n for n in range({index + 2})]\nprint(squares)\n```\n")
    return (f"{front_matter}\n\n(ch-your-topic)=\n# {number}. Your Topic\n\n{paragraph}\n\n"
            + "\n".join(sections)
            + "\n## Checklist\n\n- The chapter builds.\n- Every claim has a cell.\n")


def test_readme_steps_add_a_chapter_that_builds_and_meets_the_standard(tmp_path):
    steps = README_STEPS.search((ROOT / "README.md").read_text()).group(1)
    number = len(bookinfo.chapters(ROOT)) + 1
    name = f"{number:02d}-your-topic"
    assert f"chapters/{name}.md" in steps.replace("16-your-topic", name)
    assert "- file: chapters/16-your-topic" in steps

    book = tmp_path / "book"
    book.mkdir()
    for item in ("_config.yml", "_toc.yml", "chapters", "book"):
        copy = shutil.copytree if (ROOT / item).is_dir() else shutil.copy2
        copy(ROOT / item, book / item, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                          if (ROOT / item).is_dir() else {}))
    (book / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "nbval-sanitize.cfg", book / "tests")
    (book / "node_modules").symlink_to(ROOT / "node_modules")
    cache = ROOT / bookinfo.execution_settings(ROOT).execution_cache_path
    if cache.is_dir():  # the fifteen chapters need not run again
        shutil.copytree(cache, book / cache.relative_to(ROOT))

    # Step 1: one file. Step 2: one toc line, with the chapters before it.
    (book / "chapters" / f"{name}.md").write_text(new_chapter(number))
    toc = (book / "_toc.yml").read_text()
    last = bookinfo.chapter_docnames(ROOT)[-1]
    line = next(line for line in toc.splitlines() if line.strip() == f"- file: {last}")
    indent = line[: len(line) - len(line.lstrip())]
    (book / "_toc.yml").write_text(toc.replace(line + "\n", f"{line}\n{indent}- file: chapters/{name}\n", 1))

    assert bookinfo.chapter_docnames(book)[-1] == f"chapters/{name}"
    assert naming_problems(book) == []

    env = {**os.environ, "HANDBOOK_LITE": "off"}
    built = subprocess.run([sys.executable, str(book / "book" / "tools" / "build.py"), str(book)],
                           capture_output=True, text=True, env=env, timeout=1200)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    executing = next(line for line in built.stdout.splitlines() if line.startswith("Executing "))
    assert f"{name}.md" in executing
    assert (book / "_build" / "html" / "chapters" / f"{name}.html").is_file()
    assert (book / "_build" / "html" / "_notebooks" / "chapters" / f"{name}.ipynb").is_file()

    checked = subprocess.run(
        [sys.executable, str(book / "book" / "tools" / "check_chapter.py"), str(book / "chapters" / f"{name}.md")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "nbval run 2: passed" in checked.stdout
    assert "PROBLEM" not in checked.stdout
