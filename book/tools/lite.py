"""Build the handbook's JupyterLite site from the chapters.

Usage: python book/tools/lite.py BOOK_DIR OUT_DIR      (OUT_DIR e.g. _build/html/lite)

Mode: HANDBOOK_LITE=hosted (default) loads Pyodide and its packages from the public
CDN; HANDBOOK_LITE=offline bundles the Pyodide core (npm `pyodide`, node_modules/),
the pure-Python wheels the kernel needs (book/lite/wheels.txt, fetched with
`pip download` and cached under BOOK_DIR/_build/.lite/wheels/) and sets
disablePyPIFallback, so the site needs no network at all.

1. Every chapter in _toc.yml (chapters/...) becomes chapters/NN-slug.ipynb via
   jupytext, with outputs stripped; a code cell tagged `no-lite` becomes a short
   markdown note (metadata `lite_note` says why). A chapter that imports
   ipywidgets gets a first cell that installs it from the site's own wheels.
2. Every file under chapters/ that is not a .md source is copied alongside.
3. `jupyter lite build` writes the site; *.map files are removed.
4. Nothing is done when the inputs' content hash matches OUT_DIR/handbook-lite.json.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("hosted", "offline")
MANIFEST = "handbook-lite.json"
APPS = ("lab", "notebooks", "tree")
# The Pyodide core files the kernel loads (no sourcemaps, no .d.ts, no consoles).
PYODIDE_CORE = (
    "pyodide.mjs", "pyodide.js", "pyodide.asm.mjs", "pyodide.asm.wasm",
    "python_stdlib.zip", "pyodide-lock.json", "package.json",
)
# The only federated extensions the Lite UI gets; the build venv has more
# (jupytext, nbdime, voila, ...) that would need a server or are dead weight.
LAB_EXTENSIONS = ("@jupyterlite/pyodide-kernel-extension", "@jupyter-widgets/jupyterlab-manager")
TOOLS = ("jupyterlite-core", "jupyterlite-pyodide-kernel", "jupytext", "jupyterlab_widgets",
         "ipywidgets", "jupyterlab")
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
LITE_KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
MYST_TARGET = re.compile(r"^\(([^()\s]+)\)=\s*$\n?", re.MULTILINE)


class LiteError(Exception):
    """A failure with a message meant for the person running the build."""


def log(message: str) -> None:
    print(f"[lite] {message}", flush=True)


# ---------------------------------------------------------------- inputs ----

def chapter_docnames(book: Path) -> list[str]:
    from sphinx_external_toc.parsing import parse_toc_yaml

    toc = book / "_toc.yml"
    if not toc.is_file():
        raise LiteError(f"no _toc.yml in {book}")
    site_map = parse_toc_yaml(str(toc))
    names = [name for name in site_map if name.startswith("chapters/")]
    for name in names:
        if not (book / f"{name}.md").is_file():
            raise LiteError(f"_toc.yml lists {name} but {name}.md does not exist")
    return names


def chapter_files(book: Path) -> list[Path]:
    """Files the chapters read: everything under chapters/ but the .md sources."""
    root = book / "chapters"
    skip = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix != ".md" and not skip.intersection(p.relative_to(root).parts)
        and p.suffix != ".pyc"
    )


def read_pins(wheels_txt: Path) -> list[str]:
    if not wheels_txt.is_file():
        raise LiteError(f"missing {wheels_txt} (the pinned wheel list)")
    pins = []
    for line in wheels_txt.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-!]+", line):
            raise LiteError(f"{wheels_txt}: '{line}' is not an exact pin (name==version)")
        pins.append(line)
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def tool_versions(node_modules: Path) -> dict[str, str]:
    versions = {}
    for tool in TOOLS:
        try:
            versions[tool] = metadata.version(tool)
        except metadata.PackageNotFoundError as error:
            raise LiteError(f"{tool} is not installed in {sys.prefix}") from error
    package_json = node_modules / "pyodide" / "package.json"
    if package_json.is_file():
        versions["pyodide(npm)"] = json.loads(package_json.read_text())["version"]
    versions["python"] = sys.version.split()[0]
    return versions


def input_hash(book: Path, docnames: list[str], files: list[Path], mode: str,
               versions: dict[str, str]) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("mode", mode.encode())
    add("versions", json.dumps(versions, sort_keys=True).encode())
    add("tool", Path(__file__).read_bytes())
    add("wheels", (book / "book" / "lite" / "wheels.txt").read_bytes())
    for name in docnames:
        add(name, (book / f"{name}.md").read_bytes())
    for path in files:
        add(path.relative_to(book).as_posix(), path.read_bytes())
    return digest.hexdigest()


# ------------------------------------------------------------- notebooks ----

def top_level_imports(source: str) -> set[str]:
    """Modules a code cell imports (IPython magics and shell lines ignored)."""
    lines = [
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    ]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def lite_note_cell(cell, nbformat) -> object:
    # `lite_note` may sit at the top of the cell metadata or under `mystnb:`
    # (where myst-nb accepts extra keys without complaint).
    note = cell.metadata.get("lite_note") or (cell.metadata.get("mystnb") or {}).get("lite_note")
    reason = str(note or "it needs something Pyodide in the browser does not have")
    source = cell.source.rstrip()
    fence = "````" if "```" in source else "```"
    text = (
        f"> **Not run in JupyterLite:** {reason.rstrip('.')}.\n"
        f"> The book runs this cell on a real Python kernel; its code is shown here for reference.\n\n"
        f"{fence}python\n{source}\n{fence}"
    )
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["lite-note"]})


def convert_chapter(md: Path, nbformat, jupytext) -> tuple[object, dict]:
    try:
        notebook = jupytext.read(md, fmt="md:myst")
    except Exception as error:  # jupytext raises many kinds
        raise LiteError(f"jupytext could not read {md}: {error}") from error
    cells, replaced, imports = [], 0, set()
    for cell in notebook.cells:
        tags = cell.metadata.get("tags") or []
        if cell.cell_type == "code" and "no-lite" in tags:
            cells.append(lite_note_cell(cell, nbformat))
            replaced += 1
            continue
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            imports |= top_level_imports(cell.source)
        elif cell.cell_type == "markdown":
            cell.source = MYST_TARGET.sub("", cell.source)  # MyST `(label)=` targets
            if not cell.source.strip():
                continue
        cells.append(cell)
        if cell.cell_type == "code" and "raises-exception" in tags:
            cells.append(nbformat.v4.new_markdown_cell(
                "> **This cell raises an error on purpose.** *Run All* stops here: click the next cell "
                "and choose *Run → Run Selected Cell and All Below* to carry on.",
                metadata={"tags": ["lite-note"]},
            ))
    if "ipywidgets" in imports:
        # piplite.install rather than %pip: JupyterLab's Run All stopped after a
        # %pip cell and never ran the rest of the notebook.
        setup = nbformat.v4.new_code_cell(
            "# JupyterLite only: install the site's bundled copy of ipywidgets\n"
            "import piplite\n"
            "await piplite.install(\"ipywidgets\")",
            metadata={"tags": ["lite-setup"]},
        )
        title_first = bool(cells) and cells[0].cell_type == "markdown"
        cells.insert(1 if title_first else 0, setup)
    for index, cell in enumerate(cells):
        cell.id = f"lite-{index:03d}"  # stable ids: identical input, identical output
        cell.metadata.pop("execution", None)
    notebook.cells = cells
    notebook.metadata = {
        "kernelspec": dict(LITE_KERNELSPEC),
        "language_info": {"name": "python"},
        "handbook": {"source": md.name, "no_lite_cells": replaced},
    }
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    nbformat.validate(notebook)
    return notebook, {"replaced": replaced, "imports": sorted(imports)}


def write_contents(book: Path, contents: Path, docnames: list[str], files: list[Path]) -> list[dict]:
    import jupytext
    import nbformat

    if contents.exists():
        shutil.rmtree(contents)
    chapters = []
    for name in docnames:
        notebook, info = convert_chapter(book / f"{name}.md", nbformat, jupytext)
        target = contents / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, str(target))
        chapters.append({"docname": name, "notebook": f"{name}.ipynb", **info})
    for path in files:
        target = contents / path.relative_to(book)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return chapters


# ---------------------------------------------------------------- wheels ----

def cached_wheel(pin: str, cache: Path) -> Path | None:
    name, version = pin.split("==")
    for path in cache.glob("*.whl"):
        parts = path.name.split("-")
        if normalize(parts[0]) == normalize(name) and parts[1] == version:
            return path
    return None


def download_wheels(pins: list[str], cache: Path) -> dict[str, Path]:
    """pip download each pin once (cached); returns normalized name -> wheel."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [pin for pin in pins if cached_wheel(pin, cache) is None]
    if missing:
        log(f"pip download {len(missing)} wheel(s): {' '.join(missing)}")
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--only-binary=:all:", "--implementation", "py", "--abi", "none",
            "--platform", "any", "--python-version", "3.14", "--dest", str(cache), *missing,
        ]
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            raise LiteError("pip download failed:\n" + completed.stdout + completed.stderr)
        still = [pin for pin in missing if cached_wheel(pin, cache) is None]
        if still:
            raise LiteError(f"pip download did not produce wheels for: {', '.join(still)}")
    return {normalize(pin.split("==")[0]): cached_wheel(pin, cache) for pin in pins}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pyodide_tarball(node_modules: Path, lock_wheels: dict[str, Path], work: Path) -> Path:
    """A pyodide/ tarball: npm core + our wheels, lock trimmed to what is shipped."""
    core = node_modules / "pyodide"
    if not (core / "pyodide-lock.json").is_file():
        raise LiteError(f"no Pyodide in {core}: run `npm ci` (package.json pins pyodide)")
    lock = json.loads((core / "pyodide-lock.json").read_text())
    packages = lock["packages"]
    shipped = {}
    for name, wheel in lock_wheels.items():
        key = next((k for k in packages if normalize(k) == name), None)
        if key is None:
            raise LiteError(f"{wheel.name} is not in pyodide-lock.json; list it as a piplite wheel")
        entry = dict(packages[key])
        if entry["version"] != wheel.name.split("-")[1]:
            raise LiteError(
                f"book/lite/wheels.txt pins {wheel.name} but Pyodide's lock has "
                f"{key} {entry['version']}; keep them equal"
            )
        entry["file_name"], entry["sha256"] = wheel.name, sha256(wheel)
        shipped[key] = entry
    for key, entry in shipped.items():  # a shipped package must not depend on a missing one
        for dep in entry.get("depends", []):
            if not any(normalize(dep) == normalize(k) for k in shipped):
                raise LiteError(f"{key} depends on {dep}, which book/lite/wheels.txt does not pin")
    lock["packages"] = shipped
    staging = work / "pyodide-staging" / "pyodide"
    if staging.parent.exists():
        shutil.rmtree(staging.parent)
    staging.mkdir(parents=True)
    for name in PYODIDE_CORE:
        if name != "pyodide-lock.json" and (core / name).is_file():
            shutil.copy2(core / name, staging / name)
    for wheel in lock_wheels.values():
        shutil.copy2(wheel, staging / wheel.name)
    (staging / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    tarball = work / "pyodide-offline.tar.bz2"
    with tarfile.open(tarball, "w:bz2", compresslevel=1) as archive:
        archive.add(staging, arcname="pyodide")
    shutil.rmtree(staging.parent)
    return tarball


# ----------------------------------------------------------------- build ----

def lab_extension_dirs() -> list[str]:
    roots = [Path(sys.prefix) / "share" / "jupyter" / "labextensions"]
    dirs = []
    for name in LAB_EXTENSIONS:
        hits = [root / name for root in roots if (root / name / "package.json").is_file()]
        if not hits:
            raise LiteError(f"lab extension {name} is not installed in {sys.prefix}")
        dirs.append(str(hits[0]))
    return dirs


def lite_build(work: Path, contents: Path, output: Path, mode: str, piplite: list[Path],
               tarball: Path | None) -> None:
    lite_dir = work / "site-src"
    if lite_dir.exists():
        shutil.rmtree(lite_dir)
    lite_dir.mkdir(parents=True)
    kernel_settings: dict = {"disablePyPIFallback": mode == "offline"}
    (lite_dir / "jupyter-lite.json").write_text(json.dumps({
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "Jupyter Field Handbook (JupyterLite)",
            "litePluginSettings": {KERNEL_PLUGIN: kernel_settings},
        },
    }, indent=2))
    config = {
        "LiteBuildConfig": {
            "apps": list(APPS),
            "contents": [str(contents)],
            "output_dir": str(output),
            "no_sourcemaps": True,
            "no_unused_shared_packages": True,
            "ignore_sys_prefix": ["federated_extensions"],
            "federated_extensions": lab_extension_dirs(),
            "cache_dir": str(work / "cache"),
        },
        "PipliteAddon": {"piplite_urls": [str(p) for p in piplite]},
    }
    if tarball is not None:
        config["PyodideAddon"] = {"pyodide_url": str(tarball)}
    (lite_dir / "jupyter_lite_config.json").write_text(json.dumps(config, indent=2))
    if output.exists():
        shutil.rmtree(output)
    jupyter = Path(sys.executable).parent / "jupyter"
    command = [str(jupyter), "lite", "build", "--lite-dir", str(lite_dir)]
    log("$ " + " ".join(command) + f"   (mode={mode})")
    env = dict(os.environ, JUPYTERLITE_NO_LIBARCHIVE="1")
    env.pop("JUPYTERLITE_PYODIDE_URL", None)
    completed = subprocess.run(command, cwd=lite_dir, capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-40:])
        raise LiteError(f"`jupyter lite build` failed (exit {completed.returncode}):\n{tail}")


def finish_output(output: Path, mode: str) -> int:
    """Remove sourcemaps and the doit database; check the settings we rely on."""
    removed = 0
    for path in output.rglob("*.map"):
        path.unlink()
        removed += 1
    for junk in output.glob(".jupyterlite.doit.db*"):
        junk.unlink()
    config = json.loads((output / "jupyter-lite.json").read_text())
    settings = config["jupyter-config-data"]["litePluginSettings"][KERNEL_PLUGIN]
    if mode == "offline":
        if not str(settings.get("pyodideUrl", "")).startswith("./"):
            raise LiteError(f"offline build but pyodideUrl is {settings.get('pyodideUrl')!r}")
        if settings.get("disablePyPIFallback") is not True:
            raise LiteError("offline build but disablePyPIFallback is not set")
    elif "pyodideUrl" in settings:
        raise LiteError(f"hosted build but pyodideUrl is {settings['pyodideUrl']!r}")
    if not settings.get("pipliteUrls"):
        raise LiteError("the build did not register the piplite wheel index")
    return removed


def tree_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    started = time.perf_counter()
    book, out = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    mode = os.environ.get("HANDBOOK_LITE", "hosted").strip().lower() or "hosted"
    if mode not in MODES:
        raise LiteError(f"HANDBOOK_LITE must be one of {', '.join(MODES)}, not {mode!r}")
    work = book / "_build" / ".lite"
    node_modules = book / "node_modules"

    docnames = chapter_docnames(book)
    files = chapter_files(book)
    pins = read_pins(book / "book" / "lite" / "wheels.txt")
    versions = tool_versions(node_modules)
    digest = input_hash(book, docnames, files, mode, versions)
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        try:
            previous = json.loads(manifest_path.read_text()).get("input_hash")
        except ValueError:
            previous = None
        if previous == digest and (out / "index.html").is_file():
            log(f"up to date ({mode}, {len(docnames)} chapters, hash {digest[:12]}): "
                f"nothing rebuilt in {time.perf_counter() - started:.1f} s")
            return 0

    log(f"building {mode} site for {len(docnames)} chapters + {len(files)} chapter files")
    contents = work / "contents"
    chapters = write_contents(book, contents, docnames, files)
    stamp = time.perf_counter()
    log(f"converted chapters in {stamp - started:.1f} s "
        f"({sum(c['replaced'] for c in chapters)} no-lite cell(s) replaced)")

    lock_names = lock_package_names(node_modules)
    lite_pins = pins if mode == "offline" else [
        p for p in pins if normalize(p.split("==")[0]) not in lock_names
    ]
    wheels = download_wheels(lite_pins, work / "wheels")
    piplite = [w for name, w in wheels.items() if name not in lock_names]
    with_lock = {name: w for name, w in wheels.items() if name in lock_names}
    tarball = pyodide_tarball(node_modules, with_lock, work) if mode == "offline" else None
    log(f"wheels ready in {time.perf_counter() - stamp:.1f} s "
        f"({len(piplite)} for piplite, {len(with_lock)} in pyodide-lock.json)")

    output = work / "output"
    stamp = time.perf_counter()
    lite_build(work, contents, output, mode, piplite, tarball)
    removed = finish_output(output, mode)
    log(f"jupyter lite build in {time.perf_counter() - stamp:.1f} s ({removed} sourcemaps removed)")

    manifest = {
        "input_hash": digest,
        "mode": mode,
        "versions": versions,
        "apps": list(APPS),
        "chapters": chapters,
        "pyodide_lock_packages": sorted(with_lock),
        "piplite_wheels": sorted(w.name for w in piplite),
    }
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(output), str(out))
    count, size = tree_size(out)
    log(f"wrote {out} ({count} files, {size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return 0


def lock_package_names(node_modules: Path) -> set[str]:
    lock = node_modules / "pyodide" / "pyodide-lock.json"
    if not lock.is_file():
        raise LiteError(f"no Pyodide in {lock.parent}: run `npm ci` (package.json pins pyodide)")
    return {normalize(k) for k in json.loads(lock.read_text())["packages"]}


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except LiteError as error:
        print(f"[lite] ERROR: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
