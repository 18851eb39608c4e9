"""Benchmark the JupyterLite launch (issue 6). A script, not a test.

Usage: python bench/lite_bench.py [SITE_DIR] [--chapter chapters/NN-slug] [--runs N]
       (SITE_DIR defaults to $HANDBOOK_SITE or <repo>/_build/html)

For each run, in a fresh browser context (cold HTTP cache = a first launch), it
opens the chapter page, clicks "Launch in JupyterLite" and measures:
  * click -> kernel idle (s)
  * click -> first cell output after "Run All" is chosen at idle (s), and the
    run time of that first output alone (idle -> first output)
  * bytes the server sent for the launch (all requests, workers included)
It also reports the Lite site's size on disk, its file count and whether any
sourcemap (*.map) is shipped. Writes bench/results/lite.json and lite.md.
Targets: click -> idle <= 6 s cold, <= 4 s warm (same profile), no sourcemaps.
"""

from __future__ import annotations

import argparse
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
TARGET_COLD_S = 6.0
TARGET_WARM_S = 4.0


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
        ".json": "application/json", ".ipynb": "application/json",
    }
    sent: list = []  # (path, status, bytes)

    def translate_path(self, path):
        if not path.startswith(PREFIX + "/"):
            return "/nonexistent-outside-prefix"
        return super().translate_path(path[len(PREFIX):])

    def log_message(self, *args):
        pass

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
            hashed = re.search(r"/lite/(build|extensions|static/pyodide)/", self.path)
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
    if (!ok) { window.__benchIdleSince = null; return false; }
    window.__benchIdleSince = window.__benchIdleSince || t;
    return t - window.__benchIdleSince > 750;
}"""
STABLE_S = 0.75


def phases(events: list, clicked: float, idle: float) -> dict:
    """Where the time goes, from the browser's own requests (workers included):
    app load (click -> Pyodide requested), Pyodide boot (-> first wheel requested),
    package loading (-> last wheel loaded), kernel start (IPython import, kernel
    init: -> idle)."""
    def first(pred, key):
        times = [e[key] for e in events if pred(e["url"]) and e.get(key)]
        return min(times) if times else None

    def last(pred, key):
        times = [e[key] for e in events if pred(e["url"]) and e.get(key)]
        return max(times) if times else None

    def is_pyodide(url):
        return "pyodide.mjs" in url or "pyodide.js" in url

    pyodide = first(is_pyodide, "start")
    wheel0 = first(lambda u: ".whl" in u, "start")
    wheel1 = last(lambda u: ".whl" in u, "end")
    if None in (pyodide, wheel0, wheel1):
        return {}
    return {
        "app_load_s": round(pyodide - clicked, 3),
        "pyodide_boot_s": round(wheel0 - pyodide, 3),
        "package_loading_s": round(wheel1 - wheel0, 3),
        "kernel_start_s": round(clicked + idle - wheel1, 3),
    }


def one_run(context, base: str, chapter: str) -> dict:
    page = context.new_page()
    page.goto(f"{base}/{chapter}.html")
    start_log = len(Handler.sent)
    events, by_request = [], {}

    def on_request(request):
        entry = {"url": request.url, "start": time.perf_counter()}
        by_request[id(request)] = entry
        events.append(entry)

    def on_finished(request):
        entry = by_request.get(id(request))
        if entry is not None:
            entry["end"] = time.perf_counter()

    context.on("request", on_request)
    context.on("requestfinished", on_finished)
    link = page.get_by_role("link", name=re.compile("Launch in JupyterLite"))
    link.hover()  # what a reader does before clicking (starts the prefetch, if the page has one)
    clicked = time.perf_counter()
    link.click()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
    notebook_shown = time.perf_counter() - clicked
    page.wait_for_function(IDLE_JS, timeout=180_000, polling=50)
    idle = time.perf_counter() - clicked - STABLE_S
    page.get_by_role("menuitem", name="Run", exact=True).click()
    run_clicked = time.perf_counter()
    page.locator('li[data-command="runmenu:run-all"]').click()
    page.wait_for_selector(".jp-OutputArea-output", timeout=180_000)
    first_output = time.perf_counter() - clicked
    first_output_after_idle = time.perf_counter() - run_clicked
    time.sleep(0.5)
    context.remove_listener("request", on_request)
    context.remove_listener("requestfinished", on_finished)
    served = Handler.sent[start_log:]
    page.close()
    return {
        "notebook_shown_s": round(notebook_shown, 3),
        "idle_s": round(idle, 3),
        "first_output_s": round(first_output, 3),
        "first_output_after_run_all_s": round(first_output_after_idle, 3),
        "requests": len(served),
        "bytes": sum(b for _, _, b in served),
        "errors": [p for p, s, _ in served if s >= 400],
        "phases": phases(events, clicked, idle),
    }


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
                        help="serve build/, extensions/ and Pyodide with a one-year immutable Cache-Control")
    parser.add_argument("--label", default="", help="a name for this configuration in the report")
    args = parser.parse_args()
    site = Path(args.site).resolve()
    lite = site / "lite"
    if not (lite / "index.html").is_file():
        print(f"no JupyterLite site at {lite}; build the book first", file=sys.stderr)
        return 1
    manifest = json.loads((lite / "handbook-lite.json").read_text())

    from playwright.sync_api import sync_playwright

    Handler.cache_headers = args.cache_headers
    server, base = serve(site)
    runs = []
    with sync_playwright() as playwright:
        for index in range(args.runs):
            # A fresh profile per run: the first launch is cold, the second warm (same profile).
            with tempfile.TemporaryDirectory(prefix="lite-bench-") as profile:
                context = playwright.chromium.launch_persistent_context(
                    profile, executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                for visit in ("cold", "warm"):
                    result = one_run(context, base, args.chapter)
                    result["visit"] = visit
                    runs.append(result)
                    print(f"run {index + 1} {visit}: idle {result['idle_s']:.2f} s, first output "
                          f"{result['first_output_s']:.2f} s, {result['bytes'] / 1e6:.1f} MB in "
                          f"{result['requests']} requests, phases {result['phases']}", flush=True)
                context.close()
    server.shutdown()

    size = site_size(lite)
    cold = [r for r in runs if r["visit"] == "cold"]
    warm = [r for r in runs if r["visit"] == "warm"]

    def median(rows, key):
        return statistics.median(r[key] for r in rows)

    def median_phases(rows):
        keys = rows[0]["phases"].keys() if rows and rows[0]["phases"] else []
        return {k: round(statistics.median(r["phases"].get(k, 0) for r in rows), 2) for k in keys}

    summary = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg": os.getloadavg()},
        "mode": manifest["mode"],
        "label": args.label,
        "cache_headers": args.cache_headers,
        "kernel_settings": json.loads((lite / "jupyter-lite.json").read_text())["jupyter-config-data"]
        ["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"],
        "chapter": args.chapter,
        "runs": runs,
        "median_cold_idle_s": median(cold, "idle_s"),
        "median_warm_idle_s": median(warm, "idle_s"),
        "median_cold_first_output_s": median(cold, "first_output_s"),
        "median_warm_first_output_s": median(warm, "first_output_s"),
        "phases_cold": median_phases(cold),
        "phases_warm": median_phases(warm),
        "first_launch_bytes": cold[0]["bytes"],
        "site": size,
        "target_cold_idle_s": TARGET_COLD_S,
        "target_warm_idle_s": TARGET_WARM_S,
        "no_sourcemaps": size["sourcemaps"] == 0,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"lite{'-' + args.label if args.label else ''}"
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    ok = {True: "met", False: "NOT met"}
    lines = [
        f"## {args.label or 'Launch'}: {summary['date']}",
        "",
        f"{summary['machine']['cpus']} CPUs (load average {summary['machine']['load_avg'][0]:.1f}), "
        f"mode `{summary['mode']}`, chapter `{args.chapter}`, {len(cold)} fresh browser profiles, "
        f"each visited twice (cold, then warm); cache headers: {'long-lived' if args.cache_headers else 'none'}.",
        "",
        "| run | visit | click → notebook (s) | click → kernel idle (s) | click → first output (s) "
        "| app load | Pyodide boot | packages | kernel start | bytes |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {i // 2 + 1} | {r['visit']} | {r['notebook_shown_s']:.2f} | {r['idle_s']:.2f} | "
          f"{r['first_output_s']:.2f} | "
          + " | ".join(f"{r['phases'].get(k, float('nan')):.2f}" for k in
                       ("app_load_s", "pyodide_boot_s", "package_loading_s", "kernel_start_s"))
          + f" | {r['bytes']:,} |" for i, r in enumerate(runs)],
        "",
        f"- Median click → idle, cold: **{summary['median_cold_idle_s']:.2f} s** "
        f"(target ≤ {TARGET_COLD_S:.0f} s: {ok[summary['median_cold_idle_s'] <= TARGET_COLD_S]}); "
        f"warm: **{summary['median_warm_idle_s']:.2f} s** "
        f"(target ≤ {TARGET_WARM_S:.0f} s: {ok[summary['median_warm_idle_s'] <= TARGET_WARM_S]})",
        f"- Median click → first output: cold {summary['median_cold_first_output_s']:.2f} s, "
        f"warm {summary['median_warm_first_output_s']:.2f} s",
        f"- Bytes on a first launch: {summary['first_launch_bytes'] / 1e6:.1f} MB; Lite site "
        f"{size['bytes'] / 1e6:.1f} MB in {size['files']} files; sourcemaps: {size['sourcemaps']}",
        "",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
