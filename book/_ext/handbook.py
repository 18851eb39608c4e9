"""The handbook's own Sphinx extension: serve every front-end asset ourselves.

myst-nb loads the ipywidgets HTML manager and require.js from CDNs, and Sphinx
loads MathJax from one. We copy pinned copies from node_modules (installed by
npm from package.json) into the built site instead, and point the config at
them. They are copied into the built _static/vendor/ after the build, not
listed in html_static_path: jupyter-book injects every .js/.css it finds in the
static path into every page, while these must load only on the pages that need
them (myst-nb marks the pages with widgets, Sphinx adds MathJax only to pages
with math). Script paths given to Sphinx are relative to _static/.

It is also where the build's order and guards live, so they are in one file:

- page_changes() and after_build(): every change made to a built page, and
  every step after the build, in the order they run (page_speed.py's too);
- require_cache_hit: Sphinx renders notebooks from the cache that
  book/tools/execute.py filled, and stops rather than execute one itself;
- THEME_OVERRIDES: each template override and the theme release it follows.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

# site path -> (path inside node_modules, what to leave out)
VENDORED = {
    "_static/vendor/requirejs": ("requirejs", ["bin", "*.md", "package.json"]),
    # embed-amd.js finds its font files next to itself, so the whole dist/ goes.
    "_static/vendor/html-manager": (
        "@jupyter-widgets/html-manager/dist", ["*.map", "embed.js*", "libembed-amd.js*"],
    ),
    "_static/vendor/mathjax": (
        "mathjax/es5", ["sre", "*-full*.js", "*svg*", "mml-*", "tex-mml-*", "node-main*", "latest.js"],
    ),
}

WIDGET_SCRIPTS = {
    "vendor/requirejs/require.js": {},
    "vendor/html-manager/embed-amd.js": {},
}


def configure_assets(app: Sphinx, config) -> None:
    config.nb_ipywidgets_js = WIDGET_SCRIPTS
    # Relative to the built _static folder, as Sphinx documents for mathjax_path.
    config.mathjax_path = "vendor/mathjax/tex-chtml.js"


# ipywidgets' slider handles have role="slider" but no accessible name (axe:
# aria-input-field-name, serious). Name each after its widget's visible label.
NAME_SLIDER_HANDLES = """
new MutationObserver(() => {
  for (const handle of document.querySelectorAll('[role="slider"]:not([aria-label])')) {
    const widget = handle.closest(".widget-slider, .jupyter-widget-slider, .widget-hslider, .widget-vslider");
    const label = widget && widget.querySelector(".widget-label");
    handle.setAttribute("aria-label", (label && label.textContent.trim()) || "slider");
  }
}).observe(document.documentElement, {childList: true, subtree: true});
"""


# The widget manager is 3.6 MB of script (900 KB gzipped): fetching and parsing
# it in the page head kept a phone from painting anything for seconds. It now
# loads when the first widget output comes within a screen of the viewport.
# embed-amd.js renders the saved widgets as soon as it runs after page load.
LOAD_WIDGETS_WHEN_SEEN = """
document.addEventListener("DOMContentLoaded", () => {
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const load = () => {
    const loader = document.createElement("script");
    loader.src = %(require)s;
    loader.onload = () => {
      const manager = document.createElement("script");
      manager.src = %(manager)s;
      document.head.append(manager);
    };
    document.head.append(loader);
  };
  const watcher = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) {
      watcher.disconnect();
      load();
    }
  }, {rootMargin: "100%% 0px"});
  for (const view of views) watcher.observe(view.parentElement);
});
"""


def load_widgets_when_seen(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """myst-nb adds require.js and the widget manager to pages with saved widget
    state; we take them out and load them from LOAD_WIDGETS_WHEN_SEEN instead.

    embed-amd.js loads its fonts relative to the URL requirejs gives its module,
    by default under the page's folder (chapters/@jupyter-widgets/...: a 404).
    So the module is mapped to our copy, and the assets path it also honours is
    set."""
    scripts = context.get("script_files", [])
    # Sphinx stores script paths with the _static/ prefix we left out.
    widget_scripts = [s for s in scripts if str(s.filename or "").removeprefix("_static/") in WIDGET_SCRIPTS]
    if not widget_scripts:
        return
    scripts[:] = [s for s in scripts if s not in widget_scripts]
    folder = context["pathto"]("_static/vendor/html-manager", 1)
    # A global `require` object defined before require.js loads is its config.
    url = f"new URL({folder!r}, document.baseURI).href"
    config = (
        f"window.__jupyter_widgets_assets_path__ = {url} + '/';\n"
        f"var require = {{paths: {{'@jupyter-widgets/html-manager/dist': {url}, "
        f"'@jupyter-widgets/html-manager': {url} + '/embed-amd'}}}};"
    )
    loader = LOAD_WIDGETS_WHEN_SEEN % {
        "require": json.dumps(context["pathto"]("_static/vendor/requirejs/require.js", 1)),
        "manager": json.dumps(context["pathto"]("_static/vendor/html-manager/embed-amd.js", 1)),
    }
    app.add_js_file(None, priority=400, body=config + loader + NAME_SLIDER_HANDLES)


def label_hidden_cells_by_their_text(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """myst-nb's "Show code cell source" toggles carry aria-label="Toggle hidden
    content", a name that does not contain their visible text (axe: serious
    label-content-name-mismatch). Without it, the name is the visible text."""
    if "body" in context:
        context["body"] = context["body"].replace('<summary aria-label="Toggle hidden content">', "<summary>")


def write_root_favicon(outdir: Path) -> None:
    """Browsers ask for /favicon.ico on pages that name no icon (the root redirect
    page); without one that is a 404 in the console. Drawn here, not committed."""
    from PIL import Image, ImageDraw

    icon = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    draw.ellipse((1, 1, 30, 30), fill="#1a4f8b")
    draw.arc((7, 9, 25, 19), 200, 340, fill="#f37726", width=3)
    draw.arc((7, 13, 25, 23), 20, 160, fill="#f37726", width=3)
    icon.save(outdir / "favicon.ico", sizes=[(32, 32)])


def copy_assets(app: Sphinx, exception) -> None:
    if exception or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    if not (outdir / "favicon.ico").is_file():
        write_root_favicon(outdir)
    node_modules = Path(app.confdir) / app.config.handbook_node_modules
    for site_path, (package_path, excluded) in VENDORED.items():
        source = node_modules / package_path
        if not source.is_dir():
            raise FileNotFoundError(
                f"{source} is missing: run `npm ci` (make book does) to fetch the site's assets"
            )
        shutil.copytree(source, outdir / site_path, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*excluded), copy_function=copy_if_changed)


def copy_if_changed(source: str, target: str) -> None:
    """copy2, skipped when the target has the same size and mtime (copy2 keeps mtimes)."""
    try:
        here, there = Path(source).stat(), Path(target).stat()
        if here.st_size == there.st_size and here.st_mtime_ns == there.st_mtime_ns:
            return
    except FileNotFoundError:
        pass
    shutil.copy2(source, target)


def require_cached_execution(app: Sphinx, config) -> None:
    """book/tools/execute.py executes every notebook before Sphinx runs; Sphinx
    only renders from the cache (or, for check_syntax.sh, renders nothing)."""
    if config.nb_execution_mode not in ("cache", "off"):
        raise ConfigError(
            f"nb_execution_mode is {config.nb_execution_mode!r}: the handbook executes its notebooks "
            "with book/tools/execute.py and renders them from the cache; set execute_notebooks: cache"
        )


def require_cache_hit(app: Sphinx, docname: str, source: list[str]) -> None:
    """Stop the build if myst-nb would execute a notebook itself.

    myst-nb reads the notebook as below and looks it up in the cache; on a miss
    it would execute it inside Sphinx, silently, one at a time. A miss means
    execute.py was not run, or that its cache key and myst-nb's disagree: both
    are bugs to see, not to paper over."""
    nb_config = app.env.mystnb_config
    if nb_config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache
    from myst_nb.core.read import create_nb_reader

    path = str(app.env.doc2path(docname))
    reader = create_nb_reader(path, app.env.myst_config, nb_config, source[0])
    if reader is None:
        return
    cache = get_cache(nb_config.execution_cache_path)
    try:
        cache.match_cache_notebook(reader.read(source[0]))
    except KeyError:
        raise ExtensionError(
            f"{docname}: its notebook is not in the execution cache ({nb_config.execution_cache_path}), "
            "so myst-nb would execute it inside Sphinx. Run book/tools/execute.py first (make book "
            "does); if it just ran, its cache key and myst-nb's disagree."
        ) from None


def extension_digest() -> str:
    """A digest of our extensions' code: when it changes, every page is rebuilt
    (Sphinx tracks sources, config and templates, but not extension code)."""
    folder = Path(__file__).parent
    code = sorted(folder.glob("*.py")) + sorted(folder.glob("*.mjs"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in code)).hexdigest()


# Our template overrides, and the theme release each was written against. When
# the installed theme differs, the build stops and names the templates to
# re-check (compare each with the theme's new copy, then update this table).
THEME_OVERRIDES = {
    "layout.html": ("pydata-sphinx-theme", "0.17.1"),
    "search.html": ("pydata-sphinx-theme", "0.17.1"),
    "search-button-field.html": ("pydata-sphinx-theme", "0.17.1"),
    "components/search-field.html": ("pydata-sphinx-theme", "0.17.1"),
    "theme-switcher.html": ("pydata-sphinx-theme", "0.17.1"),
    "static/webpack-macros.html": ("pydata-sphinx-theme", "0.17.1"),
}


def check_theme_overrides(app: Sphinx) -> None:
    from importlib.metadata import PackageNotFoundError, version

    stale = []
    for folder in app.config.templates_path:
        root = (Path(app.confdir) / folder).resolve()
        # Themes add their own template folders to templates_path; only ours are overrides.
        if not root.is_relative_to(Path(app.confdir).resolve()) or "site-packages" in root.parts:
            continue
        for template in sorted(p for p in root.rglob("*.html") if p.is_file()):
            name = template.relative_to(root).as_posix()
            if name not in THEME_OVERRIDES:
                stale.append(f"{folder}/{name} is not in THEME_OVERRIDES (which theme release does it follow?)")
                continue
            package, written_for = THEME_OVERRIDES[name]
            try:
                installed = version(package)
            except PackageNotFoundError:
                installed = "not installed"
            if installed != written_for:
                stale.append(f"{folder}/{name} overrides {package} {written_for}'s template, "
                             f"but {package} is {installed}: re-check it against the new template")
            elif name == "static/webpack-macros.html" and not same_asset_digest(template):
                stale.append(f"{folder}/{name} names an asset digest the theme's own copy does not: "
                             "re-copy the digest from the theme's static/webpack-macros.html")
    if stale:
        raise ExtensionError("theme override guard (book/_ext/handbook.py THEME_OVERRIDES):\n  "
                             + "\n  ".join(stale))


def cache_compiled_templates(app: Sphinx) -> None:
    """Keep the theme's compiled Jinja templates between builds (Jinja's own
    bytecode cache, keyed by each template's source): compiling them is a
    large share of a one-page rebuild."""
    from jinja2 import FileSystemBytecodeCache

    templates = getattr(app.builder, "templates", None)
    if templates is None or not hasattr(templates, "environment"):
        return
    folder = Path(app.doctreedir).parent / "templates-compiled"
    folder.mkdir(parents=True, exist_ok=True)
    templates.environment.bytecode_cache = FileSystemBytecodeCache(str(folder))


def same_asset_digest(template: Path) -> bool:
    """Our webpack-macros.html repeats the theme's asset digest (a cache buster)."""
    import re

    import pydata_sphinx_theme

    theirs = Path(pydata_sphinx_theme.__file__).parent / "theme/pydata_sphinx_theme/static/webpack-macros.html"
    ours = set(re.findall(r"digest=(\w+)", template.read_text(encoding="utf-8")))
    return bool(ours) and ours <= set(re.findall(r"digest=(\w+)", theirs.read_text(encoding="utf-8")))


# Every change we make to a built page, in the order it is made. One handler
# runs them, after every other extension's (myst-nb adds the widget scripts and
# lite_launch.py its links at the default priority, 500).
def page_changes():
    import page_speed

    return [
        load_widgets_when_seen,               # take the widget scripts out, load them on sight
        label_hidden_cells_by_their_text,     # accessible names for the cell toggles
        page_speed.defer_blocking_scripts,    # last: every script tag, ours included, deferred
    ]


def after_build():
    import page_speed

    return [
        copy_assets,                          # vendored scripts and fonts, the root favicon
        page_speed.bundle_stylesheets,        # last: needs every page and stylesheet in place
    ]


def change_page(app: Sphinx, pagename, templatename, context, doctree) -> None:
    for change in page_changes():
        change(app, pagename, templatename, context, doctree)


def finish_build(app: Sphinx, exception) -> None:
    for step in after_build():
        step(app, exception)


def setup(app: Sphinx):
    app.add_config_value("handbook_extension_digest", extension_digest(), "env")
    app.add_config_value("handbook_node_modules", "node_modules", "html")
    app.connect("config-inited", configure_assets, priority=100)
    app.connect("config-inited", require_cached_execution)
    app.connect("builder-inited", check_theme_overrides)
    app.connect("builder-inited", cache_compiled_templates)
    app.connect("source-read", require_cache_hit)
    app.connect("html-page-context", change_page, priority=900)
    app.connect("build-finished", finish_build, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
