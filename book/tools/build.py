"""Build the book: execute, render, publish. `make book` runs this.

1. conf.py is written from _config.yml with jupyter-book's own config API
   (bookinfo.sphinx_config), only when its content changes; a YAML error in
   _config.yml or _toc.yml is named in one line (file:line:column: problem).
2. execute.py runs every changed notebook into jupyter-cache, in parallel, and
   writes the executed notebooks with outputs to the staged _notebooks/ folder.
3. Sphinx renders into a staging folder, warnings as errors, from the cache only
   (handbook.py stops the build if a notebook is not there), while lite.py builds
   the JupyterLite site beside it (only what changed).
4. Only a build that fully succeeded is copied into _build/html, so nothing
   half-built is ever published.

Steps 1-3 run in this one process: a prose edit pays for one interpreter and
one set of imports, not three.

Usage: python book/tools/build.py [BOOK_DIR]
(`make preview`, book/tools/preview.py, calls main() on every save.)
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
import bookinfo  # noqa: E402

bookinfo.skip_iri_format_checks()  # before anything imports jsonschema


def run(*command: str, cwd: Path, env: dict | None = None) -> None:
    print("$", " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=cwd, env=env)
    if completed.returncode != 0:
        raise SystemExit(completed.returncode)


def generate_conf(book: Path) -> bool:
    """Write conf.py when the configuration changed; True if it was written."""
    if bookinfo.current_conf(book) is not None:
        return False
    conf, text = book / "conf.py", bookinfo.conf_text(book)
    conf.write_text(text, encoding="utf8")
    print("Wrote conf.py from _config.yml", flush=True)
    return True


def local_extension_paths(book: Path) -> list[str]:
    """jupyter-book's generated conf.py leaves local_extensions' folders off sys.path."""
    config = bookinfo.load_yaml(book / "_config.yml")
    local = (config.get("sphinx") or {}).get("local_extensions") or {}
    return [str(book / p) for p in local.values()]


def sphinx_build(book: Path, staging: Path, *options: str) -> int:
    """Sphinx's own command line entry, in this process."""
    from sphinx.cmd.build import build_main

    for path in local_extension_paths(book):
        if path not in sys.path:
            sys.path.insert(0, path)
    argv = ["-b", "html", "-n", "-W", "--keep-going",  # every warning fails, all reported at once
            "-d", str(staging / "doctrees"), *options, str(book), str(staging / "html")]
    print("$ sphinx-build", " ".join(argv), flush=True)
    previous = Path.cwd()
    os.chdir(book)  # myst-nb opens the cache path relative to the working directory
    # Sphinx makes objects by the million, and the cyclic collector keeps
    # scanning them: without it a one-page rebuild takes 0.4 s less and a whole
    # Sphinx build 1 s less, for 70 MB more at the peak (190 -> 260 MB).
    gc.disable()
    try:
        return build_main(argv)
    finally:
        gc.enable()
        os.chdir(previous)


def sync_tree(source: Path, target: Path) -> int:
    """Make target a copy of source, copying only files whose size or mtime
    differ (copy2 keeps the mtime, so an unchanged file is skipped on a stat)."""
    copied = 0
    target.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        wanted.add(relative)
        destination = target / relative
        if path.is_dir():
            destination.mkdir(exist_ok=True)
            continue
        if destination.is_file():
            here, there = path.stat(), destination.stat()
            if here.st_size == there.st_size and here.st_mtime_ns == there.st_mtime_ns:
                continue
        shutil.copy2(path, destination)
        copied += 1
    for path in sorted(target.rglob("*"), reverse=True):
        if path.relative_to(target) not in wanted:
            path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
    return copied


def prune_stale_pages(book: Path, html: Path) -> None:
    """Sphinx never deletes the page of a document that left the book; we do."""
    # 404: the not-found page book/_ext/seo.py writes.
    keep = set(bookinfo.docnames(book)) | {"genindex", "search", "index", "404"}
    for page in html.rglob("*.html"):
        relative = page.relative_to(html)
        if relative.parts[0].startswith("_") or relative.parts[0] == "lite":
            continue
        if str(relative.with_suffix("")) not in keep:
            page.unlink()


def main(book: Path) -> int:
    # Kernels inherit it: debugpy's "frozen modules" warning stays off their stderr.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    book = book.resolve()
    build = book / "_build"
    staging = build / bookinfo.STAGING.name
    started = time.perf_counter()
    try:
        bookinfo.toc(book)
        generate_conf(book)
    except bookinfo.BookError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 1

    # The JupyterLite site needs only the chapter sources, so it builds while the
    # chapters execute. It lands in the staging output, to be published with the
    # rest or not at all; lite.py updates only what changed.
    # HANDBOOK_LITE=off (the fault-fixture tests) builds no Lite site at all.
    lite = None
    if os.environ.get("HANDBOOK_LITE") != "off":
        lite_command = [sys.executable, str(TOOLS / "lite.py"), str(book), str(staging / "html" / "lite")]
        print("$", " ".join(lite_command), "(in the background)", flush=True)
        lite = subprocess.Popen(lite_command, cwd=book)

    import execute

    phases = {"start": time.perf_counter() - started}
    status = execute.main(book)
    phases["execute"] = time.perf_counter() - started - sum(phases.values())
    if status == 0:
        status = sphinx_build(book, staging)
        phases["sphinx"] = time.perf_counter() - started - sum(phases.values())
    if status != 0:
        if lite is not None:
            lite.terminate()
            lite.wait()
        return status
    if lite is not None and lite.wait() != 0:
        print("ERROR: the JupyterLite build failed (see [lite] lines above); the site was not updated.",
              file=sys.stderr, flush=True)
        return 1
    phases["waiting for lite"] = time.perf_counter() - started - sum(phases.values())
    prune_stale_pages(book, staging / "html")
    copied = sync_tree(staging / "html", build / "html")
    # Before the executed notebooks moved into the site, they were published here.
    shutil.rmtree(build / "jupyter_execute", ignore_errors=True)
    phases["publish"] = time.perf_counter() - started - sum(phases.values())
    print(f"Published _build/html ({copied} files changed) in {time.perf_counter() - started:.1f} s ("
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()) + ")", flush=True)
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    status = main(Path(arguments[0] if arguments else ".").resolve())
    # On exit Python would collect and free, one by one, every object Sphinx
    # made; the OS frees the memory at once. Frozen objects are left out of
    # that (atexit handlers still run): 0.7 s of a prose edit.
    gc.freeze()
    sys.exit(status)
