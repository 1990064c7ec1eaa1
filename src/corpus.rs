//! The request corpus format (`shared/docs/corpus-format.md`): one JSON request per line.
//!
//! Owns reading corpus lines into owned [`CorpusRequest`]s and presenting them as the borrowed
//! [`HttpRequest`] the engine takes, or as the SPOP argument values HAProxy would send
//! (`req.hdrs_bin`, `req.hdrs`). Used by `spoa-waf check` and `bench/spop-flood`; does no I/O
//! beyond what the caller hands it.

use std::net::IpAddr;

use serde::Deserialize;

use crate::inspect::{HeaderBlock, HttpRequest};
use crate::spop::varint;

#[derive(Debug, Deserialize)]
struct Line {
    name: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_b64: Option<String>,
    #[serde(default)]
    src: Option<String>,
}

/// One request of a corpus, owned.
#[derive(Debug, Clone)]
pub struct CorpusRequest {
    /// Unique name, echoed in results.
    pub name: String,
    /// Method, default `GET`.
    pub method: String,
    /// Path part of the URI (before `?`), still percent-encoded.
    pub path: String,
    /// Query after `?`, `None` when the URI had no `?`.
    pub query: Option<String>,
    /// HTTP version as HAProxy's `req.ver` gives it (`1.1`, `2.0`).
    pub version: String,
    /// Headers in wire order; names as written (HAProxy lower-cases them on the wire).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Client address.
    pub src: IpAddr,
    /// `req.hdrs_bin` encoding of [`Self::headers`], names lower-cased as HAProxy's HTX does.
    pub hdrs_bin: Vec<u8>,
}

/// A corpus line that could not be read, with its 1-based line number.
#[derive(Debug)]
pub struct CorpusError {
    /// 1-based line number in the corpus file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CorpusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corpus line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CorpusError {}

impl CorpusRequest {
    /// Parses one corpus line. `line_no` is only used in the error.
    pub fn parse(text: &str, line_no: usize) -> Result<Self, CorpusError> {
        let err = |message: String| CorpusError {
            line: line_no,
            message,
        };
        let l: Line = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        let uri = l.uri.unwrap_or_else(|| "/".to_string());
        // Fragments never reach a server; cut them as a client would.
        let uri = uri.split('#').next().unwrap_or("").to_string();
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (uri, None),
        };
        let version = match l.version.as_deref() {
            None => "1.1".to_string(),
            Some("2") => "2.0".to_string(),
            Some(v) => v.trim_start_matches("HTTP/").to_string(),
        };
        let body = match (l.body_b64, l.body) {
            (Some(b64), _) => {
                base64_decode(&b64).ok_or_else(|| err("body_b64 is not valid base64".into()))?
            }
            (None, Some(b)) => b.into_bytes(),
            (None, None) => Vec::new(),
        };
        let src = match l.src {
            Some(s) => s
                .parse()
                .map_err(|_| err(format!("src {s:?} is not an IP address")))?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let hdrs_bin = encode_hdrs_bin(&l.headers);
        Ok(CorpusRequest {
            name: l.name,
            method: l.method.unwrap_or_else(|| "GET".to_string()),
            path,
            query,
            version,
            headers: l.headers,
            body,
            src,
            hdrs_bin,
        })
    }

    /// Reads a whole corpus (blank lines skipped).
    pub fn parse_all(text: &str) -> Result<Vec<Self>, CorpusError> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| Self::parse(l, i + 1))
            .collect()
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `req.hdrs` text form: `name: value\r\n` lines and a closing empty line.
    pub fn hdrs_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The borrowed request the engine takes, as the classic `check-request` message carries it.
    pub fn as_request(&self) -> HttpRequest<'_> {
        HttpRequest {
            unique_id: Some(self.name.as_bytes()),
            method: self.method.as_bytes(),
            path: self.path.as_bytes(),
            query: self.query.as_deref().map(str::as_bytes),
            version: self.version.as_bytes(),
            headers: HeaderBlock::Binary(&self.hdrs_bin),
            body: &self.body,
            body_size: None,
            client: Some((self.src, 0)),
            server: None,
        }
    }
}

/// Encodes headers the way HAProxy's `req.hdrs_bin` does (names lower-cased, `00 00` end).
pub fn encode_hdrs_bin(headers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in headers {
        varint::encode(n.len() as u64, &mut out);
        out.extend(n.bytes().map(|b| b.to_ascii_lowercase()));
        varint::encode(v.len() as u64, &mut out);
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// Standard base64 (RFC 4648, padding optional, whitespace ignored).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let line = r#"{"name":"lfi-1","method":"GET","uri":"/?p=/etc/passwd","version":"1.1","headers":[["Host","echo.domain"],["User-Agent","curl/8.0"],["Accept","*/*"]]}"#;
        let r = CorpusRequest::parse(line, 1).unwrap();
        assert_eq!(r.path, "/");
        assert_eq!(r.query.as_deref(), Some("p=/etc/passwd"));
        assert_eq!(r.header("host"), Some("echo.domain"));
        let req = r.as_request();
        let mut names = Vec::new();
        assert!(req.headers.for_each(|n, _| names.push(n.to_vec())));
        assert_eq!(
            names,
            vec![b"host".to_vec(), b"user-agent".to_vec(), b"accept".to_vec()]
        );
    }

    #[test]
    fn defaults_and_b64_body() {
        let r =
            CorpusRequest::parse(r#"{"name":"x","body_b64":"aGk/Pz8=","version":"2"}"#, 3).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/");
        assert_eq!(r.query, None);
        assert_eq!(r.version, "2.0");
        assert_eq!(r.body, b"hi???");
        let e = CorpusRequest::parse(r#"{"name":"x","src":"nope"}"#, 7).unwrap_err();
        assert_eq!(e.line, 7);
    }
}
