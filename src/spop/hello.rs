//! HELLO and DISCONNECT payloads (SPOE.txt §3.2.4–3.2.5, §3.2.8; contract §4.6, §4.9).
//!
//! Owns the typed views of the four KV-list frames, parsed from borrowed payloads, and the
//! capability-list helper. Unknown KV keys are skipped (HAProxy adds keys over versions); a
//! malformed KV-list is a [`DecodeError`]. Whether a missing key is fatal is the session's call.

use super::data::{KvList, TypedData};
use super::error::DecodeError;

/// The SPOP version this crate speaks.
pub const VERSION: &[u8] = b"2.0";

/// HAPROXY-HELLO contents. Missing keys are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HaproxyHello<'a> {
    /// `supported-versions`, e.g. `2.0`.
    pub supported_versions: Option<&'a [u8]>,
    /// `max-frame-size` (any integer type accepted; values above `u32::MAX` saturate).
    pub max_frame_size: Option<u32>,
    /// `capabilities`, e.g. `pipelining,async`.
    pub capabilities: Option<&'a [u8]>,
    /// `engine-id` (absent on health checks).
    pub engine_id: Option<&'a [u8]>,
    /// `healthcheck`: true only on `option spop-check` probes.
    pub healthcheck: bool,
}

impl<'a> HaproxyHello<'a> {
    /// Parses a HAPROXY-HELLO payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut h = HaproxyHello::default();
        for kv in KvList::new(payload) {
            let (k, v) = kv?;
            match k {
                b"supported-versions" => h.supported_versions = v.as_bytes(),
                b"max-frame-size" => h.max_frame_size = int_u32(&v),
                b"capabilities" => h.capabilities = v.as_bytes(),
                b"engine-id" => h.engine_id = v.as_bytes(),
                b"healthcheck" => h.healthcheck = matches!(v, TypedData::Bool(true)),
                _ => {}
            }
        }
        Ok(h)
    }
}

/// AGENT-HELLO contents. Missing keys are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AgentHello<'a> {
    /// `version`.
    pub version: Option<&'a [u8]>,
    /// `max-frame-size`.
    pub max_frame_size: Option<u32>,
    /// `capabilities`.
    pub capabilities: Option<&'a [u8]>,
}

impl<'a> AgentHello<'a> {
    /// Parses an AGENT-HELLO payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut h = AgentHello::default();
        for kv in KvList::new(payload) {
            let (k, v) = kv?;
            match k {
                b"version" => h.version = v.as_bytes(),
                b"max-frame-size" => h.max_frame_size = int_u32(&v),
                b"capabilities" => h.capabilities = v.as_bytes(),
                _ => {}
            }
        }
        Ok(h)
    }
}

/// Either DISCONNECT's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disconnect<'a> {
    /// `status-code` (0 when absent).
    pub status_code: u32,
    /// `message` (empty when absent).
    pub message: &'a [u8],
}

impl<'a> Disconnect<'a> {
    /// Parses a DISCONNECT payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        let mut d = Disconnect::default();
        for kv in KvList::new(payload) {
            let (k, v) = kv?;
            match k {
                b"status-code" => d.status_code = int_u32(&v).unwrap_or(u32::MAX),
                b"message" => d.message = v.as_bytes().unwrap_or_default(),
                _ => {}
            }
        }
        Ok(d)
    }
}

fn int_u32(v: &TypedData<'_>) -> Option<u32> {
    let i = v.as_int()?;
    Some(u32::try_from(i.max(0)).unwrap_or(u32::MAX))
}

/// Whether a comma- or space-separated capability list contains `name`.
pub fn has_capability(list: &[u8], name: &[u8]) -> bool {
    list.split(|&c| c == b',' || c == b' ').any(|c| c == name)
}

/// Whether a `supported-versions` list offers a 2.x version we speak.
pub fn supports_v2(list: &[u8]) -> bool {
    list.split(|&c| c == b',' || c == b' ')
        .any(|v| v == VERSION || v.starts_with(b"2."))
}
