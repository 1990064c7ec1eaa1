#!/usr/bin/env bash
# A later HAProxy than Debian 12's 2.6, for the end-to-end tests, without touching the system:
#   tests/haproxy/fetch-other.sh trixie   -> 3.0.x (the last SPOE applet)
#   tests/haproxy/fetch-other.sh sid      -> 3.2.x (the SPOP multiplexer of >= 3.1)
# Downloads that suite's haproxy and the libraries it links (with that suite's libc) from the
# Debian archive apt already uses, checking the chain apt checks: InRelease signed by a key in
# debian-archive-keyring, Packages.xz by its SHA-256 there, each .deb by its SHA-256 in
# Packages. Unpacks them under target/haproxy/SUITE and prints the path of `run`, a wrapper that
# starts that HAProxy with its own loader and libraries. Exits 2 with the reason when the
# archive cannot be reached or checked.
set -euo pipefail
suite=${1:?usage: $0 trixie|sid}
repo="$(cd "$(dirname "$0")/../.." && pwd)"
d="$repo/target/haproxy/$suite"
if [ -x "$d/run" ] && "$d/run" -v >/dev/null 2>&1; then echo "$d/run"; exit 0; fi
fail() { echo "haproxy-$suite: $*" >&2; exit 2; }
arch=$(dpkg --print-architecture)
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/*$/\1/p; s/^deb \(\[[^]]*\] \)*\([^ ]*\/debian\)\/* .*/\2/p' \
          /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1 || true)}
[ -n "$mirror" ] || fail "no Debian archive in the apt sources; set DEBIAN_MIRROR"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || fail "$keyring missing (package debian-archive-keyring)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
get() { curl -fsS --connect-timeout 10 --max-time 300 -o "$2" "$1" || fail "cannot download $1"; }
get "$mirror/dists/$suite/InRelease" "$tmp/InRelease"
gpgv --keyring "$keyring" --output "$tmp/Release" "$tmp/InRelease" 2>"$tmp/gpgv" \
  || fail "InRelease signature does not verify: $(tail -1 "$tmp/gpgv")"
want=$(awk -v f="main/binary-$arch/Packages.xz" '/^SHA256:/{s=1; next} /^[^ ]/{s=0} s&&$3==f{print $1}' "$tmp/Release")
[ -n "$want" ] || fail "no main/binary-$arch/Packages.xz in Release"
get "$mirror/dists/$suite/main/binary-$arch/Packages.xz" "$tmp/Packages.xz"
[ "$(sha256sum "$tmp/Packages.xz" | cut -d' ' -f1)" = "$want" ] || fail "Packages.xz SHA-256 mismatch"
xz -dc "$tmp/Packages.xz" > "$tmp/Packages"
mkdir -p "$tmp/debs" "$tmp/root"
# haproxy and what its binary links (Depends of haproxy and of those libraries, as of 3.0-3.2).
for p in haproxy libc6 libcrypt1 libjemalloc2 liblua5.4-0 libopentracing-c-wrapper0t64 \
         libopentracing1 libpcre2-8-0 libssl3t64 libstdc++6 libgcc-s1 zlib1g libzstd1 libsystemd0 \
         libcap2 liblz4-1 liblzma5 libgcrypt20 libgpg-error0; do
  read -r file sha < <(awk -v P="$p" '$0=="Package: "P{x=1} x&&/^Filename:/{f=$2} x&&/^SHA256:/{s=$2}
                                      x&&/^$/{if(f!="")print f, s; exit}' "$tmp/Packages") || true
  [ -n "${file:-}" ] || continue
  get "$mirror/$file" "$tmp/debs/$p.deb"
  [ "$(sha256sum "$tmp/debs/$p.deb" | cut -d' ' -f1)" = "$sha" ] || fail "$file: SHA-256 mismatch"
  dpkg-deb -x "$tmp/debs/$p.deb" "$tmp/root"
  file=""
done
[ -x "$tmp/root/usr/sbin/haproxy" ] || fail "no haproxy in $suite"
rm -rf "$d"; mkdir -p "$(dirname "$d")"; mv "$tmp/root" "$d.root.new"
mkdir -p "$d"; mv "$d.root.new" "$d/root"
L="$d/root/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
loader=$(ls "$L"/ld-linux*.so.* 2>/dev/null | head -1)
[ -n "$loader" ] || fail "no dynamic loader in $suite's libc6"
printf '#!/bin/sh\nexec %s --library-path %s %s/root/usr/sbin/haproxy "$@"\n' "$loader" "$L" "$d" > "$d/run"
chmod +x "$d/run"
"$d/run" -v >/dev/null || fail "the unpacked haproxy does not run"
echo "$d/run"
