"""Build the book: execute, render, publish. `make book` runs this.

1. conf.py is generated from _config.yml (only when _config.yml changed).
2. execute.py runs every changed notebook into jupyter-cache, in parallel.
3. sphinx-build renders into a staging folder, warnings as errors, while
   lite.py builds the JupyterLite site beside it (only when its inputs changed).
4. Only a build that fully succeeded is copied into _build/html and
   _build/jupyter_execute, so nothing half-built is ever published.

Usage: python book/tools/build.py [BOOK_DIR]
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

TOOLS = Path(__file__).resolve().parent


def run(*command: str, cwd: Path, env: dict | None = None) -> None:
    print("$", " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=cwd, env=env)
    if completed.returncode != 0:
        raise SystemExit(completed.returncode)


def generate_conf(book: Path) -> None:
    conf, config = book / "conf.py", book / "_config.yml"
    if conf.exists() and conf.stat().st_mtime >= config.stat().st_mtime:
        return
    run(str(Path(sys.executable).parent / "jupyter-book"), "config", "sphinx", str(book), cwd=book)


def sphinx_env(book: Path) -> dict:
    """jupyter-book's generated conf.py forgets local_extensions' sys.path entries."""
    config = yaml.safe_load((book / "_config.yml").read_text()) or {}
    local = (config.get("sphinx") or {}).get("local_extensions") or {}
    paths = [str(book / p) for p in local.values()]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).strip(os.pathsep)
    return env


def sync_tree(source: Path, target: Path) -> int:
    """Make target a copy of source, touching only files that differ."""
    copied = 0
    target.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        wanted.add(relative)
        destination = target / relative
        if path.is_dir():
            destination.mkdir(exist_ok=True)
        elif not destination.exists() or not filecmp.cmp(path, destination, shallow=False):
            shutil.copy2(path, destination)
            copied += 1
    for path in sorted(target.rglob("*"), reverse=True):
        if path.relative_to(target) not in wanted:
            path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
    return copied


def prune_stale_pages(book: Path, html: Path) -> None:
    """Sphinx never deletes the page of a document that left the book; we do."""
    from sphinx_external_toc.parsing import parse_toc_yaml

    # 404: the not-found page book/_ext/seo.py writes.
    keep = set(parse_toc_yaml(book / "_toc.yml")) | {"genindex", "search", "index", "404"}
    for page in html.rglob("*.html"):
        relative = page.relative_to(html)
        if relative.parts[0].startswith("_") or relative.parts[0] == "lite":
            continue
        if str(relative.with_suffix("")) not in keep:
            page.unlink()


def copy_chapter_files(book: Path, executed: Path) -> None:
    """Put the files chapters read beside the executed notebooks, as in chapters/."""
    source = book / "chapters"
    if not source.is_dir():
        return
    for path in source.rglob("*"):
        if path.is_file() and path.suffix != ".md" and "__pycache__" not in path.parts:
            destination = executed / "chapters" / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def main(book: Path) -> int:
    book = book.resolve()
    build = book / "_build"
    staging = build / ".site"
    started = time.perf_counter()

    generate_conf(book)
    # The JupyterLite site needs only the chapter sources, so it builds while the
    # chapters execute. It lands in the staging output, to be published with the
    # rest or not at all; lite.py skips all work when none of its inputs changed.
    # HANDBOOK_LITE=off (the fault-fixture tests) builds no Lite site at all.
    lite_command = [sys.executable, str(TOOLS / "lite.py"), str(book), str(staging / "html" / "lite")]
    if os.environ.get("HANDBOOK_LITE") == "off":
        lite_command = ["true"]
    print("$", " ".join(lite_command), "(in the background)", flush=True)
    lite = subprocess.Popen(lite_command, cwd=book)
    try:
        run(sys.executable, str(TOOLS / "execute.py"), str(book), cwd=book)
        run(
            sys.executable, "-m", "sphinx", "-b", "html",
            "-n", "-W", "--keep-going",  # every warning fails the build, all reported at once
            "-d", str(staging / "doctrees"),
            str(book), str(staging / "html"),
            cwd=book,
            env=sphinx_env(book),
        )
    except SystemExit:
        lite.terminate()
        lite.wait()
        raise
    if lite.wait() != 0:
        raise SystemExit("ERROR: the JupyterLite build failed (see [lite] lines above); the site was not updated.")
    prune_stale_pages(book, staging / "html")
    copy_chapter_files(book, staging / "jupyter_execute")
    copied = sync_tree(staging / "html", build / "html")
    copied += sync_tree(staging / "jupyter_execute", build / "jupyter_execute")
    print(f"Published _build/html ({copied} files changed) in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
