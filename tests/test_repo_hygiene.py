"""The handbook practises what it preaches: lint, spelling, stripped notebooks, no leftovers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil

from conftest import ROOT

BIN = Path(sys.executable).parent


def test_ruff_passes():
    result = subprocess.run([BIN / "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_codespell_passes():
    result = subprocess.run([BIN / "codespell"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


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
