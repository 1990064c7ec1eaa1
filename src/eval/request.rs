//! Fills a [`Transaction`] from the inspect seam: request line, headers, cookies, query
//! arguments, the request body (through the body processor chosen by Content-Type or `ctl`),
//! and the response. Implements crs-scope.md §11 "ARGS construction", "REQUEST_BODY /
//! REQBODY_ERROR" and "URI variables". Never panics on request bytes.

use std::io::Write as _;

use super::leaf::body;
use super::Transaction;
use crate::body::{limits, PairPool};
use crate::compile::{BodyProcessor, EngineMode, RuleSet};
use crate::inspect::{Disruption, DisruptiveAction, HttpRequest, HttpResponse};

/// One pair pool per collection: a list refilled from its own pool gets each pair back in
/// its old place, so a repeated request shape needs no new buffer.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    pub(crate) headers: PairPool,
    pub(crate) cookies: PairPool,
    pub(crate) args_get: PairPool,
    pub(crate) args_post: PairPool,
    pub(crate) part_headers: PairPool,
    pub(crate) response_headers: PairPool,
    /// The JSON parser's buffers (hold nothing between bodies).
    pub(crate) json: body::json::JsonScratch,
}

/// What the body step found beyond REQBODY_ERROR (`body::limits`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BodyFlags {
    /// INBOUND_DATA_ERROR: the body was over `SecRequestBodyLimit`, incomplete, or over
    /// `SecRequestBodyNoFilesLimit`.
    pub(crate) inbound_data_error: bool,
    /// REQBODY_PROCESSOR_ERROR: a body processor failed (a size limit alone does not set it).
    pub(crate) processor_error: bool,
    /// The body's real size as HAProxy declared it, when it did.
    pub(crate) declared: Option<u64>,
}

/// Nothing yet: kept so callers can name the request parts type in the future.
#[derive(Debug)]
pub struct RequestParts;

impl Transaction {
    /// Loads the request line, headers, cookies and query arguments (what phase 1 sees) into a
    /// new or [`Transaction::reset`] transaction, reusing its buffers.
    pub fn load_request(&mut self, rs: &RuleSet, req: &HttpRequest<'_>) {
        // The values change: cached per-group scan unions are stale (`eval::fast`).
        self.scan.invalidate();
        set(&mut self.method, req.method);
        set(&mut self.uri_raw, req.path);
        if let Some(q) = req.query {
            self.uri_raw.push(b'?');
            self.uri_raw.extend_from_slice(q);
            set(&mut self.query, q);
            body::urlencoded::parse_pooled(
                q,
                rs.settings.argument_separator,
                &mut self.args_get,
                &mut self.pools.args_get,
            );
            // SecArgumentsLimit: arguments past it are dropped silently, as libmodsecurity3 does.
            let room = limits::args_room(rs.settings.arguments_limit, 0);
            truncate_pairs(&mut self.args_get, room, &mut self.pools.args_get);
        }
        self.uri_decoded.clear();
        percent_decode_into(&self.uri_raw, &mut self.uri_decoded);
        // Absolute-form request targets: REQUEST_URI and REQUEST_FILENAME lose scheme and host.
        let mut path = req.path;
        if let Some(p) = path.windows(3).position(|w| w == b"://") {
            // Only a target that starts with a scheme is absolute-form: `/x//y://z/a` is an
            // origin-form path and keeps every segment (found by the differential fuzzer).
            if p < 8 && path.first() != Some(&b'/') {
                let rest = &path[p + 3..];
                path = match rest.iter().position(|&c| c == b'/') {
                    Some(s) => &rest[s..],
                    None => b"/",
                };
            }
        }
        self.filename.clear();
        percent_decode_into(path, &mut self.filename);
        let base_start = self
            .filename
            .iter()
            .rposition(|&c| c == b'/' || c == b'\\')
            .map_or(0, |p| p + 1);
        set(
            &mut self.basename,
            self.filename.get(base_start..).unwrap_or_default(),
        );
        set(&mut self.protocol, b"HTTP/");
        self.protocol.extend_from_slice(req.version);
        set(&mut self.request_line, &self.method);
        self.request_line.push(b' ');
        self.request_line.extend_from_slice(&self.uri_raw);
        self.request_line.push(b' ');
        self.request_line.extend_from_slice(&self.protocol);
        let Self {
            headers,
            cookies,
            hostname,
            pools,
            ..
        } = self;
        pools.headers.recycle(headers);
        req.headers.for_each(|n, v| {
            if n.eq_ignore_ascii_case(b"cookie") {
                body::cookies::parse_pooled(v, cookies, &mut pools.cookies);
            } else if n.eq_ignore_ascii_case(b"host") && hostname.is_empty() {
                set(hostname, v);
            }
            headers.push(pools.headers.pair(n, v));
        });
        if let Some(id) = req.unique_id {
            set(&mut self.unique_id, id);
        }
        if let Some((ip, port)) = req.client {
            self.remote_addr.clear();
            let _ = write!(self.remote_addr, "{ip}");
            self.remote_port = port;
        }
        if let Some((ip, port)) = req.server {
            self.server_addr.clear();
            let _ = write!(self.server_addr, "{ip}");
            self.server_port = port;
        }
        set(&mut self.body, req.body);
        self.body_len = req.body.len();
        self.body_flags.declared = req.body_size;
        let ct = self.header(b"content-type").unwrap_or_default();
        self.processor = if starts_with_ignore_case(ct, b"application/x-www-form-urlencoded") {
            Some(BodyProcessor::UrlEncoded)
        } else if starts_with_ignore_case(ct, b"multipart/form-data") {
            Some(BodyProcessor::Multipart)
        } else {
            None
        };
    }

    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Runs the body processor between phases 1 and 2.
    pub fn process_request_body(&mut self, rs: &RuleSet) {
        // The values change: cached per-group scan unions are stale (`eval::fast`).
        self.scan.invalidate();
        let access = self.body_access.unwrap_or(rs.settings.request_body_access);
        if !access {
            self.body.clear();
            return;
        }
        if let Some(p) = self.forced_processor {
            self.processor = Some(p);
        }
        let lim = rs.settings.body_limits();
        let received = self.body.len();
        let declared = self
            .body_flags
            .declared
            .map_or(received, |d| usize::try_from(d).unwrap_or(usize::MAX))
            .max(received);
        let (intake, inbound_error) = limits::intake(&lim, received, declared, self.engine_on(rs));
        self.body_flags.inbound_data_error |= inbound_error;
        // The size the no-files limit compares: the body as it was before HAProxy cut it, or
        // as the body limit left it.
        let mut whole_len = declared;
        match intake {
            limits::Intake::Whole => {}
            limits::Intake::Reject(why) => {
                self.reject_body(rs, why, received, declared);
                return;
            }
            limits::Intake::Drop => {
                self.body.clear();
                whole_len = 0;
            }
            limits::Intake::Truncate(n) => {
                self.body.truncate(n);
                whole_len = n;
            }
        }
        self.body_len = self.body.len();
        let no_files_over = matches!(
            self.processor,
            Some(BodyProcessor::UrlEncoded | BodyProcessor::Json | BodyProcessor::Xml)
        ) && !self.body.is_empty()
            && limits::no_files_exceeded(&lim, whole_len);
        if no_files_over {
            // Not parsed: a body this large is what the limit is there to refuse.
            self.reqbody_error = true;
            set(&mut self.reqbody_error_msg, limits::NO_FILES_MSG.as_bytes());
            self.body_flags.inbound_data_error = true;
            if self.processor == Some(BodyProcessor::UrlEncoded) {
                self.expose_body = true;
            }
            if self.force_body_var {
                self.expose_body = true;
            }
            return;
        }
        let room = limits::args_room(rs.settings.arguments_limit, self.args_get.len());
        let body = std::mem::take(&mut self.body);
        match self.processor {
            Some(BodyProcessor::UrlEncoded) => {
                body::urlencoded::parse_pooled(
                    &body,
                    rs.settings.argument_separator,
                    &mut self.args_post,
                    &mut self.pools.args_post,
                );
                truncate_pairs(&mut self.args_post, room, &mut self.pools.args_post);
                self.expose_body = true;
            }
            Some(BodyProcessor::Multipart) => {
                let ct = self.header(b"content-type").unwrap_or_default();
                let m = body::multipart::parse(ct, &body);
                self.args_post.extend(m.args.into_iter().take(room));
                for f in m.files {
                    self.files.push((f.field, f.filename, f.size));
                }
                // libmodsecurity3 3.0.9 keeps each header line's CRLF; CRS (922150 → 922110)
                // expects the bare line, as ModSecurity v2 and Coraza give it.
                self.part_headers = m
                    .part_headers
                    .into_iter()
                    .map(|(k, mut v)| {
                        while v.last().is_some_and(|&c| c == b'\r' || c == b'\n') {
                            v.pop();
                        }
                        (k, v)
                    })
                    .collect();
                if limits::no_files_exceeded(&lim, m.no_files_len) {
                    self.reqbody_error = true;
                    set(&mut self.reqbody_error_msg, limits::NO_FILES_MSG.as_bytes());
                    self.body_flags.inbound_data_error = true;
                }
                // A parse error's message wins over the limit's (measured).
                if let Some(e) = m.error {
                    self.reqbody_error = true;
                    self.body_flags.processor_error = true;
                    self.reqbody_error_msg = e.into_bytes();
                }
                self.multipart = Some(m.flags);
            }
            Some(BodyProcessor::Json) if !body.is_empty() => {
                if let Err(e) = body::json::parse_limited(
                    &body,
                    rs.settings.json_depth_limit,
                    room,
                    &mut self.args_post,
                    &mut self.pools.args_post,
                    &mut self.pools.json,
                ) {
                    self.reqbody_error = true;
                    self.body_flags.processor_error = true;
                    self.reqbody_error_msg = e.into_bytes();
                }
            }
            Some(BodyProcessor::Xml) if !body.is_empty() => match body::xml::parse(&body) {
                Ok(x) => {
                    self.xml_text = x.root_text;
                    self.xml_attrs = x.attr_values;
                }
                Err(e) => {
                    self.reqbody_error = true;
                    self.body_flags.processor_error = true;
                    self.reqbody_error_msg = e.into_bytes();
                }
            },
            _ => {}
        }
        if self.force_body_var {
            self.expose_body = true;
        }
        self.body = body;
    }

    /// `SecRequestBodyLimitAction Reject`: interrupts with 403 before phase 2, as
    /// libmodsecurity3 3.0.9 does (no phase-2 rule runs), with one log line saying why.
    fn reject_body(
        &mut self,
        rs: &RuleSet,
        why: limits::RejectReason,
        received: usize,
        declared: usize,
    ) {
        self.body.clear();
        self.body_len = 0;
        self.interrupt(403, 2);
        let limit = rs.settings.request_body_limit;
        let what = match why {
            limits::RejectReason::OverLimit => format!(
                "Request body limit is marked to reject the request: the body has {declared} bytes, SecRequestBodyLimit is {limit}"
            ),
            limits::RejectReason::Incomplete => format!(
                "Request body limit is marked to reject the request: HAProxy sent {received} of the body's {declared} bytes (raise tune.bufsize and --max-frame-size, or SecRequestBodyLimitAction ProcessPartial)"
            ),
        };
        if !self.quiet {
            self.log_lines.push(format!(
                "ModSecurity: Access denied with code 403 (phase 2). {what} [hostname \"{}\"] [uri \"{}\"] [unique_id \"{}\"]",
                String::from_utf8_lossy(&self.hostname),
                String::from_utf8_lossy(&self.uri_raw),
                String::from_utf8_lossy(&self.unique_id),
            ));
        }
    }

    fn engine_on(&self, rs: &RuleSet) -> bool {
        self.engine_mode(rs) == EngineMode::On
    }

    pub(crate) fn engine_mode(&self, rs: &RuleSet) -> EngineMode {
        self.engine_override().unwrap_or(rs.settings.engine)
    }

    fn interrupt(&mut self, status: u16, phase: u8) {
        self.set_disruption(Disruption {
            action: DisruptiveAction::Deny,
            status,
            rule_id: 0,
            redirect_url: String::new(),
            phase,
        });
    }

    /// Loads the response (what phases 3 and 4 see).
    pub fn load_response(&mut self, rs: &RuleSet, res: &HttpResponse<'_>) {
        // The values change: cached per-group scan unions are stale (`eval::fast`).
        self.scan.invalidate();
        self.response_status = Some(res.status);
        set(&mut self.response_protocol, b"HTTP/");
        self.response_protocol.extend_from_slice(res.version);
        let Self {
            response_headers,
            pools,
            ..
        } = self;
        pools.response_headers.recycle(response_headers);
        res.headers
            .for_each(|n, v| response_headers.push(pools.response_headers.pair(n, v)));
        let access = self
            .response_body_access_override()
            .unwrap_or(rs.settings.response_body_access);
        let ct = self
            .response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
            .map_or(&[][..], |(_, v)| v.as_slice());
        let mime = ct
            .split(|&c| c == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        // Configured types are compared with the lower-cased MIME type: byte-equal after
        // lower-casing both sides only when the configured one is itself lower-case.
        let mime_ok = rs.settings.response_mime_types.iter().any(|m| {
            m.as_bytes().eq_ignore_ascii_case(mime) && !m.bytes().any(|c| c.is_ascii_uppercase())
        });
        if access && mime_ok {
            let n = res.body.len().min(rs.settings.response_body_limit);
            set(
                &mut self.response_body,
                res.body.get(..n).unwrap_or_default(),
            );
            self.expose_response_body = true;
        }
    }
}

/// Keeps the first `room` pairs of `list`, recycling the rest into `pool`.
fn truncate_pairs(list: &mut Vec<crate::body::Pair>, room: usize, pool: &mut PairPool) {
    if list.len() > room {
        let mut rest = list.split_off(room);
        pool.recycle(&mut rest);
    }
}

/// Replaces the contents of `buf` with `v`, keeping its capacity.
fn set(buf: &mut Vec<u8>, v: &[u8]) {
    buf.clear();
    buf.extend_from_slice(v);
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Percent-decoding as REQUEST_URI/REQUEST_FILENAME use it (`+` stays, bad escapes kept),
/// appended to `out`.
pub(crate) fn percent_decode_into(s: &[u8], out: &mut Vec<u8>) {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    out.reserve(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if let (Some(a), Some(b)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                out.push((a << 4) | b);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
}
