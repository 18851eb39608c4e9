"""Build the handbook's JupyterLite site from the chapters.

Usage: python book/tools/lite.py BOOK_DIR OUT_DIR      (OUT_DIR e.g. _build/html/lite)

Mode: HANDBOOK_LITE=hosted (default) loads Pyodide and its packages from the public
CDN; HANDBOOK_LITE=offline bundles the Pyodide core (npm `pyodide`, node_modules/),
the pure-Python wheels the kernel needs (book/lite/wheels.txt, fetched with
`pip download` and cached under BOOK_DIR/_build/.lite/wheels/) and sets
disablePyPIFallback, so the site needs no network at all. Our wheels carry the
bytecode of what the kernel's start-up and the chapters' imports load
(with_bytecode, compile_wheels.mjs).

1. Every chapter in _toc.yml (chapters/...) becomes chapters/NN-slug.ipynb via
   jupytext, outputs stripped, MyST turned into plain Jupyter Markdown
   (MystToMarkdown; the build fails on any leftover, see myst_leftovers); a code
   cell tagged `no-lite` becomes a note with one command to run the notebook
   locally; a ```{lite-cell}``` block becomes a code cell (tag lite-counterpart,
   its :expect: in metadata lite_expect); a first cell installs, deps=False,
   exactly the pinned packages the notebook imports (import_requirements).
2. Every file under chapters/ that is not a .md source is copied alongside.
3. `jupyter lite build` writes the site; *.map files are removed.
4. Nothing is done when the inputs' content hash matches OUT_DIR/handbook-lite.json;
   when only chapter sources changed, only their notebooks are rewritten
   (update_notebooks), without `jupyter lite build`.

count_cells() is the one producer of "N of M cells run in your browser"
(book/_ext/lite_launch.py imports it; the manifest records the same numbers).
"""

from __future__ import annotations

import ast
import functools
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
PYODIDE_VERSION = "314.0.6"  # what jupyterlite-pyodide-kernel 0.8.6 expects; package.json pins the same
HOSTED_PYODIDE_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/pyodide.mjs"
# Packages loadPyodide loads at boot, in one parallel batch (names in pyodide-lock.json).
# Offline, the lock also lists the kernel's own wheels (kernel_wheels); the CDN lock does not.
KERNEL_PRELOAD = {
    "offline": ("micropip", "piplite", "ipykernel", "comm", "pyodide-kernel", "jedi", "ipython"),
    "hosted": ("micropip", "jedi", "ipython"),
}
LITE_KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
# The Pyodide kernel's kernel_info_reply language_info (jupyterlite-pyodide-kernel 0.8.6).
LITE_LANGUAGE_INFO = {
    "codemirror_mode": {"name": "python", "version": 3}, "file_extension": ".py",
    "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3", "version": "3.8",
}
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
    """Files the chapters read: everything under chapters/ but the sources (bookinfo decides)."""
    return bookinfo().chapter_files(book)


def bookinfo():
    """book/tools/bookinfo.py, the one module that knows the book."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import bookinfo as module

    return module


def read_pins(wheels_txt: Path) -> list[str]:
    """Exact pins (name==version); a pin may carry `sdist-sha256=HEX` (see pure_wheel_from_sdist)."""
    if not wheels_txt.is_file():
        raise LiteError(f"missing {wheels_txt} (the pinned wheel list)")
    pins = []
    for line in wheels_txt.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-!]+( sdist-sha256=[0-9a-f]{64})?", line):
            raise LiteError(f"{wheels_txt}: '{line}' is not an exact pin (name==version)")
        pins.append(line)
    return pins


def pin_name(pin: str) -> str:
    return normalize(pin.split("==")[0])


def pin_version(pin: str) -> str:
    return pin.split("==")[1].split()[0]


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
               versions: dict[str, str], with_sources: bool = True) -> str:
    """Hash of everything the Lite site is built from. Without the chapter
    sources it is the "site hash": while it holds, a chapter edit only needs
    that chapter's notebook rewritten (see update_notebooks)."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("mode", mode.encode())
    add("versions", json.dumps(versions, sort_keys=True).encode())
    add("tool", Path(__file__).read_bytes() + (HERE / "compile_wheels.mjs").read_bytes())
    add("wheels", (book / "book" / "lite" / "wheels.txt").read_bytes())
    add("docnames", "\n".join(docnames).encode())
    add("site_path", site_path(book).encode())
    if with_sources:
        for name in all_docnames(book):
            add(name, (book / f"{name}.md").read_bytes())
    for path in files:
        add(path.relative_to(book).as_posix(), path.read_bytes())
    return digest.hexdigest()


# ------------------------------------------------------------- notebooks ----

# Modules the Pyodide kernel has loaded before any cell runs (ipykernel, IPython and their deps).
KERNEL_PROVIDES = {"IPython", "traitlets", "comm", "jedi", "parso", "pygments", "prompt_toolkit",
                   "decorator", "executing", "asttokens", "pure_eval", "stack_data", "wcwidth",
                   "six", "matplotlib_inline", "ipykernel", "pyodide_kernel", "piplite", "micropip"}
ADMONITIONS = {"note", "tip", "warning", "important", "caution", "attention", "danger", "error",
               "hint", "seealso", "admonition", "correction", "dropdown", "sidebar", "margin"}
FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}\s*(?P<arg>.*?)\s*$")
# A role, or an inline code span (kept as is: `{ref}` in code is not a role).
ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<text>[^`]+)`|(?P<code>(?P<ticks>`+)[^`].*?(?P=ticks))")
TITLED_REF = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# Raw MyST the Lite copy must never show (tests/test_lite.py scans with the same patterns).
MYST_LEFTOVERS = (
    re.compile(r"\{[\w:-]+\}`"),                  # a role: {ref}`x`
    re.compile(r"^\s*(`{3,}|:{3,})\{[\w-]+\}", re.M),  # a directive fence
    re.compile(r"^:{3,}\s*$", re.M),              # a closing colon fence
    re.compile(r"^\([^()\s]+\)=\s*$", re.M),      # a target: (label)=
)


def myst_leftovers(text: str) -> list[str]:
    """Raw MyST constructs in Markdown text, ignoring plain fenced code blocks and inline code."""
    found = []
    in_code = None
    lines = []
    for line in text.splitlines():
        fence = re.match(r"^\s*(`{3,}|~{3,})(?!\{)", line)
        if in_code:
            if line.strip().startswith(in_code):
                in_code = None
            continue
        if fence:
            in_code = fence.group(1)
            continue
        lines.append(re.sub(r"(?<!`)`[^`\n]+`(?!`)", "``", line))
    prose = "\n".join(lines)
    for pattern in MYST_LEFTOVERS:
        found += [m.group(0) for m in pattern.finditer(prose)]
    return found


def label_index(book: Path, docnames: list[str]) -> dict[str, tuple[str, str, str]]:
    """label -> (docname, anchor, title) for every `(label)=` target and `:name:` option."""
    index = {}
    for name in docnames:
        lines = (book / f"{name}.md").read_text().splitlines()
        first_heading = True
        for i, line in enumerate(lines):
            target = re.match(r"^\(([^()\s]+)\)=\s*$", line)
            heading = HEADING.match(line)
            if heading and not line.startswith("#|"):
                first_heading = False
            if target:
                following = next((x for x in lines[i + 1:] if x.strip()), "")
                head = HEADING.match(following)
                title = head.group(2) if head else target.group(1)
                anchor = "" if head and first_heading and head.group(1) == "#" else target.group(1)
                index[target.group(1)] = (name, anchor, title)
            option = re.match(r"^:name:\s*(\S+)\s*$", line)
            if option:
                opener = next((x for x in reversed(lines[:i]) if FENCE_OPEN.match(x)), "")
                match = FENCE_OPEN.match(opener)
                index[option.group(1)] = (name, option.group(1),
                                          match.group("arg") if match and match.group("arg") else option.group(1))
    return index


class MystToMarkdown:
    """MyST Markdown -> plain Jupyter Markdown for one chapter's Lite copy."""

    def __init__(self, docname: str, labels: dict, site_root: str):
        self.docname, self.labels, self.site_root = docname, labels, site_root
        self.problems: list[str] = []

    def page_url(self, docname: str, anchor: str = "") -> str:
        return f"{self.site_root}{docname}.html" + (f"#{anchor}" if anchor else "")

    def role(self, match: re.Match) -> str:
        if match.group("code"):
            return match.group("code")
        role, text = match.group("role"), match.group("text")
        titled = TITLED_REF.match(text)
        label_text, target = (titled.group("text"), titled.group("target")) if titled else (None, text)
        if role in ("ref", "numref", "doc", "any"):
            if role == "doc":
                doc = target[:-3] if target.endswith(".md") else target
                doc = os.path.normpath(os.path.join(os.path.dirname(self.docname), doc)) \
                    if not doc.startswith("/") else doc.lstrip("/")
                return f"[{label_text or doc}]({self.page_url(doc)})"
            if target not in self.labels:
                self.problems.append(f"unknown label {target!r}")
                return label_text or target
            doc, anchor, title = self.labels[target]
            shown = (label_text or title).replace("{number}", "").replace("%s", "").strip()
            return f"[{shown}]({self.page_url(doc, anchor)})"
        if role == "download":
            # chapter files sit next to the Lite notebook, under the same relative path
            return f"[{label_text or Path(target).name}]({target})"
        if role in ("code", "literal", "samp", "file", "command", "kbd", "envvar", "program"):
            return f"`{text}`"
        if role in ("term", "abbr", "dfn", "guilabel", "menuselection", "sub", "sup"):
            return label_text or re.sub(r"\s*\(.*\)$", "", text) if role == "abbr" else (label_text or text)
        if role in ("math", "eq"):
            return f"${text}$"
        return label_text or text

    def inline(self, text: str) -> str:
        return ROLE.sub(self.role, text)

    def convert(self, source: str) -> str:
        return drop_page_only(self._convert(source))

    def _convert(self, source: str) -> str:
        out, lines, i = [], source.splitlines(), 0
        in_code = None
        while i < len(lines):
            line = lines[i]
            if in_code:
                out.append(line)
                if line.strip() == in_code:
                    in_code = None
                i += 1
                continue
            if re.match(r"^\(([^()\s]+)\)=\s*$", line):
                i += 1
                continue
            opener = FENCE_OPEN.match(line)
            if opener:
                fence, name, arg = opener.group("fence"), opener.group("name"), opener.group("arg")
                body, options, i = [], {}, i + 1
                depth = 0
                while i < len(lines) and not (lines[i].strip() == fence and depth == 0):
                    inner = FENCE_OPEN.match(lines[i])
                    if inner and inner.group("fence") == fence:
                        depth += 1
                    elif lines[i].strip() == fence:
                        depth -= 1
                    body.append(lines[i])
                    i += 1
                i += 1  # the closing fence
                while body and re.match(r"^:[\w-]+:", body[0]):
                    key, _, value = body.pop(0)[1:].partition(":")
                    options[key] = value.strip()
                out.extend(self.directive(name, arg, options, "\n".join(body)).splitlines())
                continue
            plain = re.match(r"^\s*(`{3,}|~{3,})", line)
            if plain:
                in_code = plain.group(1)
                out.append(line)
                i += 1
                continue
            out.append(self.inline(line))
            i += 1
        text = "\n".join(out)
        return re.sub(r"\n{3,}", "\n\n", text).strip("\n")

    def directive(self, name: str, arg: str, options: dict, body: str) -> str:
        inner = self._convert(body)
        if name in ADMONITIONS:
            if name == "correction":
                title = f"Correction: {self.inline(arg)}" if arg else "Correction"
            elif name in ("admonition", "dropdown", "sidebar", "margin"):
                title = self.inline(arg) or name.title()
            else:
                title = {"seealso": "See also"}.get(name, name.title())
                if arg:
                    inner = f"{self.inline(arg)}\n\n{inner}"
            title = title.rstrip(".:")
            quoted = "\n".join(f"> {x}" if x.strip() else ">" for x in inner.splitlines())
            return f"> **{title}.**\n>\n{quoted}" if inner else f"> **{title}.**"
        if name in ("code-block", "code", "sourcecode"):
            fence = "````" if "```" in body else "```"
            return f"{fence}{arg}\n{body}\n{fence}"
        if name in ("figure", "image"):
            alt = options.get("alt", inner.splitlines()[0] if inner else "figure")
            caption = f"\n\n*{inner}*" if inner and name == "figure" else ""
            return f"![{alt}]({arg}){caption}"
        if name == "math":
            return f"$$\n{body}\n$$"
        if name in ("glossary", "epigraph", "topic", "rubric"):
            return inner
        return inner  # any other directive: keep its readable content


# Sentences that are only true of the built page (its runs happened at build time).
PAGE_ONLY = re.compile(r"(book|page) (is|was|gets) built|when (this|the) page|at build time|"
                       r"built this page|on this page (is|are|was|were) (real|produced|run|executed)", re.I)


def drop_page_only(text: str) -> str:
    """Drop sentences about the built page from plain paragraphs (rewrapped on one line)."""
    paragraphs = re.split(r"(\n\s*\n)", text)
    for i, paragraph in enumerate(paragraphs):
        if not PAGE_ONLY.search(paragraph.replace("\n", " ")) or re.match(r"\s*([|>#`~:-]|\d+\.)", paragraph):
            continue
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z`*(])", paragraph.replace("\n", " "))
        paragraphs[i] = " ".join(s for s in sentences if not PAGE_ONLY.search(s))
    return "".join(paragraphs)


def new_cell(nbformat, kind: str, source: str, metadata: dict | None = None):
    """A v4 cell without nbformat's per-cell validation (the whole notebook is validated once)."""
    cell = {"cell_type": kind, "metadata": metadata or {}, "source": source}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    return nbformat.from_dict(cell)


def lite_cell_blocks(source: str) -> list[tuple[str, object]]:
    """Split a Markdown cell's source into ("md", text) and ("lite", (code, options)) parts."""
    parts, lines, buffer, i = [], source.splitlines(), [], 0
    while i < len(lines):
        opener = FENCE_OPEN.match(lines[i])
        if opener and opener.group("name") == "lite-cell":
            fence = opener.group("fence")
            if buffer:
                parts.append(("md", "\n".join(buffer)))
                buffer = []
            body, i = [], i + 1
            while i < len(lines) and lines[i].strip() != fence:
                body.append(lines[i])
                i += 1
            i += 1
            options = {}
            if body and body[0].strip() == "---":
                end = body.index("---", 1)
                import yaml

                options = yaml.safe_load("\n".join(body[1:end])) or {}
                body = body[end + 1:]
            while body and re.match(r"^:[\w-]+:", body[0]):
                key, _, value = body.pop(0)[1:].partition(":")
                options[key] = value.strip()
            while body and not body[0].strip():
                body.pop(0)
            parts.append(("lite", ("\n".join(body).rstrip(), options)))
            continue
        buffer.append(lines[i])
        i += 1
    if buffer:
        parts.append(("md", "\n".join(buffer)))
    return parts


def parse_tags(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [t.strip().strip("'\"") for t in str(value or "").strip("[]").split(",") if t.strip()]


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


MODULE_DISTRIBUTIONS = {"yaml": "pyyaml", "IPython": "ipython", "zmq": "pyzmq", "dateutil": "python-dateutil",
                        "jwt": "pyjwt", "sklearn": "scikit-learn", "PIL": "pillow", "bs4": "beautifulsoup4"}


@functools.cache
def distribution_of(module: str) -> str | None:
    """The installed distribution that provides a top-level module (one metadata lookup)."""
    from importlib import metadata

    name = MODULE_DISTRIBUTIONS.get(module, module)
    for candidate in (name, name.replace("_", "-")):
        try:
            return normalize(metadata.distribution(candidate).metadata["Name"])
        except metadata.PackageNotFoundError:
            continue
    return None


def local_command(md: Path, notebook) -> str:
    """One command that runs the downloaded notebook locally with what the chapter imports."""
    needed = set()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for module in top_level_imports(cell.source):
            if module in sys.stdlib_module_names or module in ("IPython", "ipykernel"):
                continue
            dist = distribution_of(module)
            if dist:
                needed.add(dist)
    text = md.read_text()
    for tool in re.findall(r"\b(pytest|nbval|nbmake|papermill|nbconvert|jupytext|nbstripout|"
                           r"detect-secrets|jupyter-server|voila|nbdime|ipywidgets|nbclient)\b", text):
        if distribution_of(tool.replace("-", "_")):
            needed.add(normalize(tool))
    needed.discard("jupyterlab")
    extras = "".join(f" --with {name}" for name in sorted(needed))
    return f"uvx --from jupyterlab{extras} jupyter lab {md.stem}.ipynb"


def lite_note_cell(cell, nbformat, command: str, counterpart: bool) -> object:
    # `lite_note` may sit at the top of the cell metadata or under `mystnb:`
    # (where myst-nb accepts extra keys without complaint).
    note = cell.metadata.get("lite_note") or (cell.metadata.get("mystnb") or {}).get("lite_note")
    reason = str(note or "it needs something Pyodide in the browser does not have")
    source = cell.source.rstrip()
    fence = "````" if "```" in source else "```"
    below = " The cell below makes the same point in the browser." if counterpart else ""
    text = (
        f"> **Not run in JupyterLite:** {reason.rstrip('.')}.{below}\n>\n"
        f"> To run it, download the full notebook from this chapter's page in the book "
        f"(*Download executed notebook*) and run, in its folder:\n"
        f"> `{command}`\n\n"
        f"{fence}python\n{source}\n{fence}"
    )
    return new_cell(nbformat, "markdown", text, {"tags": ["lite-note"]})


def setup_cell(requirements: list[str], nbformat) -> object:
    import textwrap

    listing = textwrap.fill(", ".join(f'"{r}"' for r in requirements), width=68,
                            initial_indent="    ", subsequent_indent="    ")
    return new_cell(nbformat, "code",
        "# JupyterLite only: install what this notebook imports,\n"
        "# from the wheels this site bundles\n"
        "import piplite\n"
        f"await piplite.install([\n{listing},\n], deps=False)",
        {"tags": ["lite-setup"]},
    )


def count_cells(md: Path, notebook=None) -> dict:
    """Book code cells (total) and how many run in Lite (runnable): not tagged no-lite,
    or tagged no-lite and followed by a {lite-cell} counterpart before the next code cell.
    The one producer of these numbers: lite_launch.py imports it for the launch button,
    passing the notebook as myst-nb reads it (the same counts: test_tools checks)."""
    if notebook is None:
        import jupytext

        notebook = jupytext.read(md, fmt="md:myst")
    total = runnable = 0
    pending = False  # a no-lite cell waiting for its counterpart
    for cell in notebook.cells:
        if cell.cell_type == "code":
            pending = False
            total += 1
            if "no-lite" in (cell.metadata.get("tags") or []):
                pending = True
            else:
                runnable += 1
        elif cell.cell_type == "markdown" and pending and any(
                kind == "lite" for kind, _ in lite_cell_blocks(cell.source)):
            runnable += 1
            pending = False
    return {"total": total, "runnable": runnable}


def convert_chapter(md: Path, nbformat, jupytext, converter: MystToMarkdown,
                    requirements: dict[str, list[str]]) -> tuple[object, dict]:
    try:
        notebook = jupytext.read(md, fmt="md:myst")
    except Exception as error:  # jupytext raises many kinds
        raise LiteError(f"jupytext could not read {md}: {error}") from error
    counts = count_cells(md, notebook)
    command = local_command(md, notebook)
    cells, replaced, counterparts, imports = [], 0, 0, set()
    source_cells = list(notebook.cells)

    def counterpart_follows(index: int) -> bool:
        for later in source_cells[index + 1:]:
            if later.cell_type == "code":
                return False
            if later.cell_type == "markdown" and any(k == "lite" for k, _ in lite_cell_blocks(later.source)):
                return True
        return False

    for index, cell in enumerate(source_cells):
        tags = cell.metadata.get("tags") or []
        if cell.cell_type == "code" and "no-lite" in tags:
            cells.append(lite_note_cell(cell, nbformat, command, counterpart_follows(index)))
            replaced += 1
            continue
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            imports |= top_level_imports(cell.source)
            cells.append(cell)
            if "raises-exception" in tags:
                cells.append(raises_note(nbformat))
            continue
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        for kind, part in lite_cell_blocks(cell.source):
            if kind == "md":
                text = converter.convert(part)
                if text.strip():
                    cells.append(new_cell(nbformat, "markdown", text))
                continue
            code, options = part
            if not options.get("expect"):
                raise LiteError(f"{md.name}: a lite-cell has no :expect: option")
            lite_tags = parse_tags(options.get("tags")) + ["lite-counterpart"]
            cells.append(new_cell(nbformat, "code",
                code, {"tags": lite_tags, "lite_expect": str(options["expect"])}))
            counterparts += 1
            imports |= top_level_imports(code)
            if "raises-exception" in lite_tags:
                cells.append(raises_note(nbformat))
    wanted = []
    loaded = {normalize(r.split("==")[0]) for m in ("IPython", "comm", "jedi") for r in requirements.get(m, [])}
    loaded |= {normalize(m) for m in KERNEL_PROVIDES}
    for module in sorted(imports - KERNEL_PROVIDES):
        for requirement in requirements.get(module, []):
            if requirement not in wanted and normalize(requirement.split("==")[0]) not in loaded:
                wanted.append(requirement)
    if wanted:
        # piplite.install rather than %pip: JupyterLab's Run All stopped after a
        # %pip cell and never ran the rest of the notebook.
        title_first = bool(cells) and cells[0].cell_type == "markdown"
        cells.insert(1 if title_first else 0, setup_cell(wanted, nbformat))
    for index, cell in enumerate(cells):
        cell.id = f"lite-{index:03d}"  # stable ids: identical input, identical output
        cell.metadata.pop("execution", None)
    notebook.cells = cells
    # Exactly what JupyterLab writes after the Pyodide kernel connects (its
    # kernel_info_reply), so that opening the notebook does not mark it modified.
    notebook.metadata = {
        "kernelspec": dict(LITE_KERNELSPEC),
        "language_info": dict(LITE_LANGUAGE_INFO),
        "handbook": {"source": md.name, "no_lite_cells": replaced, "counterparts": counterparts},
    }
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    nbformat.validate(notebook)
    leftovers = [c for cell in cells if cell.cell_type == "markdown" for c in myst_leftovers(cell.source)]
    if leftovers or converter.problems:
        raise LiteError(f"{md.name}: MyST left in the Lite copy: {sorted(set(leftovers + converter.problems))[:8]}")
    return notebook, {"replaced": replaced, "counterparts": counterparts, "imports": sorted(imports),
                      "installs": wanted, **counts}


def raises_note(nbformat):
    return new_cell(nbformat, "markdown",
        "> **This cell raises an error on purpose.** *Run All* stops here: click the next cell "
        "and choose *Run → Run Selected Cell and All Below* to carry on.",
        {"tags": ["lite-note"]},
    )


def site_path(book: Path) -> str:
    """The path the book is served under: html.baseurl's path, or "/" without one.

    Links from a Lite notebook to the book's pages are root-absolute: JupyterLab opens
    any relative link as a file of the Lite contents (where the pages are not) and
    leaves a root-absolute one to the browser, which opens the page in a new tab."""
    from urllib.parse import urlsplit

    html = bookinfo().load_yaml(book / "_config.yml").get("html") or {}
    path = urlsplit((html.get("baseurl") or "").strip()).path or "/"
    return path if path.endswith("/") else path + "/"


def labels_digest(labels: dict) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()


def source_digests(book: Path, docnames: list[str]) -> dict[str, str]:
    return {name: hashlib.sha256((book / f"{name}.md").read_bytes()).hexdigest() for name in docnames}


def convert_all(book: Path, docnames: list[str], requirements: dict,
                labels: dict | None = None) -> list[tuple[str, bytes, dict]]:
    import jupytext
    import nbformat

    labels = labels if labels is not None else label_index(book, all_docnames(book))
    results = []
    for name in docnames:
        converter = MystToMarkdown(name, labels, site_path(book))
        notebook, info = convert_chapter(book / f"{name}.md", nbformat, jupytext, converter, requirements)
        data = (nbformat.writes(notebook) + "\n").encode()
        results.append((name, data, {"docname": name, "notebook": f"{name}.ipynb", **info}))
    return results


def all_docnames(book: Path) -> list[str]:
    from sphinx_external_toc.parsing import parse_toc_yaml

    return [name for name in parse_toc_yaml(str(book / "_toc.yml")) if (book / f"{name}.md").is_file()]


def write_contents(book: Path, contents: Path, converted: list, files: list[Path]) -> list[dict]:
    if contents.exists():
        shutil.rmtree(contents)
    chapters = []
    for name, data, info in converted:
        target = contents / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        chapters.append(info)
    for path in files:
        target = contents / path.relative_to(book)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return chapters


# ---------------------------------------------------------------- wheels ----

def cached_wheel(pin: str, cache: Path) -> Path | None:
    name, version = pin_name(pin), pin_version(pin)
    for path in cache.glob("*.whl"):
        parts = path.name.split("-")
        if normalize(parts[0]) == name and parts[1] == version:
            return path
    return None


def pure_wheel_from_sdist(pin: str, cache: Path) -> Path:
    """PyPI has no pure-Python PyYAML wheel (only compiled ones and the sdist).

    pip downloads the pinned sdist, checked against the sha256 in wheels.txt
    (--require-hashes), and its pure-Python package (lib/<name>/*.py, which
    PyYAML uses when its C extension is absent) is packed into a
    py3-none-any wheel. Deterministic: fixed timestamps, sorted entries.
    """
    import base64
    import tempfile
    import zipfile

    requirement, digest = pin.split(" sdist-sha256=")
    name, version = requirement.split("==")
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text(f"{requirement} --hash=sha256:{digest}\n")
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-binary=:all:", "--no-build-isolation", "--require-hashes",
            "-r", str(reqs), "--dest", tmp,
        ]
        completed = subprocess.run(command, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("*.tar.gz"))
        if completed.returncode != 0 or not sdists:
            raise LiteError(f"pip download of the {requirement} sdist failed:\n"
                            + completed.stdout + completed.stderr)
        records, files = [], {}
        with tarfile.open(sdists[0]) as archive:
            for member in sorted(archive.getmembers(), key=lambda m: m.name):
                parts = member.name.split("/")
                if member.isfile() and len(parts) >= 4 and parts[1] == "lib" and parts[-1].endswith(".py") \
                        and parts[2] not in ("_yaml",) and not parts[2].endswith(".egg-info"):
                    files["/".join(parts[2:])] = archive.extractfile(member).read()
                elif member.isfile() and parts[1:] == ["PKG-INFO"]:
                    pkg_info = archive.extractfile(member).read()
                elif member.isfile() and parts[1:] == ["LICENSE"]:
                    license_text = archive.extractfile(member).read()
    if not files:
        raise LiteError(f"the {requirement} sdist has no pure-Python package under lib/")
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    top = sorted({path.split("/")[0] for path in files})
    files[f"{info}/METADATA"] = pkg_info
    files[f"{info}/LICENSE"] = license_text
    files[f"{info}/top_level.txt"] = ("\n".join(top) + "\n").encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: handbook-lite (pure wheel from the pinned sdist)\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    for path, data in files.items():
        hashed = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        records.append(f"{path},sha256={hashed},{len(data)}")
    records.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(records) + "\n").encode()
    target = cache / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path in files:
            entry = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, files[path])
    log(f"built {target.name} from the hash-checked sdist ({len(top)} package(s))")
    return target


def download_wheels(pins: list[str], cache: Path) -> dict[str, Path]:
    """pip download each pin once (cached); returns normalized name -> wheel."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [pin for pin in pins if cached_wheel(pin, cache) is None]
    for pin in [p for p in missing if " sdist-sha256=" in p]:
        pure_wheel_from_sdist(pin, cache)
    missing = [pin for pin in missing if " sdist-sha256=" not in pin]
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
    return {pin_name(pin): cached_wheel(pin, cache) for pin in pins}


def wheel_info(wheel: Path) -> tuple[set[str], list[str]]:
    """(top-level import names, Requires-Dist lines) of a wheel."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [line.split(":", 1)[1].strip()
                    for line in archive.read(meta).decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    tops = set()
    for name in names:
        first = name.split("/")[0]
        if first.endswith((".dist-info", ".data")):
            continue
        tops.add(first[:-3] if first.endswith(".py") else first)
    return tops, requires


PYODIDE_ENV = {"python_version": "3.14", "python_full_version": "3.14.2", "sys_platform": "emscripten",
               "platform_system": "Emscripten", "platform_machine": "wasm32", "os_name": "posix",
               "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def import_requirements(pins: list[str], wheels: dict[str, Path]) -> dict[str, list[str]]:
    """import name -> the pins (name==version) that importing it needs, dependencies included.

    Dependencies the pins do not cover (e.g. widgetsnbextension, which the
    Pyodide kernel ships as a stub) are listed by bare name.
    """
    from packaging.requirements import Requirement

    by_name = {pin_name(p): f"{p.split()[0]}" for p in pins}
    info = {name: wheel_info(wheel) for name, wheel in wheels.items()}

    def closure(name: str, seen: list[str]) -> None:
        if name in seen:
            return
        seen.append(name)
        for line in info.get(name, (set(), []))[1]:
            req = Requirement(line)
            if req.marker and not req.marker.evaluate({**PYODIDE_ENV, "extra": ""}):
                continue
            closure(normalize(req.name), seen)

    table = {}
    for name, (tops, _) in info.items():
        seen: list[str] = []
        closure(name, seen)
        for top in tops:
            table[top] = [by_name.get(n, n) for n in seen]
    return table


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kernel_wheels(wheels: dict[str, Path]) -> dict[str, tuple[Path, list[str], list[str]]]:
    """Wheels the Pyodide kernel installs one by one with piplite at every start
    (piplite, ipykernel, pyodide-kernel, comm). Listed in the offline lock, they
    load in one parallel batch with loadPyodide's `packages` (KERNEL_PRELOAD)."""
    pypi = Path(lab_extension_dirs()[0]) / "static" / "pypi"
    found = {}
    for name in ("piplite", "ipykernel", "pyodide-kernel"):
        hits = sorted(pypi.glob(f"{name.replace('-', '_')}-*-py3-none-any.whl"))
        if not hits:
            raise LiteError(f"no {name} wheel in {pypi}")
        found[name] = hits[-1]
    found["comm"] = wheels["comm"]
    return {
        "piplite": (found["piplite"], ["piplite"], ["micropip"]),
        "ipykernel": (found["ipykernel"], ["ipykernel"], ["pyodide-kernel"]),
        "pyodide-kernel": (found["pyodide-kernel"], ["pyodide_kernel"], ["comm", "ipython"]),
        "comm": (found["comm"], ["comm"], []),
    }


def with_bytecode(wheels: list[Path], imports: list[str], core: Path, work: Path) -> dict[Path, Path]:
    """{wheel: the same wheel with the bytecode of the modules these imports load}
    (see compile_wheels.mjs), kept under work/ by the inputs' digest."""
    script = HERE / "compile_wheels.mjs"
    key = hashlib.sha256(script.read_bytes() + (core / "package.json").read_bytes() + json.dumps(imports).encode()
                         + "".join(sorted(sha256(w) for w in wheels)).encode()).hexdigest()[:16]
    folder = work / "wheels-compiled" / key
    compiled = {w: folder / w.name for w in wheels}
    if all(out.is_file() for out in compiled.values()):
        return compiled
    if folder.parent.exists():
        shutil.rmtree(folder.parent)
    folder.mkdir(parents=True)
    if shutil.which("node") is None:
        raise LiteError("node is not on PATH: compile_wheels.mjs needs Node (20 or later)")
    request = {"imports": imports, "wheels": [[str(w), str(out)] for w, out in compiled.items()]}
    completed = subprocess.run(["node", str(script), str(core)], input=json.dumps(request),
                               capture_output=True, text=True)
    try:
        if completed.returncode != 0:
            raise ValueError(f"exit {completed.returncode}")
        result = json.loads(completed.stdout.splitlines()[-1])
    except (ValueError, IndexError) as error:
        shutil.rmtree(folder)  # nothing half-written is reused by the next build
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-20:])
        raise LiteError(f"compile_wheels.mjs failed ({error}):\n{tail}") from None
    counts = result["compiled"]
    log(f"bytecode for {len(imports) - len(result['failed'])} imports: {sum(counts.values())} modules "
        f"in {sum(1 for c in counts.values() if c)} of {len(wheels)} wheels")
    for module, error in result["failed"].items():
        log(f"no bytecode for {module}: it does not import in Pyodide under Node ({error})")
    return compiled


def pyodide_tarball(node_modules: Path, lock_wheels: dict[str, Path], work: Path,
                    extra: dict | None = None) -> Path:
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
    for key, (wheel, imports, depends) in (extra or {}).items():
        shipped[key] = {
            "name": key, "version": wheel.name.split("-")[1], "file_name": wheel.name,
            "install_dir": "site", "sha256": sha256(wheel), "package_type": "package",
            "imports": imports, "depends": depends, "unvendored_tests": False, "shared_library": False,
        }
        lock_wheels = {**lock_wheels, key: wheel}
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


def kernel_settings(mode: str) -> dict:
    """The Pyodide kernel's settings. Both modes load the same Pyodide version;
    offline also serves it from the site and never falls back to PyPI."""
    settings: dict = {
        "disablePyPIFallback": mode == "offline",
        # One parallel loadPackage batch at boot instead of the kernel's sequential
        # piplite installs (it skips the names listed here).
        "loadPyodideOptions": {"packages": list(KERNEL_PRELOAD[mode])},
    }
    if mode == "hosted":
        # The Pyodide jupyterlite-pyodide-kernel was built and tested with, from its CDN
        # (offline, the build sets ./static/pyodide/pyodide.mjs from npm `pyodide`).
        settings["pyodideUrl"] = HOSTED_PYODIDE_URL
    return settings


def lite_build(work: Path, contents: Path, output: Path, mode: str, piplite: list[Path],
               tarball: Path | None) -> None:
    lite_dir = work / "site-src"
    if lite_dir.exists():
        shutil.rmtree(lite_dir)
    lite_dir.mkdir(parents=True)
    settings = kernel_settings(mode)
    (lite_dir / "jupyter-lite.json").write_text(json.dumps({
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "Jupyter Field Handbook (JupyterLite)",
            "litePluginSettings": {KERNEL_PLUGIN: settings},
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
    elif settings.get("pyodideUrl") != HOSTED_PYODIDE_URL:
        raise LiteError(f"hosted build but pyodideUrl is {settings.get('pyodideUrl')!r}")
    if not settings.get("pipliteUrls"):
        raise LiteError("the build did not register the piplite wheel index")
    return removed


def tree_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def update_notebooks(out: Path, converted: list) -> list[str]:
    """Rewrite the chapter notebooks whose bytes changed, in files/ and in the
    contents listing (api/contents/<dir>/all.json: size, last_modified)."""
    import datetime

    changed = []
    for name, data, _ in converted:
        target = out / "files" / f"{name}.ipynb"
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        changed.append(name)
        listing = out / "api" / "contents" / Path(name).parent / "all.json"
        if listing.is_file():
            index = json.loads(listing.read_text())
            now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
            for entry in index.get("content") or []:
                if entry.get("path") == f"{name}.ipynb":
                    entry["size"], entry["last_modified"] = len(data), now
            listing.write_text(json.dumps(index, indent=2, sort_keys=True))
    return changed


def split_pins(pins: list[str], node_modules: Path, mode: str) -> tuple[list[str], set[str]]:
    """(pins to fetch, names that go into pyodide-lock.json). A pin goes into the
    (offline) lock when the lock lists that package at the same version; the
    others are served by piplite. Hosted mode takes the lock's from the CDN."""
    lock = json.loads((node_modules / "pyodide" / "pyodide-lock.json").read_text())["packages"]
    versions = {normalize(k): v["version"] for k, v in lock.items()}
    in_lock = {pin_name(p) for p in pins if versions.get(pin_name(p)) == pin_version(p)}
    return pins, in_lock


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    started = time.perf_counter()
    bookinfo().skip_iri_format_checks()  # before nbformat imports jsonschema
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
    site_digest = input_hash(book, docnames, files, mode, versions, with_sources=False)
    manifest_path = out / MANIFEST
    previous = {}
    if manifest_path.is_file():
        try:
            previous = json.loads(manifest_path.read_text())
        except ValueError:
            previous = {}
    if previous.get("input_hash") == digest and (out / "index.html").is_file():
        log(f"up to date ({mode}, {len(docnames)} chapters, hash {digest[:12]}): "
            f"nothing rebuilt in {time.perf_counter() - started:.1f} s")
        return 0

    fetch, lock_names = split_pins(pins, node_modules, mode)
    labels = label_index(book, all_docnames(book))
    sources = source_digests(book, docnames)

    if previous.get("site_hash") == site_digest and (out / "index.html").is_file() \
            and previous.get("requirements"):
        requirements = previous["requirements"]  # a function of wheels.txt, which is unchanged
        # Only chapter sources changed: rewrite those notebooks, no `jupyter lite build`.
        # (If a label or heading changed, every chapter is converted: links may point at it.)
        same_labels = previous.get("labels_hash") == labels_digest(labels)
        todo = [n for n in docnames if not same_labels or previous.get("sources", {}).get(n) != sources[n]]
        converted = convert_all(book, todo, requirements, labels)
        changed = update_notebooks(out, converted)
        infos = {c["docname"]: c for c in previous.get("chapters", [])}
        infos.update({info["docname"]: info for _, _, info in converted})
        previous.update(input_hash=digest, chapters=[infos[n] for n in docnames], sources=sources,
                        labels_hash=labels_digest(labels))
        manifest_path.write_text(json.dumps(previous, indent=2) + "\n")
        log(f"updated {len(changed)} notebook(s) ({', '.join(changed) or 'none changed'}) "
            f"in {time.perf_counter() - started:.1f} s")
        return 0

    wheels = download_wheels(fetch, work / "wheels")
    requirements = import_requirements(pins, wheels)
    converted = convert_all(book, docnames, requirements, labels)
    log(f"converted {len(converted)} chapters in {time.perf_counter() - started:.1f} s")

    log(f"building {mode} site for {len(docnames)} chapters + {len(files)} chapter files")
    contents = work / "contents"
    chapters = write_contents(book, contents, converted, files)
    stamp = time.perf_counter()
    # Every wheel gets the bytecode of what the kernel's start-up and the chapters'
    # imports load; hosted mode ships only the piplite ones (the CDN serves the rest).
    kernel = kernel_wheels(wheels)
    # (piplite.piplite: the kernel imports it at every start, outside pyodide_kernel)
    imports = ["pyodide_kernel", "piplite.piplite",
               *sorted({m for n, w in wheels.items() if n not in lock_names for m in wheel_info(w)[0]})]
    compiled = with_bytecode([*wheels.values(), *(w for w, _, _ in kernel.values())], imports,
                             node_modules / "pyodide", work)
    piplite = [compiled[w] for name, w in wheels.items() if name not in lock_names]
    with_lock = {name: compiled[w] for name, w in wheels.items() if name in lock_names}
    kernel = {name: (compiled[w], *rest) for name, (w, *rest) in kernel.items()}
    tarball = pyodide_tarball(node_modules, with_lock, work, kernel) if mode == "offline" else None
    log(f"wheels ready in {time.perf_counter() - stamp:.1f} s "
        f"({len(piplite)} for piplite, {len(with_lock)} in pyodide-lock.json)")

    output = work / "output"
    stamp = time.perf_counter()
    lite_build(work, contents, output, mode, piplite, tarball)
    removed = finish_output(output, mode)
    log(f"jupyter lite build in {time.perf_counter() - stamp:.1f} s ({removed} sourcemaps removed)")

    manifest = {
        "input_hash": digest,
        "site_hash": site_digest,
        "labels_hash": labels_digest(labels),
        "sources": sources,
        "requirements": requirements,
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
