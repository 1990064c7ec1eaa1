//! SPOP messages ↔ [`crate::inspect`]: the two HAProxy Ingress dialects (contract §1–3).
//!
//! Owns the dispatch by message name (`check-request` → [`classic`], `coraza-req`/`coraza-res`
//! → [`coraza`]), the call into the [`Inspector`] (panics caught: an engine bug costs one error
//! ACK, not the shard) and the ACK encoding ([`reply`]). Every NOTIFY gets exactly one ACK at
//! once, also for an unknown message, a bad argument list or an internal error, which set a
//! distinct value ([`AdapterError::code`]) and are logged and counted: HAProxy is never left
//! waiting for `timeout processing`. No I/O, no clock; the server measures time.

pub mod classic;
pub mod coraza;
pub mod reply;

use std::fmt;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::BytesMut;

use crate::inspect::{Inspector, Verdict};
use crate::spop::{FrameFlags, FrameType, FrameWriter, Message, Notify};

/// Why a message got an error answer instead of a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterError {
    /// Wrong argument count or type; the text names the argument.
    BadArguments(&'static str),
    /// A message name we do not know.
    UnknownMessage,
    /// The inspector panicked, or the answer did not fit in a frame.
    Internal(&'static str),
}

impl AdapterError {
    /// Number of kinds, for per-kind counters.
    pub const KINDS: usize = 3;

    /// Stable index of the kind, for counters: 0 bad arguments, 1 unknown message, 2 internal.
    pub fn index(self) -> usize {
        match self {
            AdapterError::BadArguments(_) => 0,
            AdapterError::UnknownMessage => 1,
            AdapterError::Internal(_) => 2,
        }
    }

    /// The value reported to HAProxy: classic `code` = −code, coraza `error` = code.
    pub fn code(self) -> u8 {
        self.index() as u8 + 1
    }

    /// Short kind name for logs and metrics.
    pub fn kind(self) -> &'static str {
        ["bad_arguments", "unknown_message", "internal"][self.index()]
    }
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdapterError::BadArguments(why) => write!(f, "bad arguments: {why}"),
            AdapterError::UnknownMessage => f.write_str("unknown message"),
            AdapterError::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

/// Where the adapter reports what it saw; the server implements it over its logger and metrics.
pub trait Sink {
    /// An engine log line (already prefixed `[client …] ModSecurity: `).
    fn match_line(&mut self, line: &str);
    /// One error, with the message name (lossy UTF-8) and the NOTIFY ids.
    fn error(&mut self, err: AdapterError, message: &str, stream_id: u64, frame_id: u64);
}

/// What one NOTIFY produced, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Messages answered with a verdict.
    pub inspected: u32,
    /// Verdicts that interrupted.
    pub blocked: u32,
    /// Errors by [`AdapterError::index`].
    pub errors: [u32; AdapterError::KINDS],
}

/// One shard's adapter: the shared inspector and this shard's scratch.
pub struct Adapter<I: Inspector> {
    inspector: Arc<I>,
    scratch: I::Scratch,
}

impl<I: Inspector> fmt::Debug for Adapter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adapter").finish_non_exhaustive()
    }
}

enum Dialect {
    Classic,
    Coraza,
    Unknown,
}

impl<I: Inspector> Adapter<I> {
    /// Makes the adapter for the calling shard (creates its scratch).
    pub fn new(inspector: Arc<I>) -> Self {
        let scratch = inspector.new_scratch();
        Adapter { inspector, scratch }
    }

    /// The shared inspector.
    pub fn inspector(&self) -> &Arc<I> {
        &self.inspector
    }

    /// Appends exactly one ACK (FIN, the NOTIFY's ids) answering every message of `notify`.
    /// If the answer would exceed `max_frame_size`, an error ACK replaces it.
    pub fn answer(
        &mut self,
        notify: &Notify<'_>,
        max_frame_size: u32,
        out: &mut BytesMut,
        sink: &mut impl Sink,
    ) -> Outcome {
        let meta = notify.meta;
        let start = out.len();
        let mut outcome = Outcome::default();
        let mut w = FrameWriter::begin(out, FrameType::Ack, FrameFlags::FIN, meta);
        // Validated by the session: iteration yields no errors.
        for msg in notify.messages.clone().flatten() {
            let dialect = self.answer_message(&msg, w.buf(), &mut outcome);
            if let Err((err, d)) = dialect {
                outcome.errors[err.index()] += 1;
                sink.error(
                    err,
                    &String::from_utf8_lossy(msg.name),
                    meta.stream_id,
                    meta.frame_id,
                );
                match d {
                    Dialect::Classic => reply::classic_error(w.buf(), err),
                    Dialect::Coraza => reply::coraza_error(w.buf(), err),
                    Dialect::Unknown => {
                        reply::classic_error(w.buf(), err);
                        reply::coraza_error(w.buf(), err);
                    }
                }
            } else if let Ok(Some((verdict, client))) = dialect {
                log_matches(&verdict, client, sink);
            }
        }
        if w.finish() > max_frame_size {
            out.truncate(start);
            let err = AdapterError::Internal("ACK larger than max-frame-size");
            outcome.errors[err.index()] += 1;
            sink.error(err, "", meta.stream_id, meta.frame_id);
            let mut w = FrameWriter::begin(out, FrameType::Ack, FrameFlags::FIN, meta);
            reply::classic_error(w.buf(), err);
            reply::coraza_error(w.buf(), err);
            w.finish();
        }
        outcome
    }

    /// Answers one message into the ACK payload. `Ok(Some(verdict, client))` after an
    /// inspection, `Err((error, dialect))` when the caller must write an error answer.
    #[allow(clippy::type_complexity)]
    fn answer_message(
        &mut self,
        msg: &Message<'_>,
        out: &mut BytesMut,
        outcome: &mut Outcome,
    ) -> Result<Option<(Verdict, Option<IpAddr>)>, (AdapterError, Dialect)> {
        match msg.name {
            classic::CHECK_REQUEST => {
                let req = classic::parse_request(msg).map_err(|e| (e, Dialect::Classic))?;
                let v = self
                    .guarded(|i, s| i.inspect_request(s, &req))
                    .map_err(|e| (e, Dialect::Classic))?;
                reply::classic_verdict(out, &v);
                count(outcome, &v);
                Ok(Some((v, req.client.map(|c| c.0))))
            }
            coraza::CORAZA_REQ => {
                let req = coraza::parse_request(msg).map_err(|e| (e, Dialect::Coraza))?;
                let app = coraza::app(msg);
                let v = self
                    .guarded(|i, s| i.inspect_request_in(s, app, &req))
                    .map_err(|e| (e, Dialect::Coraza))?;
                reply::coraza_verdict(out, &v, req.unique_id);
                count(outcome, &v);
                Ok(Some((v, req.client.map(|c| c.0))))
            }
            coraza::CORAZA_RES => {
                let res = coraza::parse_response(msg).map_err(|e| (e, Dialect::Coraza))?;
                let app = coraza::app(msg);
                let v = self
                    .guarded(|i, s| i.inspect_response_in(s, app, &res))
                    .map_err(|e| (e, Dialect::Coraza))?;
                reply::coraza_verdict(out, &v, None);
                count(outcome, &v);
                Ok(Some((v, None)))
            }
            _ => Err((AdapterError::UnknownMessage, Dialect::Unknown)),
        }
    }

    /// Runs the inspector; a panic becomes [`AdapterError::Internal`] and a fresh scratch (the
    /// old one may be half-updated).
    fn guarded(
        &mut self,
        f: impl FnOnce(&I, &mut I::Scratch) -> Verdict,
    ) -> Result<Verdict, AdapterError> {
        let inspector = &*self.inspector;
        let scratch = &mut self.scratch;
        match catch_unwind(AssertUnwindSafe(|| f(inspector, scratch))) {
            Ok(v) => Ok(v),
            Err(_) => {
                self.scratch = self.inspector.new_scratch();
                Err(AdapterError::Internal("inspector panicked"))
            }
        }
    }
}

fn count(outcome: &mut Outcome, v: &Verdict) {
    outcome.inspected += 1;
    outcome.blocked += u32::from(v.is_blocking());
}

/// Writes the engine's log lines the way modsecurity-spoa does: `[client IP] ModSecurity: …`.
fn log_matches(v: &Verdict, client: Option<IpAddr>, sink: &mut impl Sink) {
    for line in &v.log_lines {
        let body = line.strip_prefix("ModSecurity: ").unwrap_or(line);
        let line = match client {
            Some(ip) => format!("[client {ip}] ModSecurity: {body}"),
            None => format!("[client -] ModSecurity: {body}"),
        };
        sink.match_line(&line);
    }
}

#[cfg(test)]
mod tests;
