//! The single integration-test binary: one `mod` per area.

mod crs;
mod engine;
mod matcher;
