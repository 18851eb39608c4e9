"""`make preview`: serve the book on 127.0.0.1 and rebuild it on every save.

sphinx-autobuild's parts watch the sources, serve _build/html and make the open
page reload after each rebuild. Its own builder starts a new interpreter for
every rebuild, which imports Sphinx, myst-nb, jupyter-cache and the theme again
each time: about half of a prose edit. Here the first build runs in this
process, so everything a build imports is imported once; every rebuild is
build.py's whole build (execute changed code, Sphinx, the Lite copy, publish)
in a process forked from this warm one, and ends with that process.

Usage: python book/tools/preview.py [BOOK_DIR] [--port PORT]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import sys
import traceback
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
import build  # noqa: E402

HOST = "127.0.0.1"
# Changes under these never change the site: the output itself, tests, bench,
# installed packages, bytecode, and conf.py, which the build writes.
IGNORED = [r"(^|/)(_build|node_modules|\.venv|tests|bench|\.git|__pycache__)/", r"(^|/)conf\.py$"]

book = Path(".")  # set by main() before any rebuild process is forked


def rebuild(changed_paths=()) -> None:
    """One rebuild, in a process sphinx-autobuild's watcher forks from this one."""
    names = ", ".join(sorted({path.name for path in changed_paths})) or "a file"
    print(f"\n[preview] {names} changed; rebuilding", flush=True)
    try:
        status = build.main(book)
    except Exception:  # the watcher stops for good if a rebuild raises
        traceback.print_exc()
        status = 1
    if status != 0:
        print("[preview] the build failed; still serving the last good build", flush=True)


def main() -> int:
    global book
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", nargs="?", default=".", type=Path)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    book = args.book.resolve()

    # Rebuilds inherit this process's imports only if they are forked, which is
    # the default on Linux but not everywhere: say so.
    multiprocessing.set_start_method("fork")
    if build.main(book) != 0:
        print("[preview] the first build failed; fix it and save to rebuild", flush=True)
    site = book / "_build" / "html"
    site.mkdir(parents=True, exist_ok=True)
    gc.collect()
    gc.freeze()  # forked rebuilds then never scan (and so copy) these objects

    import uvicorn
    from sphinx_autobuild.filter import IgnoreFilter
    from sphinx_autobuild.middleware import JavascriptInjectorMiddleware
    from sphinx_autobuild.server import RebuildServer
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    address = f"{HOST}:{args.port}"
    watcher = RebuildServer([book], IgnoreFilter([], IGNORED), change_callback=rebuild)
    app = Starlette(
        routes=[
            WebSocketRoute("/websocket-reload", watcher),
            Mount("/", app=StaticFiles(directory=site, html=True)),
        ],
        middleware=[Middleware(JavascriptInjectorMiddleware, ws_url=address)],
        lifespan=watcher.lifespan,
    )
    print(f"[preview] serving http://{address}/ ; every save rebuilds the book. Ctrl+C stops.", flush=True)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
