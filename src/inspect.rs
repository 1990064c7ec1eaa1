//! The seam between the SPOP agent and the rule engine.
//!
//! Owns the engine-neutral request/response model ([`HttpRequest`], [`HttpResponse`],
//! [`HeaderBlock`]), the answer an engine gives ([`Verdict`]) and the [`Inspector`] trait the
//! server is generic over. It does no I/O and knows nothing of SPOP frames or of SecLang:
//! adapters build an [`HttpRequest`] from borrowed frame bytes, an engine turns it into a
//! [`Verdict`], adapters turn the verdict into SET-VAR actions.
//!
//! Everything here borrows: a typical GET crosses this seam without a heap allocation.

use std::net::IpAddr;

use crate::spop::varint::decode as decode_varint;

/// Request headers as HAProxy sends them, decoded lazily by whoever needs them.
#[derive(Debug, Clone, Copy)]
pub enum HeaderBlock<'a> {
    /// `req.hdrs_bin`: `(varint len, name, varint len, value)*` ended by two empty strings.
    Binary(&'a [u8]),
    /// `req.hdrs`: `name: value\r\n` lines ended by an empty line.
    Text(&'a [u8]),
    /// No header argument was sent.
    None,
}

impl<'a> HeaderBlock<'a> {
    /// Calls `f(name, value)` for each header in wire order. Stops quietly at the first
    /// malformed entry: a truncated block yields the headers before the damage. Returns
    /// `false` when the block was malformed.
    pub fn for_each(&self, mut f: impl FnMut(&'a [u8], &'a [u8])) -> bool {
        match *self {
            HeaderBlock::None => true,
            HeaderBlock::Binary(mut b) => loop {
                let Some((name, rest)) = take_varint_str(b) else {
                    return false;
                };
                let Some((value, rest)) = take_varint_str(rest) else {
                    return false;
                };
                if name.is_empty() && value.is_empty() {
                    return true;
                }
                f(name, value);
                b = rest;
                if b.is_empty() {
                    // HAProxy always terminates the block; tolerate a missing terminator.
                    return true;
                }
            },
            HeaderBlock::Text(t) => {
                for line in t.split(|&c| c == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        continue;
                    }
                    let Some(colon) = line.iter().position(|&c| c == b':') else {
                        continue;
                    };
                    let name = &line[..colon];
                    let value = trim_ows(&line[colon + 1..]);
                    f(name, value);
                }
                true
            }
        }
    }
}

fn take_varint_str(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, n) = decode_varint(b)?;
    let len = usize::try_from(len).ok()?;
    let rest = &b[n..];
    if rest.len() < len {
        return None;
    }
    Some((&rest[..len], &rest[len..]))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// One HTTP request as HAProxy describes it over SPOP. All fields borrow the frame.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// `unique-id` (classic) or `id` (coraza); `None` when HAProxy sent NULL.
    pub unique_id: Option<&'a [u8]>,
    /// Request method, e.g. `GET`.
    pub method: &'a [u8],
    /// Path as on the wire, still percent-encoded, without the query.
    pub path: &'a [u8],
    /// Query string after `?`, still percent-encoded; `None` when there was no `?`.
    pub query: Option<&'a [u8]>,
    /// `req.ver` as HAProxy sends it: `1.0`, `1.1`, `2.0` (no `HTTP/` prefix).
    pub version: &'a [u8],
    /// Request headers.
    pub headers: HeaderBlock<'a>,
    /// Body bytes HAProxy had buffered (possibly a prefix of the real body).
    pub body: &'a [u8],
    /// Client address and port when the message carried them.
    pub client: Option<(IpAddr, u16)>,
    /// Server (HAProxy frontend) address and port when the message carried them.
    pub server: Option<(IpAddr, u16)>,
}

/// One HTTP response (coraza `coraza-res`). All fields borrow the frame.
#[derive(Debug, Clone, Copy)]
pub struct HttpResponse<'a> {
    /// The transaction id HAProxy echoes from the request verdict (`id` argument).
    pub unique_id: Option<&'a [u8]>,
    /// HTTP status code.
    pub status: u16,
    /// `res.ver`, e.g. `1.1`.
    pub version: &'a [u8],
    /// Response headers.
    pub headers: HeaderBlock<'a>,
    /// Body bytes HAProxy had buffered.
    pub body: &'a [u8],
}

/// What a disruptive rule asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisruptiveAction {
    /// Refuse with an HTTP status.
    Deny,
    /// Close the connection without an answer.
    Drop,
    /// Answer with a redirect to [`Disruption::redirect_url`].
    Redirect,
}

impl DisruptiveAction {
    /// The name coraza-spoa users match on in `txn.coraza.action`.
    pub fn as_str(self) -> &'static str {
        match self {
            DisruptiveAction::Deny => "deny",
            DisruptiveAction::Drop => "drop",
            DisruptiveAction::Redirect => "redirect",
        }
    }
}

/// An interruption: the request (or response) must not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disruption {
    /// What to do.
    pub action: DisruptiveAction,
    /// HTTP status to answer with (403 unless the rule said otherwise).
    pub status: u16,
    /// Id of the rule that interrupted.
    pub rule_id: u32,
    /// Target of a redirect, empty otherwise.
    pub redirect_url: String,
    /// Phase (1–4) in which the interruption happened.
    pub phase: u8,
}

/// An engine's answer for one request or response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// `Some` when the transaction must be interrupted (never in DetectionOnly).
    pub disruption: Option<Disruption>,
    /// Sorted ids of the rules that wrote a log line (as `spoa-waf check` reports them).
    pub logged_rule_ids: Vec<u32>,
    /// ModSecurity-style log lines, one per logging rule match, in evaluation order.
    pub log_lines: Vec<String>,
    /// Inbound (or outbound, for responses) anomaly score at the end of evaluation.
    pub anomaly_score: i64,
}

impl Verdict {
    /// A verdict that lets the request pass and logged nothing.
    pub fn pass() -> Self {
        Self::default()
    }

    /// Whether HAProxy should refuse the request.
    pub fn is_blocking(&self) -> bool {
        self.disruption.is_some()
    }
}

/// A request inspector: the rule engine, or a test double.
///
/// The inspector itself is immutable and shared by every shard (`Send + Sync`); all mutable
/// state lives in a per-shard [`Inspector::Scratch`], so inspection needs no lock.
pub trait Inspector: Send + Sync + 'static {
    /// Per-shard mutable state (Hyperscan scratch, caches, reusable buffers).
    type Scratch;

    /// Makes the scratch for one shard. Called once per shard, on that shard's thread.
    fn new_scratch(&self) -> Self::Scratch;

    /// Runs the request phases (1 and 2) on one request.
    fn inspect_request(&self, scratch: &mut Self::Scratch, req: &HttpRequest<'_>) -> Verdict;

    /// Runs the response phases (3 and 4) on one response.
    fn inspect_response(&self, scratch: &mut Self::Scratch, res: &HttpResponse<'_>) -> Verdict;

    /// [`Inspector::inspect_request`] for the application HAProxy named (coraza `app`); an
    /// inspector without applications ignores the name.
    fn inspect_request_in(
        &self,
        scratch: &mut Self::Scratch,
        app: Option<&[u8]>,
        req: &HttpRequest<'_>,
    ) -> Verdict {
        let _ = app;
        self.inspect_request(scratch, req)
    }

    /// [`Inspector::inspect_response`] for the application HAProxy named.
    fn inspect_response_in(
        &self,
        scratch: &mut Self::Scratch,
        app: Option<&[u8]>,
        res: &HttpResponse<'_>,
    ) -> Verdict {
        let _ = app;
        self.inspect_response(scratch, res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_headers_decode_in_order() {
        let block = b"\x04host\x0bexample.com\x0auser-agent\x04curl\x00\x00";
        let mut seen = Vec::new();
        assert!(HeaderBlock::Binary(block).for_each(|n, v| seen.push((n, v))));
        assert_eq!(
            seen,
            vec![
                (&b"host"[..], &b"example.com"[..]),
                (&b"user-agent"[..], &b"curl"[..])
            ]
        );
        // Truncated: the headers before the damage survive.
        let mut seen = Vec::new();
        assert!(!HeaderBlock::Binary(&block[..20]).for_each(|n, v| seen.push((n, v))));
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn text_headers_trim_and_skip_blank_lines() {
        let block = b"Host: a.b\r\nX-Empty:\r\nAccept:  */* \r\n\r\n";
        let mut seen = Vec::new();
        HeaderBlock::Text(block).for_each(|n, v| seen.push((n.to_vec(), v.to_vec())));
        assert_eq!(
            seen,
            vec![
                (b"Host".to_vec(), b"a.b".to_vec()),
                (b"X-Empty".to_vec(), b"".to_vec()),
                (b"Accept".to_vec(), b"*/*".to_vec()),
            ]
        );
    }
}
