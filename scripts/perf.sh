#!/usr/bin/env bash
# The performance figures: builds the release binaries, runs every measurement RUNS times (the
# runs interleaved, so that a passing disturbance spreads over all measurements instead of
# spoiling one), then prints the machine and, per measurement, the median, minimum and maximum
# of every numeric field (`loadgen summarize`) and each goal against the median of the ratio
# each run computed from its own figures (`loadgen goals`).
#
# Usage: scripts/perf.sh [--runs N] [--quick] [MEASUREMENT ...]
#   MEASUREMENT  handshakes openssl upload enroll storm idle collect (default: all of them);
#                handshakes, upload (256 MiB and 1 GiB), storm, idle and collect run on both
#                transports (mio and smol)
#   --runs N     runs of each measurement (default 5; or RUNS=N)
#   --quick      smaller sizes and fewer students, to try it out (or QUICK=1)
# The raw JSON lines are kept in target/perf/ (or OUT=DIR); feed them to `loadgen summarize`
# again to summarize several sessions together.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '/^# Usage/,/^[^#]/p' "$0" | sed -n 's/^# \{0,1\}//p'; }

runs="${RUNS:-5}"
quick="${QUICK:-0}"
wanted=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) [ $# -ge 2 ] || { usage >&2; exit 2; }; runs="$2"; shift 2 ;;
    --runs=*) runs="${1#*=}"; shift ;;
    --quick) quick=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "perf.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) wanted+=("$1"); shift ;;
  esac
done
case "$runs" in
  '' | *[!0-9]* | 0) echo "perf.sh: --runs must be a whole number of at least 1, not '$runs'" >&2; exit 2 ;;
esac
all=(handshakes openssl upload enroll storm idle collect)
[ ${#wanted[@]} -gt 0 ] || wanted=("${all[@]}")
for w in "${wanted[@]}"; do
  case " ${all[*]} " in
    *" $w "*) ;;
    *) echo "perf.sh: unknown measurement '$w' (known: ${all[*]})" >&2; exit 2 ;;
  esac
done

# Each measurement: name, then the loadgen arguments of one run (one line per transport).
if [ "$quick" = 1 ]; then
  handshakes_args="--seconds 2 --concurrency 2"
  openssl_args="--seconds 2 --concurrency 2 --upload 100MiB"
  upload_sizes="100MiB"
  enroll_args="--students 200"
  storm_args="--students 500 --size 100KB"
  idle_args="--connections 1000 --warmup 500"
  collect_args="--students 100 --size 1MiB"
else
  handshakes_args="--seconds 5 --concurrency 2"
  openssl_args="--seconds 5 --concurrency 2 --upload 1GiB"
  upload_sizes="256MiB 1GiB"
  enroll_args="--students 1000"
  # The whole campus at the deadline. Past the open-file limit (ulimit -Hn) the load generator
  # keeps its connections a little below what Blackboard can hold beside its files, the other
  # students waiting for a slot; loopback source addresses are added as ephemeral ports need.
  storm_args="--students 20000 --size 100KB"
  idle_args="--connections 10000"
  collect_args="--students 500 --size 1MiB"
fi
plan=()
for w in "${wanted[@]}"; do
  case "$w" in
    handshakes) plan+=("handshakes --transport mio $handshakes_args" "handshakes --transport smol $handshakes_args") ;;
    openssl) plan+=("openssl $openssl_args") ;;
    upload) for s in $upload_sizes; do plan+=("upload --transport mio --size $s" "upload --transport smol --size $s"); done ;;
    enroll) plan+=("enroll $enroll_args") ;;
    storm) plan+=("storm --transport mio $storm_args" "storm --transport smol $storm_args") ;;
    idle) plan+=("idle --transport mio $idle_args" "idle --transport smol $idle_args") ;;
    collect) plan+=("collect --transport mio $collect_args" "collect --transport smol $collect_args") ;;
  esac
done

cargo build --release -q -p handin-cuhk -p handin-blackboard -p handin-student -p handin-staff -p handin-perf
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
loadgen="$target/release/loadgen"
out_dir="${OUT:-$target/perf}"
mkdir -p "$out_dir"
results="$out_dir/results-$(date +%Y%m%d-%H%M%S).jsonl"
: >"$results"
log="$(mktemp)"
trap 'rm -f "$log" "$log.out"' EXIT

machine() {
  local model mem
  model="$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
  mem="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "machine: $(nproc) cores (${model:-unknown CPU}), $mem memory, Linux $(uname -r)"
  echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
}

machine
echo "load:    $(uptime)"
echo "runs:    $runs of each, $([ "$quick" = 1 ] && echo quick || echo full) sizes; raw results in $results"
echo

failed=0
total=$((runs * ${#plan[@]}))
n=0
for r in $(seq 1 "$runs"); do
  for p in "${plan[@]}"; do
    n=$((n + 1))
    started=$(date +%s)
    # shellcheck disable=SC2086 # the arguments are meant to split
    if "$loadgen" $p >"$log.out" 2>"$log"; then
      tail -n 1 "$log.out" >>"$results"
      echo "[$n/$total] run $r: loadgen $p: $(($(date +%s) - started)) s" >&2
    else
      failed=$((failed + 1))
      echo "[$n/$total] run $r: loadgen $p FAILED: $(tail -n 1 "$log")" >&2
    fi
    rm -f "$log.out"
  done
done

echo
machine
echo "load:    $(uptime)"
echo
if [ -s "$results" ]; then
  "$loadgen" summarize <"$results"
  echo
  echo "goals (each the median of a ratio or figure one run took from its own measurements):"
  "$loadgen" goals <"$results" || true
fi
if [ "$failed" -gt 0 ]; then
  echo "perf.sh: $failed of $total runs failed (see above)" >&2
  exit 1
fi
