"""The handbook practises what it preaches: lint, spelling, stripped notebooks, no leftovers."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import yaml

from conftest import ROOT

BIN = Path(sys.executable).parent


def test_ruff_passes():
    result = subprocess.run([BIN / "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_codespell_passes():
    result = subprocess.run([BIN / "codespell"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def chapter_format_hook() -> list[str]:
    """The pre-commit hook that checks chapter code layout, as an argv (run from the book root)."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    (hook,) = [h for h in hooks if h["id"] == "chapter-code-format"]
    return shlex.split(hook["entry"].replace(".venv/bin/", f"{BIN}/"))


def test_chapter_code_layout_is_checked_by_ruff_through_jupytext(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "chapters" / "ruff.toml").write_text((ROOT / "chapters" / "ruff.toml").read_text())
    header = (ROOT / "chapters" / "02-when-to-use-jupyter.md").read_text().split("\n---\n")[0]
    chapter = tmp_path / "chapters" / "01-x.md"
    cells = "```{code-cell} ipython3\n%%time\nwith open('f') as f:\n    %ls\n```\n"
    chapter.write_text(f"{header}\n---\n\n# X\n\n{cells}")
    assert subprocess.run([*chapter_format_hook(), str(chapter)], cwd=tmp_path).returncode == 1
    chapter.write_text(f"{header}\n---\n\n# X\n\n{cells.replace(chr(39), chr(34))}")
    result = subprocess.run([*chapter_format_hook(), str(chapter)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr  # magics inside a block are understood


def test_sample_notebooks_are_committed_without_outputs():
    with_outputs = []
    for path in (ROOT / "chapters").rglob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        if any(cell.get("outputs") or cell.get("execution_count") for cell in notebook.cells):
            with_outputs.append(str(path.relative_to(ROOT)))
    assert not with_outputs, "strip them with nbstripout"


def test_the_build_left_no_server_or_kernel_running():
    """Chapters start Jupyter servers, Voila and kernels; all must be gone after the build."""
    ours = {p.pid for p in psutil.Process().children(recursive=True)} | {psutil.Process().pid}
    leftovers = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["pid"] in ours or str(ROOT / ".venv") not in cmdline:
            continue
        if any(name in cmdline for name in ("jupyter-server", "jupyter server", "voila", "ipykernel_launcher")):
            leftovers.append(cmdline[:200])
    assert not leftovers, "\n".join(leftovers)


def test_no_private_imports_or_patches_of_sphinx_myst_nb_or_jupyter_cache():
    """Our tools and extensions use public APIs only, and patch nothing."""
    private = re.compile(r"^\s*(from|import)\s+(sphinx|myst_nb|myst_parser|jupyter_cache|jupyter_book)"
                         r"(\.\w+)*\._\w*|import\s+_\w+", re.M)
    offenders = []
    for path in sorted((ROOT / "book").rglob("*.py")):
        text = path.read_text()
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0).strip()}" for m in private.finditer(text)]
        if re.search(r"\.start_client\s*=|NotebookClientCache", text):
            offenders.append(f"{path.relative_to(ROOT)}: patches myst-nb's execution client")
    assert not offenders, "\n".join(offenders)
