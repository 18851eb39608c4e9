#!/usr/bin/env bash
# Parse the whole book with Sphinx, warnings as errors, without executing
# anything, in a scratch copy: a quick MyST/cross-reference check for authors.
# Nothing is executed, so there are no executed notebooks for the download links
# (lite_launch's missing_notebook warning is expected here and suppressed).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$root"/_config.yml "$root"/_toc.yml "$root"/book "$root"/chapters "$scratch"/
ln -s "$root"/node_modules "$scratch"/node_modules
cd "$scratch"
"$root"/.venv/bin/jupyter-book config sphinx . >/dev/null
suppressed=$("$root"/.venv/bin/python -c "import sys; sys.path.insert(0, '$root/book/tools'); import bookinfo
print(','.join(bookinfo.sphinx_config('.').get('suppress_warnings', []) + ['lite_launch.missing_notebook']))")
PYTHONPATH="$scratch/book/_ext" "$root"/.venv/bin/python -m sphinx -b html -n -W --keep-going -q \
  -D nb_execution_mode=off \
  -D suppress_warnings="$suppressed" \
  . _build/html
echo "Sphinx parse: OK"
