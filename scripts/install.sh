#!/usr/bin/env bash
# Set-up in one step (idempotent): pinned torch/torchvision, this package with its test extras
# (JupyterLab and seaborn included), then torchattacks without its stale `requests` pin.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
python -m pip install -q -e ".[test]"
echo "installing torchattacks 3.5.1 with --no-deps: it pins requests~=2.25.1, which JupyterLab cannot use; what it really needs is installed above"
python -m pip install -q --no-deps "torchattacks==3.5.1"
# conda env create -f environment.yml && conda activate recdef
# then: pip install --no-deps -e . && pip install --no-deps torchattacks==3.5.1
