#!/usr/bin/env bash
# The GPU check of the engine, in one call (GPU time is scarce): install, run the kernel
# tests on CUDA, then time the KAN layer and the B-spline activation against the recursion
# at batch 512 and 4096. Run from the repository root on a machine with a CUDA GPU:
#   bash scripts/gpu_check.sh [OUT_DIR]
# It prints the commit and writes the benchmark tables to OUT_DIR (default gpu-check/).
set -euo pipefail
out="${1:-gpu-check}"
mkdir -p "$out"
make install > "$out/install.log" 2>&1
py=.venv/bin/python
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "commit $commit"
  $py -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
} | tee "$out/where.txt"
$py -m pytest -q tests/test_gpu_kernels.py tests/test_bspline.py tests/test_models.py 2>&1 \
  | tail -5 | tee "$out/tests.txt"
for batch in 512 4096; do
  for family in kan bspline_mlp; do
    $py scripts/bench_kan.py --device cuda --family "$family" --batch "$batch" --rounds 30 \
      --no-compile | tee "$out/bench-$family-$batch.txt"
  done
done
