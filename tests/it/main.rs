//! The single integration-test binary: one `mod` per area.

mod body;
mod crs;
mod engine;
mod matcher;
