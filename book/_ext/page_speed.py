"""Make every page fast on a slow phone (Lighthouse's mobile profile).

Out of the box, the theme and the extensions give each page ten stylesheets
(one of them 400 KB, mostly Bootstrap and Font Awesome rules no page uses) and
eleven scripts that block rendering. On a slow 4G link that is two to three
seconds before the first word shows. This extension:

- loads every script with `defer`, so none blocks rendering (inline snippets
  that need DOCUMENTATION_OPTIONS become module scripts, which the browser
  runs in order with the deferred ones);
- keeps MathJax to the pages that have math (Sphinx also counts the math of a
  page's toctree children, so the landing page loaded it);
- after the build, merges the stylesheets into one file, without the rules
  that no page and no theme script can match (PurgeCSS), and links that file
  from every page.

The search index is left to the search page by book/_templates/layout.html,
and the widget manager loads when a widget nears the screen (handbook.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx

BUNDLE_FOLDER = "_static/styles"
BUNDLE_PREFIX = "handbook."
# Pages that are not Sphinx's: the JupyterLite app and the vendored assets.
NOT_PAGES = {"lite", "_static", "_sources", "_notebooks", "_images"}
# Rules whose selectors PurgeCSS cannot see used in the built files: set by the
# colour-mode switch, or on elements the widget manager and MathJax create.
KEEP_RULES_MATCHING = [
    r"data-theme", r"data-mode", r"^\.?pst-", r"^\.?bd-",
    r"widget", r"jupyter", r"jp-", r"lm-", r"mjx", r"MathJax",
]
STYLESHEET_LINK = re.compile(r"<link\b[^>]*\brel=\"stylesheet\"[^>]*>\s*")
HREF = re.compile(r"\bhref=\"([^\"]+)\"")


def defer_blocking_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Drop MathJax from pages without math, and make every script tag deferred.

    The page's scripts are written by the template function js_tag; we wrap it,
    so the tags change and the script objects Sphinx shares between pages do not."""
    scripts = context.get("script_files")
    if scripts is None or "js_tag" not in context:
        return
    if not has_math(doctree):
        scripts[:] = [s for s in scripts if not is_mathjax(app, s)]
    js_tag = context["js_tag"]

    def deferred_js_tag(script) -> str:
        tag = js_tag(script)
        filename = getattr(script, "filename", script)  # a plain str is an old-style file name
        attributes = getattr(script, "attributes", {})
        if filename and not {"defer", "async"} & attributes.keys():
            return tag.replace("<script ", '<script defer="defer" ', 1)
        if not filename and "DOCUMENTATION_OPTIONS" in attributes.get("body", "") and "type" not in attributes:
            return tag.replace("<script", '<script type="module"', 1)
        return tag

    context["js_tag"] = deferred_js_tag


def has_math(doctree) -> bool:
    """Math on this page itself (Sphinx's has_equations also counts the page's
    toctree children, so the landing page loaded MathJax)."""
    if doctree is None:
        return False
    return any(doctree.findall(lambda node: isinstance(node, (nodes.math, nodes.math_block))))


def is_mathjax(app: Sphinx, script) -> bool:
    if script.filename:
        return str(script.filename).removeprefix("_static/") == app.config.mathjax_path
    return script.attributes.get("body", "").startswith("window.MathJax")


def is_bundle(sheet: Path) -> bool:
    return sheet.parent == Path(BUNDLE_FOLDER) and sheet.name.startswith(BUNDLE_PREFIX)


def site_pages(outdir: Path) -> list[Path]:
    return sorted(
        page for page in outdir.rglob("*.html")
        if not NOT_PAGES & set(page.relative_to(outdir).parts[:1])
    )


def linked_stylesheets(page: Path, outdir: Path) -> list[Path]:
    """The local stylesheets a page links, as paths in the built site, in order."""
    head = page.read_text(encoding="utf-8").partition("</head>")[0]
    sheets = []
    for link in STYLESHEET_LINK.findall(head):
        href = HREF.search(link).group(1).split("?")[0]
        if "://" not in href:
            sheets.append(Path(os.path.normpath(page.parent / href)).relative_to(outdir))
    return sheets


def with_imports_inlined(sheet: Path, outdir: Path, bundle_dir: Path) -> str:
    """A stylesheet's text with `@import`s inlined and url()s made relative to the bundle."""
    text = (outdir / sheet).read_text(encoding="utf-8")
    text = re.sub(
        r"@import\s+(?:url\()?[\"']([^\"']+)[\"']\)?\s*;",
        lambda m: with_imports_inlined(
            Path(os.path.normpath(sheet.parent / m.group(1))), outdir, bundle_dir
        ),
        text,
    )

    def rebase(match: re.Match) -> str:
        quote, url = match.group(1), match.group(2)
        if url.startswith(("data:", "/", "#")) or "://" in url:
            return match.group(0)
        moved = os.path.relpath(outdir / sheet.parent / url, bundle_dir)
        return f"url({quote}{Path(moved).as_posix()}{quote})"

    return re.sub(r"url\(\s*([\"']?)([^\"')]+)\1\s*\)", rebase, text)


def words_of_the_widget_manager(outdir: Path, cache_dir: Path) -> str:
    """The words in the vendored widget manager, which may name classes it adds
    at run time, less Font Awesome's icon names: its bundled copy of Font
    Awesome's stylesheet names all 2,000 icons, and pages draw none of them."""
    scripts = sorted((outdir / "_static/vendor/html-manager").glob("*.js"))
    key = json.dumps([[s.name, s.stat().st_size, s.stat().st_mtime_ns] for s in scripts])
    saved = cache_dir / "handbook-widget-manager-words.json"
    if saved.is_file() and (cached := json.loads(saved.read_text())).get("key") == key:
        return cached["words"]
    words = set()
    for script in scripts:
        words |= set(re.findall(r"[A-Za-z][\w-]+", script.read_text(encoding="utf-8")))
    text = "\n".join(sorted(word for word in words if not word.startswith("fa-")))
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"key": key, "words": text}))
    return text


def purge(css_files: list[Path], content: list[Path], node_modules: Path) -> dict[str, str]:
    script = Path(__file__).with_name("purge_css.mjs")
    if not (node_modules / "purgecss").is_dir():
        raise FileNotFoundError(f"{node_modules / 'purgecss'} is missing: run `npm ci` (make book does)")
    request = {
        "content": [str(path) for path in content],
        "css": [str(path) for path in css_files],
        "safelist": KEEP_RULES_MATCHING,
    }
    result = subprocess.run(
        ["node", str(script)], input=json.dumps(request), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"purge_css.mjs failed:\n{result.stderr}")
    return {item["file"]: item["css"] for item in json.loads(result.stdout)}


def bundle_stylesheets(app: Sphinx, exception) -> None:
    if exception or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    bundle_dir = outdir / BUNDLE_FOLDER
    pages = site_pages(outdir)
    # Every local stylesheet any page links, in first-seen order. Pages kept from
    # an earlier build already link the old bundle; their sources are the same.
    sheets: list[Path] = []
    for page in pages:
        for sheet in linked_stylesheets(page, outdir):
            if sheet not in sheets and not is_bundle(sheet):
                sheets.append(sheet)
    if not sheets:
        return
    # Each sheet with its imports inlined and urls rebased, written to a temporary
    # folder beside the bundle so PurgeCSS reads the same text we bundle.
    work = bundle_dir / ".bundle-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    inputs = []
    for number, sheet in enumerate(sheets):
        inputs.append(work / f"{number:02d}-{sheet.name}")
        inputs[-1].write_text(with_imports_inlined(sheet, outdir, bundle_dir), encoding="utf-8")
    # The theme's and the extensions' scripts add classes at run time, and so does
    # the widget manager (Bootstrap's progress-bar, for one).
    scripts = sorted((outdir / "_static").glob("*.js")) + sorted((outdir / "_static/scripts").glob("*.js"))
    widget_words = work / "widget-manager-words.txt"
    widget_words.write_text(words_of_the_widget_manager(outdir, Path(app.doctreedir)), encoding="utf-8")
    content = pages + scripts + [widget_words]
    # PurgeCSS keeps a rule when its selector's words occur in the content, so
    # the same sheets and the same selector words in the content give the same
    # bundle: a prose edit that adds no such word reuses the last one.
    key = purge_key(inputs, content, Path(app.doctreedir))
    state_file = Path(app.doctreedir) / "handbook-bundle-state.json"  # beside Sphinx's own state
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    if state.get("key") == key and (bundle_dir / state.get("bundle", "-")).is_file():
        shutil.rmtree(work)
        for page in pages:
            link_bundle(page, bundle_dir / state["bundle"], outdir, set(sheets))
        return
    node_modules = Path(app.confdir) / app.config.handbook_node_modules
    purged = purge(inputs, content, node_modules)
    # The header names the sources: for readers, and for the test that compares
    # pages styled by the bundle with pages styled by these sheets.
    # @charset must come first: the bundle holds Font Awesome's private-use characters.
    header = '@charset "UTF-8";\n/* Bundled by book/_ext/page_speed.py from: ' + " ".join(
        sheet.as_posix() for sheet in sheets) + " */"
    text = "\n".join([header] + [purged[str(path)] for path in inputs])
    shutil.rmtree(work)

    fonts = subset_icon_fonts(text, bundle_dir)
    for src, subset_name in fonts.items():
        text = text.replace(src, f'url({subset_name}) format("woff2")')
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    bundle = bundle_dir / f"{BUNDLE_PREFIX}{digest}.css"
    for old in bundle_dir.glob(f"{BUNDLE_PREFIX}*"):
        if old != bundle and old.name not in fonts.values():
            old.unlink()
    bundle.write_text(text, encoding="utf-8")
    state_file.write_text(json.dumps({"key": key, "bundle": bundle.name}))
    for page in pages:
        link_bundle(page, bundle, outdir, set(sheets))


WORDS = re.compile(r"[A-Za-z0-9_-]+")  # PurgeCSS's default extractor


def purge_key(css_files: list[Path], content: list[Path], cache_dir: Path) -> str:
    """What PurgeCSS's result depends on: the sheets, the safelist, our code and
    the content's words that also occur in the sheets. Each content file's words
    are kept between builds by size and mtime: a one-page rebuild rescans one page."""
    digest = hashlib.sha256()
    css_words: set[str] = set()
    for path in css_files:
        text = path.read_text(encoding="utf-8")
        digest.update(text.encode())
        css_words.update(WORDS.findall(text))
    css_digest = digest.hexdigest()
    saved = cache_dir / "handbook-purge-words.json"
    cached = json.loads(saved.read_text()) if saved.is_file() else {}
    known = cached.get("files", {}) if cached.get("css") == css_digest else {}
    files, used = {}, set()
    for path in content:
        stat = path.stat()
        entry = known.get(str(path))
        if entry is None or entry[:2] != [stat.st_size, stat.st_mtime_ns]:
            text = path.read_text(encoding="utf-8", errors="replace")
            entry = [stat.st_size, stat.st_mtime_ns, sorted(css_words.intersection(WORDS.findall(text)))]
        files[str(path)] = entry
        used.update(entry[2])
    saved.write_text(json.dumps({"css": css_digest, "files": files}))
    digest.update("\n".join(KEEP_RULES_MATCHING).encode())
    digest.update(Path(__file__).read_bytes() + Path(__file__).with_name("purge_css.mjs").read_bytes())
    digest.update("\n".join(sorted(used)).encode())
    return digest.hexdigest()


def subset_icon_fonts(css: str, bundle_dir: Path) -> dict[str, str]:
    """Font Awesome's webfonts hold about 2,000 icons (300 KB of woff2); the
    pages use a dozen or two. Write each woff2 the bundle names with only the
    glyphs its remaining rules can draw, and return
    {a font's src in the bundle: the file name of its subset}. The truetype
    fallbacks are dropped: every browser with woff2 takes the first source."""
    from fontTools import subset

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # one INFO line per table otherwise
    # Icons appear as escapes (content: "\\f105") or, in the theme's custom
    # properties, as the private-use characters themselves.
    codepoints = {int(code, 16) for code in re.findall(r'"\\([0-9a-fA-F]{4,5})"', css)}
    codepoints |= {ord(char) for char in css if ord(char) > 0x7F}
    replaced = {}
    for src in set(re.findall(r"src:([^;}]*fontawesome[^;}]*)", css)):
        woff2 = re.search(r"url\(([^)]+\.woff2)\)", src).group(1)
        options = subset.Options()
        options.flavor = "woff2"
        options.layout_features = ["*"]
        font = subset.load_font(str(bundle_dir / woff2), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=codepoints)
        subsetter.subset(font)
        target = bundle_dir / "handbook-subset.woff2"
        subset.save_font(font, str(target), options)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()[:12]
        name = f"{BUNDLE_PREFIX}{Path(woff2).stem}.{digest}.woff2"
        target.replace(bundle_dir / name)
        replaced[src] = name
    return replaced


def link_bundle(page: Path, bundle: Path, outdir: Path, bundled: set[Path]) -> None:
    """Replace the page's links to bundled sheets by one link to the bundle."""
    html = page.read_text(encoding="utf-8")
    head, end, body = html.partition("</head>")
    href = Path(os.path.relpath(bundle, page.parent)).as_posix()
    placed = False

    def replace(match: re.Match) -> str:
        nonlocal placed
        url = HREF.search(match.group(0)).group(1).split("?")[0]
        sheet = Path(os.path.normpath(page.parent / url))
        if "://" in url or not sheet.is_relative_to(outdir):
            return match.group(0)
        sheet = sheet.relative_to(outdir)
        if sheet not in bundled and not is_bundle(sheet):
            return match.group(0)
        if placed:
            return ""
        placed = True
        return f'<link rel="stylesheet" href="{href}" />\n    '

    new_head = STYLESHEET_LINK.sub(replace, head)
    if new_head != head:
        page.write_text(new_head + end + body, encoding="utf-8")


def setup(app: Sphinx):
    # Its page changes run from handbook.py's PAGE_CHANGES and AFTER_BUILD, in order.
    return {"parallel_read_safe": True, "parallel_write_safe": True}
