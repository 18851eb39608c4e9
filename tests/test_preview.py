"""`make preview` (book/tools/preview.py) on a fixture book: it serves on
127.0.0.1 only, rebuilds on a save (prose and re-executed code), makes open
pages reload, and keeps serving the last good site when a save breaks the build."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil

from conftest import ROOT, myst_header

CHAPTER = myst_header() + "# A previewed chapter\n\n{prose}\n\n```{{code-cell}} ipython3\n{code}\n```\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def page_with(url: str, text: str) -> str | None:
    body = fetch(url)
    return body if text in body else None


def wait_for(condition, timeout: float, what: str, log: list[str]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := condition():
                return result
        except OSError:
            pass  # not serving yet
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s; preview printed:\n" + "".join(log[-40:]))


def test_preview_serves_locally_rebuilds_on_save_and_keeps_the_last_good_site(fixture_book):
    book = fixture_book.book
    fixture_book.write_config()
    chapter = book / "chapters" / "good.md"
    chapter.write_text(CHAPTER.format(prose="First prose.", code="print('first output')"))
    port = free_port()
    preview = subprocess.Popen(
        [sys.executable, str(ROOT / "book" / "tools" / "preview.py"), str(book), "--port", str(port)],
        env={**os.environ, "HANDBOOK_LITE": "off"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(preview.stdout), daemon=True).start()
    page = f"http://127.0.0.1:{port}/chapters/good.html"
    try:
        first = wait_for(lambda: fetch(page), 240, "the first build was not served", log)
        assert "First prose." in first and "first output" in first
        assert "/websocket-reload" in first, "served pages do not reload after a rebuild"
        listening = [
            c.laddr.ip for c in psutil.Process(preview.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN
        ]
        assert listening == ["127.0.0.1"], listening

        chapter.write_text(CHAPTER.format(prose="Second prose.", code="print('second output')"))
        second = wait_for(lambda: page_with(page, "Second prose."), 120, "a saved edit was not served", log)
        assert "second output" in second, "the edited code cell was not re-executed"

        chapter.write_text(CHAPTER.format(prose="Broken prose.", code="1 / 0"))
        wait_for(
            lambda: any("the build failed; still serving the last good build" in line for line in log),
            120,
            "a broken save was not reported",
            log,
        )
        assert "ZeroDivisionError" in "".join(log)
        still = fetch(page)
        assert "Second prose." in still and "Broken prose." not in still
        assert preview.poll() is None, "a failed rebuild stopped the preview"
    finally:
        preview.terminate()
        preview.wait(timeout=30)
