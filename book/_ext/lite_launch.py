"""Sphinx extension: "Launch in JupyterLite" and "Download executed notebook" links.

On every HTML page whose docname starts with ``chapters/`` it puts, above the
page content, two plain ``<a>`` elements:

* **Launch in JupyterLite · N of M cells run in your browser** ->
  ``<rel>/lite/notebooks/index.html?path=chapters/NN-slug.ipynb`` (N and M from
  ``count_cells`` in book/tools/lite.py, the same numbers lite.py writes to its manifest);
  (a relative URL, so the site can live under any sub-path; the Lite site itself
  is built by book/tools/lite.py into ``<outdir>/lite``);
* **Download executed notebook (.ipynb)** -> ``<rel>/_notebooks/chapters/NN-slug.ipynb``.

The executed notebooks are written to ``<outdir>/_notebooks/`` by
book/tools/execute.py before Sphinx runs; at build-finished this extension
warns about any that is missing, and writes its small stylesheet to ``<outdir>/_static/``. Nothing is loaded
from another host.

Config (conf.py / _config.yml ``sphinx.config``):
    lite_launch_prefix = "chapters/"   # docnames that get the links
    lite_launch_app = "notebooks"      # Lite app: "notebooks" or "lab"
    lite_launch_dir = "lite"           # where lite.py writes the site, relative to outdir
"""

from __future__ import annotations

import functools
import html
import importlib.util
import shutil
from pathlib import Path
from urllib.parse import quote

from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

NOTEBOOKS_DIR = "_notebooks"
CSS_NAME = "lite_launch.css"
CSS = """\
.handbook-lite-launch { display: flex; flex-wrap: wrap; gap: .5rem; margin: 0 0 1.25rem; }
.handbook-lite-launch a {
  display: inline-block; padding: .35rem .8rem; border-radius: .3rem;
  border: 1px solid var(--pst-color-primary, #0a6ebd); font-weight: 600;
  text-decoration: none; line-height: 1.4;
}
.handbook-lite-launch a.handbook-lite-launch__run {
  background: var(--pst-color-primary, #0a6ebd); color: var(--pst-color-background, #fff);
}
.handbook-lite-launch a.handbook-lite-launch__run:hover { filter: brightness(1.1); }
.handbook-lite-launch a:focus-visible { outline: 3px solid var(--pst-color-accent, #c2185b); outline-offset: 2px; }
@media print { .handbook-lite-launch { display: none; } }
"""


@functools.lru_cache(maxsize=1)
def _lite_tool():
    """book/tools/lite.py: the one producer of the Lite cell counts."""
    path = Path(__file__).resolve().parents[1] / "tools" / "lite.py"
    spec = importlib.util.spec_from_file_location("handbook_lite_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cell_counts(app, pagename: str) -> dict:
    """{"total": M, "runnable": N} for a chapter, computed from its source (cached
    per build in the environment, so unchanged pages reuse it)."""
    cache = getattr(app.env, "handbook_lite_counts", None)
    if cache is None:
        cache = app.env.handbook_lite_counts = {}
    source = Path(app.srcdir) / f"{pagename}.md"
    key = (pagename, source.stat().st_mtime_ns if source.is_file() else 0)
    if key not in cache:
        # Read as myst-nb reads it (already loaded here; jupytext's import alone
        # costs half a second of a prose edit). test_tools checks both readers
        # give the same counts for every chapter.
        tool = _lite_tool()
        item = tool.bookinfo().read_notebook(source, Path(app.srcdir)) if source.is_file() else None
        cache[key] = tool.count_cells(source, item.notebook) if item else {"total": 0, "runnable": 0}
    return cache[key]


def _wanted(app, pagename: str) -> bool:
    return pagename.startswith(app.config.lite_launch_prefix)


def launch_html(app, pagename: str, pathto) -> str:
    notebook = f"{pagename}.ipynb"
    app_index = f"{app.config.lite_launch_dir}/{app.config.lite_launch_app}/index.html"
    launch = f"{pathto(app_index, 1)}?path={quote(notebook)}"
    download = pathto(f"{NOTEBOOKS_DIR}/{notebook}", 1)
    name = html.escape(Path(notebook).name)
    counts = cell_counts(app, pagename)
    label = (f"Launch in JupyterLite · {counts['runnable']} of {counts['total']} cells "
             "run in your browser") if counts["total"] else "Launch in JupyterLite"
    return (
        '<nav class="handbook-lite-launch" aria-label="Run or download this chapter">'
        f'<a class="handbook-lite-launch__run" href="{html.escape(launch)}" '
        'title="Opens this chapter as a notebook that runs in your browser (Pyodide)">'
        f"{html.escape(label)}</a>"
        f'<a class="handbook-lite-launch__download" href="{html.escape(download)}" '
        f'download="{name}" type="application/x-ipynb+json">'
        "Download executed notebook (.ipynb)</a>"
        "</nav>\n"
    )


def on_page_context(app, pagename, templatename, context, doctree) -> None:
    if doctree is None or app.builder.format != "html" or not _wanted(app, pagename):
        return
    if "body" not in context or "pathto" not in context:
        return
    context["body"] = launch_html(app, pagename, context["pathto"]) + context["body"]


def on_build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    static = outdir / "_static"
    static.mkdir(parents=True, exist_ok=True)
    css = static / CSS_NAME
    if not css.is_file() or css.read_text() != CSS:
        css.write_text(CSS)

    executed = outdir / NOTEBOOKS_DIR  # written there by book/tools/execute.py
    target_root = outdir / NOTEBOOKS_DIR
    copied = 0
    for docname in sorted(app.env.found_docs):
        if not _wanted(app, docname):
            continue
        source = executed / f"{docname}.ipynb"
        target = target_root / f"{docname}.ipynb"
        if source.is_file():
            if not target.is_file() or target.read_bytes() != source.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                copied += 1
        elif not target.is_file():
            logger.warning(
                "lite_launch: no executed notebook for %s (looked for %s); its "
                "'Download executed notebook' link is broken", docname, source,
                type="lite_launch", subtype="missing_notebook",
            )
    logger.info("lite_launch: %d executed notebook(s) copied to %s", copied, NOTEBOOKS_DIR)


class LiteCellDirective(SphinxDirective):
    """```{lite-cell}``` holds a code cell that only the JupyterLite copy gets.

    It stands next to a book cell that cannot run in the browser and makes the
    same point with what Pyodide has. The book page shows nothing for it, and
    it is not executed at build time (it is Markdown to myst-nb, so it does
    not change the chapter's cache key); book/tools/lite.py turns it into a
    code cell. ``:expect:`` (required) is text its output must contain, checked
    by tests/test_lite.py; ``:tags:`` passes cell tags through (e.g. raises-exception).
    """

    has_content = True
    option_spec = {"tags": directives.unchanged, "expect": directives.unchanged_required}

    def run(self):
        if not self.options.get("expect"):
            raise self.error("lite-cell needs :expect: (text its output must contain)")
        return []


def setup(app):
    app.add_directive("lite-cell", LiteCellDirective)
    app.add_config_value("lite_launch_prefix", "chapters/", "html", [str])
    app.add_config_value("lite_launch_app", "notebooks", "html", [str])
    app.add_config_value("lite_launch_dir", "lite", "html", [str])
    app.add_css_file(CSS_NAME)
    app.connect("html-page-context", on_page_context)
    app.connect("build-finished", on_build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
