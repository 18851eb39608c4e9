"""Measure how fast the book builds, rebuilds and checks. `make bench` runs this.

A benchmark, not a test: it asserts nothing, it reports. It runs on the
maintainer's checkout and restores every file it edits. Results go to
bench/results/build.json and bench/results/build.md, and the table is printed.

The edit figures (a no-op `make book`; a prose-only edit with `make book`, and
with `make preview` from save to served page) are also given as a ratio to
Sphinx's own start-up on this book, measured in the same run: a no-change
sphinx-build of the staged site, which loads the same conf.py, extensions and
pickled environment. On a busy machine both move together.

    python bench/build_bench.py          everything (cold build first: minutes)
    python bench/build_bench.py --edits  only the edit figures, on the current build
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BIN = ROOT / ".venv" / "bin"
PROSE_CHAPTER = ROOT / "chapters" / "02-when-to-use-jupyter.md"
CODE_CHAPTER = ROOT / "chapters" / "04-how-to-use.md"


class PeakMemory:
    """Polls the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                tree = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed(command: list[str], env: dict | None = None) -> dict:
    """Run a command, return its wall time, output and peak memory."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, **(env or {})})
    memory = PeakMemory(process.pid)
    output, _ = process.communicate()
    seconds = time.perf_counter() - start
    peak = memory.stop()
    if process.returncode != 0:
        print(output[-3000:])
        raise SystemExit(f"{' '.join(command)} failed")
    executed = re.search(r"Executing (\d+) notebook", output)
    return {
        "seconds": round(seconds, 2),
        "executed_chapters": int(executed.group(1)) if executed else 0,
        "peak_rss_mib": round(peak / 2**20),
        "pip_or_npm_ran": bool(re.search(r"pip install|npm ci", output)),
        "lite_built": "[lite] building" in output,
        "sphinx_wrote": [line.split("] ", 1)[-1] for line in output.splitlines()
                         if line.startswith("writing output... [")],
    }


def settle() -> None:
    """File times tick in steps of a few milliseconds: an edit written in the same
    tick as make's stamp would look older than the build, and make would skip it."""
    time.sleep(0.1)


def with_edit(path: Path, edit, command: list[str], env: dict | None = None) -> dict:
    original = path.read_text()
    try:
        settle()
        path.write_text(edit(original))
        return timed(command, env)
    finally:
        settle()
        path.write_text(original)


def append_prose(text: str) -> str:
    return text.rstrip() + "\n\nA sentence added by the benchmark.\n"


def edit_first_code_cell(text: str) -> str:
    """Add a comment as the last line of the first code cell: new code, same behaviour."""
    opening = text.index("```{code-cell}")
    closing = text.index("\n```", opening + 3)
    return text[:closing] + "\n# edited by the benchmark" + text[closing:]


def chapter_execution_seconds() -> dict[str, float]:
    """myst-nb's execution data: the run time it stores with each cached notebook."""
    from jupyter_cache import get_cache

    sys.path.insert(0, str(ROOT / "book" / "tools"))
    import bookinfo

    cache = get_cache(bookinfo.execution_settings(ROOT).execution_cache_path)
    return {Path(r.uri).stem: r.data.get("execution_seconds", 0.0) for r in cache.list_cache_records()}


def page_weight(html_path: Path) -> dict:
    """Bytes a first visit loads: the page and every local asset it references, raw and gzipped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html_path.read_text(), "html.parser")
    files = {html_path}
    for tag in soup.find_all(["script", "link", "img"]):
        url = (tag.get("src") or tag.get("href") or "").split("?")[0].split("#")[0]
        if not url or "://" in url or url.startswith("data:"):
            continue
        if tag.name == "link" and "stylesheet" not in (tag.get("rel") or []) and "preload" not in (
            tag.get("rel") or []
        ):
            continue
        target = (html_path.parent / url).resolve()
        if target.is_file():
            files.add(target)
    raw = sum(f.stat().st_size for f in files)
    compressed = sum(len(gzip.compress(f.read_bytes(), 6)) for f in files)
    return {"files": len(files), "raw_kib": round(raw / 1024), "gzip_kib": round(compressed / 1024)}


def sphinx_startup(without_rfc3987_syntax: bool = False) -> float:
    """A sphinx-build of the staged site with nothing to do, as build.py calls it;
    optionally without the rfc3987-syntax import build.py also skips."""
    staging = ROOT / "_build" / ".site"
    arguments = ["-b", "html", "-n", "-W", "--keep-going", "-q",
                 "-d", str(staging / "doctrees"), str(ROOT), str(staging / "html")]
    command = [str(BIN / "python"), "-m", "sphinx", *arguments]
    if without_rfc3987_syntax:
        command = [str(BIN / "python"), "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'book' / 'tools')!r}); "
                   "import bookinfo; bookinfo.skip_iri_format_checks(); "
                   "from sphinx.cmd.build import main; sys.exit(main(sys.argv[1:]))", *arguments]
    return timed(command, env={"PYTHONPATH": str(ROOT / "book" / "_ext")})["seconds"]


def prose_edits(make: list[str], env: dict | None = None, rounds: int = 2) -> list[dict]:
    """A sentence added, then taken out again (a prose edit too), `rounds` times."""
    original = PROSE_CHAPTER.read_text()
    runs = []
    try:
        for _ in range(rounds):
            runs.append(with_edit(PROSE_CHAPTER, append_prose, make, env))
            runs.append(timed(make, env))
    finally:
        PROSE_CHAPTER.write_text(original)
    return runs


def served_text(url: str) -> str:
    """The page, or "" while the server is starting or the page is being replaced."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except (OSError, http.client.HTTPException):
        return ""


def seconds_until(url: str, wanted, limit: float = 300) -> float:
    """Poll a served page until wanted(text) holds; the seconds that took."""
    start = time.perf_counter()
    while not wanted(served_text(url)):
        if time.perf_counter() - start > limit:
            raise SystemExit(f"{url} did not change within {limit} s")
        time.sleep(0.02)
    return round(time.perf_counter() - start, 2)


def preview_edits(rounds: int = 2) -> list[float]:
    """`make preview`'s edit loop: a prose edit saved, until the served page shows it
    (watcher, build, Lite copy, publish), added and taken out `rounds` times."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/chapters/{PROSE_CHAPTER.stem}.html"
    preview = subprocess.Popen([str(BIN / "python"), str(ROOT / "book" / "tools" / "preview.py"), str(ROOT),
                                "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    original = PROSE_CHAPTER.read_text()
    sentence = "A sentence added by the benchmark."
    seconds = []
    try:
        seconds_until(url, lambda text: "</html>" in text)
        for _ in range(rounds):
            for edited, shown in ((append_prose(original), True), (original, False)):
                settle()
                PROSE_CHAPTER.write_text(edited)
                page_is_current = lambda text, shown=shown: "</html>" in text and (sentence in text) == shown  # noqa: E731
                seconds.append(seconds_until(url, page_is_current))
    finally:
        PROSE_CHAPTER.write_text(original)
        os.killpg(preview.pid, signal.SIGTERM)
        preview.wait(timeout=30)
    return seconds


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (the upper one of an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def edit_figures(make: list[str]) -> dict:
    """No-op (best of two) and prose-edit (median of four) rebuilds, against Sphinx's start-up."""
    timed(make)  # up to date first
    startup = min(sphinx_startup() for _ in range(2))
    lean_startup = min(sphinx_startup(without_rfc3987_syntax=True) for _ in range(2))
    noop = min((timed(make) for _ in range(2)), key=lambda r: r["seconds"])
    prose = prose_edits(make)
    best = median_run(prose)
    # The same edits with no Lite site at all: the part of the path build.py owns.
    no_lite = {"HANDBOOK_LITE": "off"}
    timed(make, no_lite)
    bare = prose_edits(make, no_lite)
    bare_best = median_run(bare)
    timed(make)  # back to the mode the bench was started in
    preview = preview_edits()
    return {
        "sphinx_startup_seconds": startup,
        "sphinx_startup_without_rfc3987_syntax_seconds": lean_startup,
        "noop": {**noop, "ratio_to_sphinx_startup": round(noop["seconds"] / startup, 2), "target_seconds": 1},
        "prose_edit": {**best, "ratio_to_sphinx_startup": round(best["seconds"] / startup, 2),
                       "all_seconds": [r["seconds"] for r in prose], "target_seconds": 3},
        "prose_edit_preview": {"seconds": sorted(preview)[len(preview) // 2], "all_seconds": preview,
                               "ratio_to_sphinx_startup": round(sorted(preview)[len(preview) // 2] / startup, 2),
                               "target_seconds": 3},
        "prose_edit_without_lite": {**bare_best, "ratio_to_sphinx_startup": round(bare_best["seconds"] / startup, 2),
                                    "all_seconds": [r["seconds"] for r in bare]},
    }


def render_edits(e: dict) -> str:
    return "\n".join([
        "| edit figure | seconds | ÷ Sphinx start-up | target |", "|---|---|---|---|",
        f"| Sphinx start-up (no-change sphinx-build) | {e['sphinx_startup_seconds']} | 1.0 | |",
        f"| the same without the rfc3987-syntax import (as build.py runs) | "
        f"{e['sphinx_startup_without_rfc3987_syntax_seconds']} | "
        f"{round(e['sphinx_startup_without_rfc3987_syntax_seconds'] / e['sphinx_startup_seconds'], 2)} | |",
        f"| no-op `make book` | {e['noop']['seconds']} | {e['noop']['ratio_to_sphinx_startup']} | < 1 s |",
        f"| prose-only edit, `make book`, median of {len(e['prose_edit']['all_seconds'])} "
        f"({', '.join(map(str, e['prose_edit']['all_seconds']))} s; "
        f"{e['prose_edit']['executed_chapters']} executed, "
        f"Lite rebuilt whole: {e['prose_edit']['lite_built']}) | {e['prose_edit']['seconds']} | "
        f"{e['prose_edit']['ratio_to_sphinx_startup']} | ≤ 3 s |",
        f"| prose-only edit, `make preview`: save to served page, median of "
        f"{len(e['prose_edit_preview']['all_seconds'])} "
        f"({', '.join(map(str, e['prose_edit_preview']['all_seconds']))} s) | "
        f"{e['prose_edit_preview']['seconds']} | {e['prose_edit_preview']['ratio_to_sphinx_startup']} | ≤ 3 s |",
        f"| the same edits with HANDBOOK_LITE=off (no Lite step), median | "
        f"{e['prose_edit_without_lite']['seconds']} | "
        f"{e['prose_edit_without_lite']['ratio_to_sphinx_startup']} | |",
    ]) + "\n"


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    make = ["make", "--no-print-directory", "book"]
    results: dict = {"cores": os.cpu_count()}
    if "--edits" in sys.argv[1:]:
        edits = edit_figures(make)
        (RESULTS / "build-edits.json").write_text(json.dumps(edits, indent=2) + "\n")
        (RESULTS / "build-edits.md").write_text(render_edits(edits))
        print(render_edits(edits))
        return

    subprocess.run(["make", "--no-print-directory", "clean"], cwd=ROOT, check=True)
    results["cold_build"] = timed(make)
    results["noop_rebuild"] = timed(make)
    results["prose_edit_rebuild"] = with_edit(PROSE_CHAPTER, append_prose, make)
    results["code_edit_rebuild"] = with_edit(CODE_CHAPTER, edit_first_code_cell, make)
    timed(make)  # back to the committed state (re-executes the edited chapter once)
    results["edits"] = edit_figures(make)

    executions = chapter_execution_seconds()
    total = sum(executions.values())
    results["chapter_execution_seconds"] = {k: round(v, 2) for k, v in sorted(executions.items())}
    results["execution_sum_seconds"] = round(total, 2)
    results["cold_over_sum_per_core"] = round(results["cold_build"]["seconds"] / (total / os.cpu_count()), 2)
    results["cold_target_seconds"] = round(1.2 * total / os.cpu_count() + 15, 1)

    nbval = timed([str(BIN / "python"), "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "-q",
                   f"--nbval-sanitize-with={ROOT / 'tests' / 'nbval-sanitize.cfg'}", "-n", "2",
                   "--dist", "loadscope", *map(str, sorted((ROOT / "_build" / "html" / "_notebooks" / "chapters")
                                                           .glob("[0-9][0-9]-*.ipynb")))])
    results["nbval"] = {"seconds": nbval["seconds"], "target_seconds": round(1.2 * total, 1)}

    with tempfile.TemporaryDirectory() as scratch:  # an empty output: a full Lite build
        lite = timed([str(BIN / "python"), str(ROOT / "book" / "tools" / "lite.py"), str(ROOT),
                      str(Path(scratch) / "lite")], env={"HANDBOOK_LITE": os.environ.get("HANDBOOK_LITE", "hosted")})
    results["lite_build"] = {"seconds": lite["seconds"]}

    site = ROOT / "_build" / "html"
    chapters = sorted(site.glob("chapters/*.html"), key=lambda p: page_weight(p)["gzip_kib"])
    results["page_weight"] = {
        "landing": page_weight(site / "book" / "index.html"),
        f"heaviest chapter ({chapters[-1].stem})": page_weight(chapters[-1]),
    }

    (RESULTS / "build.json").write_text(json.dumps(results, indent=2) + "\n")
    table = render(results)
    (RESULTS / "build.md").write_text(table + "\n" + render_edits(results["edits"]))
    print(table + "\n" + render_edits(results["edits"]))


def render(r: dict) -> str:
    def row(name, measured, target=""):
        return f"| {name} | {measured} | {target} |"

    lines = ["| measurement | result | target |", "|---|---|---|",
             row("cold build", f"{r['cold_build']['seconds']} s, {r['cold_build']['executed_chapters']} executed",
                 f"≤ {r['cold_target_seconds']} s"),
             row("sum of chapter execution times", f"{r['execution_sum_seconds']} s"),
             row("cold build ÷ (sum ÷ cores)", r["cold_over_sum_per_core"], "≤ 1.2 (+15 s)"),
             row("no-op rebuild", f"{r['noop_rebuild']['seconds']} s, {r['noop_rebuild']['executed_chapters']} "
                 f"executed, pip/npm ran: {r['noop_rebuild']['pip_or_npm_ran']}, "
                 f"Lite rebuilt: {r['noop_rebuild']['lite_built']}", "< 2 s, nothing run"),
             row("prose edited", f"{r['prose_edit_rebuild']['seconds']} s, "
                 f"{r['prose_edit_rebuild']['executed_chapters']} executed, "
                 f"Lite rebuilt: {r['prose_edit_rebuild']['lite_built']}", "< 3 s, 0 executed"),
             row("one code cell edited", f"{r['code_edit_rebuild']['seconds']} s, "
                 f"{r['code_edit_rebuild']['executed_chapters']} executed", "exactly 1 executed"),
             row("nbval (one pass)", f"{r['nbval']['seconds']} s", f"≤ {r['nbval']['target_seconds']} s"),
             row("Lite build (forced)", f"{r['lite_build']['seconds']} s"),
             row("peak RSS of the cold build", f"{r['cold_build']['peak_rss_mib']} MiB", "≤ 2048 MiB")]
    for name, weight in r["page_weight"].items():
        lines.append(row(f"first visit: {name}", f"{weight['gzip_kib']} KiB gzipped "
                         f"({weight['raw_kib']} KiB raw, {weight['files']} files)"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
