#!/usr/bin/env bash
# Installs what spoa-waf needs on a fresh Debian 12 machine: the Hyperscan and PCRE2 libraries it
# links, HAProxy for the end-to-end tests, Debian's CRS for the default rules, and libmodsecurity3
# (reference engine for differential tests and the benchmark baseline), and Python's Prometheus
# client (its OpenMetrics parser reads the agent's /metrics in the tests). Idempotent.
set -euo pipefail
# python3-seccomp and systemd (systemd-analyze): the deployment tests (tests/it/deploy.rs) run
# the agent under the unit's system-call filter and the Kubernetes seccomp profile.
pkgs=(libhyperscan-dev libpcre2-dev pkg-config haproxy modsecurity-crs libmodsecurity-dev
      nlohmann-json3-dev g++ ca-certificates curl xz-utils python3-seccomp systemd python3-venv
      python3-prometheus-client)
# SPOA_WAF_SETUP_DEB=1: also what the Debian-package test needs (lintian here, cargo-deb below;
# building cargo-deb takes ~2 minutes, so CI leaves it out and that test skips).
[ "${SPOA_WAF_SETUP_DEB:-0}" = 1 ] && pkgs+=(lintian)
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
if [ "${SPOA_WAF_SETUP_DEB:-0}" = 1 ] && ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked
fi
# kubernetes-validate (PyPI; it carries the Kubernetes JSON schemas) for the offline manifest
# check in tests/it/deploy.rs, in a virtualenv under target/ (~20 s the first time).
kv="$(cd "$(dirname "$0")/.." && pwd)/target/tools/kubernetes-validate"
if [ ! -x "$kv/bin/kubernetes-validate" ]; then
  python3 -m venv "$kv" && "$kv/bin/pip" install -q --disable-pip-version-check kubernetes-validate \
    || echo "setup: kubernetes-validate not installed (PyPI unreachable?); the manifest test will skip" >&2
fi
