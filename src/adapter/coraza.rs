//! coraza-spoa messages `coraza-req` and `coraza-res` (contract §1.2, §3.2).
//!
//! Owns the by-name reading of the arguments (`app id src-ip src-port dst-ip dst-port method path
//! query version headers body`, any order; `status` for responses). Unknown names are skipped
//! (`exportRuleIDs`, `detect-only`, future keys). A `coraza-req` whose 8 arguments are all
//! unnamed is the HAProxy Ingress default arg list under the coraza name, read positionally.
//! The header argument's type picks its format: STRING is `req.hdrs` text, BINARY is
//! `req.hdrs_bin`.

use std::net::IpAddr;

use crate::inspect::{HeaderBlock, HttpRequest, HttpResponse};
use crate::spop::{Message, TypedData};

use super::classic::{bytes, opt_bytes};
use super::AdapterError;

/// Request message name.
pub const CORAZA_REQ: &[u8] = b"coraza-req";
/// Response message name.
pub const CORAZA_RES: &[u8] = b"coraza-res";

fn headers(v: TypedData<'_>) -> Result<HeaderBlock<'_>, AdapterError> {
    match v {
        TypedData::Null => Ok(HeaderBlock::None),
        TypedData::String(b) => Ok(HeaderBlock::Text(b)),
        TypedData::Binary(b) => Ok(HeaderBlock::Binary(b)),
        _ => Err(AdapterError::BadArguments("headers must be a string")),
    }
}

fn ip(v: TypedData<'_>, why: &'static str) -> Result<Option<IpAddr>, AdapterError> {
    match v {
        TypedData::Null => Ok(None),
        TypedData::Ipv4(a) => Ok(Some(IpAddr::V4(a))),
        TypedData::Ipv6(a) => Ok(Some(IpAddr::V6(a))),
        // `str(1.2.3.4)` and friends.
        TypedData::String(s) => Ok(std::str::from_utf8(s).ok().and_then(|s| s.parse().ok())),
        _ => Err(AdapterError::BadArguments(why)),
    }
}

fn port(v: TypedData<'_>, why: &'static str) -> Result<u16, AdapterError> {
    match v {
        TypedData::Null => Ok(0),
        _ => v
            .as_int()
            .map(|p| u16::try_from(p).unwrap_or(0))
            .ok_or(AdapterError::BadArguments(why)),
    }
}

/// The `app` argument (coraza-spoa's application selector, `app=str(name)` or
/// `app=hdr(host)`); `None` when absent, NULL or not a string.
pub fn app<'a>(msg: &Message<'a>) -> Option<&'a [u8]> {
    msg.args().find_map(|(name, v)| match (name, v) {
        (b"app", TypedData::String(s)) => Some(s),
        _ => None,
    })
}

/// Reads a `coraza-req` message.
pub fn parse_request<'a>(msg: &Message<'a>) -> Result<HttpRequest<'a>, AdapterError> {
    if msg.nb_args == 8 && msg.args().all(|(name, _)| name.is_empty()) {
        return super::classic::parse_request(msg);
    }
    let mut req = HttpRequest {
        unique_id: None,
        method: b"",
        path: b"",
        query: None,
        version: b"",
        headers: HeaderBlock::None,
        body: b"",
        client: None,
        server: None,
    };
    let (mut src, mut src_port, mut dst, mut dst_port) = (None, 0, None, 0);
    for (name, v) in msg.args() {
        match name {
            b"id" => {
                req.unique_id = opt_bytes(v, "id must be a string")?.filter(|id| !id.is_empty())
            }
            b"method" => req.method = bytes(v, "method must be a string")?,
            b"path" => req.path = bytes(v, "path must be a string")?,
            b"query" => req.query = opt_bytes(v, "query must be a string")?,
            b"version" => req.version = bytes(v, "version must be a string")?,
            b"headers" => req.headers = headers(v)?,
            b"body" => req.body = bytes(v, "body must be binary")?,
            b"src-ip" => src = ip(v, "src-ip must be an address")?,
            b"src-port" => src_port = port(v, "src-port must be an integer")?,
            b"dst-ip" => dst = ip(v, "dst-ip must be an address")?,
            b"dst-port" => dst_port = port(v, "dst-port must be an integer")?,
            _ => {}
        }
    }
    req.client = src.map(|a| (a, src_port));
    req.server = dst.map(|a| (a, dst_port));
    Ok(req)
}

/// Reads a `coraza-res` message.
pub fn parse_response<'a>(msg: &Message<'a>) -> Result<HttpResponse<'a>, AdapterError> {
    let mut res = HttpResponse {
        unique_id: None,
        status: 0,
        version: b"",
        headers: HeaderBlock::None,
        body: b"",
    };
    for (name, v) in msg.args() {
        match name {
            b"id" => {
                res.unique_id = opt_bytes(v, "id must be a string")?.filter(|id| !id.is_empty())
            }
            b"version" => res.version = bytes(v, "version must be a string")?,
            b"status" => {
                res.status = match v {
                    TypedData::Null => 0,
                    _ => v
                        .as_int()
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or(AdapterError::BadArguments("status must be an integer"))?,
                }
            }
            b"headers" => res.headers = headers(v)?,
            b"body" => res.body = bytes(v, "body must be binary")?,
            _ => {}
        }
    }
    Ok(res)
}
