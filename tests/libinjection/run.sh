#!/usr/bin/env bash
# Builds the C libinjection driver against Debian's libmodsecurity.so.3 and runs the
# differential test (tests/libinjection/differential.rs) with it. Prints the agreement report.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${CARGO_TARGET_DIR:-$repo/target}/libinjection-c"
mkdir -p "$(dirname "$out")"
cc -O2 -Wall -o "$out" "$here/libinjection_c.c" -lmodsecurity
cd "$repo"
LIBINJECTION_C="$out" cargo test --test it libinjection_diff -- --ignored --nocapture
