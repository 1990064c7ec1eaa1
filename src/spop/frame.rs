//! Frame header and frame splitting (SPOE.txt §3.2.1–3.2.3; contract §4.1, §4.5).
//!
//! Owns [`FrameType`], [`FrameFlags`], the borrowed [`Frame`] and [`decode_frame`], which cuts
//! one frame off the front of a connection buffer. It refuses to look inside payloads: that is
//! the job of `data`, `hello` and `action`. `Ok(None)` means "need more bytes"; a frame whose
//! announced length exceeds the limit is rejected before its bytes arrive.

use super::data::Cursor;
use super::error::DecodeError;

/// SPOP frame types. Unknown types are kept, not rejected: peers must tolerate them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// 0: fragment continuation (HAProxy ≤ 3.0 with `fragmentation`).
    Unset,
    /// 1: HAPROXY-HELLO.
    HaproxyHello,
    /// 2: HAPROXY-DISCONNECT.
    HaproxyDisconnect,
    /// 3: NOTIFY.
    Notify,
    /// 101: AGENT-HELLO.
    AgentHello,
    /// 102: AGENT-DISCONNECT.
    AgentDisconnect,
    /// 103: ACK.
    Ack,
    /// Any other value.
    Other(u8),
}

impl FrameType {
    /// Wire value.
    pub fn code(self) -> u8 {
        match self {
            FrameType::Unset => 0,
            FrameType::HaproxyHello => 1,
            FrameType::HaproxyDisconnect => 2,
            FrameType::Notify => 3,
            FrameType::AgentHello => 101,
            FrameType::AgentDisconnect => 102,
            FrameType::Ack => 103,
            FrameType::Other(c) => c,
        }
    }

    /// From the wire value.
    pub fn from_code(c: u8) -> Self {
        match c {
            0 => FrameType::Unset,
            1 => FrameType::HaproxyHello,
            2 => FrameType::HaproxyDisconnect,
            3 => FrameType::Notify,
            101 => FrameType::AgentHello,
            102 => FrameType::AgentDisconnect,
            103 => FrameType::Ack,
            other => FrameType::Other(other),
        }
    }
}

/// Frame flags (4 bytes, big-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameFlags(pub u32);

impl FrameFlags {
    /// Last (or only) frame of a message.
    pub const FIN: FrameFlags = FrameFlags(0x1);
    /// Abort a fragmented message.
    pub const ABORT: FrameFlags = FrameFlags(0x2);

    /// Whether FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN.0 != 0
    }

    /// Whether ABORT is set.
    pub fn abort(self) -> bool {
        self.0 & Self::ABORT.0 != 0
    }
}

/// Stream id: HAProxy's stream (≤ 3.0, may be 0) or the per-connection SPOP stream (≥ 3.1, odd).
pub type StreamId = u64;
/// Frame id within a stream.
pub type FrameId = u64;

/// Stream and frame ids of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metadata {
    /// Stream id.
    pub stream_id: StreamId,
    /// Frame id.
    pub frame_id: FrameId,
}

/// One decoded frame. `payload` borrows the connection buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Type.
    pub ftype: FrameType,
    /// Flags.
    pub flags: FrameFlags,
    /// Stream and frame ids.
    pub meta: Metadata,
    /// The payload: a KV-list, a list of messages or a list of actions, by type.
    pub payload: &'a [u8],
}

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;
/// Smallest legal frame length (type, flags, two one-byte ids).
pub const MIN_FRAME_LEN: u32 = 7;

/// Cuts one frame off the front of `buf`.
///
/// Returns `Ok(Some((frame, consumed)))` when a whole frame is buffered (`consumed` includes the
/// length prefix), `Ok(None)` when more bytes are needed, and `Err` when the frame announces a
/// length above `max_frame_size`, is shorter than its header, or its ids are malformed.
pub fn decode_frame(
    buf: &[u8],
    max_frame_size: u32,
) -> Result<Option<(Frame<'_>, usize)>, DecodeError> {
    let Some(prefix) = buf.get(..LENGTH_PREFIX) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len > max_frame_size {
        return Err(DecodeError::FrameTooBig {
            len,
            max: max_frame_size,
        });
    }
    if len < MIN_FRAME_LEN {
        return Err(DecodeError::FrameTooShort);
    }
    let total = LENGTH_PREFIX + len as usize;
    let Some(body) = buf.get(LENGTH_PREFIX..total) else {
        return Ok(None);
    };
    let mut c = Cursor::new(body);
    let ftype = FrameType::from_code(c.u8()?);
    let f = c.bytes(4)?;
    let flags = FrameFlags(u32::from_be_bytes([f[0], f[1], f[2], f[3]]));
    let stream_id = c.varint()?;
    let frame_id = c.varint()?;
    let frame = Frame {
        ftype,
        flags,
        meta: Metadata {
            stream_id,
            frame_id,
        },
        payload: c.rest,
    };
    Ok(Some((frame, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_input_needs_more() {
        let frame = [0, 0, 0, 7, 3, 0, 0, 0, 1, 5, 1];
        for cut in 0..frame.len() {
            assert_eq!(decode_frame(&frame[..cut], 16380), Ok(None), "cut {cut}");
        }
        let (f, used) = decode_frame(&frame, 16380).unwrap().unwrap();
        assert_eq!(used, frame.len());
        assert_eq!(f.ftype, FrameType::Notify);
        assert!(f.flags.fin());
        assert_eq!(
            f.meta,
            Metadata {
                stream_id: 5,
                frame_id: 1
            }
        );
        assert!(f.payload.is_empty());
    }

    #[test]
    fn oversized_and_undersized_are_rejected_early() {
        assert_eq!(
            decode_frame(&[0, 0, 0x40, 0], 16380),
            Err(DecodeError::FrameTooBig {
                len: 0x4000,
                max: 16380
            })
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 6], 16380),
            Err(DecodeError::FrameTooShort)
        );
        // Ids that run past the end of the frame.
        assert_eq!(
            decode_frame(&[0, 0, 0, 7, 3, 0, 0, 0, 1, 0xf0, 0xf0], 16380),
            Err(DecodeError::BadVarint)
        );
    }

    #[test]
    fn unknown_types_are_kept() {
        let (f, _) = decode_frame(&[0, 0, 0, 7, 42, 0, 0, 0, 1, 0, 0], 100)
            .unwrap()
            .unwrap();
        assert_eq!(f.ftype, FrameType::Other(42));
        assert_eq!(FrameType::from_code(42).code(), 42);
    }
}
