"""JupyterLite in a real browser (issues 6 and 12).

Serves the built site (HANDBOOK_SITE, default <repo>/_build/html) on 127.0.0.1
under a sub-path (so relative launch URLs are exercised), drives Debian's
chromium with Playwright, follows each chapter's "Launch in JupyterLite" link
and checks:

* every chapter: the notebook opens unmodified, the kernel reaches idle, Run
  All runs every Lite-runnable cell offline, and each produces its expected
  output. What "expected" means:
  - a {lite-cell} counterpart: its output contains the cell's :expect: text;
  - a book cell: where the published notebook has output, the Lite cell has
    output too and no traceback (unless tagged raises-exception). Its text is
    not compared: Pyodide differs from the build machine in versions, paths
    and timings, which the nbval sanitize file does not cover;
  - the install cell: no error;
  (a chapter that imports something the offline site cannot provide, e.g. numpy
  from the Pyodide CDN, only has to open with an idle kernel);
* a widget renders and its value round-trips Python -> DOM -> Python;
* no request failed (HTTP >= 400 or network error) and none left 127.0.0.1.

Without a browser: no Lite notebook shows raw MyST; at least 60% of the book's
code cells run in Lite and every chapter has 3; each launch button states its
count; the hosted configuration names the Pyodide the kernel expects; a
prose-only edit rewrites one notebook, without `jupyter lite build`, in < 3 s.
Chapters run in parallel with pytest-xdist (`pytest -n 2 tests/test_lite.py`).

The site must be built with HANDBOOK_LITE=offline; nothing is skipped.
"""

from __future__ import annotations

import ast
import functools
import http.server
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, SITE, toc_docnames

sys.path.insert(0, str(ROOT / "book" / "tools"))
import lite as lite_tool  # noqa: E402

LITE = SITE / "lite"
PREFIX = "/handbook/sub"  # served under a sub-path on purpose
KERNEL_TIMEOUT_MS = 180_000
RUN_TIMEOUT_MS = 150_000
# Importable in Lite without the CDN besides the stdlib, chapter files and the lock/piplite wheels.
PYODIDE_BUILTINS = {"pyodide", "js", "pyodide_js", "micropip", "piplite", "pyodide_kernel", "ipykernel"}

pytestmark = pytest.mark.timeout(900)


# ------------------------------------------------------------- helpers ----

READOUT_SHOWS = (
    "value => [...document.querySelectorAll('.widget-slider .widget-readout')]"
    ".some(e => e.textContent.trim() === value)"
)


def toc_chapters() -> list[str]:
    """Chapter docnames from the repo's _toc.yml (the test parameters)."""
    return [name for name in toc_docnames() if name.startswith("chapters/")]


def notebook_imports(notebook: dict) -> set[str]:
    """Top-level modules the notebook imports, minus modules it writes itself (%%writefile x.py)."""
    found, written = set(), set()
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        magic = re.match(r"\s*%%writefile\s+(?:-a\s+)?(\S+)\.py\s*$", source.splitlines()[0] if source else "")
        if magic:
            written.add(Path(magic.group(1)).name)
            continue
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - written


def wheel_modules(wheel_names: list[str]) -> set[str]:
    """Top-level import names of wheels (their distribution names, normalised)."""
    return {re.split(r"-\d", name)[0].lower().replace("-", "_") for name in wheel_names}


def local_modules() -> set[str]:
    root = LITE / "files" / "chapters"
    return {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if p.is_dir()}


def available_offline() -> set[str]:
    lock = json.loads((LITE / "static" / "pyodide" / "pyodide-lock.json").read_text())
    modules = set(PYODIDE_BUILTINS) | set(sys.stdlib_module_names) | local_modules()
    for entry in lock["packages"].values():
        if (LITE / "static" / "pyodide" / entry["file_name"]).is_file():
            modules.update(entry.get("imports", []))
    piplite = json.loads((LITE / "handbook-lite.json").read_text())["piplite_wheels"]
    return modules | wheel_modules(piplite) | {"IPython", "yaml"}


def lite_notebook(docname: str) -> dict:
    path = LITE / "files" / f"{docname}.ipynb"
    assert path.is_file(), f"the Lite site has no {path.relative_to(SITE)}"
    return json.loads(path.read_text())


def cell_tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", []) or []


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
        ".json": "application/json", ".ipynb": "application/json", ".whl": "application/zip",
    }
    served: list = []  # (path, status, bytes) for every request, shared with the tests

    def translate_path(self, path):
        if not path.startswith(PREFIX + "/"):
            return str(SITE / "__outside_the_sub_path__")
        return super().translate_path(path[len(PREFIX):])

    def log_message(self, *args):
        pass

    def log_request(self, code="-", size="-"):
        SiteHandler.served.append((self.path, int(code) if str(code).isdigit() else 0))

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


class Network:
    """Every request the browser context makes, including its workers'."""

    def __init__(self, context, origin: str):
        self.origin, self.failed, self.offsite, self.count = origin, [], [], 0
        context.on("request", self._request)
        context.on("requestfailed", self._failed)
        context.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))

    def _failed(self, request):
        self.failed.append(f"{request.url} ({request.failure})")

    def _request(self, request):
        self.count += 1
        url = urlsplit(request.url)
        if url.scheme in ("data", "blob", "about"):
            return
        if url.hostname != "127.0.0.1":
            self.offsite.append(request.url)

    def check(self, server_log_start: int) -> None:
        # Browsers ask the host root for /favicon.ico on their own; it is outside the site.
        server_errors = [f"{p} (HTTP {s})" for p, s in SiteHandler.served[server_log_start:]
                         if s >= 400 and p != "/favicon.ico"]
        self.failed = [f for f in self.failed if not urlsplit(f.split()[0]).path == "/favicon.ico"]
        assert not self.offsite, f"requests left 127.0.0.1: {self.offsite[:10]}"
        assert not self.failed, f"failed requests: {self.failed[:10]}"
        assert not server_errors, f"the server answered errors (workers included): {server_errors[:10]}"


def wait_kernel_idle(page, timeout_ms: int = KERNEL_TIMEOUT_MS) -> None:
    """Wait until the notebook has a Pyodide kernel that is connected and idle, twice in a row."""
    page.wait_for_function(
        """() => {
            const name = document.querySelector('.jp-KernelName, .jp-Toolbar-kernelName');
            const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
            const status = document.querySelector('.jp-NotebookKernelStatus');
            const ok = name && /Pyodide/.test(name.textContent)
                && ind && ind.getAttribute('data-status') === 'idle'
                && !(status && /Connecting|Starting|Restarting|Unknown/i.test(status.textContent));
            const t = performance.now();
            if (!ok) { window.__liteIdleSince = null; return false; }
            window.__liteIdleSince = window.__liteIdleSince || t;
            return t - window.__liteIdleSince > 750;
        }""",
        timeout=timeout_ms, polling=100,
    )


def run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()


def wait_run_settled(page) -> None:
    """No cell queued or running ([*]) for a second: the run finished or stopped.
    (JupyterLab's busy indicator can stay on after a run stopped at an error.)"""
    page.wait_for_function(
        """() => {
            const running = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                .some(p => p.textContent.includes('*'));
            const t = performance.now();
            if (running) { window.__liteSettledSince = null; return false; }
            window.__liteSettledSince = window.__liteSettledSince || t;
            return t - window.__liteSettledSince > 1000;
        }""",
        timeout=RUN_TIMEOUT_MS, polling=100,
    )


def run_all_past_expected_errors(page, lite_code: list, docname: str) -> None:
    """Run All, as a learner would. JupyterLab stops at any error, including a cell
    tagged raises-exception, so then carry on below it, as the Lite note says to."""
    run_all(page)
    for _ in range(len(lite_code) + 1):
        wait_run_settled(page)
        cells = dom_code_cells(page)
        unrun = [i for i, c in enumerate(cells) if not re.search(r"\[\d+\]", c["prompt"])]
        if not unrun:
            return
        first = unrun[0]
        if first == 0 or "raises-exception" not in cell_tags(lite_code[first - 1]):
            stuck = [f"code cell {i}: prompt {c['prompt']!r}, output {c['text'][-600:]!r}"
                     for i, c in enumerate(cells) if i >= first - 1][:3]
            pytest.fail(f"{docname}: Run All stopped in Lite:\n" + "\n".join(stuck))
        page.locator(".jp-Notebook .jp-CodeCell").nth(first).click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run Selected Cell and All Below")).click()
    pytest.fail(f"{docname}: Run All never finished in Lite")


def dom_code_cells(page) -> list[dict]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c => ({
              code: c.classList.contains('jp-CodeCell'),
              prompt: (c.querySelector('.jp-InputPrompt') || {}).textContent || '',
              outputs: c.querySelectorAll('.jp-OutputArea-output').length,
              text: (c.querySelector('.jp-OutputArea') || {}).textContent || '',
          })).filter(c => c.code)"""
    )


def open_chapter_in_lite(page, base: str, docname: str) -> None:
    page.goto(f"{base}/{docname}.html")
    link = page.get_by_role("link", name="Launch in JupyterLite")
    assert link.is_visible(), f"{docname}: no visible 'Launch in JupyterLite' link"
    href = link.get_attribute("href")
    assert href and not re.match(r"^([a-z]+:)?//|^/", href), f"{docname}: launch URL is not relative: {href}"
    download = page.get_by_role("link", name=re.compile("Download executed notebook"))
    assert download.is_visible(), f"{docname}: no visible download link"
    link.click()
    page.wait_for_url(re.compile(r"/lite/"))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=KERNEL_TIMEOUT_MS)


# ------------------------------------------------------------ fixtures ----

@pytest.fixture(scope="session")
def lite_site() -> Path:
    if not (LITE / "index.html").is_file():
        pytest.fail(
            f"no JupyterLite site at {LITE}: build it with "
            f"`HANDBOOK_LITE=offline python book/tools/lite.py . {LITE}` (or `make book`) first",
            pytrace=False,
        )
    manifest = json.loads((LITE / "handbook-lite.json").read_text())
    if manifest["mode"] != "offline":
        pytest.fail(
            f"{LITE} was built in {manifest['mode']!r} mode, which loads Pyodide from the CDN; "
            "the browser tests need HANDBOOK_LITE=offline", pytrace=False,
        )
    return SITE


@pytest.fixture(scope="session")
def site_url(lite_site):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(SiteHandler, directory=str(lite_site)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def lite_page(browser, site_url):
    context = browser.new_context(service_workers="allow")
    context.set_default_timeout(60_000)
    network = Network(context, site_url)
    page = context.new_page()
    start = len(SiteHandler.served)
    yield page, network, start
    context.close()


# --------------------------------------------------------------- tests ----

BOOK_LINK = re.compile(r"\]\((/[^)\s]*\.html(?:#[^)\s]*)?)\)")


def book_link_problems(page, notebook: dict) -> list[str]:
    """Links to the book's pages must open the page, not a (missing) Lite file:
    JupyterLab intercepts relative links; root-absolute ones go to the browser."""
    wanted = sorted(href for cell in notebook["cells"] if cell["cell_type"] == "markdown"
                    for href in BOOK_LINK.findall("".join(cell["source"])))
    shown = page.evaluate(
        """() => [...document.querySelectorAll('.jp-RenderedMarkdown a[href]')]
            .filter(a => /\\.html(#|$)/.test(a.getAttribute('href')))
            .map(a => ({href: a.getAttribute('href'), target: a.target}))""")
    problems = [f"link {link['href']} opens inside JupyterLab" for link in shown
                if link["target"] != "_blank"]
    if sorted(link["href"] for link in shown) != wanted:
        problems.append(f"rendered links {sorted(link['href'] for link in shown)} != notebook's {wanted}")
    return problems


def is_dirty(page) -> bool:
    """JupyterLab marks a modified document's tab (jp-mod-dirty); Notebook 7 also
    says so next to the title."""
    return page.evaluate(
        """() => !!document.querySelector('.jp-mod-dirty')
            || /unsaved changes/i.test((document.querySelector('.jp-NotebookCheckpoint,'
               + ' #jp-title') || {}).textContent || '')"""
    )


@pytest.mark.parametrize("docname", toc_chapters())
def test_chapter_runs_in_lite(lite_site, site_url, lite_page, docname):
    page, network, start = lite_page
    notebook = lite_notebook(docname)
    missing = sorted(notebook_imports(notebook) - available_offline())

    open_chapter_in_lite(page, site_url, docname)
    wait_kernel_idle(page)
    dom_count = page.locator(".jp-Notebook .jp-Cell").count()
    assert dom_count == len(notebook["cells"]), (
        f"{docname}: Lite shows {dom_count} cells, the notebook has {len(notebook['cells'])}")
    assert not is_dirty(page), f"{docname}: the notebook opens as modified"
    assert not book_link_problems(page, notebook), f"{docname}: {book_link_problems(page, notebook)}"

    if missing:
        # Needs the Pyodide CDN (e.g. numpy): opening and an idle kernel is all we can check offline.
        network.check(start)
        print(f"{docname}: needs CDN for {missing}; opened, kernel idle")
        return

    lite_code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    run_all_past_expected_errors(page, lite_code, docname)

    dom = dom_code_cells(page)
    assert len(dom) == len(lite_code)
    executed = json.loads((lite_site / "_notebooks" / f"{docname}.ipynb").read_text())
    book_code = iter(c for c in executed["cells"] if c["cell_type"] == "code" and "no-lite" not in cell_tags(c))
    problems, checked = [], 0
    for index, (cell, shown) in enumerate(zip(lite_code, dom, strict=True)):
        tags = cell_tags(cell)
        source = "".join(cell["source"])
        traceback = "Traceback (most recent call last)" in shown["text"] or re.search(
            r"^\w+(Error|Exception)\b.*Traceback", shown["text"], re.M)
        if traceback and "raises-exception" not in tags:
            problems.append(f"cell {index} raised:\n{shown['text'][-1500:]}")
        if "lite-setup" in tags:
            continue
        checked += 1
        if "lite-counterpart" in tags:
            expect = cell["metadata"]["lite_expect"]
            if expect not in shown["text"]:
                problems.append(f"counterpart cell {index}: output lacks {expect!r}:\n"
                                f"{shown['text'][-800:]!r}\nsource: {source[:160]!r}")
            continue
        built = next(book_code, None)
        if built is None:
            problems.append(f"cell {index} has no counterpart in the published notebook")
        elif built.get("outputs") and shown["outputs"] == 0:
            problems.append(f"cell {index} had output in the book but none in Lite: {source[:120]!r}")
    assert next(book_code, None) is None, f"{docname}: Lite and built notebooks differ in code cells"
    assert not problems, f"{docname}:\n" + "\n".join(problems)
    print(f"{docname}: {checked} cell(s) ran in Lite with their expected output")
    network.check(start)


def test_widget_round_trip(lite_site, site_url, lite_page):
    page, network, start = lite_page
    docname = next(
        (d for d in toc_chapters() if "widget" in d), toc_chapters()[0])  # any chapter will do
    open_chapter_in_lite(page, site_url, docname)
    wait_kernel_idle(page)

    def add_cell_and_run(code: str) -> None:
        page.locator(".jp-Notebook .jp-Cell").last.click()
        page.keyboard.press("Escape")
        page.keyboard.press("b")  # new cell below, then edit it
        page.keyboard.press("Enter")
        page.keyboard.insert_text(code)
        page.keyboard.press("Shift+Enter")

    add_cell_and_run(
        "%pip install -q ipywidgets\n"
        "import ipywidgets\n"
        "probe = ipywidgets.IntSlider(value=3, min=0, max=100, description='probe')\n"
        "probe"
    )
    readout = page.locator(".widget-slider .widget-readout").last
    readout.wait_for(timeout=KERNEL_TIMEOUT_MS)
    assert readout.inner_text().strip() == "3"

    add_cell_and_run("probe.value = 42")  # Python -> DOM
    page.wait_for_function(READOUT_SHOWS, arg="42", timeout=60_000)

    handle = page.locator(".widget-slider .noUi-handle").last  # DOM -> Python
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(READOUT_SHOWS, arg="43", timeout=30_000)
    add_cell_and_run("print('probe value is', probe.value)")
    page.wait_for_function(
        "() => document.querySelector('.jp-Notebook').innerText.includes('probe value is 43')",
        timeout=60_000,
    )
    network.check(start)


def test_no_sourcemaps_and_manifest(lite_site):
    maps = [p.relative_to(lite_site) for p in (lite_site / "lite").rglob("*.map")]
    assert not maps, f"sourcemaps shipped: {maps[:5]}"
    manifest = json.loads((lite_site / "lite" / "handbook-lite.json").read_text())
    config = json.loads((lite_site / "lite" / "jupyter-lite.json").read_text())
    settings = config["jupyter-config-data"]["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    assert settings["disablePyPIFallback"] is True
    assert settings["pyodideUrl"].startswith("./")
    assert [c["docname"] for c in manifest["chapters"]] == toc_chapters()
    for chapter in manifest["chapters"]:
        notebook = lite_notebook(chapter["docname"])
        assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
        assert not any("no-lite" in cell_tags(c) for c in notebook["cells"])


# ------------------------------------------------------ without a browser ----

def test_no_myst_in_lite_notebooks(lite_site):
    found = {}
    for docname in toc_chapters():
        for index, cell in enumerate(lite_notebook(docname)["cells"]):
            if cell["cell_type"] == "markdown":
                leftovers = lite_tool.myst_leftovers("".join(cell["source"]))
                if leftovers:
                    found[f"{docname} cell {index}"] = leftovers[:3]
    assert not found, f"raw MyST in Lite notebooks: {found}"


def test_lite_notebooks_match_what_jupyterlab_writes(lite_site):
    """What JupyterLab would change on open (and so mark modified) is already so."""
    for docname in toc_chapters():
        notebook = lite_notebook(docname)
        assert (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5), docname
        assert notebook["metadata"]["kernelspec"] == lite_tool.LITE_KERNELSPEC, docname
        assert notebook["metadata"]["language_info"] == lite_tool.LITE_LANGUAGE_INFO, docname
        assert all(cell.get("id") for cell in notebook["cells"]), docname


def test_share_of_cells_that_run_in_lite(lite_site):
    chapters = json.loads((LITE / "handbook-lite.json").read_text())["chapters"]
    total = sum(c["total"] for c in chapters)
    runnable = sum(c["runnable"] for c in chapters)
    thin = {c["docname"]: c["runnable"] for c in chapters if c["runnable"] < 3}
    assert runnable / total >= 0.60, f"only {runnable} of {total} code cells run in Lite ({runnable / total:.0%})"
    assert not thin, f"chapters with fewer than 3 Lite-runnable cells: {thin}"


def test_launch_buttons_show_counts(lite_site):
    chapters = {c["docname"]: c for c in json.loads((LITE / "handbook-lite.json").read_text())["chapters"]}
    for docname in toc_chapters():
        html = (SITE / f"{docname}.html").read_text()
        chapter = chapters[docname]
        text = (f"Launch in JupyterLite · {chapter['runnable']} of {chapter['total']} "
                "cells run in your browser")
        assert text in html, f"{docname}: the launch button does not say {text!r}"


def test_the_kernels_start_up_modules_load_from_shipped_bytecode(lite_site, tmp_path):
    """Pyodide's own loader (in Node, which does not check the lock's hashes: the
    browser tests above do) installs the site's IPython wheel, and the pyc it
    imports from is there: Pyodide writes no bytecode itself, so the file exists
    only if the site shipped it."""
    pyodide = lite_site / "lite" / "static" / "pyodide"
    script = tmp_path / "probe.mjs"
    script.write_text(
        f'import {{ loadPyodide }} from "{(pyodide / "pyodide.mjs").as_uri()}";\n'
        f'const py = await loadPyodide({{ indexURL: "{pyodide}/" }});\n'
        'await py.loadPackage(["ipython"], { messageCallback: () => {} });\n'
        "console.log(py.runPython(`import os, sys, IPython, IPython.core.interactiveshell as s\n"
        "f'{sys.dont_write_bytecode} {os.path.exists(IPython.__cached__)} {os.path.exists(s.__cached__)}'`));\n"
    )
    completed = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split()[-3:] == ["True", "True", "True"], completed.stdout[-500:]


def test_hosted_mode_names_the_pyodide_the_kernel_expects():
    kernel_js = "".join(
        p.read_text(errors="ignore") for p in
        (Path(sys.prefix) / "share/jupyter/labextensions/@jupyterlite/pyodide-kernel-extension/static").glob("*.js"))
    expected = set(re.findall(r"cdn\.jsdelivr\.net/pyodide/v([\d.]+)/full/", kernel_js))
    assert len(expected) == 1, f"cannot tell which Pyodide the kernel expects: {expected}"
    version = expected.pop()
    hosted, offline = lite_tool.kernel_settings("hosted"), lite_tool.kernel_settings("offline")
    assert hosted["pyodideUrl"] == f"https://cdn.jsdelivr.net/pyodide/v{version}/full/pyodide.mjs"
    assert json.loads((ROOT / "package.json").read_text())["dependencies"]["pyodide"] == version
    assert set(hosted) - {"pyodideUrl"} == set(offline), "hosted and offline kernel settings differ"
    assert hosted["loadPyodideOptions"]["packages"] == [
        p for p in offline["loadPyodideOptions"]["packages"] if p in hosted["loadPyodideOptions"]["packages"]]


def test_prose_edit_rewrites_one_notebook_fast(lite_site, tmp_path):
    """A prose-only edit of one chapter: only its notebook changes, no `jupyter lite build`."""
    import shutil
    import time

    book = tmp_path / "book"
    book.mkdir()
    for name in ("_toc.yml", "_config.yml", "chapters", "book"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, book / name)
    (book / "node_modules").symlink_to(ROOT / "node_modules")
    (book / "_build" / ".lite").mkdir(parents=True)
    (book / "_build" / ".lite" / "wheels").symlink_to(ROOT / "_build" / ".lite" / "wheels")
    out = tmp_path / "lite"
    shutil.copytree(LITE, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    mode = json.loads((out / "handbook-lite.json").read_text())["mode"]
    args = ["lite.py", str(book), str(out)]
    import os
    os.environ["HANDBOOK_LITE"] = mode

    started = time.perf_counter()
    assert lite_tool.main(args) == 0
    noop = time.perf_counter() - started
    import jupytext  # noqa: F401  (imported by the build anyway; time the update, not Python's imports)
    import nbformat  # noqa: F401

    docname = toc_chapters()[-1]
    source = book / f"{docname}.md"
    text = source.read_text()
    heading = re.search(r"^## .*$", text, re.M)
    source.write_text(text[:heading.end()] + "\n\nA sentence added to test incremental updates.\n"
                      + text[heading.end():])
    started = time.perf_counter()
    assert lite_tool.main(args) == 0
    edit = time.perf_counter() - started
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    changed = sorted(str(p) for p in after if before.get(p) != after[p])
    listing = Path("api/contents") / Path(docname).parent / "all.json"
    assert changed == sorted([f"files/{docname}.ipynb", str(listing), "handbook-lite.json"]), changed
    notebook = json.loads((out / "files" / f"{docname}.ipynb").read_text())
    assert any("A sentence added to test incremental updates." in "".join(c["source"]) for c in notebook["cells"])
    assert noop < 1.0, f"a no-op took {noop:.2f} s"
    assert edit < 3.0, f"a prose edit took {edit:.2f} s"
