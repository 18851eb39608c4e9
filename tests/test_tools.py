"""Unit tests of the build tools: the book module, failure descriptions, the
chapter standard, the Lite conversion and CSS bundling. No build, no browser;
part of `make test-fast`."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

import bookinfo
from check_chapter import naming_problems, standard_problems
from conftest import ROOT, myst_header


def tiny_book(tmp_path: Path, config: dict | None = None, chapters: dict[str, str] | None = None) -> Path:
    """A book with the given _config.yml and chapters (name -> body), in toc order."""
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    (book / "_config.yml").write_text(yaml.safe_dump(config or {"title": "Tiny"}))
    (book / "index.md").write_text("# Tiny\n")
    chapters = chapters or {"01-one": "# One\n\n```{code-cell} ipython3\n1 + 1\n```\n"}
    toc = ["format: jb-book", "root: index", "chapters:"]
    for name, body in chapters.items():
        text = body if body.startswith("---") else myst_header() + body
        (book / "chapters" / f"{name}.md").write_text(text)
        toc.append(f"  - file: chapters/{name}")
    (book / "_toc.yml").write_text("\n".join(toc) + "\n")
    return book


# ----------------------------------------------------------- bookinfo ----

def test_chapter_files_leave_out_caches_and_hidden_folders(tmp_path):
    """A tool cache in chapters/ (.ruff_cache) once broke the JupyterLite build, which refuses
    hidden files; the chapter files are what readers download, not caches."""
    chapters = tmp_path / "chapters"
    for name in ("01-one.md", "samples/data.csv", ".ruff_cache/0.1/x", "samples/.ipynb_checkpoints/a",
                 "__pycache__/m.pyc", "helper.py"):
        (chapters / name).parent.mkdir(parents=True, exist_ok=True)
        (chapters / name).write_text("x")
    found = [p.relative_to(chapters).as_posix() for p in bookinfo.chapter_files(tmp_path)]
    assert found == ["helper.py", "samples/data.csv"]


def test_chapters_come_from_the_toc_in_its_order():
    toc_lines = [line.split("file:")[1].strip() for line in (ROOT / "_toc.yml").read_text().splitlines()
                 if "file: chapters/" in line]
    assert bookinfo.chapter_docnames(ROOT) == toc_lines
    assert [p.name for p in bookinfo.chapters(ROOT)] == [f"{Path(n).name}.md" for n in toc_lines]


def test_settings_come_from_jupyter_books_config_and_its_defaults(tmp_path):
    configured = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]
    settings = bookinfo.execution_settings(ROOT)
    assert settings.execution_timeout == configured["timeout"]
    assert settings.execution_allow_errors is configured["allow_errors"]
    assert settings.execution_cache_path == str(ROOT / configured["cache"])
    # With no execute: block, the values are jupyter-book's own defaults, not ours.
    from jupyter_book.config import PATH_YAML_DEFAULT

    default = yaml.safe_load(PATH_YAML_DEFAULT.read_text())["execute"]
    bare = bookinfo.execution_settings(tiny_book(tmp_path))
    assert bare.execution_timeout == default["timeout"]
    assert bare.execution_mode == default["execute_notebooks"]


def test_sphinx_config_is_what_jupyter_book_generates():
    config = bookinfo.sphinx_config(ROOT)
    assert config["nb_execution_mode"] == "cache"
    assert "myst_nb" in config["extensions"] and "sphinx_thebe" not in config["extensions"]
    assert config["external_toc_path"] == "_toc.yml"


def test_conf_py_is_read_back_only_while_it_matches_config_yml(tmp_path):
    build = importlib.import_module("build")
    book = tiny_book(tmp_path, {"title": "Tiny", "execute": {"timeout": 7}})
    assert bookinfo.current_conf(book) is None
    assert build.generate_conf(book) and not build.generate_conf(book)
    assert bookinfo.current_conf(book) == bookinfo.generated_config(book)
    assert bookinfo.sphinx_config(book)["nb_execution_timeout"] == 7
    (book / "_config.yml").write_text(yaml.safe_dump({"title": "Tiny", "execute": {"timeout": 9}}))
    assert bookinfo.current_conf(book) is None and bookinfo.sphinx_config(book)["nb_execution_timeout"] == 9
    assert build.generate_conf(book)
    conf = book / "conf.py"
    conf.write_text(conf.read_text().replace("nb_execution_timeout = 9", "nb_execution_timeout = 1"))
    assert bookinfo.current_conf(book) is None  # a hand edit is not trusted: regenerated
    assert build.generate_conf(book) and bookinfo.sphinx_config(book)["nb_execution_timeout"] == 9


def test_a_chapter_is_read_as_myst_nb_reads_it():
    item = bookinfo.read_notebook(ROOT / "chapters" / "01-what-is-jupyter.md", ROOT)
    assert item.notebook.metadata["kernelspec"]["name"] == "python3"
    assert any(cell.cell_type == "code" for cell in item.notebook.cells)
    assert len(item.notebook.metadata["source_map"]) == len(item.notebook.cells)
    assert bookinfo.read_notebook(ROOT / "book" / "execution-status.md", ROOT) is None  # a plain page


def test_per_notebook_mystnb_settings_are_honoured(tmp_path):
    body = myst_header(extra="mystnb:\n  execution_timeout: 7\n") + "# One\n\n```{code-cell} ipython3\n1\n```\n"
    book = tiny_book(tmp_path, chapters={"01-one": body})
    item = bookinfo.read_notebook(book / "chapters" / "01-one.md", book)
    assert item.settings.execution_timeout == 7


@pytest.mark.parametrize("setting", ["execution_mode: force", "execution_cache_path: elsewhere"])
def test_per_notebook_settings_that_bypass_the_cache_are_rejected(tmp_path, setting):
    body = myst_header(extra=f"mystnb:\n  {setting}\n") + "# One\n\n```{code-cell} ipython3\n1\n```\n"
    book = tiny_book(tmp_path, chapters={"01-one": body})
    with pytest.raises(bookinfo.BookError, match=r"chapters/01-one\.md: `mystnb: execution_"):
        bookinfo.read_notebook(book / "chapters" / "01-one.md", book)


def test_yaml_errors_name_file_line_and_problem(tmp_path):
    broken = tmp_path / "_config.yml"
    broken.write_text("title: ok\nexecute:\n  timeout: [30\n  cache: x\n")
    with pytest.raises(bookinfo.BookError) as error:
        bookinfo.load_yaml(broken)
    message = str(error.value)
    assert message.startswith("_config.yml:4:") and "YAML syntax error" in message
    assert "\n" not in message


def test_a_toc_entry_without_a_file_is_named(tmp_path):
    book = tiny_book(tmp_path)
    with (book / "_toc.yml").open("a") as toc:
        toc.write("  - file: chapters/02-missing\n")
    with pytest.raises(bookinfo.BookError, match="chapters/02-missing, but no such"):
        bookinfo.chapters(book)


def test_chapter_files_are_everything_under_chapters_but_sources(tmp_path):
    book = tiny_book(tmp_path)
    (book / "chapters" / "samples").mkdir()
    (book / "chapters" / "samples" / "data.csv").write_text("a\n1\n")
    (book / "chapters" / "__pycache__").mkdir()
    (book / "chapters" / "__pycache__" / "x.pyc").write_bytes(b"")
    assert [p.relative_to(book).as_posix() for p in bookinfo.chapter_files(book)] == ["chapters/samples/data.csv"]


# ------------------------------------------------------------ execute ----

def test_a_failure_names_file_line_cell_and_error():
    import execute

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# T"),
        nbformat.v4.new_code_cell("x = 1", execution_count=1),
        nbformat.v4.new_code_cell("1 / 0", execution_count=2),
    ], metadata={"source_map": [12, 14, 18]})
    message = execute.describe_failure(Path("chapters/x.md"), notebook, ZeroDivisionError("\x1b[31mdivision\x1b[0m"))
    assert message.startswith("ERROR: chapters/x.md:19: cell 3 failed (ZeroDivisionError).")
    assert "raises-exception" in message and "\x1b" not in message


def test_published_notebooks_have_stable_ids_and_no_reader_internals():
    import execute

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")], metadata={"source_map": [3]})
    text = execute.publishable(notebook).decode()
    assert '"id": "cell-000"' in text and "source_map" not in text
    assert execute.publishable(notebook) == execute.publishable(notebook)


# ---------------------------------------------------- chapter standard ----

def test_the_chapter_standard_names_what_is_missing():
    short = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title\n\nA few words.\n\n## Next steps"),
        nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("error", ename="E", evalue="", traceback=[])]),
    ])
    problems = "\n".join(standard_problems(short))
    assert "only 1 code cells with output" in problems
    assert "words of prose" in problems
    assert "error output outside raises-exception in cells [2]" in problems
    assert "not a checklist" in problems


def test_chapter_numbering_follows_the_toc(tmp_path):
    body = "# Two\n\n```{code-cell} ipython3\n1\n```\n"
    book = tiny_book(tmp_path, chapters={"01-one": body, "03-three": body})
    (book / "chapters" / "04-stray.md").write_text(myst_header() + body)
    problems = naming_problems(book)
    assert any("numbered [1, 3]" in p for p in problems)
    assert "chapters/04-stray.md is not in _toc.yml" in problems


# ---------------------------------------------------------------- Lite ----

def test_a_no_lite_cell_becomes_a_note_in_the_lite_copy(tmp_path):
    import jupytext

    lite = importlib.import_module("lite")
    chapter = tmp_path / "01-one.md"
    chapter.write_text(myst_header() + textwrap.dedent("""\
        (ch-one)=
        # One

        ```{code-cell} ipython3
        :tags: [no-lite]
        import subprocess
        ```

        ```{code-cell} ipython3
        print("runs in the browser")
        ```
    """))
    docname = f"chapters/{chapter.stem}"
    converter = lite.MystToMarkdown(docname, {}, "/")
    notebook, info = lite.convert_chapter(chapter, nbformat, jupytext, converter, {})
    sources = [cell.source for cell in notebook.cells]
    assert info["replaced"] == 1
    assert any("Not run in JupyterLite" in s and "import subprocess" in s for s in sources)
    assert 'print("runs in the browser")' in sources
    assert not any("(ch-one)=" in s for s in sources)


@pytest.mark.parametrize("chapter", bookinfo.chapters(ROOT), ids=lambda p: p.stem[:2])
def test_lite_counts_are_the_same_from_either_reader(chapter):
    """The launch button counts from myst-nb's reading, the Lite copy from jupytext's."""
    lite = importlib.import_module("lite")
    as_myst_nb_reads_it = bookinfo.read_notebook(chapter, ROOT).notebook
    assert lite.count_cells(chapter, as_myst_nb_reads_it) == lite.count_cells(chapter)


def test_lite_links_to_book_pages_are_root_absolute_under_the_baseurl(tmp_path):
    """JupyterLab opens a relative link as a Lite file; the book's pages are not there."""
    lite = importlib.import_module("lite")
    (tmp_path / "_config.yml").write_text('html:\n  baseurl: "https://example.org/handbook"\n')
    assert lite.site_path(tmp_path) == "/handbook/"
    labels = {"ch-two-x": ("chapters/02-two", "ch-two-x", "Two")}
    converter = lite.MystToMarkdown("chapters/01-one", labels, lite.site_path(tmp_path))
    text = converter.convert("See {ref}`ch-two-x` and {doc}`the index <../index>`.")
    assert text == "See [Two](/handbook/chapters/02-two.html#ch-two-x) and [the index](/handbook/index.html)."
    (tmp_path / "_config.yml").write_text("html:\n  baseurl: ''\n")
    assert lite.site_path(tmp_path) == "/"


# ------------------------------------------------------ Lite bytecode ----

def test_only_the_modules_the_imports_load_get_bytecode_and_the_wheel_records_it(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo/__init__.py", "from . import used\n")
        archive.writestr("demo/used.py", "VALUE = 42\n")
        archive.writestr("demo/unused.py", "VALUE = 0\n")
        archive.writestr("demo-1.0.dist-info/RECORD", "demo/__init__.py,,")  # no final newline
    out = tmp_path / "out.whl"
    request = {"imports": ["demo", "not_there"], "wheels": [[str(wheel), str(out)]]}
    completed = subprocess.run(
        ["node", str(ROOT / "book" / "tools" / "compile_wheels.mjs"), str(ROOT / "node_modules" / "pyodide")],
        input=json.dumps(request), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["compiled"] == {str(out): 2}
    assert result["failed"] == {"not_there": "ModuleNotFoundError: No module named 'not_there'"}
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        pycs = {n for n in names if n.endswith(".pyc")}
        assert pycs == {"demo/__pycache__/__init__.cpython-314.pyc", "demo/__pycache__/used.cpython-314.pyc"}
        assert {"demo/__init__.py", "demo/used.py", "demo/unused.py"} <= names  # sources kept
        header = archive.read("demo/__pycache__/used.cpython-314.pyc")[:8]
        assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source never checked
        record = archive.read("demo-1.0.dist-info/RECORD").decode().splitlines()
        for name in pycs:  # listed with hash and size, like every other file
            data = archive.read(name)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert f"{name},sha256={digest},{len(data)}" in record
            assert archive.getinfo(name).external_attr >> 16 == 0o644


def test_a_wheel_without_record_is_named_and_fails(tmp_path):
    wheel = tmp_path / "bare-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("bare/__init__.py", "")
    request = {"imports": ["bare"], "wheels": [[str(wheel), str(tmp_path / "out.whl")]]}
    completed = subprocess.run(
        ["node", str(ROOT / "book" / "tools" / "compile_wheels.mjs"), str(ROOT / "node_modules" / "pyodide")],
        input=json.dumps(request), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip() == f"{wheel}: ValueError: 0 .dist-info/RECORD files in the wheel, not one"


# --------------------------------------------------------- CSS bundling ----

def test_stylesheets_are_inlined_rebased_and_replaced_by_one_link(tmp_path):
    page_speed = importlib.import_module("page_speed")
    site = tmp_path / "html"
    (site / "_static" / "theme" / "fonts").mkdir(parents=True)
    (site / "_static" / "theme" / "base.css").write_text("p{color:red}")
    (site / "_static" / "theme" / "main.css").write_text(
        '@import url("base.css");\n@font-face{src:url(fonts/icons.woff2)}')
    (site / "chapters").mkdir()
    page = site / "chapters" / "one.html"
    page.write_text('<html><head><link rel="stylesheet" href="../_static/theme/main.css" />\n'
                    '<link rel="stylesheet" href="https://example.org/x.css" /></head><body></body></html>')

    sheets = page_speed.linked_stylesheets(page, site)
    assert sheets == [Path("_static/theme/main.css")]
    bundle_dir = site / page_speed.BUNDLE_FOLDER
    text = page_speed.with_imports_inlined(sheets[0], site, bundle_dir)
    assert "p{color:red}" in text and "@import" not in text
    assert "url(../theme/fonts/icons.woff2)" in text

    bundle = bundle_dir / f"{page_speed.BUNDLE_PREFIX}abc.css"
    page_speed.link_bundle(page, bundle, site, set(sheets))
    head = page.read_text()
    assert '<link rel="stylesheet" href="../_static/styles/handbook.abc.css" />' in head
    assert "main.css" not in head and "https://example.org/x.css" in head


def test_the_purge_key_follows_the_css_words_pages_use_and_rescans_only_changed_pages(tmp_path):
    page_speed = importlib.import_module("page_speed")
    sheet, page, cache = tmp_path / "sheet.css", tmp_path / "page.html", tmp_path / "cache"
    cache.mkdir()
    sheet.write_text(".note{color:red} .warning{color:orange}")
    page.write_text('<p class="note">Plain prose.</p>')
    first = page_speed.purge_key([sheet], [page], cache)
    assert page_speed.purge_key([sheet], [page], cache) == first

    page.write_text('<p class="note">Other prose, more words.</p>')  # no new CSS word
    assert page_speed.purge_key([sheet], [page], cache) == first

    page.write_text('<p class="warning">Other prose, more words.</p>')
    with_warning = page_speed.purge_key([sheet], [page], cache)
    assert with_warning != first

    # Unchanged size and mtime: the page's words come from the cache, unread.
    stat = page.stat()
    page.write_text('<p class="note">Other prose, more words....</p>')  # the same size
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert page.stat().st_size == stat.st_size
    assert page_speed.purge_key([sheet], [page], cache) == with_warning

    sheet.write_text(".note{color:blue} .warning{color:orange}")  # new sheets: every page rescanned
    assert page_speed.purge_key([sheet], [page], cache) not in (first, with_warning)


@pytest.fixture(autouse=True, scope="module")
def _extensions_importable():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    yield
    sys.path.remove(str(ROOT / "book" / "_ext"))
