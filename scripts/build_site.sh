#!/usr/bin/env bash
# The study's website in one command: README, the docs pages and the executed notebooks -> _site/index.html.
# Nothing is re-executed; any Sphinx warning fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m sphinx -W --keep-going -q -b html -c docs . "${1:-_site}"
ln -sf README.html "${1:-_site}/index.html"
echo "website: ${1:-_site}/index.html"
