#!/bin/bash
# Run a benchmark script at several commits, alternating between them run after run, in a
# fresh random order each round, so that the machine's drift over the minutes (and any
# effect of running first or last) hits every commit alike: the before/after figures of a
# change. Each commit runs from its own clone (under ${TMPDIR:-/tmp}) with its
# own build directory for the C++ kernels, on this checkout's .venv.
#
# Usage: bash scripts/bench_commits.sh OUT_DIR RUNS COMMIT [COMMIT ...] -- SCRIPT [ARGS ...]
# Writes OUT_DIR/<commit>_run<k>.txt. Example:
#   bash scripts/bench_commits.sh results/speed_cpu/ab 6 7100eaa 6e9c924 -- \
#     scripts/bench_kan.py --rounds 15 --no-compile
set -euo pipefail
if [ $# -lt 5 ]; then
  echo "usage: bash scripts/bench_commits.sh OUT_DIR RUNS COMMIT [COMMIT ...] -- SCRIPT [ARGS ...]" >&2
  exit 2
fi
out=$(realpath -m "$1") runs=$2
shift 2
commits=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do commits+=("$1"); shift; done
[ $# -gt 1 ] || { echo "bench_commits.sh: give the script to run after --" >&2; exit 2; }
shift
python=$PWD/.venv/bin/python  # not resolved: the link is what makes it the venv
mkdir -p "$out"
for commit in "${commits[@]}"; do
  clone=${TMPDIR:-/tmp}/kanfair_bench_$commit
  [ -d "$clone" ] || git clone -q . "$clone"
  git -C "$clone" checkout -q "$commit"
done
for k in $(seq "$runs"); do
  for commit in $(printf '%s\n' "${commits[@]}" | shuf); do
    clone=${TMPDIR:-/tmp}/kanfair_bench_$commit
    echo "run $k of $runs: $commit" >&2
    if ! (cd "$clone" && PYTHONPATH="$clone/src" TORCH_EXTENSIONS_DIR="$clone/.torch_extensions" \
          "$python" "$@") > "$out/${commit}_run$k.txt" 2>&1; then
      echo "bench_commits.sh: the run at $commit failed; its output is in $out/${commit}_run$k.txt" >&2
      exit 1
    fi
  done
done
