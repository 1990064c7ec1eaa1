//! Request-body and argument limits as libmodsecurity3 3.0.9 applies them: what happens to a
//! body over `SecRequestBodyLimit` (`SecRequestBodyLimitAction Reject|ProcessPartial`), when
//! `SecRequestBodyNoFilesLimit` sets REQBODY_ERROR, and how `SecArgumentsLimit` caps ARGS.
//!
//! Pure decisions on sizes; the engine's body step (`eval::request`) applies them. One thing
//! libmodsecurity3 never meets: HAProxy may send only a prefix of the body (its buffer, or the
//! frame size, is smaller than the body) while `req.body_size` (or Content-Length) gives the
//! real size. The declared size is what counts against the limits, and a body HAProxy cut
//! short is, under `Reject`, refused like a body over the limit: a body larger than HAProxy's
//! buffer does not pass uninspected unless the configuration says `ProcessPartial`.
//!
//! Every figure here was measured with the reference engine (`modsec-ref`, the differential
//! test `tests/it/limits.rs`):
//! - over `SecRequestBodyLimit`: INBOUND_DATA_ERROR = 1; `Reject` with the engine On
//!   interrupts with 403 before phase 2 (no phase-2 rule runs); `Reject` in DetectionOnly keeps
//!   *none* of the body (REQUEST_BODY_LENGTH 0); `ProcessPartial` keeps the first
//!   `SecRequestBodyLimit` bytes and processes them.
//! - `SecRequestBodyNoFilesLimit` (only when set): a URLENCODED, JSON or XML body longer than it
//!   is not parsed; REQBODY_ERROR = 1, INBOUND_DATA_ERROR = 1, REQBODY_PROCESSOR_ERROR stays 0,
//!   REQBODY_ERROR_MSG [`NO_FILES_MSG`]. A MULTIPART body is parsed in full, and the same flags
//!   are set when its part headers (with their line ends) plus the data of its non-file parts
//!   exceed the limit. Comparisons are "greater than".
//! - `SecArgumentsLimit` (only when set) counts ARGS, query first: further query, URLENCODED and
//!   MULTIPART arguments are dropped silently; the JSON processor stops with an error
//!   ([`JSON_ARGS_LIMIT_MSG`], REQBODY_ERROR and REQBODY_PROCESSOR_ERROR = 1).

/// REQBODY_ERROR_MSG when `SecRequestBodyNoFilesLimit` is exceeded (libmodsecurity3's text).
pub const NO_FILES_MSG: &str = "Request body excluding files is bigger than the maximum expected.";

/// REQBODY_ERROR_MSG when a JSON body has more arguments than `SecArgumentsLimit` allows.
pub const JSON_ARGS_LIMIT_MSG: &str =
    "JSON parsing error: parse error: client cancelled parse via callback return value\n";

/// The limit directives, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `SecRequestBodyLimit` (0: none).
    pub body: usize,
    /// `SecRequestBodyNoFilesLimit`, when set.
    pub no_files: Option<usize>,
    /// `SecRequestBodyLimitAction Reject` (else ProcessPartial).
    pub reject: bool,
}

/// What to do with a request body before any processor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Process the bytes received.
    Whole,
    /// Interrupt the transaction (403) before phase 2.
    Reject(RejectReason),
    /// Keep none of the body (Reject while the engine only detects).
    Drop,
    /// Keep at most this many bytes.
    Truncate(usize),
}

/// Why a body was refused, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The body is larger than `SecRequestBodyLimit`.
    OverLimit,
    /// HAProxy sent fewer bytes than the body has.
    Incomplete,
}

/// The decision for a body of which `received` bytes arrived and `declared` bytes exist
/// (`req.body_size` or Content-Length; never less than `received`), and whether
/// INBOUND_DATA_ERROR is set. `enforcing`: the rule engine is On (not DetectionOnly).
pub fn intake(l: &Limits, received: usize, declared: usize, enforcing: bool) -> (Intake, bool) {
    let declared = declared.max(received);
    if l.body > 0 && declared > l.body {
        let what = if !l.reject {
            Intake::Truncate(l.body)
        } else if enforcing {
            Intake::Reject(RejectReason::OverLimit)
        } else {
            Intake::Drop
        };
        return (what, true);
    }
    if received < declared {
        // Not libmodsecurity3's case (it always gets the whole body): the rest of the body is
        // not inspected, which `ProcessPartial` accepts and `Reject` refuses.
        let what = if l.reject && enforcing {
            Intake::Reject(RejectReason::Incomplete)
        } else {
            Intake::Whole
        };
        return (what, true);
    }
    (Intake::Whole, false)
}

/// Whether a URLENCODED, JSON or XML body of `len` bytes (the size the body had before HAProxy
/// or the body limit cut it) exceeds `SecRequestBodyNoFilesLimit`.
pub fn no_files_exceeded(l: &Limits, len: usize) -> bool {
    l.no_files.is_some_and(|n| len > n)
}

/// How many more arguments may be added to a request holding `have`, under `limit`.
pub fn args_room(limit: Option<usize>, have: usize) -> usize {
    limit.map_or(usize::MAX, |n| n.saturating_sub(have))
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        body: 100,
        no_files: Some(50),
        reject: true,
    };

    #[test]
    fn over_the_body_limit_follows_the_action_and_engine_mode() {
        assert_eq!(intake(&L, 100, 100, true), (Intake::Whole, false));
        assert_eq!(
            intake(&L, 101, 101, true),
            (Intake::Reject(RejectReason::OverLimit), true)
        );
        assert_eq!(intake(&L, 101, 0, false), (Intake::Drop, true));
        let pp = Limits { reject: false, ..L };
        assert_eq!(intake(&pp, 120, 120, true), (Intake::Truncate(100), true));
        let none = Limits { body: 0, ..L };
        assert_eq!(
            intake(&none, 1 << 30, 1 << 30, true),
            (Intake::Whole, false)
        );
    }

    #[test]
    fn a_body_haproxy_cut_short_counts_at_its_declared_size() {
        // Declared over the limit, 16 KB received: the limit applies to the declared size.
        assert_eq!(
            intake(&L, 16, 1000, true),
            (Intake::Reject(RejectReason::OverLimit), true)
        );
        // Under the limit but incomplete: Reject refuses, ProcessPartial and DetectionOnly
        // inspect what arrived.
        assert_eq!(
            intake(&L, 16, 90, true),
            (Intake::Reject(RejectReason::Incomplete), true)
        );
        assert_eq!(intake(&L, 16, 90, false), (Intake::Whole, true));
        let pp = Limits { reject: false, ..L };
        assert_eq!(intake(&pp, 16, 90, true), (Intake::Whole, true));
    }

    #[test]
    fn no_files_and_argument_limits_apply_only_when_set() {
        assert!(!no_files_exceeded(&L, 50));
        assert!(no_files_exceeded(&L, 51));
        let unset = Limits {
            no_files: None,
            ..L
        };
        assert!(!no_files_exceeded(&unset, usize::MAX));
        assert_eq!(args_room(Some(5), 3), 2);
        assert_eq!(args_room(Some(5), 7), 0);
        assert_eq!(args_room(None, 7), usize::MAX);
    }
}
