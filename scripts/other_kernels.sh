#!/usr/bin/env bash
# Runs a command under a CPU kernel set other than this machine's own: AVX2 on an AVX512 machine,
# the plain (unvectorized) kernels on an AVX2 one. Weights trained on other kernels differ in
# their last bits, so a check that passes under both is not a property of one machine's weights.
#   bash scripts/other_kernels.sh python -m pytest -q -m convergence
set -euo pipefail
native="$(python -c 'import torch; print(torch.backends.cpu.get_cpu_capability())')"
if [ "$native" = "AVX512" ]; then
  export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
else
  export ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41
fi
echo "CPU kernels: $native on this machine; running under $(python -c 'import torch; print(torch.backends.cpu.get_cpu_capability())')"
exec "$@"
