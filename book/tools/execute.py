"""Execute the book's notebooks before Sphinx runs: the one producer of executed notebooks.

* Every toc entry is read by bookinfo exactly as myst-nb reads it, with the
  settings jupyter-book generates (and each notebook's own `mystnb:` settings).
* Only notebooks whose code changed are executed (jupyter-cache compares the
  code, not the prose), in parallel, one process per core; the results go into
  the cache, where Sphinx (myst-nb in `cache` mode) finds them and renders
  without executing. If it ever does not find one, the build stops (handbook.py).
* Each chapter's executed notebook, with its outputs, is written once to
  _build/.site/html/_notebooks/ with the chapter files beside it: readers
  download it from there and nbval re-runs it there (published as
  _build/html/_notebooks/).
* A failure names the file, the cell and its line, with the source and the
  traceback. A notebook that failed has no cache record, so it is executed (and
  fails) again on every build until it is fixed.
* Cache records that no current notebook matches are pruned.

Usage: python book/tools/execute.py [BOOK_DIR]  (exit status 1 on any failure)
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bookinfo  # noqa: E402

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def execute_one(item: bookinfo.Notebook):
    """Execute one notebook (in a worker process) as myst-nb's cache mode would:
    same timeout and error settings, the notebook's folder as working directory."""
    import nbclient

    notebook, settings = item.notebook, item.settings
    timeout, allow_errors = settings.execution_timeout, settings.execution_allow_errors
    # jupyter-cache, which myst-nb executes through, honours these notebook keys too.
    execution = notebook.metadata.get("execution") or {}
    timeout = execution.get("timeout", timeout)
    allow_errors = execution.get("allow_errors", allow_errors)
    error = None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() if settings.execution_in_temp else _folder(item.path) as cwd:
        try:
            nbclient.execute(
                notebook, cwd=cwd, timeout=timeout, allow_errors=allow_errors, record_timing=False,
                # ipykernel warns on every start that it uses TCP; keep the build log readable.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        except Exception as err:  # CellExecutionError, CellTimeoutError, DeadKernelError, ...
            error = describe_failure(item.path, notebook, err)
    return notebook, time.perf_counter() - started, error


class _folder:
    def __init__(self, path: Path):
        self.path = str(path.parent)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        return False


def describe_failure(path: Path, notebook, err: Exception) -> str:
    """Name the file, the cell and its line, then show the source and traceback."""
    code_cells = [
        (index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
    ]
    # Execution stops at the failing cell, so it is the last one that started.
    started = [(i, c) for i, c in code_cells if c.get("execution_count") is not None]
    index, cell = started[-1] if started else code_cells[0]
    source_map = notebook.metadata.get("source_map") or []
    line = f":{source_map[index] + 1}" if index < len(source_map) else ""
    kind = type(err).__name__
    detail = ANSI_ESCAPE.sub("", str(err)).strip()
    if kind == "CellTimeoutError":
        detail = f"{detail}\n\nThe cell was still running:\n{cell.source}"
    return (
        f"ERROR: {path}{line}: cell {index + 1} failed ({kind}).\n"
        f"An error is allowed only in a cell tagged raises-exception.\n\n{detail}\n"
    )


def publishable(notebook):
    """The executed notebook as readers get it: stable cell ids, no reader internals."""
    import nbformat

    notebook = nbformat.from_dict(notebook)
    notebook.metadata.pop("source_map", None)
    notebook.nbformat, notebook.nbformat_minor = 4, max(5, notebook.get("nbformat_minor", 5))
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"
    return nbformat.writes(notebook).encode("utf-8")


def write_if_changed(path: Path, content: bytes) -> bool:
    if path.is_file() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def sync_notebooks_folder(book: Path, wanted: dict[Path, bytes | Path]) -> int:
    """Make the notebooks folder hold exactly `wanted` (relative path -> bytes or a
    file to copy), rewriting only what differs. Returns the number of files written."""
    target = bookinfo.notebooks_dir(book)
    written = 0
    for relative, content in wanted.items():
        destination = target / relative
        if isinstance(content, bytes):
            written += write_if_changed(destination, content)
            continue
        if destination.is_file():
            here, there = content.stat(), destination.stat()
            if here.st_size == there.st_size and here.st_mtime_ns == there.st_mtime_ns:
                continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(content, destination)
        written += 1
    if target.is_dir():
        for path in sorted(target.rglob("*"), reverse=True):
            relative = path.relative_to(target)
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            elif relative not in wanted:
                path.unlink()
    return written


def main(book: Path) -> int:
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    book = book.resolve()
    try:
        settings = bookinfo.execution_settings(book)
        if settings.execution_mode != "cache":
            raise bookinfo.BookError(
                f"_config.yml: execute.execute_notebooks is {settings.execution_mode!r}; the build "
                "executes every notebook itself and needs 'cache', so Sphinx only renders."
            )
        notebooks = [n for n in map(lambda p: bookinfo.read_notebook(p, book), bookinfo.sources(book)) if n]
    except bookinfo.BookError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    cache_path = Path(settings.execution_cache_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = get_cache(str(cache_path))

    current_records, stale = set(), []
    for item in notebooks:
        try:
            current_records.add(cache.match_cache_notebook(item.notebook).pk)
        except KeyError:
            stale.append(item)

    failures = []
    if stale:
        workers = min(len(stale), os.cpu_count() or 1)
        print(f"Executing {len(stale)} notebook(s) on {workers} worker(s): "
              + ", ".join(item.path.name for item in stale), flush=True)
        if workers == 1:
            results = [execute_one(item) for item in stale]
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(execute_one, stale))
        for item, (executed, seconds, error) in zip(stale, results, strict=True):
            relative = item.path.relative_to(book)
            if error:
                failures.append(error.replace(str(item.path), str(relative)))
                print(f"  FAILED   {relative} after {seconds:.1f} s", flush=True)
                continue
            record = cache.cache_notebook_bundle(
                CacheBundleIn(executed, str(item.path), data={"execution_seconds": seconds}),
                check_validity=False,
                overwrite=True,
            )
            current_records.add(record.pk)
            print(f"  executed {relative} in {seconds:.1f} s", flush=True)
    else:
        print(f"All {len(notebooks)} notebooks are cached; nothing to execute.", flush=True)

    # Prune what no current notebook matches, so the cache does not grow forever.
    for record in cache.list_cache_records():
        if record.pk not in current_records:
            cache.remove_cache(record.pk)

    for message in failures:
        print(message, file=sys.stderr, flush=True)
    if failures:
        print(f"ERROR: {len(failures)} notebook(s) failed to execute; the site was not updated.",
              file=sys.stderr)
        return 1

    # The executed notebooks (from the cache: the outputs Sphinx renders), with
    # the files they read beside them, where readers download them.
    wanted: dict[Path, bytes | Path] = {}
    for item in notebooks:
        if item.path.relative_to(book).parts[0] != bookinfo.CHAPTERS:
            continue
        _, merged = cache.merge_match_into_notebook(item.notebook)
        wanted[item.path.relative_to(book).with_suffix(".ipynb")] = publishable(merged)
    for path in bookinfo.chapter_files(book):
        wanted[path.relative_to(book)] = path
    written = sync_notebooks_folder(book, wanted)
    if written:
        print(f"Wrote {written} file(s) to {bookinfo.notebooks_dir(book).relative_to(book)}", flush=True)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    status = main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
    print(f"Execution step took {time.perf_counter() - start:.1f} s", flush=True)
    sys.exit(status)
