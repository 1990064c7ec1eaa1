# Sourced by the perf scripts (needs $REPO): where the CRS 4.28 data is. tests/crs/fetch.sh
# prints shared/crs/v4.28.0 beside (or above) the checkout when it exists, else the copy it
# fetched into target/crs (official archive, pinned SHA-256); it explains on stderr when offline.
find_crs4() {
    "$REPO/tests/crs/fetch.sh" v4.28.0
}
