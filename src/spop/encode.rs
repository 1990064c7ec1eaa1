//! Frame encoders for both directions (SPOE.txt §3.2; contract §4.1, §4.6–4.9).
//!
//! Owns [`FrameWriter`] (header now, length patched on finish) and one helper per frame type:
//! the agent side (AGENT-HELLO, ACK, AGENT-DISCONNECT) for the server, the HAProxy side
//! (HAPROXY-HELLO, NOTIFY, HAPROXY-DISCONNECT) for tests and the load generator. Encoders append
//! to a caller's `BytesMut` and never allocate otherwise; they do not enforce max-frame-size:
//! callers compare [`FrameWriter::finish`]'s result with the negotiated limit.

use bytes::{BufMut, BytesMut};

use super::action::{put_action, Action};
use super::data::{put_arg, put_kv, put_message_header, put_varint, TypedData};
use super::error::DisconnectStatus;
use super::frame::{FrameFlags, FrameType, Metadata, LENGTH_PREFIX};

/// Writes one frame: the header on [`FrameWriter::begin`], the payload through
/// [`FrameWriter::buf`], the length on [`FrameWriter::finish`].
#[derive(Debug)]
pub struct FrameWriter<'b> {
    out: &'b mut BytesMut,
    start: usize,
}

impl<'b> FrameWriter<'b> {
    /// Starts a frame at the end of `out`.
    pub fn begin(
        out: &'b mut BytesMut,
        ftype: FrameType,
        flags: FrameFlags,
        meta: Metadata,
    ) -> Self {
        let start = out.len();
        out.put_u32(0);
        out.put_u8(ftype.code());
        out.put_u32(flags.0);
        put_varint(out, meta.stream_id);
        put_varint(out, meta.frame_id);
        FrameWriter { out, start }
    }

    /// The buffer to append payload bytes to (use the `put_*` helpers of `data`/`action`).
    pub fn buf(&mut self) -> &mut BytesMut {
        self.out
    }

    /// Patches the length prefix; returns the frame length (excluding the prefix).
    pub fn finish(self) -> u32 {
        let len = self.out.len() - self.start - LENGTH_PREFIX;
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        if let Some(prefix) = self.out.get_mut(self.start..self.start + LENGTH_PREFIX) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
        len
    }
}

const HELLO_META: Metadata = Metadata {
    stream_id: 0,
    frame_id: 0,
};

/// Appends an AGENT-HELLO.
pub fn encode_agent_hello(
    out: &mut BytesMut,
    version: &[u8],
    max_frame_size: u32,
    capabilities: &[u8],
) -> u32 {
    let mut w = FrameWriter::begin(out, FrameType::AgentHello, FrameFlags::FIN, HELLO_META);
    put_kv(w.buf(), b"version", &TypedData::String(version));
    put_kv(
        w.buf(),
        b"max-frame-size",
        &TypedData::Uint32(max_frame_size),
    );
    put_kv(w.buf(), b"capabilities", &TypedData::String(capabilities));
    w.finish()
}

/// Appends a HAPROXY-HELLO (as HAProxy sends it; `healthcheck` adds the key with `true`).
pub fn encode_haproxy_hello(
    out: &mut BytesMut,
    supported_versions: &[u8],
    max_frame_size: u32,
    capabilities: &[u8],
    engine_id: Option<&[u8]>,
    healthcheck: bool,
) -> u32 {
    let mut w = FrameWriter::begin(out, FrameType::HaproxyHello, FrameFlags::FIN, HELLO_META);
    put_kv(
        w.buf(),
        b"supported-versions",
        &TypedData::String(supported_versions),
    );
    put_kv(
        w.buf(),
        b"max-frame-size",
        &TypedData::Uint32(max_frame_size),
    );
    put_kv(w.buf(), b"capabilities", &TypedData::String(capabilities));
    if let Some(id) = engine_id {
        put_kv(w.buf(), b"engine-id", &TypedData::String(id));
    }
    if healthcheck {
        put_kv(w.buf(), b"healthcheck", &TypedData::Bool(true));
    }
    w.finish()
}

fn encode_disconnect(
    out: &mut BytesMut,
    ftype: FrameType,
    status_code: u32,
    message: &[u8],
) -> u32 {
    let mut w = FrameWriter::begin(out, ftype, FrameFlags::FIN, HELLO_META);
    put_kv(w.buf(), b"status-code", &TypedData::Uint32(status_code));
    put_kv(w.buf(), b"message", &TypedData::String(message));
    w.finish()
}

/// Appends an AGENT-DISCONNECT with `status` and its standard message.
pub fn encode_agent_disconnect(out: &mut BytesMut, status: DisconnectStatus) -> u32 {
    encode_disconnect(
        out,
        FrameType::AgentDisconnect,
        status.code(),
        status.message().as_bytes(),
    )
}

/// Appends a HAPROXY-DISCONNECT.
pub fn encode_haproxy_disconnect(out: &mut BytesMut, status_code: u32, message: &[u8]) -> u32 {
    encode_disconnect(out, FrameType::HaproxyDisconnect, status_code, message)
}

/// One message to put in a NOTIFY: name and `(arg name, value)` pairs.
#[derive(Debug, Clone, Copy)]
pub struct MessageSpec<'a> {
    /// Message name.
    pub name: &'a [u8],
    /// Arguments (at most 255 are written).
    pub args: &'a [(&'a [u8], TypedData<'a>)],
}

/// Appends a NOTIFY with FIN set.
pub fn encode_notify(out: &mut BytesMut, meta: Metadata, messages: &[MessageSpec<'_>]) -> u32 {
    let mut w = FrameWriter::begin(out, FrameType::Notify, FrameFlags::FIN, meta);
    for m in messages {
        let args = m.args.get(..255).unwrap_or(m.args);
        put_message_header(w.buf(), m.name, args.len() as u8);
        for (name, value) in args {
            put_arg(w.buf(), name, value);
        }
    }
    w.finish()
}

/// Appends an ACK with FIN set.
pub fn encode_ack(out: &mut BytesMut, meta: Metadata, actions: &[Action<'_>]) -> u32 {
    let mut w = FrameWriter::begin(out, FrameType::Ack, FrameFlags::FIN, meta);
    for a in actions {
        put_action(w.buf(), a);
    }
    w.finish()
}
