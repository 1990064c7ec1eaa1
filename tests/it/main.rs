//! The single integration-test binary: one `mod` per area.

mod crs;
mod engine;
mod matcher;

// libinjectionrs vs the C libinjection in libmodsecurity3 (ignored; run tests/libinjection/run.sh).
#[path = "../libinjection/differential.rs"]
mod libinjection_diff;
