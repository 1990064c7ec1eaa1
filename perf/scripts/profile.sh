#!/usr/bin/env bash
# Profiles a running process (the agent) with `perf record -g` for a while, then writes next to
# each other: perf.data (not committed), report.txt (`perf report --stdio`, self time),
# stacks.folded.gz and flame.svg (perf/scripts/flamegraph.py). Records; asserts nothing.
#
# Usage: perf/scripts/profile.sh --pid PID [--seconds 10] [--out DIR] [--freq 999]
#                                [--call-graph dwarf|fp]
#   dwarf (default) works on release builds without frame pointers (debug = 1 gives the
#   line tables); fp is cheaper but needs RUSTFLAGS="-C force-frame-pointers=yes".
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
PID=""
SECS=10
OUT=""
FREQ=999
CG=dwarf
while [ $# -gt 0 ]; do
    case "$1" in
        --pid) PID="$2"; shift 2 ;;
        --seconds) SECS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --freq) FREQ="$2"; shift 2 ;;
        --call-graph) CG="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$PID" ] || { echo "profile.sh: --pid is required" >&2; exit 2; }
[ -n "$OUT" ] || OUT="$(pwd)/profile-$(date -u +%H%M%S)"
mkdir -p "$OUT"

case "$CG" in
    dwarf) CGARG=(--call-graph dwarf,16384) ;;
    fp) CGARG=(-g) ;;
    *) echo "profile.sh: --call-graph dwarf|fp" >&2; exit 2 ;;
esac

echo "profile.sh: recording pid $PID for ${SECS}s at ${FREQ} Hz ($CG)" >&2
perf record -q -F "$FREQ" "${CGARG[@]}" -p "$PID" -o "$OUT/perf.data" -- sleep "$SECS" 2> "$OUT/perf-record.log" || {
    echo "profile.sh: perf record failed, see $OUT/perf-record.log" >&2
    exit 1
}
perf report -i "$OUT/perf.data" --stdio --no-children --percent-limit 0.5 --sort symbol \
    > "$OUT/report.txt" 2> /dev/null || true
perf script -i "$OUT/perf.data" 2> /dev/null \
    | python3 "$HERE/flamegraph.py" --folded "$OUT/stacks.folded" --svg "$OUT/flame.svg" --own spoa_waf:: \
        --title "pid $PID, ${SECS}s, $(date -u '+%F %H:%M UTC')" 2> "$OUT/top.txt" || true
gzip -f "$OUT/stacks.folded" 2> /dev/null || true
cat "$OUT/top.txt" >&2
echo "profile.sh: wrote $OUT/{report.txt,stacks.folded.gz,flame.svg,top.txt}" >&2
