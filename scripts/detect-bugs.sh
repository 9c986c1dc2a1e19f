#!/usr/bin/env bash
# Runs every deliberate raftkv bug switch (`faultline test --db-bug NAME`) with the
# workload and nemesis most likely to expose it, over several seeds, then the correct
# server with all faults and crash points (--correct-runs), under each targeted
# configuration (--targeted-correct-runs) and under packet faults combined with
# partitions, kills and pauses (--packet-correct-runs, half on the register and half
# on the set workload), and prints one table: bug, runs, detected
# (exit 1 = invalid), median time to the first anomalous operation, and which
# checkers found it. The correct server must have no invalid run (this script exits
# 1 if it has one).
#
# "Time to the first anomalous operation" is read from each run's results.json and
# history.jsonl: the earliest history index among the linearizability checker's
# counterexample operations (`op.invoke_index`: the stale read, the read missing a
# write) and the lost-write checker's lost/stale adds (`add_index`), duplicated or
# unexpected elements (`read_index`), converted to seconds since the test started.
# It measures when the anomaly entered the history, not when the checker ran.
#
# The disk bugs (`skip-fsync`, `skip-dir-sync`) are not in the default list: their
# fault, `disk`, needs root and /dev/fuse; ask for them with --bugs. `BUG@kill` runs
# BUG under its label's configuration instead of BUG's own (`skip-fsync@kill`: under
# kills, which must not catch it).
#
# --defaults measures what a user gets without knowing where to look: every switch
# with the plain command `faultline test --nodes 3 --time-limit 60 --nemesis all
# --db-bug NAME` (no interval, profile or recovery flag: every default), on the
# register and the set workload, --runs seeds each (default 10), and the correct
# server the same way --correct-runs times (default twice --runs, half on each
# workload). It prints one row per switch and workload and then, per switch, the
# runs caught on both workloads together and their median time to first anomaly.
# --workloads register (or set) measures that workload only, and runs all the
# correct runs on it.
#
# Runs are bounded: --time (default 15 s, 60 with --defaults, at most 60) of load per run, plus setup,
# recovery and checking (a few seconds). Needs root (network namespaces) for the
# partition and packet faults; without root, they are dropped from each configuration.
#
# lease-read is also run, over the same seeds and clients, with the same partitions
# of the leader but without clock faults (`lease-read@no-clock`): it must be the clock
# that exposes it.
#
# Usage: scripts/detect-bugs.sh [--defaults] [--runs N] [--time SECONDS] [--correct-runs N]
#                               [--targeted-correct-runs N] [--packet-correct-runs N]
#                               [--seed BASE] [--workloads "register set"]
#                               [--bugs "a b ..."] [--nodes N] [--binary PATH]
#                               [--results DIR]
set -euo pipefail

DEFAULTS=0
RUNS=""
TIME=""
CORRECT_RUNS=""
TARGETED_CORRECT_RUNS=0
PACKET_CORRECT_RUNS=""
SEED=1000
BUGS="stale-read leader-local-read ack-before-commit vote-without-log-check forget-vote commit-old-term no-dedup lease-read"
NODES=3
BIN=""
RESULTS=""
WORKLOADS="register set"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --defaults) DEFAULTS=1; shift ;;
    --runs) RUNS="$2"; shift 2 ;;
    --time) TIME="$2"; shift 2 ;;
    --correct-runs) CORRECT_RUNS="$2"; shift 2 ;;
    --targeted-correct-runs) TARGETED_CORRECT_RUNS="$2"; shift 2 ;;
    --packet-correct-runs) PACKET_CORRECT_RUNS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --bugs) BUGS="$2"; shift 2 ;;
    --nodes) NODES="$2"; shift 2 ;;
    --binary) BIN="$2"; shift 2 ;;
    --results) RESULTS="$2"; shift 2 ;;
    --workloads) WORKLOADS="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "detect-bugs: unknown option $1 (see --help)" >&2; exit 3 ;;
  esac
done
if [[ $DEFAULTS == 1 ]]; then
  RUNS="${RUNS:-10}"; TIME="${TIME:-60}"
  CORRECT_RUNS="${CORRECT_RUNS:-$((2 * RUNS))}"; PACKET_CORRECT_RUNS="${PACKET_CORRECT_RUNS:-0}"
else
  RUNS="${RUNS:-5}"; TIME="${TIME:-15}"
  CORRECT_RUNS="${CORRECT_RUNS:-$RUNS}"; PACKET_CORRECT_RUNS="${PACKET_CORRECT_RUNS:-2}"
fi
for workload in $WORKLOADS; do
  [[ "$workload" == register || "$workload" == set ]] ||
    { echo "detect-bugs: --workloads takes register and/or set, not $workload" >&2; exit 3; }
done
if ! awk -v t="$TIME" 'BEGIN { exit !(t > 0 && t <= 60) }'; then
  echo "detect-bugs: --time must be in (0, 60] seconds" >&2; exit 3
fi
cd "$(dirname "$0")/.."
if [[ -z "$BIN" ]]; then
  cargo build --release --quiet
  BIN=target/release/faultline
fi
RESULTS="${RESULTS:-results/detect-bugs/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$RESULTS"
ROOT=0; [[ "$(id -u)" == 0 ]] && ROOT=1

# The configuration that exposes each bug best: workload, faults, mean seconds
# between faults, and a client profile (`-` for the defaults). `BUG@defaults-W`
# and `correct-defaults-W` are the plain command on workload W: interval `-`
# (the default) and profile `plain` (no flag at all, not even --recovery-time).
#
# readers: a concurrency that is a multiple of the node count keeps a retired
# process's successor on the same node, reads dominate, all on one key at a time,
# and a short operation timeout soon replaces a process stuck on a write that cannot
# commit. A deposed leader, or a leader elected with a stale log, then keeps getting
# reads from the clients that believe in it, of the key the real leader is writing.
#
# steady-writers: the same binding and timeout with a steady 500 adds/s. The old
# leader's log is then usually fully replicated when it dies, so two leaders of one
# term append their first entries at the same indices, and clients soon move to
# a new leader, whose log then holds their writes of its term.
profile_flags() {
  case "$1" in
    readers)        echo "--concurrency $((6 * NODES)) --keys 1 --mix 4:1:1 --op-timeout-ms 100" ;;
    steady-writers) echo "--concurrency $((6 * NODES)) --rate 500 --op-timeout-ms 100" ;;
    snapshots)      echo "--node-arg=--snapshot-every=200" ;;
    -|plain)        echo "" ;;
    *) echo "detect-bugs: no client profile $1" >&2; exit 3 ;;
  esac
}
config_for() {
  case "$1" in
    stale-read)             echo "register all 1 -" ;;
    leader-local-read)      echo "register partition:leader 0.5 readers" ;;
    ack-before-commit)      echo "set partition 1 -" ;;
    vote-without-log-check) echo "register pause:follower,kill:leader 1 readers" ;;
    forget-vote)            echo "set kill:leader,crash:after-vote 0.5 steady-writers" ;;
    commit-old-term)        echo "set crash:after-append 1 -" ;;
    no-dedup)               echo "set kill,partition 1 -" ;;
    skip-fsync)             echo "set disk:lose-unsynced 3 -" ;;
    skip-fsync@kill)        echo "set kill 3 -" ;;
    skip-dir-sync)          echo "set disk:lose-unsynced 3 snapshots" ;;
    lease-read)             echo "register clock:leader,partition:leader 0.5 readers" ;;
    lease-read@no-clock)    echo "register partition:leader 0.5 readers" ;;
    correct-register)       echo "register all,crash 1 -" ;;
    correct-set)            echo "set all,crash 1 -" ;;
    correct-packet-register) echo "register packet,partition,kill,pause 1 -" ;;
    correct-packet-set)     echo "set packet,partition,kill,pause 1 -" ;;
    correct-as-*)           config_for "${1#correct-as-}" ;;
    *@defaults-register|correct-defaults-register) echo "register all - plain" ;;
    *@defaults-set|correct-defaults-set) echo "set all - plain" ;;
    *) echo "detect-bugs: no configuration for $1" >&2; exit 3 ;;
  esac
}

# Runs one test; prints "exit_code run_dir".
run_one() {
  local label="$1" bug="$2" seed="$3"
  local workload nemesis interval profile extra
  read -r workload nemesis interval profile <<<"$(config_for "$label")"
  extra=$(profile_flags "$profile")
  if [[ $ROOT == 0 ]]; then
    nemesis=$(echo "$nemesis" | tr ',' '\n' | sed 's/^all$/kill\npause/' |
      { grep -v -e partition -e packet || true; } | paste -sd, -)
    nemesis="${nemesis:-kill}"
  fi
  local args=(test --workload "$workload" --nodes "$NODES" --time-limit "$TIME"
    --nemesis "$nemesis" --seed "$seed" --results-dir "$RESULTS" --test-name "$label")
  [[ "$interval" != - ]] && args+=(--nemesis-interval "$interval")
  [[ "$profile" != plain ]] && args+=(--recovery-time 2)
  [[ -n "$bug" ]] && args+=(--db-bug "$bug")
  # shellcheck disable=SC2206 # extra flags are whitespace-separated words
  [[ -n "$extra" ]] && args+=($extra)
  local code=0
  "$BIN" "${args[@]}" >"$RESULTS/$label-$seed.log" 2>&1 || code=$?
  local dir
  dir=$(sed -n 's/^results: //p' "$RESULTS/$label-$seed.log" | tail -1)
  echo "$code ${dir:-none}"
}

# Summarises one run folder: "first_anomaly_seconds checker,checker" (or "- -").
summarise() {
  python3 - "$1" <<'PY'
import json, sys, os
d = sys.argv[1]
try:
    res = json.load(open(os.path.join(d, "results.json")))
except Exception:
    print("- -"); sys.exit()
found, idx = [], []
for name, c in (res.get("check", {}).get("checkers") or {}).items():
    if c.get("verdict") != "invalid":
        continue
    found.append(name)
    for ce in c.get("counterexamples") or []:
        op = ce.get("op") or {}
        if op.get("invoke_index") is not None:
            idx.append(op["invoke_index"])
    for field in ("lost", "stale"):
        idx += [e["add_index"] for e in c.get(field) or [] if e.get("add_index") is not None]
    for field in ("duplicated", "unexpected"):
        idx += [e["read_index"] for e in c.get(field) or [] if e.get("read_index") is not None]
first = "-"
if idx:
    want = min(idx)
    with open(os.path.join(d, "history.jsonl")) as f:
        for line in f:
            op = json.loads(line)
            if op.get("index") == want:
                first = "%.1f" % (op["time"] / 1e9)
                break
print(first, ",".join(found) or "-")
PY
}

median() { sort -n | awk '{a[NR]=$1} END { if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

TABLE="$RESULTS/table.txt"
printf "%-32s %-50s %4s %8s %8s %10s  %s\n" bug configuration runs detected unknown "median-s" checkers >"$TABLE"
correct_invalid=0
measure() {
  local label="$1" bug="$2" runs="$3"
  local detected=0 unknown=0 times=() checkers=()
  for ((i = 0; i < runs; i++)); do
    local seed=$((SEED + i))
    read -r code dir <<<"$(run_one "$label" "$bug" "$seed")"
    case "$code" in
      1) detected=$((detected + 1))
         read -r t found <<<"$(summarise "$dir")"
         [[ "$t" != - ]] && times+=("$t") && echo "$t" >>"$RESULTS/times-${bug:-correct}.txt"
         checkers+=("$found") ;;
      2) unknown=$((unknown + 1)) ;;
      0) ;;
      *) echo "detect-bugs: $label seed $seed: harness error (exit $code), see $RESULTS/$label-$seed.log" >&2 ;;
    esac
    echo "  $label seed $seed: exit $code ($dir)" >&2
  done
  local med
  med=$(printf "%s\n" "${times[@]:-}" | { grep -v '^$' || true; } | median)
  local found
  found=$(printf "%s\n" "${checkers[@]:-}" | tr ',' '\n' | { grep -v '^-\?$' || true; } | sort | uniq -c | awk '{printf "%s%s(%s)", sep, $2, $1; sep=" "}')
  local workload nemesis interval profile
  read -r workload nemesis interval profile <<<"$(config_for "$label")"
  local shown="$workload/$nemesis/${interval}s"
  [[ "$profile" != - && "$profile" != plain ]] && shown="$workload/$nemesis+$profile/${interval}s"
  [[ "$profile" == plain ]] && shown="$workload/$nemesis/defaults"
  printf "%-32s %-50s %4s %8s %8s %10s  %s\n" "$label" "$shown" \
    "$runs" "$detected" "$unknown" "$med" "${found:--}" >>"$TABLE"
  if [[ -z "$bug" ]]; then correct_invalid=$((correct_invalid + detected)); fi
}

if [[ $DEFAULTS == 1 ]]; then
  for bug in $BUGS; do
    for workload in $WORKLOADS; do
      measure "$bug@defaults-$workload" "$bug" "$RUNS"
    done
  done
  correct="correct-defaults"
else
  for bug in $BUGS; do
    measure "$bug" "${bug%@*}" "$RUNS"
    if [[ "$bug" == lease-read ]]; then
      measure lease-read@no-clock lease-read "$RUNS"
    fi
  done
  correct="correct"
fi
if [[ "$CORRECT_RUNS" -gt 0 ]]; then
  # Split over the workloads measured, the first one taking the odd run.
  set -- $WORKLOADS
  left=$CORRECT_RUNS
  for workload in "$@"; do
    share=$(((left + $# - 1) / $#))
    measure "$correct-$workload" "" "$share"
    left=$((left - share)); shift
  done
fi
if [[ "$PACKET_CORRECT_RUNS" -gt 0 ]]; then
  half=$(((PACKET_CORRECT_RUNS + 1) / 2))
  measure correct-packet-register "" "$half"
  measure correct-packet-set "" $((PACKET_CORRECT_RUNS - half))
fi
if [[ "$TARGETED_CORRECT_RUNS" -gt 0 ]]; then
  # The correct server under each targeted configuration: no false alarm either.
  for bug in $BUGS; do
    read -r _ nemesis _ profile <<<"$(config_for "$bug")"
    if [[ "$profile" != - || "$nemesis" == *crash* ]]; then
      measure "correct-as-$bug" "" "$TARGETED_CORRECT_RUNS"
    fi
  done
fi
echo
echo "runs of ${TIME}s load each, $NODES nodes, seeds from $SEED; results in $RESULTS"
cat "$TABLE"
if [[ $DEFAULTS == 1 ]]; then
  # Per switch, register and set together: caught / runs and the median time.
  echo
  printf "%-26s %8s %10s\n" bug caught "median-s"
  for bug in $BUGS; do
    med=$( { cat "$RESULTS/times-$bug.txt" 2>/dev/null || true; } | median)
    awk -v b="$bug" -v m="$med" 'split($1, l, "@") && l[1] == b { r += $3; d += $4 }
      END { printf "%-26s %8s %10s\n", b, d "/" r, m }' "$TABLE"
  done
fi
if [[ $correct_invalid -gt 0 ]]; then
  echo "detect-bugs: the correct server had $correct_invalid invalid run(s)" >&2
  exit 1
fi
