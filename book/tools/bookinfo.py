"""The one module that knows the book: its toc, its chapters and its execution settings.

Everything else (execute.py, build.py, check_chapter.py, the tests and, later,
lite.py) asks here instead of reading _toc.yml or _config.yml itself:

    import bookinfo
    bookinfo.docnames(book)          # every toc entry, in toc order
    bookinfo.chapters(book)          # chapters/NN-slug.md sources, in toc order
    bookinfo.chapter_files(book)     # the files chapters read (samples, helpers)
    bookinfo.read_notebook(path)     # a source read exactly as myst-nb reads it
    bookinfo.sphinx_config(book)     # what `jupyter-book config sphinx` generates

Settings come from jupyter-book's own config API (the function its CLI calls
to write conf.py), completed by myst-nb's and MyST's own defaults, so there are
no second defaults here. A notebook may change its own execution settings with
`mystnb:` metadata, as myst-nb allows; the ones that would make Sphinx execute
or look elsewhere are rejected with a clear error (see NOTEBOOK_SETTINGS).

Errors meant for the maintainer are BookError, with a one- or two-line message.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import sys
from pathlib import Path

import yaml

SOURCE_SUFFIXES = (".md", ".ipynb")
CHAPTERS = "chapters"
# Where Sphinx stages the site (build.py publishes it to _build/html on success).
STAGING = Path("_build") / ".site"
# The executed notebooks, with the chapter files beside them: readers download
# them from each chapter page, nbval re-runs them there.
NOTEBOOKS = "_notebooks"
# Per-notebook `mystnb:` execution settings we honour; any other execution_*
# key would make Sphinx execute, skip execution or use another cache.
NOTEBOOK_SETTINGS = {
    "execution_timeout", "execution_allow_errors", "execution_raise_on_error",
    "execution_show_tb", "execution_in_temp",
}
# Not chapter files: caches; and anything hidden (.ruff_cache, .ipynb_checkpoints, ...),
# which JupyterLite also refuses to serve.
SKIPPED_FILES = {"__pycache__"}


def skip_iri_format_checks() -> None:
    """For the build's own processes (build.py, lite.py): jsonschema imports
    rfc3987-syntax, when installed, only to check the "iri" string format, and that
    import compiles 38 Lark grammars, about 2 s. Nothing there checks IRIs (kernels,
    servers and chapters run in processes of their own). Python raises ImportError
    for a module set to None, and jsonschema then skips the format."""
    sys.modules.setdefault("rfc3987_syntax", None)


class BookError(Exception):
    """A problem with the book's files, said in a line or two for the maintainer."""


# ----------------------------------------------------------------- YAML ----

def load_yaml(path: Path) -> dict:
    """A YAML file as a dict; a syntax error names the file, line and problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf8"))
    except FileNotFoundError:
        raise BookError(f"{path.name}: not found in {path.parent}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = " ".join(p for p in (error.context, error.problem) if p)
        start = error.context_mark
        if mark and start and start.line != mark.line:
            problem += f" (it started on line {start.line + 1})"
        raise BookError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as error:
        raise BookError(f"{path.name}: YAML error: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BookError(f"{path.name}: expected a mapping at the top, found {type(data).__name__}")
    return data


# ------------------------------------------------------------------ toc ----

def toc(book: Path):
    """The parsed _toc.yml (a sphinx_external_toc SiteMap), with clear errors."""
    from sphinx_external_toc.parsing import MalformedError, parse_toc_data

    path = Path(book) / "_toc.yml"
    data = load_yaml(path)
    try:
        return parse_toc_data(data)
    except MalformedError as error:
        raise BookError(f"_toc.yml: {error}") from None


def docnames(book: Path) -> list[str]:
    """Every document the toc names, root first, in toc order."""
    return list(toc(book))


def source_path(book: Path, docname: str) -> Path:
    """The .md or .ipynb file of a docname; BookError if there is none."""
    for suffix in SOURCE_SUFFIXES:
        path = Path(book) / f"{docname}{suffix}"
        if path.is_file():
            return path
    raise BookError(f"_toc.yml names {docname}, but no such .md or .ipynb file exists.")


def sources(book: Path) -> list[Path]:
    """The source file of every toc entry; names every entry that has none."""
    found, missing = [], []
    for name in docnames(book):
        try:
            found.append(source_path(book, name))
        except BookError:
            missing.append(name)
    if missing:
        raise BookError(f"_toc.yml names {', '.join(missing)}, but no such .md or .ipynb file exists.")
    return found


def chapters(book: Path) -> list[Path]:
    """The chapter sources (chapters/...), in toc order."""
    book = Path(book)
    return [p for p in sources(book) if p.relative_to(book).parts[0] == CHAPTERS]


def chapter_docnames(book: Path) -> list[str]:
    book = Path(book)
    return [p.relative_to(book).with_suffix("").as_posix() for p in chapters(book)]


def chapter_files(book: Path) -> list[Path]:
    """Files the chapters read at run time: everything under chapters/ but the sources."""
    root = Path(book) / CHAPTERS
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix not in (".md", ".pyc")
        and not any(part in SKIPPED_FILES or part.startswith(".") for part in p.relative_to(root).parts)
    )


# ------------------------------------------------------------- settings ----

CONF_HEADER = """\
###############################################################################
# Generated by book/tools/build.py from _config.yml with jupyter-book's config
# API (what `jupyter-book config sphinx` writes). Edit _config.yml, not this.
###############################################################################
"""


@functools.lru_cache(maxsize=8)
def _generated_config(book: Path, content: str) -> dict:
    from jupyter_book.config import get_final_config

    user_yaml = load_yaml(book / "_config.yml")
    # The overrides `jupyter-book config sphinx` passes for a book.
    config, _ = get_final_config(
        user_yaml=user_yaml, sourcedir=book,
        cli_config={"external_toc_path": "_toc.yml", "latex_individualpages": False},
        validate=False,
    )
    return config


def generated_config(book: Path) -> dict:
    """What jupyter-book's config API generates from _config.yml."""
    book = Path(book).resolve()
    config = book / "_config.yml"
    content = hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else ""
    return dict(_generated_config(book, content))


def conf_stamp(book: Path, body: str) -> str:
    """The line that ties conf.py to the _config.yml and jupyter-book it came from."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    for part in ((Path(book) / "_config.yml").read_bytes(), version("jupyter-book").encode(), body.encode()):
        digest.update(part)
    return f"# source digest (_config.yml, jupyter-book, this file): {digest.hexdigest()[:16]}"


def conf_text(book: Path) -> str:
    """conf.py: jupyter-book's configuration, one `name = value` line each, stamped."""
    config = generated_config(book)
    body = "".join(f"{key} = {config[key]!r}\n" for key in sorted(config))
    return f"{CONF_HEADER}{conf_stamp(book, body)}\n{body}"


def current_conf(book: Path) -> dict | None:
    """conf.py's values when it was generated from the current _config.yml by the
    installed jupyter-book (its stamp says so), else None."""
    conf = Path(book) / "conf.py"
    if not conf.is_file() or not (Path(book) / "_config.yml").is_file():
        return None
    text = conf.read_text(encoding="utf8")
    stamp, _, body = text.removeprefix(CONF_HEADER).partition("\n")
    if not text.startswith(CONF_HEADER) or stamp != conf_stamp(book, body):
        return None
    values: dict = {}
    exec(compile(body, str(conf), "exec"), values)  # literals only: we wrote it
    return {key: value for key, value in values.items() if not key.startswith("__")}


def sphinx_config(book: Path) -> dict:
    """The Sphinx configuration jupyter-book generates from _config.yml (conf.py's values).
    Read back from conf.py while it is current: importing jupyter-book's config
    machinery costs a third of a second of every rebuild."""
    book = Path(book).resolve()
    current = current_conf(book)
    return current if current is not None else generated_config(book)


def parser_configs(book: Path):
    """(MdParserConfig, NbParserConfig) as MyST and myst-nb build them from the Sphinx config.

    Keys the config leaves out get the parsers' own defaults; the cache path is
    resolved as myst-nb resolves it for our staging output folder."""
    from myst_nb.core.config import NbParserConfig
    from myst_parser.config.main import MdParserConfig

    book = Path(book).resolve()
    config = sphinx_config(book)
    md_values = {
        name: config[f"myst_{name}"]
        for name, _, field in MdParserConfig().as_triple()
        if f"myst_{name}" in config and "sphinx" not in field.metadata.get("omit", [])
    }
    nb_values = {
        name: config[f"nb_{name}"]
        for name, _, field in NbParserConfig().as_triple()
        if f"nb_{name}" in config and not field.metadata.get("sphinx_exclude")
    }
    try:
        md_config, nb_config = MdParserConfig(**md_values), NbParserConfig(**nb_values)
    except (TypeError, ValueError) as error:
        raise BookError(f"_config.yml: invalid MyST or myst-nb setting: {error}") from None
    cache = Path(nb_config.execution_cache_path or STAGING / ".jupyter_cache")
    return md_config, nb_config.copy(execution_cache_path=str(book / cache))


def execution_settings(book: Path):
    """The book-wide myst-nb settings (NbParserConfig): execution_timeout,
    execution_allow_errors, execution_cache_path, execution_mode, ..."""
    return parser_configs(book)[1]


# ------------------------------------------------------------ notebooks ----

@dataclasses.dataclass
class Notebook:
    path: Path
    notebook: object      # nbformat.NotebookNode, as myst-nb reads it
    settings: object      # NbParserConfig with the notebook's own `mystnb:` settings


def read_notebook(path: Path, book: Path | None = None) -> Notebook | None:
    """Read a source exactly as myst-nb does (same reader, same MyST config);
    None for a Markdown page that is not a notebook."""
    path = Path(path).resolve()
    book = Path(book).resolve() if book else find_book(path)
    config = book / "_config.yml"
    read = _read_notebook(path, book, path.read_text(encoding="utf8"),
                          config.read_bytes() if config.is_file() else b"")
    # A copy: executing a notebook fills it in place.
    return None if read is None else dataclasses.replace(read, notebook=copy.deepcopy(read.notebook))


@functools.lru_cache(maxsize=4)
def _read_notebook(path: Path, book: Path, text: str, config: bytes) -> Notebook | None:
    # Cached by content (the chapter's and _config.yml's): a build reads a changed
    # chapter to execute it and again for its launch button's counts, in one process.
    from myst_nb.core.read import create_nb_reader

    md_config, nb_config = parser_configs(book)
    reader = create_nb_reader(str(path), md_config, nb_config, text)
    if reader is None:
        return None
    try:
        notebook = reader.read(text)
    except Exception as error:  # readers raise many kinds
        raise BookError(f"{relative(path, book)}: cannot be read as a notebook: {error}") from None
    return Notebook(path, notebook, notebook_settings(path, book, notebook, nb_config))


def notebook_settings(path: Path, book: Path, notebook, nb_config):
    """The book settings with the notebook's `mystnb:` metadata applied, as myst-nb applies it."""
    overrides = dict(notebook.metadata.get(nb_config.metadata_key) or {})
    overrides.pop("output_folder", None)  # myst-nb ignores it too
    refused = sorted(k for k in overrides if k.startswith("execution_") and k not in NOTEBOOK_SETTINGS)
    if refused:
        raise BookError(
            f"{relative(path, book)}: `{nb_config.metadata_key}: {refused[0]}` in the notebook metadata "
            f"is not supported here; only {', '.join(sorted(NOTEBOOK_SETTINGS))} may be set per notebook "
            "(every chapter executes through the build's cache)."
        )
    try:
        return nb_config.copy(**overrides)
    except (TypeError, ValueError) as error:
        raise BookError(f"{relative(path, book)}: invalid `{nb_config.metadata_key}` metadata: {error}") from None


def find_book(path: Path) -> Path:
    for folder in [path, *path.parents]:
        if (folder / "_config.yml").is_file() and (folder / "_toc.yml").is_file():
            return folder
    raise BookError(f"{path} is not inside a book (no _config.yml and _toc.yml above it)")


def relative(path: Path, book: Path) -> str:
    try:
        return Path(path).relative_to(book).as_posix()
    except ValueError:
        return str(path)


def notebooks_dir(book: Path) -> Path:
    """Where execute.py writes the executed notebooks in the staged site."""
    return Path(book).resolve() / STAGING / "html" / NOTEBOOKS


def published_notebooks_dir(book: Path) -> Path:
    """The same notebooks in the published site (nbval runs them there)."""
    return Path(book).resolve() / "_build" / "html" / NOTEBOOKS
