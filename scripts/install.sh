#!/usr/bin/env bash
# Set-up in one step (idempotent): pinned torch/torchvision, torchattacks without its stale
# `requests` pin, then this package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
python -m pip install -q --no-deps "torchattacks==3.5.1"
python -m pip install -q -e ".[test]"
