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

import hashlib
import json
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


def sync_notebooks_folder(book: Path, wanted: dict[Path, bytes | Path | None]) -> int:
    """Make the notebooks folder hold exactly `wanted` (relative path -> bytes, a
    file to copy, or None to keep the file there), rewriting only what differs.
    Returns the number of files written."""
    target = bookinfo.notebooks_dir(book)
    written = 0
    for relative, content in wanted.items():
        destination = target / relative
        if content is None:
            continue
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
        sources = bookinfo.sources(book)
        cache_path = Path(settings.execution_cache_path)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache = get_cache(str(cache_path))
        # A source whose bytes, settings and cache record are as last time was read,
        # matched and published then: skip it (a prose edit reads one chapter).
        state_file, config_digest = state_path(book), settings_digest(book)
        previous = load_state(state_file, config_digest)
        records = {record.pk for record in cache.list_cache_records()}
        published = bookinfo.notebooks_dir(book)
        unchanged, notebooks, digests = {}, [], {}
        for path in sources:
            relative = path.relative_to(book).as_posix()
            digests[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
            entry = previous.get(relative)
            if entry and entry["source"] == digests[relative] and (
                    entry["pk"] is None or (entry["pk"] in records
                                            and (published / relative).with_suffix(".ipynb").is_file())):
                unchanged[relative] = entry["pk"]
                continue
            item = bookinfo.read_notebook(path, book)
            if item is None:
                unchanged[relative] = None  # a plain page
            else:
                notebooks.append(item)
    except bookinfo.BookError as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 1

    current_records = {pk for pk in unchanged.values() if pk is not None}
    stale, matched = [], {}
    for item in notebooks:
        try:
            matched[item.path] = cache.match_cache_notebook(item.notebook).pk
        except KeyError:
            stale.append(item)
    current_records.update(matched.values())

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
            matched[item.path] = record.pk
            print(f"  executed {relative} in {seconds:.1f} s", flush=True)
    else:
        count = len(notebooks) + sum(pk is not None for pk in unchanged.values())
        print(f"All {count} notebooks are cached; nothing to execute.", flush=True)

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
    wanted: dict[Path, bytes | Path | None] = {}
    for relative, pk in unchanged.items():
        if pk is not None and relative.startswith(bookinfo.CHAPTERS + "/"):
            wanted[Path(relative).with_suffix(".ipynb")] = None  # published last time, still right
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
    state = {relative: {"source": digests[relative], "pk": pk} for relative, pk in unchanged.items()}
    for item in notebooks:
        relative = item.path.relative_to(book).as_posix()
        state[relative] = {"source": digests[relative], "pk": matched[item.path]}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"settings": config_digest, "sources": state}, indent=1))
    return 0


def state_path(book: Path) -> Path:
    return Path(book) / bookinfo.STAGING / "execute-state.json"


def settings_digest(book: Path) -> str:
    """Everything besides a source's bytes that decides how it is read and run."""
    config = json.dumps(bookinfo.sphinx_config(book), sort_keys=True, default=str)
    code = (Path(__file__).read_bytes() + Path(bookinfo.__file__).read_bytes()).decode()
    return hashlib.sha256((config + code).encode()).hexdigest()


def load_state(path: Path, digest: str) -> dict:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state.get("sources", {}) if state.get("settings") == digest else {}


if __name__ == "__main__":
    start = time.perf_counter()
    status = main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
    print(f"Execution step took {time.perf_counter() - start:.1f} s", flush=True)
    sys.exit(status)
