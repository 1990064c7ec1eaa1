//! CRS regression suites (placeholder).
