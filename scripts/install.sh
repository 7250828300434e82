#!/usr/bin/env bash
# Set-up in one step (idempotent): pinned torch/torchvision, this package with its test and docs
# extras (JupyterLab, seaborn, Playwright, Sphinx + MyST-NB), then torchattacks without its stale
# `requests` pin, then Debian's chromium for the browser tests where it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
python -m pip install -q -e ".[test,docs]"
echo "installing torchattacks 3.5.1 with --no-deps: it pins requests~=2.25.1, which JupyterLab cannot use; what it really needs is installed above"
python -m pip install -q --no-deps "torchattacks==3.5.1"
if ! command -v chromium > /dev/null && ! command -v chromium-browser > /dev/null; then
  if command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the browser tests (tests/test_browser.py, tests/test_site.py)"
    log="${TMPDIR:-/tmp}/recdef-chromium-install.log"
    if ! { apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; } > "$log" 2>&1; then
      echo "installing chromium failed; apt's output is in $log" && exit 1
    fi
  else
    echo "chromium not found: the browser tests need it (Debian/Ubuntu, as root: apt-get install chromium)"
  fi
fi
# conda env create -f environment.yml && conda activate recdef
# then: pip install --no-deps -e . && pip install --no-deps torchattacks==3.5.1
