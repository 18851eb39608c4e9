"""make drift on a tiny book: version 2 of a tiny package changes exactly one cell's output.

The wheels of ``tinypkg`` 1.0 and 2.0 are written into tmp_path; uv installs them with
--no-index, and the drift environment borrows Jupyter from the pinned .venv, so the test
needs no network and takes seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "drift"
DRIFT = ROOT / "book" / "tools" / "drift.py"
sys.path.insert(0, str(DRIFT.parent))
import drift  # noqa: E402

# It builds three small environments and executes a book in each: slow on a busy machine.
pytestmark = pytest.mark.build

TEMPLATE = '''def greeting():
    return {greeting!r}


def stable():
    return "the same in every release"
'''


def make_wheel(folder: Path, version: str, greeting: str) -> Path:
    """A minimal pure-Python wheel of tinypkg, RECORD and all."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"tinypkg-{version}.dist-info"
    files = {
        "tinypkg/__init__.py": TEMPLATE.format(greeting=greeting),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test_drift\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"tinypkg-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The fixture book published with tinypkg 1.0; wheel folders with 1.0 only and 1.0 + 2.0."""
    tmp = tmp_path_factory.mktemp("drift")
    only_v1, v1_and_v2 = tmp / "wheels-v1", tmp / "wheels-v2"
    make_wheel(only_v1, "1.0", "hello")
    make_wheel(v1_and_v2, "1.0", "hello")
    make_wheel(v1_and_v2, "2.0", "hello, world")
    inherit = Path(sysconfig.get_paths()["purelib"])
    published = tmp / "published"
    venv_pins = drift.build_env(FIXTURE / "requirements.in", tmp / "publish-env",
                                index_args=["--no-index", f"--find-links={only_v1}"], inherit=inherit)
    assert venv_pins == {"tinypkg": "1.0"}
    status = drift.run_worker(tmp / "publish-env" / ".venv", FIXTURE, published, 1)
    assert status["chapters/01-tiny.ipynb"]["error"] is None
    lock = tmp / "requirements.txt"
    lock.write_text("tinypkg==1.0\n")

    def run(wheels: Path, name: str) -> tuple[int, dict, str]:
        results = tmp / name
        result = subprocess.run(
            [sys.executable, str(DRIFT), "--book", str(FIXTURE), "--lock", str(lock),
             "--published", str(published), "--work", str(tmp / name / "work"),
             "--results", str(results), "--notes", str(tmp / "no-notes.yml"), "--jobs", "1",
             "--uv-arg=--no-index", f"--uv-arg=--find-links={wheels}",
             f"--inherit-site-packages={inherit}"],
            capture_output=True, text=True, timeout=300,
        )
        assert (results / "drift.json").is_file(), result.stdout + result.stderr
        return (result.returncode, json.loads((results / "drift.json").read_text()),
                (results / "drift.md").read_text())

    run.only_v1, run.v1_and_v2 = only_v1, v1_and_v2
    return run


def test_new_release_reports_exactly_the_changed_cell(setup):
    status, report, markdown = setup(setup.v1_and_v2, "v2")
    assert status == 1, markdown
    assert report["packages"] == [{"package": "tinypkg", "old": "1.0", "new": "2.0"}]
    [chapter] = report["chapters"]
    assert chapter["failing"] == []
    assert chapter["compared"] == 4  # the raises-exception cell too: nbval compares ename and evalue
    [changed] = chapter["changed"]
    assert changed["cell"] == 1 and "tinypkg.greeting()" in changed["source"]
    assert "-hello" in changed["diff"] and "+hello, world" in changed["diff"]
    # It proves a correction, so the report names that correction first.
    assert changed["correction"] == {"claim": 'tinypkg greets with "hello"', "name": "corr-tiny-greeting"}
    corrections = markdown.split("## Corrections to the field guide whose proof changed")[1]
    assert 'tinypkg greets with "hello"' in corrections.split("## Packages that moved")[0]
    assert "| tinypkg | 1.0 | 2.0 |" in markdown


def test_no_new_release_reports_nothing(setup):
    status, report, markdown = setup(setup.only_v1, "v1")
    assert status == 0, markdown
    assert report["packages"] == []
    [chapter] = report["chapters"]
    assert chapter["failing"] == [] and chapter["changed"] == [] and chapter["compared"] == 4
    assert "None: the proofs of all 1 corrections still give the published output." in markdown


def test_environment_that_cannot_be_built_exits_2(tmp_path):
    requirements = tmp_path / "requirements.in"
    requirements.write_text("tinypkg==9.9\n")
    result = subprocess.run(
        [sys.executable, str(DRIFT), "--book", str(FIXTURE), "--requirements", str(requirements),
         "--work", str(tmp_path / "work"), "--results", str(tmp_path / "results"),
         "--uv-arg=--no-index", f"--uv-arg=--find-links={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Resolving the newest allowed releases failed" in result.stderr
    assert "could not be built" in (tmp_path / "results" / "drift.md").read_text()
