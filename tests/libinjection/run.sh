#!/usr/bin/env bash
# Runs the libinjection differential test (tests/libinjection/differential.rs) and prints its
# agreement report. The test builds its C driver itself; this only shows the output.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
cargo test --profile "${PROFILE:-quick}" --test it libinjection_diff -- --nocapture
