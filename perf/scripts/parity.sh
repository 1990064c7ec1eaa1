#!/usr/bin/env bash
# Verdict parity: runs bench corpora through `spoa-waf check` and through libmodsecurity3
# (shared/tools/modsec-ref) with the same rule files, and records per corpus how many requests
# got the same status and the same logged rule ids, plus the ids that differ most often.
# A speed figure is only worth quoting if this says the rules really ran.
#
# Usage: perf/scripts/parity.sh [--rules crs3,crs4] [--out DIR] [--no-build] [CORPUS...]
#   CORPUS  names under bench/corpus without .jsonl (default: all six)
#   --out   default perf/runs/<UTC date>-parity
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RULES="crs3,crs4"
OUT=""
BUILD=1
CORPORA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rules) RULES="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) CORPORA+=("$1"); shift ;;
    esac
done
[ ${#CORPORA[@]} -eq 0 ] && CORPORA=(get post-form post-json multipart mix post-16k)
[ -n "$OUT" ] || OUT="$REPO/perf/runs/$(date -u +%F)-parity"
mkdir -p "$OUT"

. "$REPO/perf/scripts/crs.sh"
CRS4="$(find_crs4)" || { echo "parity.sh: shared/crs/v4.28.0 not found" >&2; exit 1; }
WORK=/tmp/spoa-waf-parity
mkdir -p "$WORK"
BL="$REPO/perf/baseline"
sed "s#@HERE@#$BL#g; s#@REPO@#$REPO#g" "$BL/crs3.conf.in" > "$WORK/crs3.conf"
sed "s#@HERE@#$BL#g; s#@REPO@#$REPO#g; s#@CRS4@#$CRS4#g" "$BL/crs4.conf.in" > "$WORK/crs4.conf"
REF="$WORK/modsec-ref"
[ -x "$REF" ] || g++ -O2 -std=c++17 -o "$REF" "$(dirname "$(dirname "$CRS4")")/tools/modsec-ref/modsec_ref.cc" -lmodsecurity
if [ "$BUILD" = 1 ]; then
    (cd "$REPO" && cargo build --release -p spoa-waf --bin spoa-waf 2>&1 | tail -1) >&2
fi
AGENT="$REPO/target/release/spoa-waf"

SUMMARY="$OUT/parity.jsonl"
: > "$SUMMARY"
IFS=, read -r -a RULESETS <<< "$RULES"
for rules in "${RULESETS[@]}"; do
    for c in "${CORPORA[@]}"; do
        corpus="$REPO/bench/corpus/$c.jsonl"
        "$REF" "$WORK/$rules.conf" < "$corpus" > "$WORK/ref.jsonl" 2> /dev/null
        "$AGENT" check --rules "$WORK/$rules.conf" --input "$corpus" > "$WORK/ours.jsonl" 2> "$WORK/check.err" || {
            echo "parity.sh: spoa-waf check failed on $c ($rules), see $WORK/check.err" >&2; continue; }
        python3 - "$WORK/ref.jsonl" "$WORK/ours.jsonl" "$rules" "$c" "$OUT/diff-$rules-$c.jsonl" <<'EOF' | tee -a "$SUMMARY"
import collections, json, sys
ref_p, ours_p, rules, corpus, diff_p = sys.argv[1:]
ref = {o["name"]: o for o in map(json.loads, open(ref_p))}
ours = {o["name"]: o for o in map(json.loads, open(ours_p))}
same_status = same_ids = missing = 0
extra, lacking = collections.Counter(), collections.Counter()
diffs = []
for name, r in ref.items():
    o = ours.get(name)
    if o is None:
        missing += 1
        continue
    same_status += r["status"] == o["status"]
    a, b = set(o["ids"]), set(r["ids"])
    same_ids += a == b
    extra.update(a - b)
    lacking.update(b - a)
    if a != b or r["status"] != o["status"]:
        diffs.append({"name": name, "status": [o["status"], r["status"]],
                      "only_spoa_waf": sorted(a - b), "only_libmodsecurity": sorted(b - a)})
with open(diff_p, "w") as f:
    for d in diffs:
        f.write(json.dumps(d) + "\n")
print(json.dumps({"rules": rules, "corpus": corpus, "requests": len(ref), "same_status": same_status,
                  "same_ids": same_ids, "missing": missing,
                  "blocked_spoa_waf": sum(o["status"] != 200 for o in ours.values()),
                  "blocked_libmodsecurity": sum(r["status"] != 200 for r in ref.values()),
                  "only_spoa_waf": extra.most_common(5), "only_libmodsecurity": lacking.most_common(5)}))
EOF
    done
done

{
    echo "# Verdict parity: spoa-waf check vs libmodsecurity3, $(date -u '+%F %H:%M UTC')"
    echo
    echo "Made by \`perf/scripts/parity.sh --rules $RULES\` at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?');"
    echo "both engines load the same files (\`perf/baseline/crs*.conf.in\`)."
    echo
    echo "| rules | corpus | requests | same status | same rule ids | blocked (spoa-waf / libmodsecurity3) | ids only spoa-waf logs | ids only libmodsecurity3 logs |"
    echo "| --- | --- | ---: | ---: | ---: | --- | --- | --- |"
    python3 - "$SUMMARY" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    fmt = lambda xs: ", ".join("%s×%d" % (i, n) for i, n in xs) or "–"
    print("| %s | %s | %d | %d | %d | %d / %d | %s | %s |" % (
        o["rules"], o["corpus"], o["requests"], o["same_status"], o["same_ids"], o["blocked_spoa_waf"],
        o["blocked_libmodsecurity"], fmt(o["only_spoa_waf"]), fmt(o["only_libmodsecurity"])))
EOF
    echo
    echo "\`diff-<rules>-<corpus>.jsonl\`: every request whose status or ids differ."
} > "$OUT/README.md"
find "$OUT" -name 'diff-*.jsonl' -empty -delete
cat "$OUT/README.md"
