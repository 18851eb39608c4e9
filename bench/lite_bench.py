"""Benchmark the JupyterLite launch (issue 12). A script, not a test.

Usage: python bench/lite_bench.py [SITE_DIR] [--chapter chapters/NN-slug] [--runs N]
           [--cache-headers] [--label NAME] [--no-hover] [--app lab|notebooks] [--results DIR]
           [--lite-config JSON]   (a setting tried without rebuilding the site)
       python bench/lite_bench.py [SITE_DIR] --floor [--runs N]   (Pyodide alone, no JupyterLite)
       (SITE_DIR defaults to $HANDBOOK_SITE or <repo>/_build/html)

Each run is a fresh browser profile that opens the chapter page, hovers and clicks
"Launch in JupyterLite" twice: cold (first visit), then warm (same profile). It measures:
  * click -> kernel idle (s; idle must hold 750 ms, the moment it began is reported;
    the first moment "idle" was shown at all is recorded too)
  * click -> first cell output after "Run All" is chosen at idle (s)
  * where the time goes, from the kernel's own clocks (kernel_phases: app load, Pyodide
    boot, packages, kernel start; they sum to click -> idle), and independently from
    the browser's requests after the click (phases)
  * bytes the server sent for the launch (all requests, workers included)
It also reports the Lite site's size on disk, its file count and whether any
sourcemap (*.map) is shipped. Writes lite[-LABEL].json and .md to bench/results/
(or --results). Targets: click -> idle <= 6 s cold, <= 4 s warm, no sourcemaps.

--floor instead times what no Lite setting can remove: a bare page (not part of the
site) whose module worker boots the site's Pyodide, loads the kernel's preload
packages and imports the kernel, cold and warm (lite-floor[-LABEL].json/.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import http.server
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PREFIX = "/handbook"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
TARGET_COLD_S = 6.0
TARGET_WARM_S = 4.0


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
        ".json": "application/json", ".ipynb": "application/json",
    }
    sent: list = []  # (path, status, bytes)
    lite_config: dict = {}

    def translate_path(self, path):
        if not path.startswith(PREFIX + "/"):
            return "/nonexistent-outside-prefix"
        return super().translate_path(path[len(PREFIX):])

    def log_message(self, *args):
        pass

    def do_GET(self):
        generated = FLOOR_FILES.get(self.path.split("?", 1)[0])
        if generated is not None:  # --floor: a bare Pyodide page, not part of the site
            body, kind = generated
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        # The bench reads the kernel's own timings through the app object (window.jupyterapp),
        # which JupyterLite exposes only with exposeAppInBrowser: add it to the served copy
        # of lite/jupyter-lite.json (the site on disk is not changed).
        if self.path.split("?", 1)[0] != f"{PREFIX}/lite/jupyter-lite.json":
            return super().do_GET()
        config = json.loads(Path(self.translate_path(self.path)).read_text())
        config["jupyter-config-data"]["exposeAppInBrowser"] = True
        config["jupyter-config-data"].update(Handler.lite_config)  # --lite-config, to try a setting
        body = json.dumps(config).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_response(self, code, message=None):
        self._code, self._length = code, 0
        super().send_response(code, message)

    def send_header(self, keyword, value):
        if keyword.lower() == "content-length":
            self._length = int(value)
        super().send_header(keyword, value)

    cache_headers = False  # --cache-headers: what a static host should send (see README)

    def end_headers(self):
        if Handler.cache_headers:
            hashed = re.search(r"/lite/(build|extensions)/", self.path)
            self.send_header("Cache-Control", "public, max-age=31536000, immutable" if hashed else "no-cache")
        Handler.sent.append((self.path, getattr(self, "_code", 0), getattr(self, "_length", 0)))
        super().end_headers()


def serve(directory: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"


IDLE_JS = """() => {
    const name = document.querySelector('.jp-KernelName, .jp-Toolbar-kernelName');
    const ind = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const status = document.querySelector('.jp-NotebookKernelStatus');
    const ok = !!(name && /Pyodide/.test(name.textContent) && ind && ind.getAttribute('data-status') === 'idle'
        && !(status && /Connecting|Starting|Restarting|Unknown/i.test(status.textContent)));
    // idle must hold for STABLE_MS (the status flickers to idle before the kernel starts);
    // the moment it began is what is reported
    const t = performance.now();
    // the first moment it showed idle at all (what a bench without the hold would report)
    if (ok && !window.__benchFirstIdle) window.__benchFirstIdle = Date.now();
    if (!ok) { window.__benchIdleSince = null; return false; }
    window.__benchIdleSince = window.__benchIdleSince || t;
    return t - window.__benchIdleSince > 750;
}"""
STABLE_S = 0.75
# Run in the kernel after the first output: the worker's own clock (performance.timeOrigin =
# when the kernel's web worker started), the Emscripten file system's modification times
# (set when Pyodide unpacks each wheel into site-packages) in epoch seconds, and the
# worker's resource timings (ms after the worker started).
KERNEL_PROBE = """
import json, os, sys, js
site = next(p for p in sys.path if p.endswith("site-packages"))
dists = {}
for name in os.listdir(site):
    if name.endswith(".dist-info"):
        d = os.path.join(site, name)
        dists[name.split("-")[0]] = max(os.stat(os.path.join(d, f)).st_mtime for f in os.listdir(d))
print("BENCH" + json.dumps({"worker_start": js.performance.timeOrigin / 1000,
    "dists": dists,
    "resources": [[e.name.rsplit("/", 1)[-1], round(e.startTime), round(e.responseEnd)]
                  for e in js.performance.getEntriesByType("resource")]}))
"""
PROBE_JS = """async (code) => {
    const app = window.jupyterapp;
    if (!app || !app.shell.currentWidget || !app.shell.currentWidget.sessionContext) return null;
    const kernel = app.shell.currentWidget.sessionContext.session.kernel;
    const future = kernel.requestExecute({code, silent: false, store_history: false});
    let out = "";
    future.onIOPub = (msg) => {
        const c = msg.content;
        if (msg.header.msg_type === "stream") out += c.text;
        if (msg.header.msg_type === "error") out += `${c.ename}: ${c.evalue}\n`;
    };
    await future.done;
    return out;
}"""


PHASES = ("app_load_s", "pyodide_boot_s", "package_loading_s", "kernel_start_s")


def phases(events: list, clicked: float, idle_at: float) -> dict:
    """Where the time goes between the click and kernel idle, from the browser's own
    requests after the click (workers included; a cache hit is a request too):

    * app load: click -> the kernel worker requests ``pyodide.mjs`` (the page, the
      Lite app's JavaScript, the notebook, the kernel worker started);
    * Pyodide boot: -> the first wheel is requested (core, wasm compile, stdlib, lock);
    * packages: -> the last wheel requested before idle has arrived (loadPyodide's
      ``packages`` or the kernel's piplite installs);
    * kernel start: -> idle (the worker imports ``pyodide_kernel``: IPython, ipykernel,
      traitlets, jedi ... in WebAssembly; no request is made in this phase).

    Prefetches (the hover on the launch button) and requests after idle (the notebook's own
    installs) are not phase markers. Each marker is clamped between the previous one
    and idle, so the phases are non-negative, in order, and sum to click -> idle."""
    # "other" is the chapter page's <link rel=prefetch> (hover), which may start just after the click
    window = [e for e in events if clicked <= e["start"] <= idle_at and e.get("type") != "other"]

    def first(pred, key):
        times = [e[key] for e in window if pred(e["url"]) and e.get(key)]
        return min(times) if times else None

    def last(pred, key):
        times = [e[key] for e in window if pred(e["url"]) and e.get(key) and e[key] <= idle_at]
        return max(times) if times else None

    def name(url):
        return url.split("?", 1)[0].rsplit("/", 1)[-1]

    marks = [
        first(lambda u: name(u) in ("pyodide.mjs", "pyodide.js"), "start"),
        first(lambda u: name(u).endswith(".whl"), "start"),
        last(lambda u: name(u).endswith(".whl"), "end"),
    ]
    if None in marks:
        return {}
    points, previous = [clicked], clicked
    for mark in marks:
        previous = min(max(mark, previous), idle_at)
        points.append(previous)
    points.append(idle_at)
    return {key: round(b - a, 3) for key, a, b in zip(PHASES, points, points[1:], strict=False)}


def kernel_phases(probe, clicked_epoch: float, idle: float) -> dict:
    """Phases from the kernel's own clocks (KERNEL_PROBE), click -> idle:

    * app load: click -> the kernel's web worker starts (page, Lite app, notebook);
    * Pyodide boot: -> the first wheel is unpacked (pyodide.mjs, the lock, the wasm, the
      stdlib and the wheels fetched, the wasm compiled, the interpreter started);
    * packages: -> the last wheel the kernel loads before idle is unpacked;
    * kernel start: -> idle (`import pyodide_kernel`: IPython, ipykernel, jedi ... plus
      the kernel's status round trip).

    Also reported: when the worker's last download (not /drive) ended, and how many
    synchronous /drive requests (the mounted contents, looked up by imports because
    the kernel's working directory is /drive) the worker made before idle.
    Clamped so the phases are non-negative, in order and sum to click -> idle."""
    text = probe if isinstance(probe, str) else ""
    line = next((x for x in text.splitlines() if x.startswith("BENCH")), None)
    if line is None:
        return {"error": (text or "no probe output")[:300]}
    data = json.loads(line[len("BENCH"):])
    worker = data["worker_start"]
    at_idle = clicked_epoch + idle
    kernel_dists = [t for t in data["dists"].values() if t <= at_idle]  # not the notebook's installs
    if not kernel_dists:
        return {"error": "no wheel unpacked before idle"}
    marks = [worker, min(kernel_dists), max(kernel_dists)]
    points, previous = [0.0], 0.0
    for mark in marks:
        previous = min(max(mark - clicked_epoch, previous), idle)
        points.append(previous)
    points.append(idle)
    result = {key: round(b - a, 3) for key, a, b in zip(PHASES, points, points[1:], strict=False)}
    idle_ms = (at_idle - worker) * 1000
    fetched = [end for name, _, end in data["resources"] if name != "drive" and end <= idle_ms]
    result["downloads_done_s"] = round(worker - clicked_epoch + max(fetched, default=0) / 1000, 3)
    result["drive_requests"] = sum(1 for name, start, _ in data["resources"] if name == "drive" and start <= idle_ms)
    return result


def one_run(context, base: str, chapter: str, hover: bool = True, app: str = "") -> dict:
    page = context.new_page()
    page.goto(f"{base}/{chapter}.html")
    start_log = len(Handler.sent)
    events, by_request = [], {}

    def on_request(request):
        entry = {"url": request.url, "start": time.perf_counter(), "request": request,
                 "type": request.resource_type}
        by_request[id(request)] = entry
        events.append(entry)

    def on_finished(request):
        entry = by_request.get(id(request))
        if entry is not None:
            entry["end"] = time.perf_counter()

    context.on("request", on_request)
    context.on("requestfinished", on_finished)
    link = page.get_by_role("link", name=re.compile("Launch in JupyterLite"))
    if app:  # the same launch in another Lite app (lab, notebooks)
        link.evaluate("(a, app) => { a.href = a.href.replace(/\\/lite\\/[a-z]+\\/index\\.html/, "
                      "`/lite/${app}/index.html`); }", app)
    if hover:
        link.hover()  # what a reader does before clicking (starts the prefetch, if the page has one)
    clicked, clicked_epoch = time.perf_counter(), time.time()
    link.click()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
    notebook_shown = time.perf_counter() - clicked
    page.wait_for_function(IDLE_JS, timeout=180_000, polling=50)
    idle_at = time.perf_counter() - STABLE_S
    idle = idle_at - clicked
    first_idle = page.evaluate("() => window.__benchFirstIdle") / 1000 - clicked_epoch
    page.get_by_role("menuitem", name="Run", exact=True).click()
    run_clicked = time.perf_counter()
    page.locator('li[data-command="runmenu:run-all"]').click()
    page.wait_for_selector(".jp-OutputArea-output", timeout=180_000)
    first_output = time.perf_counter() - clicked
    first_output_after_idle = time.perf_counter() - run_clicked
    time.sleep(0.5)
    try:
        probe = page.evaluate(PROBE_JS, KERNEL_PROBE)
    except Exception as error:  # noqa: BLE001 - the probe is optional; phases fall back to requests
        probe = f"error: {error}"
    context.remove_listener("request", on_request)
    context.remove_listener("requestfinished", on_finished)
    served = Handler.sent[start_log:]
    page.close()
    return {
        "notebook_shown_s": round(notebook_shown, 3),
        "idle_s": round(idle, 3),
        "first_idle_flicker_s": round(first_idle, 3),
        "first_output_s": round(first_output, 3),
        "first_output_after_run_all_s": round(first_output_after_idle, 3),
        "requests": len(served),
        "bytes": sum(b for _, _, b in served),
        "errors": [p for p, s, _ in served if s >= 400],
        "phases": kernel_phases(probe, clicked_epoch, idle),
        "request_phases": phases(events, clicked, idle_at),
        "timeline": [[e["url"].split("?", 1)[0].rsplit("/", 1)[-1], e["type"],
                      round(e["start"] - clicked, 3), round(e["end"] - clicked, 3) if e.get("end") else None]
                     for e in events if e["start"] >= clicked - 5],
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def kernel_settings(lite: Path) -> dict:
    """The Pyodide kernel's settings in the site's jupyter-lite.json (as built, on disk)."""
    config = json.loads((lite / "jupyter-lite.json").read_text())["jupyter-config-data"]
    return config["litePluginSettings"][KERNEL_PLUGIN]


@contextlib.contextmanager
def fresh_profile(playwright):
    """Debian's chromium with an empty profile: the first visit is cold, the next warm."""
    with tempfile.TemporaryDirectory(prefix="lite-bench-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield context
        finally:
            context.close()


# --floor: what Pyodide alone costs in this browser, without JupyterLite: a page
# starts a module worker (as the kernel does) that imports the site's pyodide.mjs,
# boots it with the kernel's preload packages (loadPyodideOptions.packages, so they
# load while Pyodide boots, as in the kernel) and imports what the kernel imports.
# Left out: the kernel's globals and piplite settings, and its first status round trip.
FLOOR_WORKER = """
const marks = [performance.now()];
const { loadPyodide } = await import(PYODIDE_URL);
const pyodide = await loadPyodide({indexURL: new URL(".", PYODIDE_URL).href, packages: PACKAGES});
marks.push(performance.now());
await pyodide.runPythonAsync("import piplite.piplite\\nimport pyodide_kernel");
marks.push(performance.now());
postMessage({worker_started_ms: performance.timeOrigin, marks});
"""
FLOOR_PAGE = """<!doctype html><title>Pyodide floor</title><script>
const worker = new Worker("__floor_worker.mjs", {type: "module"});
worker.onmessage = (event) => { window.floor = event.data; };
worker.onerror = (event) => { window.floor = {error: String(event.message)}; };
</script>"""
FLOOR_FILES: dict = {}


def floor_run(context, base: str) -> dict:
    page = context.new_page()
    started = time.time() * 1000
    page.goto(f"{base}/__floor.html")
    page.wait_for_function("() => window.floor", timeout=180_000, polling=50)
    data = page.evaluate("() => window.floor")
    page.close()
    if "error" in data:
        raise RuntimeError(f"the floor worker failed: {data['error']}")
    boot, kernel = (b - a for a, b in zip(data["marks"], data["marks"][1:], strict=False))
    return {
        "to_worker_s": round((data["worker_started_ms"] + data["marks"][0] - started) / 1000, 3),
        "boot_and_packages_s": round(boot / 1000, 3),
        "kernel_import_s": round(kernel / 1000, 3),
        "total_s": round((data["worker_started_ms"] + data["marks"][-1] - started) / 1000, 3),
    }


def floor(site: Path, base: str, runs: int, results: Path, label: str, cache_headers: bool) -> int:
    kernel = kernel_settings(site / "lite")
    if not str(kernel.get("pyodideUrl", "")).startswith("./"):
        print("--floor needs an offline build (HANDBOOK_LITE=offline): this site loads Pyodide "
              f"from {kernel.get('pyodideUrl')}", file=sys.stderr)
        return 1
    packages = kernel["loadPyodideOptions"]["packages"]
    pyodide_url = f"{base}/lite/{kernel['pyodideUrl'][2:]}"
    worker = FLOOR_WORKER.replace("PACKAGES", json.dumps(packages)).replace("PYODIDE_URL", json.dumps(pyodide_url))
    FLOOR_FILES[f"{PREFIX}/__floor.html"] = (FLOOR_PAGE.encode(), "text/html")
    FLOOR_FILES[f"{PREFIX}/__floor_worker.mjs"] = (worker.encode(), "text/javascript")
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        for index in range(runs):
            with fresh_profile(playwright) as context:
                for visit in ("cold", "warm"):
                    row = {"visit": visit, **floor_run(context, base), "load_avg_1min": round(os.getloadavg()[0], 2)}
                    rows.append(row)
                    print(f"floor run {index + 1} {visit}: {row}", flush=True)
    keys = ("to_worker_s", "boot_and_packages_s", "kernel_import_s", "total_s")
    medians = {visit: {k: round(statistics.median(r[k] for r in rows if r["visit"] == visit), 2) for k in keys}
               for visit in ("cold", "warm")}
    summary = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
               "cache_headers": cache_headers, "pyodide_url": kernel["pyodideUrl"], "packages": packages,
               "runs": rows, "medians": medians}
    name = f"lite-floor{'-' + label if label else ''}"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"## Pyodide alone, no JupyterLite: {summary['date']}", "",
             f"{os.cpu_count()} CPUs, {runs} fresh browser profiles, each visited twice; cache headers: "
             f"{'long-lived' if cache_headers else 'none'}. A module worker imports the site's `pyodide.mjs`, "
             "boots it with the kernel's preload packages and imports `piplite.piplite` and `pyodide_kernel`, "
             "as the kernel does, without the Lite app, its service worker or the drive.", "",
             "| visit | page → worker (s) | Pyodide boot + packages | kernel import | total |",
             "|---|---|---|---|---|",
             *[f"| {v} (median) | " + " | ".join(f"{medians[v][k]:.2f}" for k in keys) + " |" for v in medians],
             ""]
    (results / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def site_size(lite: Path) -> dict:
    files = [p for p in lite.rglob("*") if p.is_file()]
    return {
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "sourcemaps": len([p for p in files if p.suffix == ".map"]),
        "pyodide_bytes": sum(p.stat().st_size for p in files if "static/pyodide" in p.as_posix()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default=os.environ.get("HANDBOOK_SITE", REPO / "_build" / "html"))
    parser.add_argument("--chapter", default="chapters/01-what-is-jupyter")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache-headers", action="store_true",
                        help="serve build/ and extensions/ with a one-year immutable Cache-Control, the rest no-cache")
    parser.add_argument("--label", default="", help="a name for this configuration in the report")
    parser.add_argument("--no-hover", action="store_true",
                        help="click without hovering first (no prefetch on hover)")
    parser.add_argument("--app", choices=("lab", "notebooks"), default="",
                        help="launch this Lite app instead of the one the chapter page links")
    parser.add_argument("--results", default=str(RESULTS), help="where lite-LABEL.json/.md go")
    parser.add_argument("--lite-config", type=json.loads, default={}, metavar="JSON",
                        help="top-level keys set in the served jupyter-lite.json's jupyter-config-data "
                             "(the site on disk is not changed), e.g. '{\"enableServiceWorkerCache\": true}'")
    parser.add_argument("--floor", action="store_true",
                        help="time Pyodide alone (boot, the kernel's packages, its import) without JupyterLite")
    args = parser.parse_args()
    site = Path(args.site).resolve()
    lite = site / "lite"
    if not (lite / "index.html").is_file():
        print(f"no JupyterLite site at {lite}; build the book first", file=sys.stderr)
        return 1
    manifest = json.loads((lite / "handbook-lite.json").read_text())

    from playwright.sync_api import sync_playwright

    Handler.cache_headers = args.cache_headers
    Handler.lite_config = args.lite_config
    server, base = serve(site)
    if args.floor:
        status = floor(site, base, args.runs, Path(args.results), args.label, args.cache_headers)
        server.shutdown()
        return status
    runs = []
    with sync_playwright() as playwright:
        for index in range(args.runs):
            with fresh_profile(playwright) as context:
                for visit in ("cold", "warm"):
                    result = one_run(context, base, args.chapter, hover=not args.no_hover, app=args.app)
                    result["visit"] = visit
                    runs.append(result)
                    print(f"run {index + 1} {visit}: idle {result['idle_s']:.2f} s, first output "
                          f"{result['first_output_s']:.2f} s, {result['bytes'] / 1e6:.1f} MB in "
                          f"{result['requests']} requests, load {result['load_avg_1min']}, "
                          f"phases {result['phases']}", flush=True)
    server.shutdown()

    size = site_size(lite)
    cold = [r for r in runs if r["visit"] == "cold"]
    warm = [r for r in runs if r["visit"] == "warm"]

    def median(rows, key):
        return statistics.median(r[key] for r in rows)

    def median_phases(rows, field="phases"):
        keys = [k for k in (*PHASES, "downloads_done_s", "drive_requests") if all(k in r[field] for r in rows)]
        return {k: round(statistics.median(r[field][k] for r in rows), 2) for k in keys}

    summary = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg": os.getloadavg()},
        "mode": manifest["mode"],
        "label": args.label,
        "cache_headers": args.cache_headers,
        "hover": not args.no_hover,
        "app": args.app or "as linked",
        "lite_config": args.lite_config,
        "kernel_settings": kernel_settings(lite),
        "chapter": args.chapter,
        "runs": runs,
        "median_cold_idle_s": median(cold, "idle_s"),
        "median_warm_idle_s": median(warm, "idle_s"),
        "median_cold_first_output_s": median(cold, "first_output_s"),
        "median_cold_first_idle_flicker_s": median(cold, "first_idle_flicker_s"),
        "median_warm_first_idle_flicker_s": median(warm, "first_idle_flicker_s"),
        "median_warm_first_output_s": median(warm, "first_output_s"),
        "phases_cold": median_phases(cold),
        "phases_warm": median_phases(warm),
        "request_phases_cold": median_phases(cold, "request_phases"),
        "request_phases_warm": median_phases(warm, "request_phases"),
        "first_launch_bytes": cold[0]["bytes"],
        "site": size,
        "target_cold_idle_s": TARGET_COLD_S,
        "target_warm_idle_s": TARGET_WARM_S,
        "no_sourcemaps": size["sourcemaps"] == 0,
    }
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    name = f"lite{'-' + args.label if args.label else ''}"
    (results / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    ok = {True: "met", False: "NOT met"}
    lines = [
        f"## {args.label or 'Launch'}: {summary['date']}",
        "",
        f"{summary['machine']['cpus']} CPUs (load average {summary['machine']['load_avg'][0]:.1f}), "
        f"mode `{summary['mode']}`, chapter `{args.chapter}`, {len(cold)} fresh browser profiles, "
        f"each visited twice (cold, then warm); cache headers: {'long-lived' if args.cache_headers else 'none'}"
        + (f"; served with `{json.dumps(args.lite_config)}` in jupyter-lite.json." if args.lite_config else "."),
        "",
        "| run | visit | click → notebook (s) | click → kernel idle (s) | click → first output (s) "
        "| app load | Pyodide boot | packages | kernel start | downloads done | /drive requests "
        "| load avg | bytes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {i // 2 + 1} | {r['visit']} | {r['notebook_shown_s']:.2f} | {r['idle_s']:.2f} | "
          f"{r['first_output_s']:.2f} | "
          + " | ".join(f"{r['phases'].get(k, float('nan')):.2f}" for k in (*PHASES, "downloads_done_s"))
          + f" | {r['phases'].get('drive_requests', '?')} | {r['load_avg_1min']:.1f} | {r['bytes']:,} |"
          for i, r in enumerate(runs)],
        "",
        "Phases (s, from the kernel's own clocks, they sum to click → idle): app load = click → "
        "kernel worker started; Pyodide boot = → first wheel unpacked (all downloads, wasm compile, "
        "interpreter start); packages = → last wheel unpacked; kernel start = → idle (importing "
        "pyodide_kernel, IPython, ipykernel). Downloads done = when the worker's last download "
        "ended (s after the click).",
        "",
        f"- Median click → idle, cold: **{summary['median_cold_idle_s']:.2f} s** "
        f"(target ≤ {TARGET_COLD_S:.0f} s: {ok[summary['median_cold_idle_s'] <= TARGET_COLD_S]}); "
        f"warm: **{summary['median_warm_idle_s']:.2f} s** "
        f"(target ≤ {TARGET_WARM_S:.0f} s: {ok[summary['median_warm_idle_s'] <= TARGET_WARM_S]})",
        f"- Median click → first output: cold {summary['median_cold_first_output_s']:.2f} s, "
        f"warm {summary['median_warm_first_output_s']:.2f} s",
        f"- Median click → first \"idle\" shown (the flicker before the kernel has started, what "
        f"a bench without the 750 ms hold reports): cold {summary['median_cold_first_idle_flicker_s']:.2f} s, "
        f"warm {summary['median_warm_first_idle_flicker_s']:.2f} s",
        f"- Bytes on a first launch: {summary['first_launch_bytes'] / 1e6:.1f} MB; Lite site "
        f"{size['bytes'] / 1e6:.1f} MB in {size['files']} files; sourcemaps: {size['sourcemaps']}",
        "",
    ]
    (results / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
