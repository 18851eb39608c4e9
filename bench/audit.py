"""Lighthouse on every page of the site. `make audit` runs this.

The site is served from 127.0.0.1 with gzip, as a real host serves it, and
audited with Debian's chromium headless. Scores and page weights go to
bench/results/audit.json and audit.md, with the worst page named. Lighthouse (npm, pinned in
bench/audit/package.json) is installed on first use, never by make book/test.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ROOT / "bench" / "audit"
RESULTS = ROOT / "bench" / "results"
SITE = ROOT / "_build" / "html"
CHROME_FLAGS = ("--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                "--disable-background-networking --disable-component-update --disable-sync")
METRICS = ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
           "cumulative-layout-shift", "speed-index"]
COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".json", ".txt", ".ipynb", ".map", ".mjs")


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, gzipped when the client accepts it, with a one-day cache header."""

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not (path.is_file() and path.suffix in COMPRESSIBLE
                and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), 6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def end_headers(self):
        self.send_header("Cache-Control", "max-age=86400")  # as a static host would
        super().end_headers()


def every_page() -> list[str]:
    """Every Sphinx page of the site (not the root redirect, the 404 page or the Lite app)."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from page_speed import site_pages

    skip = {"index.html", "404.html"}
    return [str(p.relative_to(SITE)) for p in site_pages(SITE) if str(p.relative_to(SITE)) not in skip]


def worst(results: dict) -> tuple[str, int]:
    """The page with the lowest score in any category, and that score."""
    page = min(results, key=lambda p: (min(results[p]["scores"].values()), results[p]["scores"]["performance"]))
    return page, min(results[page]["scores"].values())


def lighthouse(url: str, report: Path) -> dict:
    cli = AUDIT / "node_modules" / "lighthouse" / "cli" / "index.js"
    subprocess.run(
        ["node", str(cli), url, "--quiet", "--output=json", f"--output-path={report}",
         f"--chrome-flags={CHROME_FLAGS}", "--only-categories=performance,accessibility,best-practices,seo"],
        check=True, env={"CHROME_PATH": "/usr/bin/chromium", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    data = json.loads(report.read_text())
    audits = data["audits"]
    return {
        "scores": {k: round(v["score"] * 100) for k, v in data["categories"].items()},
        "transfer_kib": round(audits["total-byte-weight"]["numericValue"] / 1024),
        "metrics": {name: audits[name]["displayValue"].replace("\u00a0", " ") for name in METRICS},
        "failed_audits": sorted(
            k for k, a in audits.items()
            if a.get("score") is not None and a["score"] < 0.9 and a.get("scoreDisplayMode") == "binary"
        ),
    }


def main() -> None:
    if not (AUDIT / "node_modules" / "lighthouse").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                       cwd=AUDIT, check=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(GzipHandler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    results = {}
    try:
        for path in every_page():
            results[path] = lighthouse(f"{base}/{path}", RESULTS / f"lighthouse-{Path(path).stem}.json")
    finally:
        server.shutdown()
    (RESULTS / "audit.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| page | performance | accessibility | best practices | SEO | transfer |", "|---|---|---|---|---|---|"]
    for page, r in results.items():
        s = r["scores"]
        lines.append(f"| {page} | {s['performance']} | {s['accessibility']} | {s['best-practices']} "
                     f"| {s['seo']} | {r['transfer_kib']} KiB |")
    lines += ["", "Lighthouse's default mobile profile: simulated slow 4G and a 4× slower CPU.", "",
              "| page | FCP | LCP | TBT | CLS | Speed Index |", "|---|---|---|---|---|---|"]
    for page, r in results.items():
        lines.append(f"| {page} | " + " | ".join(r["metrics"][name] for name in METRICS) + " |")
    page, score = worst(results)
    table = "\n".join(lines) + (
        f"\n\nWorst page: {page} (lowest score {score}).\n"
        "\nTargets: performance ≥ 95, accessibility 100, best practices 100, SEO 100 on every page,"
        " served gzipped as a static host serves them.\n")
    (RESULTS / "audit.md").write_text(table)
    print(table)
    for page, r in results.items():
        if r["failed_audits"]:
            print(page, "failing audits:", ", ".join(r["failed_audits"]))


if __name__ == "__main__":
    main()
