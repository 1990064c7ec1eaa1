//! A small stderr logger: `<UTC timestamp> <thread tag> <LEVEL> <text>`, one `write` per line.
//!
//! Owns the line format and the per-thread tag (`main`, `stats`, `shard-N`). Refuses levels,
//! filters and sinks beyond stderr: systemd/journald and `kubectl logs` collect stderr, and
//! modsecurity-spoa users grep it. Lines are assembled first and written with one call so
//! lines from different shards never interleave.

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Start-up, shutdown, statistics.
    Info,
    /// Rule matches (engine log lines) and per-request problems.
    Warn,
    /// Failures needing an operator.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

thread_local! {
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Tags the calling thread's lines with `shard-N`.
pub fn set_shard(n: usize) {
    SHARD.with(|s| s.set(Some(n)));
}

/// Writes one line.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    let tag = match SHARD.with(Cell::get) {
        Some(n) => format!("shard-{n}"),
        None => std::thread::current().name().unwrap_or("main").to_string(),
    };
    let line = format!(
        "{} {tag} {} {args}\n",
        timestamp(SystemTime::now()),
        level.as_str()
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// `log!(Level::Info, "...", args)`.
macro_rules! log {
    ($lvl:expr, $($arg:tt)*) => { $crate::server::log::write($lvl, format_args!($($arg)*)) };
}
pub(crate) use log;

/// RFC 3339 UTC with microseconds, without a date crate.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T12:34:56.000789Z
        let t = UNIX_EPOCH + Duration::new(1_709_210_096, 789_000);
        assert_eq!(timestamp(t), "2024-02-29T12:34:56.000789Z");
    }
}
