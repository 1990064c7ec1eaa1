//! HAProxy Ingress classic (modsecurity-spoa) message `check-request` (contract §1.2, §2.2).
//!
//! Owns the positional reading of the 8 arguments `unique-id method path query req.ver
//! req.hdrs_bin req.body_size req.body`; argument names are ignored, as spoa-modsecurity does.
//! NULL is accepted for every argument (classic mode has no `unique-id-format`), integer types
//! 2–5 are interchangeable. It refuses any other argument count or type with a typed error
//! instead of guessing.

use crate::inspect::{HeaderBlock, HttpRequest};
use crate::spop::{Message, TypedData};

use super::AdapterError;

/// The message name.
pub const CHECK_REQUEST: &[u8] = b"check-request";

/// Reads the 8 positional arguments of `msg` into a request.
pub fn parse_request<'a>(msg: &Message<'a>) -> Result<HttpRequest<'a>, AdapterError> {
    if msg.nb_args != 8 {
        return Err(AdapterError::BadArguments(
            "expected 8 positional arguments",
        ));
    }
    let mut v = [TypedData::Null; 8];
    for (slot, (_, value)) in v.iter_mut().zip(msg.args()) {
        *slot = value;
    }
    let [unique_id, method, path, query, version, headers, body_size, body] = v;
    Ok(HttpRequest {
        unique_id: opt_bytes(unique_id, "unique-id must be a string")?,
        method: bytes(method, "method must be a string")?,
        path: bytes(path, "path must be a string")?,
        query: opt_bytes(query, "query must be a string")?,
        version: bytes(version, "req.ver must be a string")?,
        headers: match headers {
            TypedData::Null => HeaderBlock::None,
            TypedData::Binary(b) => HeaderBlock::Binary(b),
            // `req.hdrs` (text) where `req.hdrs_bin` was expected: decode it as text.
            TypedData::String(b) => HeaderBlock::Text(b),
            _ => return Err(AdapterError::BadArguments("req.hdrs_bin must be binary")),
        },
        body: {
            if !(body_size.is_null() || body_size.as_int().is_some()) {
                return Err(AdapterError::BadArguments(
                    "req.body_size must be an integer",
                ));
            }
            bytes(body, "req.body must be binary")?
        },
        body_size: body_size.as_int().and_then(|n| u64::try_from(n).ok()),
        client: None,
        server: None,
    })
}

/// STRING/BINARY → bytes, NULL → empty.
pub(super) fn bytes<'a>(v: TypedData<'a>, why: &'static str) -> Result<&'a [u8], AdapterError> {
    Ok(opt_bytes(v, why)?.unwrap_or_default())
}

/// STRING/BINARY → `Some`, NULL → `None`.
pub(super) fn opt_bytes<'a>(
    v: TypedData<'a>,
    why: &'static str,
) -> Result<Option<&'a [u8]>, AdapterError> {
    match v {
        TypedData::Null => Ok(None),
        TypedData::String(b) | TypedData::Binary(b) => Ok(Some(b)),
        _ => Err(AdapterError::BadArguments(why)),
    }
}
