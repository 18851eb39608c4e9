"""Execute the book's notebooks into jupyter-cache, in parallel, before Sphinx runs.

myst-nb in ``cache`` mode executes a notebook during Sphinx's read phase, one
at a time, and a failed page can be skipped by the next incremental build.
This step runs first instead:

* it reads every toc entry exactly as myst-nb does, so the cache keys match
  and Sphinx later renders from the cache without executing anything;
* it executes only the notebooks whose code changed, across all cores;
* a notebook that failed last time has no cache record, so it is executed
  (and fails) again on every build until it is fixed;
* it names the file, the cell and its line on any failure, with the traceback;
* it prunes cache records that no current notebook matches.

Usage: python book/tools/execute.py [BOOK_DIR]  (exit status 1 on any failure)
"""

from __future__ import annotations

import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook
from myst_parser.config.main import MdParserConfig
from sphinx_external_toc.parsing import parse_toc_yaml

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
SOURCE_SUFFIXES = (".md", ".ipynb")


@dataclass
class Settings:
    cache_path: Path
    timeout: int
    allow_errors: bool
    myst_extensions: set[str]


def read_settings(book: Path) -> Settings:
    """The execute: block of _config.yml, with jupyter-book's defaults."""
    config = yaml.safe_load((book / "_config.yml").read_text()) or {}
    execute = config.get("execute", {})
    return Settings(
        cache_path=book / (execute.get("cache") or "_build/.jupyter_cache"),
        timeout=int(execute.get("timeout", 30)),
        allow_errors=bool(execute.get("allow_errors", False)),
        myst_extensions=set((config.get("parse") or {}).get("myst_enable_extensions") or []),
    )


def toc_sources(book: Path) -> list[Path]:
    """Every file the toc names, failing clearly on an entry with no file."""
    site_map = parse_toc_yaml(book / "_toc.yml")
    sources, missing = [], []
    for docname in site_map:
        found = [book / f"{docname}{s}" for s in SOURCE_SUFFIXES if (book / f"{docname}{s}").is_file()]
        if found:
            sources.append(found[0])
        else:
            missing.append(docname)
    if missing:
        names = ", ".join(missing)
        raise SystemExit(f"ERROR: _toc.yml names {names}, but no such .md or .ipynb file exists.")
    return sources


def read_notebook(path: Path, settings: Settings) -> nbformat.NotebookNode | None:
    """Read a source as myst-nb does, with the book's MyST extensions; None for plain pages."""
    text = path.read_text(encoding="utf8")
    if path.suffix == ".ipynb":
        return nbformat.reads(text, as_version=4)
    if not is_myst_markdown_notebook(text):
        return None
    config = MdParserConfig(enable_extensions=settings.myst_extensions)
    return read_myst_markdown_notebook(text, config=config, add_source_map=True, path=path)


def execute_one(path: Path, notebook, settings: Settings):
    """Run in a worker process: execute one notebook with its folder as cwd."""
    result = single_nb_execution(
        notebook,
        cwd=str(path.parent),
        timeout=settings.timeout,
        allow_errors=settings.allow_errors,
        meta_override=True,
        # ipykernel warns on every start that it uses TCP; keep the build log readable.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    error = None
    if result.err is not None:
        error = describe_failure(path, result.nb, result.err)
    return result.nb, result.time, error


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


def main(book: Path) -> int:
    book = book.resolve()
    settings = read_settings(book)
    settings.cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = get_cache(str(settings.cache_path))

    notebooks = {}
    for path in toc_sources(book):
        notebook = read_notebook(path, settings)
        if notebook is not None:
            notebooks[path] = notebook

    current_records, stale = set(), []
    for path, notebook in notebooks.items():
        try:
            current_records.add(cache.match_cache_notebook(notebook).pk)
        except KeyError:
            stale.append(path)

    failures = []
    if stale:
        workers = min(len(stale), os.cpu_count() or 1)
        print(f"Executing {len(stale)} notebook(s) on {workers} worker(s): "
              + ", ".join(p.name for p in stale), flush=True)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {path: pool.submit(execute_one, path, notebooks[path], settings) for path in stale}
            for path, future in futures.items():
                executed, seconds, error = future.result()
                relative = path.relative_to(book)
                if error:
                    failures.append(error.replace(str(path), str(relative)))
                    print(f"  FAILED   {relative} after {seconds:.1f} s", flush=True)
                    continue
                record = cache.cache_notebook_bundle(
                    CacheBundleIn(executed, str(path), data={"execution_seconds": seconds}),
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
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    status = main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
    print(f"Execution step took {time.perf_counter() - start:.1f} s", flush=True)
    sys.exit(status)
