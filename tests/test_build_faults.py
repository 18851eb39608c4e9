"""Bad input gets a clear error and nothing half-built is published.

Each test builds a small fixture book in a temporary directory with the real
build driver and the real _config.yml, adds one fault, and checks the exit
status and the message.
"""

from __future__ import annotations

import textwrap

from conftest import myst_header


def add_chapter(book, name: str, body: str) -> None:
    (book / "chapters" / f"{name}.md").write_text(myst_header() + textwrap.dedent(body))
    toc = book / "_toc.yml"
    toc.write_text(toc.read_text() + f"  - file: chapters/{name}\n")


def output(result) -> str:
    return result.stdout + result.stderr


def test_good_book_builds_publishes_and_rebuilds_without_executing(fixture_book):
    first = fixture_book()
    assert first.returncode == 0, output(first)
    page = fixture_book.book / "_build" / "html" / "chapters" / "good.html"
    assert "42" in page.read_text()
    notebook = fixture_book.book / "_build" / "html" / "_notebooks" / "chapters" / "good.ipynb"
    assert '"text/plain": [\n       "42"' in notebook.read_text(), "the download has no outputs"

    second = fixture_book()
    assert second.returncode == 0, output(second)
    assert "nothing to execute" in second.stdout


def test_raising_cell_fails_naming_file_cell_source_and_traceback(fixture_book):
    add_chapter(fixture_book.book, "broken", """
        # Broken

        ```{code-cell} ipython3
        numbers = [1, 2, 3]
        ```

        ```{code-cell} ipython3
        ratio = len(numbers) / 0
        ```
    """)
    result = fixture_book()
    text = output(result)
    assert result.returncode != 0
    assert "chapters/broken.md:" in text and ": cell 3 failed" in text  # cell 1: the title
    assert "ratio = len(numbers) / 0" in text
    assert "ZeroDivisionError" in text
    assert not (fixture_book.book / "_build" / "html").exists(), "a failed build was published"

    # An incremental rebuild must not hide the failure by skipping the page.
    again = fixture_book()
    assert again.returncode != 0
    assert ": cell 3 failed" in output(again)


def test_error_reaches_the_page_only_from_a_raises_exception_cell(fixture_book):
    add_chapter(fixture_book.book, "on-purpose", """
        # On purpose

        ```{code-cell} ipython3
        :tags: [raises-exception]
        {}["missing"]
        ```
    """)
    result = fixture_book()
    assert result.returncode == 0, output(result)
    html = (fixture_book.book / "_build" / "html" / "chapters" / "on-purpose.html").read_text()
    assert "KeyError" in html


def test_hanging_cell_is_stopped_by_the_timeout(fixture_book):
    add_chapter(fixture_book.book, "hangs", """
        # Hangs

        ```{code-cell} ipython3
        import time
        time.sleep(600)
        ```
    """)
    result = fixture_book(timeout=3)
    text = output(result)
    assert result.returncode != 0
    assert "chapters/hangs.md:" in text and ": cell 2 failed" in text
    assert "CellTimeoutError" in text
    assert "time.sleep(600)" in text


def test_toc_entry_naming_a_missing_file_fails(fixture_book):
    toc = fixture_book.book / "_toc.yml"
    toc.write_text(toc.read_text() + "  - file: chapters/not-written-yet\n")
    result = fixture_book()
    assert result.returncode != 0
    assert "chapters/not-written-yet" in output(result)
    assert "no such .md or .ipynb file" in output(result)


def test_invalid_myst_fails_naming_the_file(fixture_book):
    add_chapter(fixture_book.book, "bad-myst", """
        # Bad MyST

        ```{no-such-directive}
        This directive does not exist.
        ```
    """)
    result = fixture_book()
    text = output(result)
    assert result.returncode != 0
    assert "chapters/bad-myst.md" in text
    assert "Unknown directive type" in text
    assert not (fixture_book.book / "_build" / "html").exists(), "a failed build was published"


def test_failed_sphinx_build_keeps_the_last_good_site(fixture_book):
    assert fixture_book().returncode == 0
    published = fixture_book.book / "_build" / "html" / "chapters" / "good.html"
    before = published.read_text()
    add_chapter(fixture_book.book, "dangling", """
        # Dangling

        See {ref}`a-label-that-does-not-exist`.
    """)
    result = fixture_book()
    assert result.returncode != 0
    assert "a-label-that-does-not-exist" in output(result)
    assert published.read_text() == before
    assert not (fixture_book.book / "_build" / "html" / "chapters" / "dangling.html").exists()


def one_line_error(result) -> str:
    """The build's error: no traceback, and said in one or two lines."""
    text = output(result)
    assert result.returncode != 0
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.strip()]
    assert 1 <= len(errors) <= 2, text
    return text


def test_yaml_error_in_config_names_file_line_and_problem(fixture_book):
    fixture_book.write_config()
    config = fixture_book.book / "_config.yml"
    lines = config.read_text().splitlines()
    lines.insert(3, "title: [unclosed")
    config.write_text("\n".join(lines) + "\n")
    result = fixture_book(rewrite_config=False)
    text = one_line_error(result)
    assert text.startswith("ERROR: _config.yml:") and "YAML syntax error" in text, text
    assert "started on line 4" in text, text


def test_yaml_error_in_toc_names_file_line_and_problem(fixture_book):
    toc = fixture_book.book / "_toc.yml"
    toc.write_text(toc.read_text() + "  - file: chapters/good\n   bad indent: [\n")
    text = one_line_error(fixture_book())
    assert "_toc.yml:" in text and "YAML syntax error" in text, text
    assert "_toc.yml:6:" in text or "_toc.yml:7:" in text, text


def test_malformed_toc_is_named_in_a_line(fixture_book):
    toc = fixture_book.book / "_toc.yml"
    toc.write_text("format: jb-book\nroot: index\nchapters: 3\n")
    text = one_line_error(fixture_book())
    assert text.startswith("ERROR: _toc.yml:"), text


def test_mystnb_execution_mode_in_a_notebook_is_rejected(fixture_book):
    add_chapter(fixture_book.book, "forced", """
        # Forced

        ```{code-cell} ipython3
        1 + 1
        ```
    """)
    source = fixture_book.book / "chapters" / "forced.md"
    source.write_text(source.read_text().replace("kernelspec:", "mystnb:\n  execution_mode: force\nkernelspec:", 1))
    text = one_line_error(fixture_book())
    assert "chapters/forced.md" in text and "execution_mode" in text, text
