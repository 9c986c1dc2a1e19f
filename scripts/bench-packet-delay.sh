#!/usr/bin/env bash
# Measures what a packet delay on every inter-node link costs the correct raftkv:
# throughput and latency of acknowledged operations while the delay is in force vs
# while no fault is. One `faultline test` run on namespace hosts (root) whose only
# fault is `packet:delay=DELAY~JITTER` on all nodes, coming and going on the nemesis
# schedule; its history is split into the delay's windows and the time outside any
# fault (the first 2 s of warm-up and operations straddling a window's edge are left
# out). Prints, for each side: seconds covered, ok operations, ok/s, p50, p99 and
# max latency (ms). Figures are printed, never asserted: a benchmark, not a test.
#
# Usage: scripts/bench-packet-delay.sh [--delay 100ms~20ms] [--time 60] [--nodes 3]
#                                      [--interval 8] [--seed 19] [--workload register]
#                                      [--binary PATH] [--results DIR]
set -euo pipefail

DELAY="100ms~20ms"
TIME=60
NODES=3
INTERVAL=8
SEED=19
WORKLOAD=register
BIN=""
RESULTS=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --delay) DELAY="$2"; shift 2 ;;
    --time) TIME="$2"; shift 2 ;;
    --nodes) NODES="$2"; shift 2 ;;
    --interval) INTERVAL="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --workload) WORKLOAD="$2"; shift 2 ;;
    --binary) BIN="$2"; shift 2 ;;
    --results) RESULTS="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench-packet-delay: unknown option $1 (see --help)" >&2; exit 3 ;;
  esac
done
if [[ "$(id -u)" != 0 ]]; then
  echo "bench-packet-delay: needs root (packet faults run in network namespaces)" >&2; exit 3
fi
cd "$(dirname "$0")/.."
if [[ -z "$BIN" ]]; then
  cargo build --release --quiet
  BIN=target/release/faultline
fi
RESULTS="${RESULTS:-results/bench-packet-delay/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$RESULTS"
code=0
"$BIN" test --workload "$WORKLOAD" --nodes "$NODES" --time-limit "$TIME" \
  --nemesis "packet:delay=$DELAY,packet:all" --nemesis-interval "$INTERVAL" --seed "$SEED" \
  --results-dir "$RESULTS" --test-name packet-delay >"$RESULTS/run.log" 2>&1 || code=$?
dir=$(sed -n 's/^results: //p' "$RESULTS/run.log" | tail -1)
if [[ -z "$dir" ]]; then
  echo "bench-packet-delay: the run did not start (exit $code), see $RESULTS/run.log" >&2; exit 3
fi
echo "run: $dir (exit $code), delay $DELAY on every link of $NODES nodes, $WORKLOAD, ${TIME}s"
python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
ops = [json.loads(l) for l in open(os.path.join(d, "history.jsonl"))]
main_end = None
for p in json.load(open(os.path.join(d, "results.json"))).get("phases") or []:
    if p.get("name") == "main":
        main_end = p["start_s"] + p["duration_s"]
# Windows of the delay: installed start (invoke time) to its stop's completion.
windows, start = [], None
for o in ops:
    if o.get("process") != "nemesis":
        continue
    if o["f"] == "packet" and o["type"] == "invoke":
        start = o["time"]
    elif o["f"] == "packet" and o["type"] != "invoke":
        if (o.get("value") or {}).get("outcome") != "installed":
            start = None
    elif o["f"] == "packet-stop" and o["type"] != "invoke" and start is not None:
        windows.append((start, o["time"]))
        start = None
if start is not None:
    windows.append((start, ops[-1]["time"]))
end = (main_end * 1e9) if main_end else ops[-1]["time"]
warm = 2e9
def inside(a, b):
    return any(s <= a and b <= e for s, e in windows)
def outside(a, b):
    return a >= warm and b <= end and all(b < s or a > e for s, e in windows)
pending = {}
lat = {"delay": [], "none": []}
for o in ops:
    if o.get("process") == "nemesis":
        continue
    if o["type"] == "invoke":
        pending[o["process"]] = o["time"]
    elif o["process"] in pending:
        a = pending.pop(o["process"])
        if o["type"] != "ok":
            continue
        if inside(a, o["time"]):
            lat["delay"].append((o["time"] - a) / 1e6)
        elif outside(a, o["time"]):
            lat["none"].append((o["time"] - a) / 1e6)
cover_delay = sum(min(e, end) - max(s, 0) for s, e in windows if s < end) / 1e9
cover_none = max(end - warm, 0) / 1e9 - sum(
    max(min(e, end) - max(s, warm), 0) for s, e in windows) / 1e9
def q(xs, f):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else float("nan")
print("%-22s %8s %8s %9s %9s %9s %9s" % ("links", "seconds", "ok", "ok/s", "p50-ms", "p99-ms", "max-ms"))
for name, cover in (("no fault", cover_none), ("delay on every link", cover_delay)):
    xs = lat["none" if name == "no fault" else "delay"]
    rate = len(xs) / cover if cover > 0 else float("nan")
    print("%-22s %8.1f %8d %9.1f %9.1f %9.1f %9.1f" % (name, cover, len(xs), rate, q(xs, 0.5), q(xs, 0.99), max(xs) if xs else float("nan")))
print("delay windows: %d" % len(windows))
PY
