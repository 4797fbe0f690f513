#!/usr/bin/env bash
# The training benchmark's cost in instructions, which unlike seconds does not depend on the
# machine's speed or load: `prescale bench train --series N --workers 1` under valgrind's
# callgrind, which counts the instructions executed (the same count on every run of the same
# binary and inputs; across machines, the C library's fill and copy routines are chosen for the
# processor as valgrind presents it, and they are about 9% of the count). Given two or more
# binaries (a build of another commit, say), it runs each on the same series, so that a change's
# cost is compared without the noise of wall time.
# Prints instructions in all and per series. About 15 s per series per binary.
#
#   benches/instructions.sh [SERIES] [BINARY...]      (default: 4, this checkout's release build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || {
  echo "valgrind is needed (Debian package valgrind: apt-get install valgrind)" >&2
  exit 1
}
series="${1:-4}"
shift || true
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
  cargo build --release --quiet
  bins=("${CARGO_TARGET_DIR:-target}/release/prescale")
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for bin in "${bins[@]}"; do
  valgrind --tool=callgrind --callgrind-out-file="$work/out" \
    "$bin" bench train --series "$series" --days 365 --workers 1 >/dev/null 2>"$work/log" ||
    { cat "$work/log" >&2; exit 1; }
  total=$(sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$work/log")
  [ -n "$total" ] || { cat "$work/log" >&2; exit 1; }
  awk -v b="$bin" -v t="$total" -v n="$series" \
    'BEGIN { printf "%s: %.3f G instructions for %d series, %.3f G per series\n", b, t / 1e9, n, t / 1e9 / n }'
done
