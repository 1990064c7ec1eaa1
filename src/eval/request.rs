//! Fills a [`Transaction`] from the inspect seam: request line, headers, cookies, query
//! arguments, the request body (through the body processor chosen by Content-Type or `ctl`),
//! and the response. Implements crs-scope.md §11 "ARGS construction", "REQUEST_BODY /
//! REQBODY_ERROR" and "URI variables". Never panics on request bytes.

use super::leaf::body;
use super::{Pair, Transaction};
use crate::compile::{BodyProcessor, EngineMode, RuleSet};
use crate::inspect::{Disruption, DisruptiveAction, HttpRequest, HttpResponse};

/// Nothing yet: kept so callers can name the request parts type in the future.
#[derive(Debug)]
pub struct RequestParts;

impl Transaction {
    /// Loads the request line, headers, cookies and query arguments (what phase 1 sees).
    pub fn load_request(&mut self, rs: &RuleSet, req: &HttpRequest<'_>) {
        // The values change: cached per-group scan unions are stale (`eval::fast`).
        self.scan.invalidate();
        self.method = req.method.to_vec();
        self.uri_raw = req.path.to_vec();
        if let Some(q) = req.query {
            self.uri_raw.push(b'?');
            self.uri_raw.extend_from_slice(q);
            self.query = q.to_vec();
            body::urlencoded::parse(q, rs.settings.argument_separator, &mut self.args_get);
        }
        self.uri_decoded = percent_decode(&self.uri_raw);
        // Absolute-form request targets: REQUEST_URI and REQUEST_FILENAME lose scheme and host.
        let mut path = req.path;
        if let Some(p) = path.windows(3).position(|w| w == b"://") {
            if p < 8 {
                let rest = &path[p + 3..];
                path = match rest.iter().position(|&c| c == b'/') {
                    Some(s) => &rest[s..],
                    None => b"/",
                };
            }
        }
        self.filename = percent_decode(path);
        let base_start = self
            .filename
            .iter()
            .rposition(|&c| c == b'/' || c == b'\\')
            .map_or(0, |p| p + 1);
        self.basename = self.filename[base_start..].to_vec();
        self.protocol = b"HTTP/".to_vec();
        self.protocol.extend_from_slice(req.version);
        let mut line = self.method.clone();
        line.push(b' ');
        line.extend_from_slice(&self.uri_raw);
        line.push(b' ');
        line.extend_from_slice(&self.protocol);
        self.request_line = line;
        let mut headers: Vec<Pair> = Vec::new();
        req.headers
            .for_each(|n, v| headers.push((n.to_vec(), v.to_vec())));
        for (n, v) in &headers {
            if n.eq_ignore_ascii_case(b"cookie") {
                body::cookies::parse(v, &mut self.cookies);
            } else if n.eq_ignore_ascii_case(b"host") && self.hostname.is_empty() {
                self.hostname = v.clone();
            }
        }
        self.headers = headers;
        if let Some(id) = req.unique_id {
            self.unique_id = id.to_vec();
        }
        if let Some((ip, port)) = req.client {
            self.remote_addr = ip.to_string().into_bytes();
            self.remote_port = port;
        }
        if let Some((ip, port)) = req.server {
            self.server_addr = ip.to_string().into_bytes();
            self.server_port = port;
        }
        self.body = req.body.to_vec();
        self.body_len = req.body.len();
        let ct = self.header(b"content-type").unwrap_or_default();
        let ct = ct.to_ascii_lowercase();
        self.processor = if ct.starts_with(b"application/x-www-form-urlencoded") {
            Some(BodyProcessor::UrlEncoded)
        } else if ct.starts_with(b"multipart/form-data") {
            Some(BodyProcessor::Multipart)
        } else {
            None
        };
    }

    fn header(&self, name: &[u8]) -> Option<Vec<u8>> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
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
        let limit = rs.settings.request_body_limit;
        if self.body.len() > limit {
            if rs.settings.request_body_limit_reject {
                if self.engine_on(rs) {
                    self.interrupt(413, 2);
                    return;
                }
            } else {
                self.body.truncate(limit);
            }
        }
        let body = std::mem::take(&mut self.body);
        match self.processor {
            Some(BodyProcessor::UrlEncoded) => {
                body::urlencoded::parse(&body, rs.settings.argument_separator, &mut self.args_post);
                self.expose_body = true;
            }
            Some(BodyProcessor::Multipart) => {
                let ct = self.header(b"content-type").unwrap_or_default();
                let m = body::multipart::parse(&ct, &body);
                self.args_post.extend(m.args);
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
                if let Some(e) = m.error {
                    self.reqbody_error = true;
                    self.reqbody_error_msg = e.into_bytes();
                }
                self.multipart = Some(m.flags);
            }
            Some(BodyProcessor::Json) if !body.is_empty() => {
                if let Err(e) =
                    body::json::parse(&body, rs.settings.json_depth_limit, &mut self.args_post)
                {
                    self.reqbody_error = true;
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
        self.response_protocol = b"HTTP/".to_vec();
        self.response_protocol.extend_from_slice(res.version);
        let mut headers: Vec<Pair> = Vec::new();
        res.headers
            .for_each(|n, v| headers.push((n.to_vec(), v.to_vec())));
        self.response_headers = headers;
        let access = self
            .response_body_access_override()
            .unwrap_or(rs.settings.response_body_access);
        let ct = self
            .response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mime = ct
            .split(|&c| c == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .to_ascii_lowercase();
        let mime_ok = rs
            .settings
            .response_mime_types
            .iter()
            .any(|m| m.as_bytes() == mime.as_slice());
        if access && mime_ok {
            let mut b = res.body.to_vec();
            b.truncate(rs.settings.response_body_limit);
            self.response_body = b;
            self.expose_response_body = true;
        }
    }
}

/// Percent-decoding as REQUEST_URI/REQUEST_FILENAME use it (`+` stays, bad escapes kept).
pub(crate) fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
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
    out
}
