#!/usr/bin/env bash
# libmodsecurity3 baseline: runs the bench corpora through Debian's libmodsecurity3 3.0.9 with
# Debian's CRS 3.3.4 and with CRS 4.28.0 (PL1, blocking), on one pinned core, and records
# requests/s per (rule set, corpus) plus the verdicts, so spoa-waf runs can be compared with the
# same corpus on the same machine. Records; never asserts a timing.
#
# Usage: perf/baseline/run.sh [--repeat N] [--cpu C] [--out DIR] [--rules crs3,crs4] [CORPUS...]
#   CORPUS  names under bench/corpus without .jsonl (default: get post-form post-json multipart mix post-16k)
#   --out   default perf/runs/<UTC date>-baseline
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
REPEAT=3
CPU=1
OUT=""
RULES="crs3,crs4"
CORPORA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --repeat) REPEAT="$2"; shift 2 ;;
        --cpu) CPU="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --rules) RULES="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) CORPORA+=("$1"); shift ;;
    esac
done
[ ${#CORPORA[@]} -eq 0 ] && CORPORA=(get post-form post-json multipart mix post-16k)
[ -n "$OUT" ] || OUT="$REPO/perf/runs/$(date -u +%F)-baseline"

. "$REPO/perf/scripts/crs.sh"
CRS4="$(find_crs4)" || { echo "run.sh: shared/crs/v4.28.0 not found above $REPO" >&2; exit 1; }
MODSEC_SRC="$(dirname "$(dirname "$CRS4")")/tools/modsec-ref/modsec_ref.cc"

WORK=/tmp/spoa-waf-baseline
mkdir -p "$WORK" "$OUT"
BIN="$WORK/modsec-ref"
if [ ! -x "$BIN" ] || [ "$MODSEC_SRC" -nt "$BIN" ]; then
    echo "building $BIN" >&2
    g++ -O2 -std=c++17 -o "$BIN" "$MODSEC_SRC" -lmodsecurity
fi
sed "s#@HERE@#$HERE#g; s#@REPO@#$REPO#g" "$HERE/crs3.conf.in" > "$WORK/crs3.conf"
sed "s#@HERE@#$HERE#g; s#@REPO@#$REPO#g; s#@CRS4@#$CRS4#g" "$HERE/crs4.conf.in" > "$WORK/crs4.conf"

PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c "$CPU"); fi

SUMMARY="$OUT/baseline.jsonl"
: > "$SUMMARY"
IFS=, read -r -a RULESETS <<< "$RULES"
for rules in "${RULESETS[@]}"; do
    for c in "${CORPORA[@]}"; do
        corpus="$REPO/bench/corpus/$c.jsonl"
        # Verdict pass: one line per request (ids, status, microseconds), kept for parity diffs.
        "${PIN[@]}" "$BIN" "$WORK/$rules.conf" < "$corpus" > "$OUT/verdicts-$rules-$c.jsonl" \
            2> "$WORK/verdict.err"
        blocked="$(grep -o 'blocked [0-9]*' "$WORK/verdict.err" | awk '{print $2}')"
        # Speed pass: the corpus REPEAT times on one core, no output per request.
        "${PIN[@]}" "$BIN" "$WORK/$rules.conf" --repeat "$REPEAT" --quiet < "$corpus" \
            > /dev/null 2> "$WORK/speed.err"
        line="$(grep 'req/s' "$WORK/speed.err")"
        n="$(echo "$line" | awk '{print $2}')"
        secs="$(echo "$line" | awk '{print $5}')"
        rps="$(echo "$line" | awk '{print $7}')"
        total="$(grep -c . "$corpus")"
        printf '{"engine":"libmodsecurity3","rules":"%s","corpus":"%s","requests":%s,"secs":%s,"rps":%s,"blocked":%s,"corpus_size":%s,"cpu":%s}\n' \
            "$rules" "$c" "$n" "$secs" "$rps" "${blocked:-0}" "$total" "$CPU" | tee -a "$SUMMARY"
    done
done

{
    echo "# libmodsecurity3 baseline, $(date -u '+%F %H:%M UTC')"
    echo
    echo "Made by \`perf/baseline/run.sh --repeat $REPEAT --cpu $CPU\` at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')."
    echo "Engine: $(dpkg-query -W -f '${Package} ${Version}' libmodsecurity3 2>/dev/null || echo libmodsecurity3);"
    echo "rules: crs3 = Debian $(dpkg-query -W -f '${Package} ${Version}' modsecurity-crs 2>/dev/null || echo modsecurity-crs),"
    echo "crs4 = CRS 4.28.0 from shared/crs; both at PL1 behind \`rules/modsecurity-base.conf\` + \`perf/baseline/overrides.conf\`."
    echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "The machine is shared; figures are recorded, not asserted."
    echo
    echo "| rules | corpus | requests | req/s (one core) | blocked / corpus |"
    echo "| --- | --- | ---: | ---: | ---: |"
    python3 - "$SUMMARY" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    print("| %s | %s | %d | %.1f | %d / %d |" % (o["rules"], o["corpus"], o["requests"], o["rps"],
                                              o["blocked"], o["corpus_size"]))
EOF
    echo
    echo "\`baseline.jsonl\`: the table as JSON lines. \`verdicts-<rules>-<corpus>.jsonl\`: per request"
    echo "the rule ids that logged, the status and the time in µs (modsec-ref output)."
} > "$OUT/README.md"
echo "wrote $OUT" >&2
