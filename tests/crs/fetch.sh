#!/usr/bin/env bash
# Provides the CRS releases the tests replay, for a clone with no shared/crs beside it:
#   tests/crs/fetch.sh v4.28.0 [v3.3.4]    -> prints target/crs/<version> for each
# Uses ../shared/crs/<version> (beside or above the checkout) when present and prints that
# instead. Otherwise downloads the release's official source archive once, checks it against the
# SHA-256 pinned below (of the archive where it is known, and always of the files kept: rules/,
# crs-setup.conf.example and the regression tests), and unpacks those files into the git-ignored
# target/crs/<version>. Exits 2 with the reason when the archive cannot be had (offline).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
dest_root="$repo/target/crs"

# version | archive SHA-256 ("-" when unknown) | SHA-256 of the kept files (see tree_digest) | URLs
pins() {
  case "$1" in
    v3.3.4) echo "15a84aaa041aa532905a34546b613bd3aed122e3f9814fbb5c28e1655d02b74d" \
                 "f8ac166b13aeba3b0fed57a894122f93fe96195ab28a719a9e599cb5aa97dbd8" \
                 "https://github.com/coreruleset/coreruleset/archive/refs/tags/v3.3.4.tar.gz" \
                 "http://deb.debian.org/debian/pool/main/m/modsecurity-crs/modsecurity-crs_3.3.4.orig.tar.gz" ;;
    v4.28.0) echo "-" \
                  "aee7679db20812b33c4ff528f28ebfaa9536dbde66b9440bc9b905a6ef75e230" \
                  "https://github.com/coreruleset/coreruleset/archive/refs/tags/v4.28.0.tar.gz" ;;
    *) return 1 ;;
  esac
}

# SHA-256 over `sha256sum` of the kept files, sorted by path: independent of how the archive was
# compressed, so the same release from any mirror gives the same digest.
tree_digest() {
  (cd "$1" && { find rules crs-setup.conf.example -type f
                find tests/regression/tests -type f \( -name '*.yaml' -o -name '*.yml' \); } \
     | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1)
}

shared_copy() {
  local d="$repo"
  while [ "$d" != "/" ]; do
    if [ -d "$d/shared/crs/$1/rules" ]; then echo "$d/shared/crs/$1"; return 0; fi
    d="$(dirname "$d")"
  done
  return 1
}

fetch_one() {
  local v=$1 archive_sha tree_sha urls
  if shared_copy "$v"; then return 0; fi
  local dest="$dest_root/$v"
  if [ -f "$dest/.verified" ]; then echo "$dest"; return 0; fi
  read -r archive_sha tree_sha urls < <(pins "$v") \
    || { echo "crs: no pinned release $v (known: v3.3.4 v4.28.0)" >&2; return 2; }
  mkdir -p "$dest_root"
  local tmp; tmp="$(mktemp -d "$dest_root/.fetch-$v.XXXXXX")"
  trap 'rm -rf "$tmp"' RETURN
  local got="" errors=""
  for url in $urls; do
    if curl -fsSL --connect-timeout 10 --max-time 300 -o "$tmp/archive.tar.gz" "$url" 2>"$tmp/err"; then
      local sha; sha="$(sha256sum "$tmp/archive.tar.gz" | cut -d' ' -f1)"
      if [ "$archive_sha" != "-" ] && [ "$sha" != "$archive_sha" ]; then
        errors+="  $url: archive SHA-256 $sha, pinned $archive_sha"$'\n'; continue
      fi
      rm -rf "$tmp/x"; mkdir "$tmp/x"
      tar -xzf "$tmp/archive.tar.gz" -C "$tmp/x" --strip-components=1
      local tree; tree="$(tree_digest "$tmp/x")"
      if [ "$tree" != "$tree_sha" ]; then
        errors+="  $url: files SHA-256 $tree, pinned $tree_sha"$'\n'; continue
      fi
      got="$url"; break
    fi
    errors+="  $url: $(tr '\n' ' ' < "$tmp/err")"$'\n'
  done
  if [ -z "$got" ]; then
    printf 'crs: cannot obtain CRS %s (offline, or the archive changed):\n%sPut the release at ../shared/crs/%s or run tests/crs/fetch.sh %s with network access.\n' \
      "$v" "$errors" "$v" "$v" >&2
    return 2
  fi
  mkdir -p "$tmp/keep/tests/regression"
  cp -a "$tmp/x/rules" "$tmp/x/crs-setup.conf.example" "$tmp/keep/"
  [ -f "$tmp/x/LICENSE" ] && cp -a "$tmp/x/LICENSE" "$tmp/keep/"
  cp -a "$tmp/x/tests/regression/tests" "$tmp/keep/tests/regression/"
  echo "$got" > "$tmp/keep/.verified"
  rm -rf "$dest"; mv "$tmp/keep" "$dest"
  echo "$dest"
}

[ $# -gt 0 ] || { echo "usage: $0 VERSION..." >&2; exit 1; }
# One download at a time, across the test binaries that may ask at once.
mkdir -p "$dest_root"
exec 9>"$dest_root/.lock"
flock 9
for v in "$@"; do fetch_one "$v" || exit $?; done
