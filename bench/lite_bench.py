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
Target: < 6 s click -> idle, no sourcemaps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import http.server
import json
import os
import platform
import statistics
import sys
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
TARGET_IDLE_S = 6.0


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

    def end_headers(self):
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
    return !!(name && /Pyodide/.test(name.textContent) && ind && ind.getAttribute('data-status') === 'idle'
        && !(status && /Connecting|Starting|Restarting|Unknown/i.test(status.textContent)));
}"""


def one_run(browser, base: str, chapter: str) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/{chapter}.html")
    start_log = len(Handler.sent)
    link = page.get_by_role("link", name="Launch in JupyterLite")
    clicked = time.perf_counter()
    link.click()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
    notebook_shown = time.perf_counter() - clicked
    page.wait_for_function(IDLE_JS, timeout=180_000, polling=50)
    idle = time.perf_counter() - clicked
    page.get_by_role("menuitem", name="Run", exact=True).click()
    run_clicked = time.perf_counter()
    page.locator('li[data-command="runmenu:run-all"]').click()
    page.wait_for_selector(".jp-OutputArea-output", timeout=180_000)
    first_output = time.perf_counter() - clicked
    first_output_after_idle = time.perf_counter() - run_clicked
    time.sleep(0.5)
    served = Handler.sent[start_log:]
    context.close()
    return {
        "notebook_shown_s": round(notebook_shown, 3),
        "idle_s": round(idle, 3),
        "first_output_s": round(first_output, 3),
        "first_output_after_run_all_s": round(first_output_after_idle, 3),
        "requests": len(served),
        "bytes": sum(b for _, _, b in served),
        "errors": [p for p, s, _ in served if s >= 400],
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
    args = parser.parse_args()
    site = Path(args.site).resolve()
    lite = site / "lite"
    if not (lite / "index.html").is_file():
        print(f"no JupyterLite site at {lite}; build the book first", file=sys.stderr)
        return 1
    manifest = json.loads((lite / "handbook-lite.json").read_text())

    from playwright.sync_api import sync_playwright

    server, base = serve(site)
    runs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for index in range(args.runs):
            result = one_run(browser, base, args.chapter)
            runs.append(result)
            print(f"run {index + 1}: idle {result['idle_s']:.2f} s, first output {result['first_output_s']:.2f} s, "
                  f"{result['bytes'] / 1e6:.1f} MB in {result['requests']} requests", flush=True)
        browser.close()
    server.shutdown()

    size = site_size(lite)
    summary = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "mode": manifest["mode"],
        "chapter": args.chapter,
        "runs": runs,
        "median_idle_s": statistics.median(r["idle_s"] for r in runs),
        "median_first_output_s": statistics.median(r["first_output_s"] for r in runs),
        "first_launch_bytes": runs[0]["bytes"],
        "site": size,
        "target_idle_s": TARGET_IDLE_S,
        "meets_idle_target": statistics.median(r["idle_s"] for r in runs) < TARGET_IDLE_S,
        "no_sourcemaps": size["sourcemaps"] == 0,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lite.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# JupyterLite launch benchmark",
        "",
        f"{summary['date']}, {summary['machine']['cpus']} CPUs, mode `{summary['mode']}`, chapter `{args.chapter}`, "
        f"{len(runs)} cold runs (fresh browser context each).",
        "",
        "| run | click → notebook shown (s) | click → kernel idle (s) | click → first output (s) | bytes | requests |",
        "|---|---|---|---|---|---|",
        *[f"| {i + 1} | {r['notebook_shown_s']:.2f} | {r['idle_s']:.2f} | {r['first_output_s']:.2f} | "
          f"{r['bytes']:,} | {r['requests']} |" for i, r in enumerate(runs)],
        "",
        f"- Median click → idle: **{summary['median_idle_s']:.2f} s** (target < {TARGET_IDLE_S:.0f} s: "
        f"{'met' if summary['meets_idle_target'] else 'NOT met'})",
        f"- Median click → first output: **{summary['median_first_output_s']:.2f} s**",
        f"- Bytes transferred on a first launch: **{summary['first_launch_bytes'] / 1e6:.1f} MB**",
        f"- Lite site: **{size['bytes'] / 1e6:.1f} MB** in {size['files']} files "
        f"(Pyodide + wheels {size['pyodide_bytes'] / 1e6:.1f} MB); sourcemaps: {size['sourcemaps']}",
        "",
    ]
    (RESULTS / "lite.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
