#!/usr/bin/env bash
# Parse the whole book with Sphinx, warnings as errors, without executing
# anything, in a scratch copy: a quick MyST/cross-reference check for authors.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$root"/_config.yml "$root"/_toc.yml "$root"/book "$root"/chapters "$scratch"/
ln -s "$root"/node_modules "$scratch"/node_modules
cd "$scratch"
"$root"/.venv/bin/jupyter-book config sphinx . >/dev/null
PYTHONPATH="$scratch/book/_ext" "$root"/.venv/bin/python -m sphinx -b html -n -W --keep-going -q \
  -D nb_execution_mode=off . _build/html
echo "Sphinx parse: OK"
