"""Drift check: does the book still hold against the newest releases of its dependencies?

    make drift          (= .venv/bin/python book/tools/drift.py)

1. Builds ``_build/drift/.venv`` with the newest release of every direct dependency
   that requirements.in's own bounds allow (uv resolves requirements.in afresh, without
   the lock) and records the resolved versions in ``_build/drift/resolved.txt``.
2. Executes every chapter in that environment exactly as the book build does (the same
   reader and executor functions of book/tools/execute.py, see ``execute_chapters``), into
   ``_build/drift/jupyter_execute``. The published site and the jupyter-cache are never
   written. A chapter that fails does not stop the run.
3. Compares each code cell's outputs with the published executed notebook
   (``_build/html/_notebooks/chapters/*.ipynb``) with nbval's own comparison:
   ``IPyNbCell.compare_outputs`` called with a stand-in for the pytest item, nbval's
   ``coalesce_streams``, its tag and comment markers and its default skipped keys, and the
   patterns of tests/nbval-sanitize.cfg. The comparison runs in the pinned .venv, so the
   yardstick itself does not drift.
4. Writes ``bench/results/drift.md`` and ``drift.json``: corrections to the field guide
   whose proof changed first, then the packages that moved, then per chapter the cells
   that now fail and the cells whose output changed, each with a short diff. A drifted
   cell listed in bench/drift-notes.yml shows the maintainers' explanation beside it.

Exit status: 0 nothing drifted, 1 something drifted, 2 the drift environment could not be
built (the reason is printed and written into the report).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent
CORRECTION = re.compile(r"^(?P<fence>:{3,})\{correction\}[ \t]*(?P<claim>.*)$", re.M)
NAME_OPTION = re.compile(r"^:name:[ \t]*(\S+)", re.M)
DIFF_LINES = 16
LINE_WIDTH = 110


class EnvError(Exception):
    """The drift environment could not be built; the message says why."""


# --------------------------------------------------------------------------------------
# 1. The environment
# --------------------------------------------------------------------------------------

def run_uv(args: list[str], what: str) -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise EnvError("uv is not installed (it is pinned in requirements.txt: run `make book` first)")
    result = subprocess.run([uv, *args], capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-25:])
        raise EnvError(f"{what} failed:\n{tail}")
    return result.stdout


def build_env(requirements: Path, work: Path, python: str = sys.executable,
              index_args: list[str] | None = None, inherit: Path | None = None) -> dict[str, str]:
    """Create work/.venv with the newest releases requirements.in allows; return name -> version.

    ``index_args`` are extra uv flags (the fixture test passes --no-index --find-links).
    ``inherit`` (tests only) adds another environment's site-packages behind the new one,
    so a tiny fixture needs no full Jupyter install.
    """
    index_args = index_args or []
    work.mkdir(parents=True, exist_ok=True)
    resolved = work / "resolved.txt"
    resolved.unlink(missing_ok=True)  # never let an old result act as a preference
    run_uv(["pip", "compile", str(requirements), "--upgrade", "--python", python, "--no-header",
            "--annotation-style", "line", "--quiet", "-o", str(resolved), *index_args],
           "Resolving the newest allowed releases")
    venv = work / ".venv"
    if venv.exists():
        shutil.rmtree(venv)
    # --seed: pip in the environment, as in a plain venv (chapters run `%pip`); an inheriting
    # test environment gets it from the inherited one.
    seed = [] if inherit else ["--seed"]
    run_uv(["venv", "--quiet", *seed, "--python", python, str(venv), *index_args],
           "Creating the drift environment")
    # --compile-bytecode, as pip does: without .pyc files the first import of a server
    # (chapters 01, 13, 14) can take longer than the chapter's start-up timeout.
    run_uv(["pip", "install", "--quiet", "--compile-bytecode", "--python", str(venv / "bin" / "python"),
            "-r", str(resolved), *index_args], "Installing the newest releases")
    if inherit is not None:
        site = next((venv / "lib").glob("python3*/site-packages"))
        (site / "zz_inherited.pth").write_text(f"{inherit}\n")
    pins = read_pins(resolved)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True)
    if pip.returncode == 0 and not inherit:
        pins["pip"] = pip.stdout.split()[1]  # seeded by uv: the newest pip
    (work / "pip-version.txt").write_text(pins.get("pip", ""))
    return pins


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """name -> version from a requirements file with == pins (compiled or not)."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins[normalise(match.group(1))] = match.group(3)
    return pins


def bounded_requirements(requirements: Path) -> dict[str, str]:
    """Direct dependencies whose line in requirements.in carries a version bound: name -> bound."""
    bounded = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*([<>=!~].*)$", line)
        if match:
            bounded[normalise(match.group(1))] = match.group(3).replace(" ", "")
    return bounded


def held_back(requirements: Path, resolved: dict[str, str]) -> list[dict]:
    """For each bounded direct dependency, the newest release on the index (one look-up each)."""
    rows = []
    for name, bound in bounded_requirements(requirements).items():
        result = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name],
                                capture_output=True, text=True)
        match = re.search(r"^\S+ \(([^)]+)\)", result.stdout, re.M)
        newest = match.group(1) if match else None
        rows.append({"package": name, "bound": bound, "drift": resolved.get(name), "newest": newest})
    return rows


def moved_packages(old: dict[str, str], new: dict[str, str]) -> list[dict]:
    rows = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            rows.append({"package": name, "old": old.get(name), "new": new.get(name)})
    return rows


# --------------------------------------------------------------------------------------
# 2. Executing the chapters in the drift environment
# --------------------------------------------------------------------------------------

def execute_chapters(book: Path, out: Path, jobs: int, only: list[str] | None = None) -> None:
    """Runs INSIDE the drift environment (``drift.py --execute-worker``).

    The only coupling to the build: bookinfo.sources and bookinfo.read_notebook, and
    execute.py's execute_one, the same functions the build and check_chapter.py use. Nothing is
    cached; each executed notebook goes to out/<path>.ipynb and its status to status.json.
    """
    from concurrent.futures import ProcessPoolExecutor

    import nbformat

    sys.path.insert(0, str(TOOLS))
    import bookinfo
    from execute import execute_one

    notebooks = {}
    for path in bookinfo.sources(book):
        if only and not any(name in path.name for name in only):
            continue
        item = bookinfo.read_notebook(path, book)
        if item is not None:
            notebooks[path] = item
    status_file = out / "status.json"
    status = json.loads(status_file.read_text()) if only and status_file.is_file() else {}
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(notebooks) or 1))) as pool:
        futures = {path: pool.submit(execute_one, item) for path, item in notebooks.items()}
        for path, future in futures.items():
            relative = path.relative_to(book).with_suffix(".ipynb")
            try:
                executed, seconds, error = future.result()
            except Exception as exc:  # a crashed worker is one failed chapter, not a failed run
                executed, seconds, error = notebooks[path].notebook, 0.0, f"{type(exc).__name__}: {exc}"
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(executed, target)
            status[str(relative)] = {"seconds": round(seconds, 1), "error": error}
            print(f"  {'FAILED  ' if error else 'executed'} {relative} in {seconds:.1f} s", flush=True)
    status_file.write_text(json.dumps(dict(sorted(status.items())), indent=1))


def run_worker(venv: Path, book: Path, out: Path, jobs: int, only: list[str] | None = None,
               fresh: bool = False) -> dict:
    if not only or fresh:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        (out / "status.json").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # The kernel, its subprocesses and `jupyter ...` all come from the drift environment.
    subprocess.run([str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--execute-worker",
                    str(book), str(out), str(jobs), ",".join(only or [])], env=env, cwd=book, check=False)
    status_file = out / "status.json"
    if not status_file.is_file():
        raise EnvError("the drift environment could not run the chapters (no status written; "
                       "see the output above)")
    return json.loads(status_file.read_text())


# --------------------------------------------------------------------------------------
# 3. Comparing with the published notebooks through nbval
# --------------------------------------------------------------------------------------

class NbvalComparison:
    """nbval's comparison, outside pytest.

    nbval (0.11) has no public compare function: the comparison is the method
    ``IPyNbCell.compare_outputs`` of its pytest item. We call that method with a stand-in
    for the item that carries what it reads (the skipped keys, the sanitize patterns, no
    colours); only the failure message (``format_output_compare``, which needs pytest's
    assertion hook) is replaced by our own short diff.
    """

    def __init__(self, sanitize_file: Path, same_place: dict[str, str] | None = None):
        from nbval import plugin

        self.plugin = plugin
        # Where the drift environment lives is not drift: its paths are first written as the
        # book's own .venv, then the sanitize file's patterns apply as in `make nbval`.
        patterns = [(re.escape(a), b.replace("\\", "\\\\")) for a, b in (same_place or {}).items()]
        patterns += plugin.get_sanitize_patterns(sanitize_file.read_text())
        # Same defaults as IPyNbFile.__init__ without --nbdime: images are not compared.
        skip = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")

        class Parent:
            skip_compare = skip
            sanitize_patterns = dict(patterns)

        class Item:
            parent = Parent
            colors = plugin.nocolors

            def sanitize(self, s):
                return plugin.IPyNbCell.sanitize(self, s)

            def format_output_compare(self, key, left, right):
                self.comparison_traceback.append(f"mismatch {key!r}")

        self.item = Item()

    def options(self, cell) -> dict:
        """nbval's per-cell options from tags (nbval-skip, nbval-ignore-output, ...) and comments."""
        options = dict(self.plugin.find_metadata_tags(cell.get("metadata", {})))
        options.update(dict(self.plugin.find_comment_markers(cell.get("source", ""))))
        options.setdefault("check", True)
        return options

    def same(self, new_outputs, old_outputs) -> bool:
        new = self.plugin.coalesce_streams(copy.deepcopy(new_outputs))
        old = self.plugin.coalesce_streams(copy.deepcopy(old_outputs))
        return self.plugin.IPyNbCell.compare_outputs(self.item, new, old)

    def text(self, outputs) -> list[str]:
        """The compared content as sanitized text lines, for a short diff."""
        lines = []
        for out in self.plugin.coalesce_streams(copy.deepcopy(outputs)):
            kind = out.get("output_type")
            if kind == "stream":
                body = f"[{out.get('name')}]\n{out.get('text', '')}"
            elif kind == "error":
                body = f"[error] {out.get('ename')}: {out.get('evalue')}"
            else:
                data = {k: v for k, v in out.get("data", {}).items() if k not in self.item.parent.skip_compare}
                key = "text/plain" if "text/plain" in data else next(iter(sorted(data)), None)
                value = data.get(key, "") if key else ""
                if isinstance(value, (dict, list)):
                    value = json.dumps(value, sort_keys=True)
                others = ", ".join(sorted(k for k in data if k != key))
                body = f"[{key}{' + ' + others if others else ''}]\n{value}"
            lines.extend(self.item.sanitize(body).splitlines())
        return lines

    def diff(self, new_outputs, old_outputs) -> str:
        lines = list(difflib.unified_diff(self.text(old_outputs), self.text(new_outputs),
                                          "published", "newest", n=1, lineterm=""))
        lines = [line if len(line) <= LINE_WIDTH else line[:LINE_WIDTH - 1] + "…" for line in lines]
        if len(lines) > DIFF_LINES:
            lines = lines[:DIFF_LINES] + [f"… {len(lines) - DIFF_LINES} more diff lines"]
        return "\n".join(lines) if lines else "(same text; the outputs differ in kind or number)"


def cell_key(chapter: str, source: str) -> str:
    """A stable name for a cell: chapter and a hash of its code (changes when the code does)."""
    return f"{chapter}#{hashlib.sha1(source.encode()).hexdigest()[:8]}"


def error_of(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {out.get('evalue')}"
    return None


def corrections_in(notebook) -> dict[int, dict]:
    """code-cell index -> the correction it proves ({claim, name}).

    A correction's proof is the next code cell, when nothing but the directive's own
    markdown cell stands between them (otherwise the text says why it is not executed).
    """
    proofs = {}
    cells = notebook.cells
    for index, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        for match in CORRECTION.finditer(cell.source):
            fence = match.group("fence")
            rest = cell.source[match.end():]
            close = re.search(rf"^{fence}[ \t]*$", rest, re.M)
            body = rest[: close.start()] if close else rest
            after = rest[close.end():] if close else ""
            name = NAME_OPTION.search(body)
            info = {"claim": match.group("claim").strip(), "name": name.group(1) if name else None}
            nxt = index + 1
            if not after.strip() and nxt < len(cells) and cells[nxt].cell_type == "code":
                proofs[nxt] = info
    return proofs


def compare_chapter(relative: str, new_nb, old_nb, status: dict, nbval: NbvalComparison,
                    source_name: str) -> dict:
    """One chapter's report entry."""
    first_error = (status.get("first_error") or "").strip()
    error = status.get("error")
    result = {"chapter": source_name, "seconds": status.get("seconds"),
              "error": summary_of(error) if error else None,
              "failing": [], "changed": [], "compared": 0, "not_compared": [],
              "flaky": summary_of(first_error) if first_error and not status.get("error") else None,
              "rerun": status.get("rerun"),
              "earlier_error": summary_of(status["earlier_error"]) if status.get("earlier_error") else None,
              # None: not tried; "": passed with the pinned dependencies; else how it failed there
              "pinned": (summary_of(status["pinned_error"]) if status["pinned_error"] else "")
              if "pinned_error" in status else None}
    if old_nb is None:
        result["not_compared"].append("no published notebook: build the book first")
        return result
    new_code = [(i, c) for i, c in enumerate(new_nb.cells) if c.cell_type == "code"]
    old_code = [c for c in old_nb.cells if c.cell_type == "code"]
    proofs = corrections_in(new_nb)
    source_map = new_nb.metadata.get("source_map") or []
    # Pair cells by their code, so a chapter edited since the last build still lines up.
    matcher = difflib.SequenceMatcher(a=[c.source for _, c in new_code], b=[c.source for c in old_code],
                                      autojunk=False)
    pairs = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            pairs[block.a + k] = block.b + k
    reached = status.get("error") is None
    failing_index = None
    if not reached:
        started = [n for n, (_, c) in enumerate(new_code) if c.get("execution_count") is not None]
        failing_index = started[-1] if started else 0
    for n, (index, cell) in enumerate(new_code):
        line = source_map[index] + 1 if index < len(source_map) else None
        entry = {"cell": n, "line": line, "key": cell_key(source_name, cell.source),
                 "source": first_lines(cell.source), "correction": proofs.get(index)}
        tags = cell.get("metadata", {}).get("tags", [])
        if failing_index is not None and n == failing_index:
            entry["error"] = error_of(cell) or summary_of(error)
            result["failing"].append(entry)
            continue
        if failing_index is not None and n > failing_index:
            continue  # never ran: counted below
        if error_of(cell) and "raises-exception" not in tags:
            entry["error"] = error_of(cell)
            result["failing"].append(entry)
            continue
        if n not in pairs:
            result["not_compared"].append(f"cell {n}: its code differs from the published notebook")
            continue
        options = nbval.options(cell)
        if options.get("skip") or not options.get("check"):
            continue  # nbval-skip / nbval-ignore-output: nbval does not compare it either
        old = old_code[pairs[n]]
        result["compared"] += 1
        if not nbval.same(cell.get("outputs", []), old.get("outputs", [])):
            entry["diff"] = nbval.diff(cell.get("outputs", []), old.get("outputs", []))
            result["changed"].append(entry)
    if failing_index is not None:
        skipped = len(new_code) - failing_index - 1
        if skipped:
            result["not_compared"].append(f"{skipped} cell(s) after the failing one never ran")
    return result


def summary_of(error: str) -> str:
    """'cell 14 failed (CellTimeoutError)' from execute.py's failure message, with its last line."""
    head = re.search(r"cell \d+ failed \(\w+\)", error)
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return f"{head.group(0) if head else 'failed'}: {last[:200]}"


def first_lines(source: str, count: int = 3) -> str:
    """The first lines that say what the cell does (imports and comments skipped)."""
    lines = [line for line in source.splitlines()
             if line.strip() and not re.match(r"\s*(#|import |from \S+ import )", line)][:count]
    return "\n".join(line if len(line) <= 90 else line[:89] + "…" for line in lines)


# --------------------------------------------------------------------------------------
# 4. The report
# --------------------------------------------------------------------------------------

def load_notes(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    import yaml

    return {str(k): str(v).strip() for k, v in (yaml.safe_load(path.read_text()) or {}).items()}


def write_report(results: Path, report: dict) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "drift.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (results / "drift.md").write_text(render_markdown(report))


def fence(text: str) -> list[str]:
    return ["", "```diff", text, "```", ""]


def render_markdown(report: dict) -> str:
    out = ["# Drift: the book against the newest releases", ""]
    how = {"compare-only": "compared again with `--compare-only` after `make drift` had executed the chapters",
           "rerun": "with `--rerun` after `make drift`"}.get(report.get("mode"), "with `make drift`")
    out.append(f"Run {report['date']} {how} (book/tools/drift.py), Python {report['python']}. "
               "Every chapter was executed in `_build/drift/.venv`, which holds the newest release of "
               "every direct dependency that `requirements.in` allows, and each code cell's outputs were "
               "compared with the published notebooks through nbval's comparison and "
               "`tests/nbval-sanitize.cfg` (the `make nbval` rules: `nbval-ignore-output` cells and "
               "images are not compared).")
    out.append("")
    if report["status"] == "env-failed":
        out += ["**The drift environment could not be built**, so nothing was executed (exit 2):", "",
                "```text", report["reason"], "```", ""]
        return "\n".join(out) + "\n"
    if report.get("note"):
        out += ["**Notes on this run:** " + report["note"], ""]
    chapters = report["chapters"]
    failing = sum(len(c["failing"]) for c in chapters)
    changed = sum(len(c["changed"]) for c in chapters)
    compared = sum(c["compared"] for c in chapters)
    notes = report.get("notes", {})
    out += ["| summary | |", "|---|---|",
            f"| result | {'**drift** (exit 1)' if report['exit'] else 'no drift (exit 0)'} |",
            f"| chapters executed | {len(chapters)}, "
            f"{sum(1 for c in chapters if not c['error'])} without error |",
            f"| cells compared | {compared} |",
            f"| cells that now fail | {failing} |",
            f"| cells whose output changed | {changed} |",
            f"| packages that moved | {len(report['packages'])} |",
            f"| chapters that failed once, then passed when executed again alone (not drift) | "
            f"{sum(1 for c in chapters if c.get('flaky'))} |",
            f"| chapters that failed twice, and fail with the pinned versions too (not drift) | "
            f"{sum(1 for c in chapters if c['error'] and c.get('pinned'))} |",
            f"| drifted cells with an explanation (bench/drift-notes.yml) | "
            f"{sum(1 for c in chapters for e in c['failing'] + c['changed'] if e['key'] in notes)}"
            f" of {failing + changed} |", ""]

    out += ["## Corrections to the field guide whose proof changed", ""]
    hits = [(c, e) for c in chapters for e in c["failing"] + c["changed"] if e.get("correction")]
    if not hits:
        total = report.get("corrections_total", 0)
        out += [f"None: the proofs of all {total} corrections still give the published output." if total else
                "None: no chapter has a `{correction}` directive yet, so there is no proof to check.", ""]
    for chapter, entry in hits:
        corr = entry["correction"]
        label = f" (`{corr['name']}`)" if corr.get("name") else ""
        out += [f"- **{corr['claim']}**{label}: {chapter['chapter']}:{entry['line']}, proof "
                f"{'now fails' if 'error' in entry else 'output changed'}."]
    out.append("")

    out += ["## Packages that moved", ""]
    if report["packages"]:
        out += ["| package | pinned (requirements.txt) | newest allowed |", "|---|---|---|"]
        for row in report["packages"]:
            out.append(f"| {row['package']} | {row['old'] or '(not in the lock)'} | "
                       f"{row['new'] or '(no longer needed)'} |")
    else:
        out.append("None: the lock already holds the newest allowed releases.")
    out.append("")

    rows = [r for r in report.get("held_back", []) if r["newest"] and r["newest"] != r["drift"]]
    if rows:
        out += ["Held back by a bound in `requirements.in` (each bound says why there):", "",
                "| package | bound | drift environment | newest release |", "|---|---|---|---|"]
        out += [f"| {r['package']} | `{r['bound']}` | {r['drift']} | {r['newest']} |" for r in rows]
        out.append("")

    out += ["## Chapters", "", "| chapter | run time | fails | changed | compared | note |",
            "|---|---|---|---|---|---|"]
    for c in chapters:
        note = "chapter stopped with an error" if c["error"] else ""
        if c["error"] and c.get("pinned"):
            note = "stopped with an error, **with the pinned versions too** (not drift)"
        elif c["error"] and c.get("pinned") == "":
            note = "stopped with an error; **passes with the pinned versions** (drift)"
        if c.get("flaky"):
            note = "failed once, passed alone (below)"
        if c.get("rerun"):
            note = "; ".join(filter(None, [note, f"re-executed with `--rerun` at {c['rerun'][11:]}"]))
        if c["not_compared"]:
            note = "; ".join(filter(None, [note, f"{len(c['not_compared'])} note(s) below"]))
        out.append(f"| {c['chapter']} | {c['seconds']} s | {len(c['failing'])} | {len(c['changed'])} | "
                   f"{c['compared']} | {note} |")
    out.append("")
    for c in chapters:
        if not (c["failing"] or c["changed"] or c["not_compared"] or c.get("flaky") or c.get("earlier_error")):
            continue
        out += [f"### {c['chapter']}", ""]
        if c.get("earlier_error"):
            out += [f"- before the `--rerun`: {c['earlier_error']}", ""]
        if c.get("flaky"):
            out += [f"- first run: {c['flaky']}; executed again alone, it passed, so its cells were "
                    "compared from that run.", ""]
        if c["error"] and c.get("pinned") is not None:
            out += [f"- failed twice with the newest releases (the second time alone); with the pinned "
                    f"versions in `.venv` it {'fails too: ' + c['pinned'] if c['pinned'] else 'passes'}.",
                    ""]
        for kind, entries in (("now fails", c["failing"]), ("output changed", c["changed"])):
            for e in entries:
                where = f"{c['chapter']}:{e['line']}" if e["line"] else c["chapter"]
                out.append(f"- **cell {e['cell']}, {kind}** ({where}, key `{e['key']}`)"
                           + (f", the proof of the correction *{e['correction']['claim']}*"
                              if e.get("correction") else ""))
                out += ["", "  ```python", *("  " + s for s in e["source"].splitlines()), "  ```"]
                if "error" in e:
                    out += ["", f"  Error: `{e['error'][:300]}`"]
                if "diff" in e:
                    out += ["", "  ```diff", *("  " + s for s in e["diff"].splitlines()), "  ```"]
                explanation = notes.get(e["key"])
                out += ["", f"  Why it stays: {explanation}" if explanation else
                        "  **Not yet explained** (add the key to bench/drift-notes.yml, or fix the chapter).", ""]
        for note in c["not_compared"]:
            out.append(f"- not compared: {note}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--book", type=Path, default=ROOT)
    parser.add_argument("--requirements", type=Path, help="default: BOOK/requirements.in")
    parser.add_argument("--lock", type=Path, help="the pins to compare with; default: BOOK/requirements.txt")
    parser.add_argument("--published", type=Path, help="default: BOOK/_build/html/_notebooks")
    parser.add_argument("--work", type=Path, help="default: BOOK/_build/drift")
    parser.add_argument("--results", type=Path, help="default: BOOK/bench/results")
    parser.add_argument("--notes", type=Path, help="default: BOOK/bench/drift-notes.yml")
    parser.add_argument("--sanitize", type=Path, default=ROOT / "tests" / "nbval-sanitize.cfg")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--compare-only", action="store_true",
                        help="reuse the last run's environment and executed notebooks; only compare again")
    parser.add_argument("--rerun", nargs="+", metavar="CHAPTER",
                        help="reuse the last run's environment; execute only these chapters again "
                             "(e.g. 01 14), keep the other results")
    parser.add_argument("--note", help="a maintainer's note on this run, shown at the top of the report")
    parser.add_argument("--no-retry", action="store_true",
                        help="report a failed chapter at once instead of executing it again alone")
    parser.add_argument("--uv-arg", action="append", default=[],
                        help="extra uv flag, e.g. --uv-arg=--no-index --uv-arg=--find-links=DIR")
    parser.add_argument("--inherit-site-packages", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(TOOLS))
    import bookinfo

    book = args.book.resolve()
    requirements = args.requirements or book / "requirements.in"
    lock = args.lock or book / "requirements.txt"
    published = args.published or bookinfo.published_notebooks_dir(book)
    work = (args.work or book / "_build" / "drift").resolve()
    results = args.results or book / "bench" / "results"
    notes = load_notes(args.notes or book / "bench" / "drift-notes.yml")
    start = time.perf_counter()
    report = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "python": ".".join(map(str, sys.version_info[:3])), "note": args.note,
              "mode": "compare-only" if args.compare_only else "rerun" if args.rerun else "full"}

    try:
        if args.compare_only or args.rerun:
            if not (work / ".venv").is_dir() or not (work / "resolved.txt").is_file():
                raise EnvError("no previous drift environment to reuse: run without --compare-only/--rerun")
            new = read_pins(work / "resolved.txt")
            pip_version = work / "pip-version.txt"
            if pip_version.is_file() and pip_version.read_text().strip():
                new["pip"] = pip_version.read_text().strip()
            if args.rerun:
                before = json.loads((work / "jupyter_execute" / "status.json").read_text())
                status = run_worker(work / ".venv", book, work / "jupyter_execute", args.jobs, args.rerun)
                for name, entry in status.items():
                    if any(chapter in Path(name).name for chapter in args.rerun):
                        entry["rerun"] = report["date"]
                        earlier = before.get(name, {}).get("error")
                        if earlier:
                            entry["earlier_error"] = earlier
                (work / "jupyter_execute" / "status.json").write_text(json.dumps(status, indent=1))
            else:
                status = json.loads((work / "jupyter_execute" / "status.json").read_text())
        else:
            print(f"Building the drift environment in {work / '.venv'} ...", flush=True)
            new = build_env(requirements, work, index_args=args.uv_arg, inherit=args.inherit_site_packages)
            print(f"Executing the chapters in it ({args.jobs} worker(s)) ...", flush=True)
            status = run_worker(work / ".venv", book, work / "jupyter_execute", args.jobs)
            failed = [name for name, entry in status.items() if entry["error"]]
            if failed and not args.no_retry:
                # A server that misses its start-up deadline on a busy machine is not drift:
                # a failed chapter runs once more, alone, and the report keeps both results.
                print(f"Executing {len(failed)} failed chapter(s) once more, one at a time ...", flush=True)
                first = {name: status[name]["error"] for name in failed}
                status = run_worker(work / ".venv", book, work / "jupyter_execute", 1,
                                    [Path(name).stem for name in failed])
                for name, error in first.items():
                    status[name]["first_error"] = error
                still = [name for name in failed if status[name]["error"]]
                if still:
                    # Failing twice with the newest releases: does it fail with the pinned ones too?
                    # Then it is not drift but a chapter that is fragile on this machine.
                    print(f"Executing {len(still)} chapter(s) that failed twice with the pinned "
                          "dependencies (.venv) ...", flush=True)
                    pinned = run_worker(Path(sys.prefix), book, work / "pinned_execute", 1,
                                        [Path(name).stem for name in still], fresh=True)
                    for name in still:
                        status[name]["pinned_error"] = pinned.get(name, {}).get("error") or ""
                (work / "jupyter_execute" / "status.json").write_text(json.dumps(status, indent=1))
    except EnvError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        report.update(status="env-failed", exit=2, reason=str(exc))
        write_report(results, report)
        return 2

    import nbformat

    nbval = NbvalComparison(args.sanitize, {str(work / ".venv"): str(book / ".venv")})
    chapters, corrections_total = [], 0
    for relative in sorted(status):
        new_nb = nbformat.read(work / "jupyter_execute" / relative, as_version=4)
        old_path = published / relative
        old_nb = nbformat.read(old_path, as_version=4) if old_path.is_file() else None
        corrections_total += len(corrections_in(new_nb))
        source_name = str(Path(relative).with_suffix(".md")) if (book / Path(relative).with_suffix(".md")).is_file() \
            else relative
        chapters.append(compare_chapter(relative, new_nb, old_nb, status[relative], nbval, source_name))
    old_pins = read_pins(lock) if lock.is_file() else {}
    makefile = book / "Makefile"
    makefile_pip = re.search(r"pip==([^\s]+)", makefile.read_text()) if makefile.is_file() else None
    if makefile_pip and "pip" in new:
        old_pins["pip"] = makefile_pip.group(1)  # the Makefile pins pip; the lock does not
    drifted = any(c["failing"] or c["changed"] or c["error"] for c in chapters)
    missing = any(c["not_compared"] and c["compared"] == 0 for c in chapters)
    report.update(status="drift" if drifted else "ok", exit=1 if (drifted or missing) else 0,
                  seconds=round(time.perf_counter() - start, 1), corrections_total=corrections_total,
                  packages=moved_packages(old_pins, new), chapters=chapters,
                  held_back=[] if args.uv_arg else held_back(requirements, new),
                  notes={e["key"]: notes[e["key"]] for c in chapters for e in c["failing"] + c["changed"]
                         if e["key"] in notes})
    write_report(results, report)
    print(f"Drift report: {results / 'drift.md'} ({sum(len(c['failing']) for c in chapters)} failing, "
          f"{sum(len(c['changed']) for c in chapters)} changed cells; {len(report['packages'])} packages moved) "
          f"in {report['seconds']} s", flush=True)
    return report["exit"]


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--execute-worker":
        execute_chapters(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]),
                         [name for name in sys.argv[5].split(",") if name])
        sys.exit(0)
    sys.exit(main())
