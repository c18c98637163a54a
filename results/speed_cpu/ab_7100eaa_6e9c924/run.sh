#!/bin/bash
# bench_kan.py alternating between two commits' kernels, six runs each, one after the other:
# 7100eaa (before) and 6e9c924 (locate's loops vectorised, placement reads before its select).
# Each commit in its own clone with its own extension build directory; run from the checkout.
set -e
for v in 7100eaa 6e9c924; do
  [ -d /tmp/ab_$v ] || { git clone -q . /tmp/ab_$v && git -C /tmp/ab_$v checkout -q $v; }
done
out=$(dirname "$0")
for k in 1 2 3 4 5 6; do
  for v in 7100eaa 6e9c924; do
    (cd /tmp/ab_$v && PYTHONPATH=/tmp/ab_$v/src TORCH_EXTENSIONS_DIR=/tmp/ab_$v/ext \
      "$OLDPWD/.venv/bin/python" scripts/bench_kan.py --rounds 15 --no-compile) > "$out/${v}_run$k.txt" 2>&1
  done
done
