#!/usr/bin/env bash
# Installs what spoa-waf needs on a fresh Debian 12 machine: the Hyperscan and PCRE2 libraries it
# links, HAProxy for the end-to-end tests, Debian's CRS for the default rules, and libmodsecurity3
# (reference engine for differential tests and the benchmark baseline), and Python's Prometheus
# client (its OpenMetrics parser reads the agent's /metrics in the tests). Idempotent.
set -euo pipefail
pkgs=(libhyperscan-dev libpcre2-dev pkg-config haproxy modsecurity-crs libmodsecurity-dev
      nlohmann-json3-dev g++ ca-certificates curl python3-prometheus-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
