#!/usr/bin/env bash
# Regenerates tests/data/limits/reference.jsonl: writes the limit test's configurations and
# corpora (the ignored test `limits_write_reference_inputs`), runs each through Debian's
# libmodsecurity3 3.0.9 with shared/tools/modsec-ref, and keeps {config,name,status,ids}.
# Needs libmodsecurity-dev, nlohmann-json3-dev and g++ (tests/setup-debian.sh installs them).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
. "$REPO/perf/scripts/crs.sh"
CRS4="$(find_crs4)" || { echo "record.sh: shared/crs/v4.28.0 not found above $REPO" >&2; exit 1; }
SRC="$(dirname "$(dirname "$CRS4")")/tools/modsec-ref/modsec_ref.cc"
WORK="$(mktemp -d /tmp/spoa-waf-limits.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
g++ -O2 -std=c++17 -o "$WORK/modsec-ref" "$SRC" -lmodsecurity
(cd "$REPO" && SPOA_WAF_LIMITS_OUT="$WORK/in" cargo test --profile quick --test it \
    limits_write_reference_inputs -- --ignored --quiet >/dev/null)
out="$HERE/reference.jsonl"
: > "$out.tmp"
for conf in "$WORK"/in/*.conf; do
    name="$(basename "$conf" .conf)"
    "$WORK/modsec-ref" "$conf" < "$WORK/in/$name.jsonl" 2>/dev/null |
        python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    print(json.dumps({"config": sys.argv[1], "name": o["name"], "status": o["status"], "ids": o["ids"]}))
' "$name" >> "$out.tmp"
done
mv "$out.tmp" "$out"
echo "record.sh: $(wc -l < "$out") verdicts in $out"
