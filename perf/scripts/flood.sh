#!/usr/bin/env bash
# Starts `spoa-waf serve` with the given rules and shards on pinned CPUs, floods it with
# spop-flood from other pinned CPUs, and records into perf/runs/<UTC date>-<name>/:
#   flood.json  spop-flood's JSON report      agent.json  start-up time, RSS, CPU used
#   agent.log   the agent's output            flood.log   spop-flood's progress lines
#   README.md   the command, the machine and a summary table     (+ profile/ with --profile)
# Records; never asserts a timing.
#
# Usage: perf/scripts/flood.sh --name NAME [--rules none|crs3|crs4|FILE] [--shards N]
#          [--corpus FILE] [--agent-cpus LIST] [--client-cpus LIST] [--port P] [--profile] [--baseline]
#          [--agent spoa-waf|null] [--stats-interval S] [--agent-arg ARG]... [--no-build]
#          [--nice N] [--cold] [--out DIR] [-- SPOP-FLOOD-ARGS...]
# Defaults: --rules none (only `SecRuleEngine On`), --shards 1, --corpus bench/corpus/mix.jsonl,
#   --agent-cpus 0, --client-cpus 1, --port 23456+(pid mod 2000); spop-flood defaults to
#   --connections 2 --pipeline 20 --duration 10 --warmup 2 unless given after `--`.
#   crs3 / crs4 are the libmodsecurity baseline's configurations (perf/baseline/*.conf.in),
#   so both engines see the same rules. --agent null floods bench/spop-flood's null-agent example
#   instead (no inspection at all): the client's and the loopback's own ceiling.
#   --baseline (rules crs3|crs4, a bench/corpus file): right after the flood, run the same corpus
#   through libmodsecurity3 with the same rules on the agent's first CPU (perf/baseline/run.sh
#   --repeat 1) and record the ratio, so both figures come from one run under one machine load.
#   --nice N runs agent, client and baseline at that priority (e.g. -10 on a machine busy with
#   builds, so a short run measures the agent rather than the scheduler). --cold starts the agent
#   with an empty Hyperscan cache (SPOA_WAF_CACHE_DIR in a fresh directory): start-up then
#   includes compiling every database.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
NAME=""
RULES=none
SHARDS=1
CORPUS="$REPO/bench/corpus/mix.jsonl"
AGENT_CPUS=0
CLIENT_CPUS=1
# A fresh port per run: the previous agent's TIME_WAIT sockets can block a re-bind of the same one.
PORT=$((23456 + $$ % 2000))
PROFILE=0
BASELINE=0
NICE=0
COLD=0
BUILD=1
OUT=""
AGENT_KIND=spoa-waf
STATS_INTERVAL=5
EXTRA_AGENT_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --name) NAME="$2"; shift 2 ;;
        --rules) RULES="$2"; shift 2 ;;
        --shards) SHARDS="$2"; shift 2 ;;
        --corpus) CORPUS="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
        --agent-cpus) AGENT_CPUS="$2"; shift 2 ;;
        --client-cpus) CLIENT_CPUS="$2"; shift 2 ;;
        --port) PORT="$2"; shift 2 ;;
        --profile) PROFILE=1; shift ;;
        --baseline) BASELINE=1; shift ;;
        --nice) NICE="$2"; shift 2 ;;
        --cold) COLD=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --agent) AGENT_KIND="$2"; shift 2 ;;
        --stats-interval) STATS_INTERVAL="$2"; shift 2 ;;
        --agent-arg) EXTRA_AGENT_ARGS+=("$2"); shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "flood.sh: unknown argument $1 (spop-flood flags go after --)" >&2; exit 2 ;;
    esac
done
[ -n "$NAME" ] || { echo "flood.sh: --name is required" >&2; exit 2; }
FLOOD_ARGS=("$@")
[ ${#FLOOD_ARGS[@]} -gt 0 ] || FLOOD_ARGS=(--connections 2 --pipeline 20 --duration 10 --warmup 2)
[ -n "$OUT" ] || OUT="$REPO/perf/runs/$(date -u +%F)-$NAME"
mkdir -p "$OUT"

# Rule sets: a name or a file.
WORK=/tmp/spoa-waf-flood
mkdir -p "$WORK"
. "$REPO/perf/scripts/crs.sh"
case "$RULES" in
    none) RULES_FILE="$REPO/perf/rules/no-rules.conf" ;;
    crs3) RULES_FILE="$WORK/crs3.conf"
          sed "s#@HERE@#$REPO/perf/baseline#g; s#@REPO@#$REPO#g" "$REPO/perf/baseline/crs3.conf.in" > "$RULES_FILE" ;;
    crs4) RULES_FILE="$WORK/crs4.conf"
          CRS4="$(find_crs4)" || { echo "flood.sh: shared/crs/v4.28.0 not found" >&2; exit 1; }
          sed "s#@HERE@#$REPO/perf/baseline#g; s#@REPO@#$REPO#g; s#@CRS4@#$CRS4#g" "$REPO/perf/baseline/crs4.conf.in" > "$RULES_FILE" ;;
    *) RULES_FILE="$(cd "$(dirname "$RULES")" && pwd)/$(basename "$RULES")" ;;
esac

case "$AGENT_KIND" in
    spoa-waf) BUILD_ARGS=(-p spoa-waf -p spop-flood --bins); AGENT="$REPO/target/release/spoa-waf" ;;
    null) BUILD_ARGS=(-p spop-flood --bin spop-flood --example null-agent); AGENT="$REPO/target/release/examples/null-agent" ;;
    *) echo "flood.sh: --agent spoa-waf|null" >&2; exit 2 ;;
esac
if [ "$BUILD" = 1 ]; then
    (cd "$REPO" && cargo build --release "${BUILD_ARGS[@]}" 2>&1 | tail -3) >&2
fi
FLOOD="$REPO/target/release/spop-flood"
[ -x "$AGENT" ] && [ -x "$FLOOD" ] || { echo "flood.sh: build $AGENT and $FLOOD first" >&2; exit 1; }

if [ "$AGENT_KIND" = null ]; then
    AGENT_ARGS=("127.0.0.1:$PORT")
    RULES=n/a
else
    AGENT_ARGS=(serve --listen "127.0.0.1:$PORT" --rules "$RULES_FILE")
    # Flags are only passed when this build of the agent has them.
    HELP="$("$AGENT" serve --help 2>/dev/null || true)"
    if grep -q -- '--shards' <<< "$HELP"; then
        AGENT_ARGS+=(--shards "$SHARDS")
    elif [ "$SHARDS" != 1 ]; then
        echo "flood.sh: this agent has no --shards flag; running with its default" >&2
    fi
    # The agent pins its shards itself; taskset below only keeps its other threads there too.
    if grep -q -- '--cpus' <<< "$HELP"; then AGENT_ARGS+=(--cpus "$AGENT_CPUS"); fi
    # Agent-side counters and latency percentiles land in agent.log.
    if grep -q -- '--stats-interval' <<< "$HELP"; then AGENT_ARGS+=(--stats-interval "$STATS_INTERVAL"); fi
    AGENT_ARGS+=(${EXTRA_AGENT_ARGS[@]+"${EXTRA_AGENT_ARGS[@]}"})
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
if port_open; then echo "flood.sh: port $PORT is already in use" >&2; exit 1; fi

t0=$(date +%s%N)
# The agent may log a line per matched rule: the full log stays in /tmp, the run keeps a digest.
FULL_LOG="$WORK/agent-$NAME.log"
if [ "$COLD" = 1 ]; then
    export SPOA_WAF_CACHE_DIR="$WORK/cold-cache-$$"
    rm -rf "$SPOA_WAF_CACHE_DIR"
fi
# As deployed (systemd/spoa-waf.service): mimalloc returns freed pages at once, so RSS shows
# what the agent holds rather than what the load phase freed.
MIMALLOC_PURGE_DELAY="${MIMALLOC_PURGE_DELAY:-0}" \
    nice -n "$NICE" taskset -c "$AGENT_CPUS" "$AGENT" "${AGENT_ARGS[@]}" > "$FULL_LOG" 2>&1 &
AGENT_PID=$!
stop_agent() {
    if kill -0 "$AGENT_PID" 2>/dev/null; then
        kill -TERM "$AGENT_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$AGENT_PID" 2>/dev/null || true
    fi
}
trap stop_agent EXIT
for _ in $(seq 6000); do
    port_open && break
    kill -0 "$AGENT_PID" 2>/dev/null || { echo "flood.sh: agent exited, see $FULL_LOG" >&2; tail -5 "$FULL_LOG" >&2; exit 1; }
    sleep 0.05
done
port_open || { echo "flood.sh: agent not listening after 300 s" >&2; exit 1; }
STARTUP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))

proc_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$AGENT_PID/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/stat" 2>/dev/null || echo 0; }
RSS_IDLE=$(proc_kb VmRSS)
TICKS0=$(cpu_ticks)
w0=$(date +%s%N)

if [ "$PROFILE" = 1 ]; then
    # Skip the warm-up and the tail: profile the middle of the run.
    PSECS=$(python3 -c "import sys; a=sys.argv[1:]; d=float(a[a.index('--duration')+1]) if '--duration' in a else 10.0; print(max(1, int(d*0.6)))" "${FLOOD_ARGS[@]}")
    (sleep 1; "$HERE/profile.sh" --pid "$AGENT_PID" --seconds "$PSECS" --out "$OUT/profile") > "$OUT/profile.log" 2>&1 &
    PROF_PID=$!
fi

nice -n "$NICE" "$FLOOD" --target "127.0.0.1:$PORT" --corpus "$CORPUS" --cpus "$CLIENT_CPUS" --json "${FLOOD_ARGS[@]}" \
    > "$OUT/flood.json" 2> "$OUT/flood.log" || { echo "flood.sh: spop-flood failed, see $OUT/flood.log" >&2; tail -5 "$OUT/flood.log" >&2; exit 1; }

WALL_NS=$(( $(date +%s%N) - w0 ))
TICKS1=$(cpu_ticks)
RSS_LOADED=$(proc_kb VmRSS)
HWM=$(proc_kb VmHWM)
if [ "$PROFILE" = 1 ]; then wait "$PROF_PID" || true; fi
stop_agent
trap - EXIT
if [ "$COLD" = 1 ]; then rm -rf "$SPOA_WAF_CACHE_DIR"; fi

if [ "$BASELINE" = 1 ]; then
    case "$RULES" in
        crs3|crs4) nice -n "$NICE" "$REPO/perf/baseline/run.sh" --repeat 1 --cpu "${AGENT_CPUS%%[,-]*}" --rules "$RULES" \
                       --out "$OUT/baseline" "$(basename "$CORPUS" .jsonl)" > /dev/null 2> "$OUT/baseline.log" \
                       || echo "flood.sh: baseline failed, see $OUT/baseline.log" >&2 ;;
        *) echo "flood.sh: --baseline needs --rules crs3 or crs4" >&2 ;;
    esac
fi

# Digest: the first 20 lines, every line that is not a per-request rule message, and a count.
python3 - "$FULL_LOG" "$OUT/agent.log" <<'EOF'
import sys
src, dst = sys.argv[1:]
kept, dropped = [], 0
with open(src, errors="replace") as f:
    for i, line in enumerate(f):
        if i < 20 or "ModSecurity: " not in line:
            kept.append(line if len(line) < 2000 else line[:2000] + "…\n")
        else:
            dropped += 1
with open(dst, "w") as f:
    f.writelines(kept)
    if dropped:
        f.write("[flood.sh: %d more per-request rule messages omitted; full log: %s]\n" % (dropped, src))
EOF

HZ=$(getconf CLK_TCK)
# Requests the corpus marks as attacks (bench/corpus names them "...-attack"): a CRS run that
# blocks none of them did not really evaluate the rules.
ATTACKS=$(grep -c '"name":"[^"]*attack' "$CORPUS" || true)
python3 - "$OUT" "$STARTUP_MS" "$RSS_IDLE" "$RSS_LOADED" "$HWM" "$TICKS0" "$TICKS1" "$HZ" "$WALL_NS" \
    "$SHARDS" "$RULES" "$AGENT_CPUS" "$CLIENT_CPUS" "$ATTACKS" "$COLD" <<'EOF'
import json, sys
out, startup, rss0, rss1, hwm, t0, t1, hz, wall, shards, rules, acpu, ccpu, attacks, cold = sys.argv[1:]
cpu_s = (int(t1) - int(t0)) / int(hz)
wall_s = int(wall) / 1e9
agent = {"startup_ms": int(startup), "rss_idle_kb": int(rss0 or 0), "rss_loaded_kb": int(rss1 or 0),
         "rss_peak_kb": int(hwm or 0), "cpu_s": cpu_s, "wall_s": wall_s,
         "cores_busy": cpu_s / wall_s if wall_s > 0 else 0.0, "shards": int(shards), "rules": rules,
         "agent_cpus": acpu, "client_cpus": ccpu, "corpus_attacks": int(attacks or 0),
         "cold_start": cold == "1"}
# The agent's own totals line (counters and in-agent latency), when it prints one.
import re
try:
    lines = [l for l in open(out + "/agent.log", errors="replace") if "stats (total)" in l]
except OSError:
    lines = []
if lines:
    agent["agent_stats"] = lines[-1].split("stats (total):", 1)[-1].strip()
    m = re.search(r"notify_latency: n=(\d+) p50=([\d.]+)us p99=([\d.]+)us p99\.9=([\d.]+)us max=([\d.]+)us",
                  agent["agent_stats"])
    if m:
        agent["in_agent_us"] = {"n": int(m.group(1)), "p50": float(m.group(2)), "p99": float(m.group(3)),
                                "p999": float(m.group(4)), "max": float(m.group(5))}
json.dump(agent, open(out + "/agent.json", "w"), indent=1)
open(out + "/agent.json", "a").write("\n")
EOF

{
    echo "# spop-flood run \`$NAME\`, $(date -u '+%F %H:%M UTC')"
    echo
    echo "Command: \`perf/scripts/flood.sh --name $NAME --nice $NICE --agent $AGENT_KIND --rules $RULES --shards $SHARDS --corpus ${CORPUS#"$REPO"/} --agent-cpus $AGENT_CPUS --client-cpus $CLIENT_CPUS -- ${FLOOD_ARGS[*]}\`"
    echo "at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'); agent \`${AGENT#"$REPO"/} ${AGENT_ARGS[*]}\`."
    echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "The machine is shared with other builds; figures are recorded, not asserted."
    echo
    python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
f = json.load(open(out + "/flood.json"))
a = json.load(open(out + "/agent.json"))
per_core = f["rps"] / a["cores_busy"] if a["cores_busy"] > 0 else 0.0
print("| req/s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | blocked | errors | disconnects | agent cores busy | req/s per busy agent core | RSS idle / loaded / peak MB | start-up ms |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
print("| %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %d | %d | %.2f | %.0f | %.1f / %.1f / %.1f | %d |" % (
    f["rps"], f["p50_us"], f.get("p90_us", 0), f["p99_us"], f["p999_us"], f["max_us"], f["blocked"],
    f["errors"], f.get("disconnects", 0), a["cores_busy"], per_core, a["rss_idle_kb"] / 1024,
    a["rss_loaded_kb"] / 1024, a["rss_peak_kb"] / 1024, a["startup_ms"]))
print()
print("Start-up %s: %d ms until the port accepted." % (
    "cold (empty Hyperscan cache)" if a.get("cold_start") else "with whatever Hyperscan cache the machine had", a["startup_ms"]))
print()
print("Mode %s, %d connection(s) × pipeline %d, %d requests in %.1f s measured (%s); spop-flood "
      "itself kept %s cores busy." % (f["mode"], f["connections"], f["pipeline"], f["requests"], f["duration_s"],
      f["message"], "%.2f" % f["client_cores_busy"] if f.get("client_cores_busy") is not None else "?"))
import os
bl = out + "/baseline/baseline.jsonl"
if os.path.exists(bl):
    b = [json.loads(l) for l in open(bl) if l.strip()]
    if b:
        b = b[0]
        print()
        print("libmodsecurity3 on the same corpus and rules, right after, one core: %.1f req/s "
              "(blocked %d of %d): spoa-waf/libmodsecurity3 = **%.1f×** (%.1f× per busy agent core)." % (
              b["rps"], b["blocked"], b["corpus_size"], f["rps"] / b["rps"] if b["rps"] else 0.0,
              per_core / b["rps"] if b["rps"] else 0.0))
if a["rules"] not in ("none", "n/a") and f["blocked"] == 0 and a.get("corpus_attacks", 0) > 0:
    # A WAF benchmark whose rules never fire measures nothing (cf. zentinel-modsec's retraction).
    print()
    print("**Warning: rules `%s` blocked none of the corpus's %d attacks. Check that the engine "
          "really evaluated them before quoting this run.**" % (a["rules"], a["corpus_attacks"]))
if "in_agent_us" in a:
    i = a["in_agent_us"]
    print()
    print("Inside the agent (its own NOTIFY-to-ACK histogram, whole run incl. warm-up): p50 %.1f µs, "
          "p99 %.1f µs, p99.9 %.1f µs, max %.1f µs over %d NOTIFYs." % (i["p50"], i["p99"], i["p999"], i["max"], i["n"]))
if "agent_stats" in a:
    print()
    print("Agent totals: `%s`" % a["agent_stats"])
EOF
    echo
    echo "Files: \`flood.json\` (spop-flood --json), \`agent.json\` (start-up until the port accepts,"
    echo "RSS from /proc, CPU seconds the agent used during the flood), \`agent.log\`, \`flood.log\`."
    if [ "$PROFILE" = 1 ]; then
        echo "Profile: \`profile/report.txt\`, \`profile/top.txt\`, \`profile/flame.svg\` (perf.data not committed)."
    fi
} > "$OUT/README.md"
cat "$OUT/README.md"
