#!/usr/bin/env bash
# Hot reload under load: spop-flood against `spoa-waf serve` (CRS 4.28 PL1 + one rule that
# blocks /a, then /b, ...) while the rules are reloaded 20 times by SIGHUP, every other time
# with a broken file. Then the same flood without reloads, for comparison.
# Usage: perf/runs/2026-12-04-reload/run.sh [BIN_DIR]   (default target/release)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../../.." && pwd)"
source "$REPO/perf/scripts/crs.sh"
CRS="$(find_crs4)"
BIN="${1:-$REPO/target/release}"
OUT="$(dirname "$0")"
W="$(mktemp -d)"
trap 'kill $AGENT 2>/dev/null || true; rm -rf "$W"' EXIT
PORT=$((20000 + RANDOM % 20000))

rules() { # $1: the path prefix to block, or "broken"
    {
        echo "Include $REPO/rules/modsecurity-base.conf"
        echo "Include $REPO/perf/baseline/overrides.conf"
        echo "Include $CRS/crs-setup.conf.example"
        echo "Include $CRS/rules/*.conf"
        if [ "$1" = broken ]; then
            echo 'SecRule REQUEST_FILENAME "@beginsWith /c" "id:10001,phase:1,deny,no-such-action"'
        else
            echo "SecRule REQUEST_FILENAME \"@beginsWith $1\" \"id:10001,phase:1,deny,status:403,nolog\""
        fi
    } > "$W/rules.conf.tmp"
    mv "$W/rules.conf.tmp" "$W/rules.conf"
}

# The GET corpus, every 10th request under /a/ and every 10th under /b/.
python3 - "$REPO/bench/corpus/get.jsonl" > "$W/corpus.jsonl" <<'PY'
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    r = json.loads(line)
    if i % 10 == 3: r["uri"] = "/a" + r["uri"]
    if i % 10 == 7: r["uri"] = "/b" + r["uri"]
    print(json.dumps(r))
PY

rules /a
"$BIN/spoa-waf" serve --rules "$W/rules.conf" --listen "127.0.0.1:$PORT" --shards 1 --cpus 0 \
    --stats-interval 3600 2> "$W/agent.log" &
AGENT=$!
until grep -q "listening on" "$W/agent.log"; do sleep 0.2; done

flood() { # $1: seconds, $2: output
    nice "$BIN/spop-flood" --target "127.0.0.1:$PORT" --corpus "$W/corpus.jsonl" \
        --connections 4 --pipeline 16 --duration "$1" --warmup 2 --cpus 1 --json > "$2"
}

flood 55 "$W/reload.json" &
FLOOD=$!
sleep 4
for i in $(seq 0 19); do
    if [ $((i % 2)) = 1 ]; then rules broken; elif [ $((i % 4)) = 0 ]; then rules /b; else rules /a; fi
    kill -HUP $AGENT
    sleep 2.3
done
wait $FLOOD
cp "$W/reload.json" "$OUT/reload.json"
flood 20 "$OUT/steady.json"
kill -TERM $AGENT; wait $AGENT || true
grep -E "reloaded:|reload failed|stats \(total\)" "$W/agent.log" | sed -E 's/^[^ ]+ //' > "$OUT/agent-log.txt"
echo "reloads ok: $(grep -c 'reloaded:' "$OUT/agent-log.txt"), failed: $(grep -c 'reload failed' "$OUT/agent-log.txt")"
