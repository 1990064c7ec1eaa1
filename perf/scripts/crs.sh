# Sourced by the perf scripts (needs $REPO): where the shared CRS 4.28 data is.
# shared/crs lives next to (or above) the checkout: walk up until it appears.
find_crs4() {
    local d="$REPO"
    while [ "$d" != "/" ]; do
        if [ -d "$d/shared/crs/v4.28.0/rules" ]; then echo "$d/shared/crs/v4.28.0"; return 0; fi
        d="$(dirname "$d")"
    done
    return 1
}
