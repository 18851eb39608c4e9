"""Check one chapter the way the build and CI will, without touching _build.

    .venv/bin/python book/tools/check_chapter.py chapters/05-magic-commands.md

Executes the chapter in its own folder (as the build does), then in a scratch
copy: reports run time, prose words, code cells with output and any error
output outside a raises-exception cell; runs nbval (full mode, sanitized) on
the executed notebook twice; scans it with detect-secrets. Exit status 1 on any
problem. For authors: the full-book check is `make book`.
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
from execute import execute_one, read_notebook, read_settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SANITIZE = ROOT / "tests" / "nbval-sanitize.cfg"
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


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


def main(chapter: Path) -> int:
    chapter = chapter.resolve()
    settings = read_settings(ROOT)
    notebook = read_notebook(chapter, settings)
    executed, seconds, error = execute_one(chapter, notebook, settings)
    if error:
        print(error)
        return 1
    problems = []
    code = [c for c in executed.cells if c.cell_type == "code"]
    with_output = [c for c in code if c.get("outputs")]
    print(f"{chapter.name}: ran in {seconds:.1f} s; {prose_words(executed)} words of prose; "
          f"{len(code)} code cells, {len(with_output)} with output")
    if stray_errors(executed):
        problems.append(f"error output outside raises-exception in cells {stray_errors(executed)}")

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
