//! The SPOP connection state machine, agent side (SPOE.txt §3.2; contract §4.6–4.10).
//!
//! Owns HELLO negotiation, NOTIFY validation and the DISCONNECT rules: [`Session::on_frame`]
//! takes one decoded frame, appends whatever the protocol requires (AGENT-HELLO,
//! AGENT-DISCONNECT) to the caller's output buffer and returns a [`Step`]. It does no I/O, reads
//! no clock and never inspects a request: a NOTIFY comes back as [`Step::Notify`] and the caller
//! must append exactly one ACK for it (any order, any number in flight). Every protocol error
//! becomes an AGENT-DISCONNECT with its status code and a [`Step::Close`] carrying the reason.

use std::fmt;

use bytes::BytesMut;

use super::data::Messages;
use super::encode::{encode_agent_disconnect, encode_agent_hello};
use super::error::{DecodeError, DisconnectStatus};
use super::frame::{decode_frame, Frame, FrameType, Metadata};
use super::hello::{supports_v2, Disconnect, HaproxyHello, VERSION};

/// Smallest max-frame-size SPOP allows.
pub const MIN_FRAME_SIZE: u32 = 256;
/// HAProxy's default (`tune.bufsize` 16384 − 4), and ours.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16380;
/// What we announce: pipelining only; no async (≥ 3.1 ignores it), no fragmentation.
pub const CAPABILITIES: &[u8] = b"pipelining";

/// Session parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Largest frame we accept and offer in AGENT-HELLO (≥ 256).
    pub max_frame_size: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for HAPROXY-HELLO.
    AwaitHello,
    /// HELLO exchanged; NOTIFYs flow.
    Connected,
    /// A DISCONNECT was sent or the health check answered: close after flushing.
    Closed,
}

/// A protocol violation by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A frame or payload did not decode.
    Decode(DecodeError),
    /// A NOTIFY before HELLO.
    NotifyBeforeHello,
    /// A second HELLO.
    DuplicateHello,
    /// HELLO/DISCONNECT with non-zero ids.
    NonZeroIds,
    /// A frame without FIN, or a continuation frame: we never announce fragmentation.
    Fragmented,
    /// An agent-side frame type (AGENT-HELLO, AGENT-DISCONNECT, ACK) sent to us.
    WrongDirection(u8),
    /// HELLO without `supported-versions`.
    MissingVersion,
    /// HELLO offering no 2.x version.
    UnsupportedVersion,
    /// HELLO without `max-frame-size`.
    MissingFrameSize,
    /// HELLO with `max-frame-size` below 256.
    FrameSizeTooSmall(u32),
    /// HELLO without `capabilities`.
    MissingCapabilities,
}

impl ProtocolError {
    /// The DISCONNECT status this error is reported with.
    pub fn status(self) -> DisconnectStatus {
        match self {
            ProtocolError::Decode(e) => e.status(),
            ProtocolError::NotifyBeforeHello
            | ProtocolError::DuplicateHello
            | ProtocolError::NonZeroIds
            | ProtocolError::WrongDirection(_) => DisconnectStatus::Invalid,
            ProtocolError::Fragmented => DisconnectStatus::FragmentationNotSupported,
            ProtocolError::MissingVersion => DisconnectStatus::NoVersion,
            ProtocolError::UnsupportedVersion => DisconnectStatus::BadVersion,
            ProtocolError::MissingFrameSize => DisconnectStatus::NoFrameSize,
            ProtocolError::FrameSizeTooSmall(_) => DisconnectStatus::BadFrameSize,
            ProtocolError::MissingCapabilities => DisconnectStatus::NoCapabilities,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtocolError::Decode(e) => write!(f, "{e}"),
            ProtocolError::NotifyBeforeHello => f.write_str("NOTIFY before HELLO"),
            ProtocolError::DuplicateHello => f.write_str("second HAPROXY-HELLO"),
            ProtocolError::NonZeroIds => f.write_str("HELLO/DISCONNECT with non-zero ids"),
            ProtocolError::Fragmented => {
                f.write_str("fragmented frame (fragmentation not announced)")
            }
            ProtocolError::WrongDirection(t) => write!(f, "agent-side frame type {t} received"),
            ProtocolError::MissingVersion => f.write_str("HELLO without supported-versions"),
            ProtocolError::UnsupportedVersion => f.write_str("HELLO offers no SPOP 2.x version"),
            ProtocolError::MissingFrameSize => f.write_str("HELLO without max-frame-size"),
            ProtocolError::FrameSizeTooSmall(n) => write!(f, "HELLO max-frame-size {n} below 256"),
            ProtocolError::MissingCapabilities => f.write_str("HELLO without capabilities"),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A health-check HELLO was answered.
    HealthCheck,
    /// HAProxy sent HAPROXY-DISCONNECT with this status; we answered with status 0.
    PeerDisconnect {
        /// HAProxy's status code.
        status_code: u32,
    },
    /// The peer broke the protocol; an AGENT-DISCONNECT with `error.status()` was sent.
    ProtocolError {
        /// What went wrong.
        error: ProtocolError,
        /// Ids of the offending frame (zeros when unknown).
        meta: Metadata,
    },
    /// We are shutting down; an AGENT-DISCONNECT with status 0 was sent.
    Shutdown,
    /// No HELLO in time; an AGENT-DISCONNECT with status 2 (timeout) was sent.
    HelloTimeout,
    /// No frame for the idle timeout after HELLO; an AGENT-DISCONNECT with status 2 was sent.
    IdleTimeout,
}

/// A NOTIFY to answer.
#[derive(Debug, Clone)]
pub struct Notify<'a> {
    /// Ids the ACK must echo.
    pub meta: Metadata,
    /// The messages (already validated: iteration yields no errors).
    pub messages: Messages<'a>,
}

/// What the caller must do after a frame.
#[derive(Debug, Clone)]
pub enum Step<'a> {
    /// Nothing beyond flushing the output buffer.
    Continue,
    /// Answer this NOTIFY with exactly one ACK.
    Notify(Notify<'a>),
    /// Flush the output buffer, then close the connection.
    Close(CloseReason),
}

/// One SPOP connection's protocol state.
#[derive(Debug, Clone)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    negotiated: u32,
    healthcheck: bool,
}

impl Session {
    /// A fresh session awaiting HAPROXY-HELLO.
    pub fn new(cfg: SessionConfig) -> Self {
        let max = cfg.max_frame_size.max(MIN_FRAME_SIZE);
        Session {
            cfg: SessionConfig {
                max_frame_size: max,
            },
            state: State::AwaitHello,
            negotiated: max,
            healthcheck: false,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The frame-size limit in force: ours before HELLO, the negotiated one after.
    pub fn max_frame_size(&self) -> u32 {
        self.negotiated
    }

    /// Whether the HELLO was a health check.
    pub fn is_healthcheck(&self) -> bool {
        self.healthcheck
    }

    /// Decodes the next frame at the front of `buf` and handles it.
    ///
    /// `None`: more bytes are needed. `Some((step, consumed))`: drop `consumed` bytes from the
    /// buffer once done with `step` (which may borrow `buf`).
    pub fn next_step<'a>(
        &mut self,
        buf: &'a [u8],
        out: &mut BytesMut,
    ) -> Option<(Step<'a>, usize)> {
        if self.state == State::Closed {
            return Some((Step::Close(CloseReason::Shutdown), buf.len()));
        }
        match decode_frame(buf, self.negotiated) {
            Ok(None) => None,
            Ok(Some((frame, used))) => Some((self.on_frame(frame, out), used)),
            Err(e) => Some((
                self.fail(ProtocolError::Decode(e), Metadata::default(), out),
                buf.len(),
            )),
        }
    }

    /// Handles one frame; appends the protocol's answer (if any) to `out`.
    pub fn on_frame<'a>(&mut self, frame: Frame<'a>, out: &mut BytesMut) -> Step<'a> {
        let meta = frame.meta;
        if self.state == State::Closed {
            return Step::Close(CloseReason::Shutdown);
        }
        match frame.ftype {
            FrameType::HaproxyHello => self.on_hello(frame, out),
            FrameType::Notify => {
                if self.state != State::Connected {
                    return self.fail(ProtocolError::NotifyBeforeHello, meta, out);
                }
                if !frame.flags.fin() {
                    return self.fail(ProtocolError::Fragmented, meta, out);
                }
                if let Err(e) = Messages::validate(frame.payload) {
                    return self.fail(ProtocolError::Decode(e), meta, out);
                }
                Step::Notify(Notify {
                    meta,
                    messages: Messages::new(frame.payload),
                })
            }
            FrameType::HaproxyDisconnect => {
                let status_code = Disconnect::parse(frame.payload)
                    .map(|d| d.status_code)
                    .unwrap_or(u32::MAX);
                encode_agent_disconnect(out, DisconnectStatus::Normal);
                self.state = State::Closed;
                Step::Close(CloseReason::PeerDisconnect { status_code })
            }
            FrameType::Unset => self.fail(ProtocolError::Fragmented, meta, out),
            FrameType::AgentHello | FrameType::AgentDisconnect | FrameType::Ack => {
                self.fail(ProtocolError::WrongDirection(frame.ftype.code()), meta, out)
            }
            // SPOE.txt: unknown frames must be ignored.
            FrameType::Other(_) => Step::Continue,
        }
    }

    fn on_hello<'a>(&mut self, frame: Frame<'a>, out: &mut BytesMut) -> Step<'a> {
        let meta = frame.meta;
        if self.state != State::AwaitHello {
            return self.fail(ProtocolError::DuplicateHello, meta, out);
        }
        if !frame.flags.fin() {
            return self.fail(ProtocolError::Fragmented, meta, out);
        }
        if meta != Metadata::default() {
            return self.fail(ProtocolError::NonZeroIds, meta, out);
        }
        let hello = match HaproxyHello::parse(frame.payload) {
            Ok(h) => h,
            Err(e) => return self.fail(ProtocolError::Decode(e), meta, out),
        };
        let Some(versions) = hello.supported_versions else {
            return self.fail(ProtocolError::MissingVersion, meta, out);
        };
        if !supports_v2(versions) {
            return self.fail(ProtocolError::UnsupportedVersion, meta, out);
        }
        let Some(theirs) = hello.max_frame_size else {
            return self.fail(ProtocolError::MissingFrameSize, meta, out);
        };
        if theirs < MIN_FRAME_SIZE {
            return self.fail(ProtocolError::FrameSizeTooSmall(theirs), meta, out);
        }
        if hello.capabilities.is_none() {
            return self.fail(ProtocolError::MissingCapabilities, meta, out);
        }
        self.negotiated = self.cfg.max_frame_size.min(theirs);
        encode_agent_hello(out, VERSION, self.negotiated, CAPABILITIES);
        if hello.healthcheck {
            self.healthcheck = true;
            self.state = State::Closed;
            return Step::Close(CloseReason::HealthCheck);
        }
        self.state = State::Connected;
        Step::Continue
    }

    /// Reports a protocol error: appends AGENT-DISCONNECT with its status and closes.
    pub fn fail<'a>(
        &mut self,
        error: ProtocolError,
        meta: Metadata,
        out: &mut BytesMut,
    ) -> Step<'a> {
        encode_agent_disconnect(out, error.status());
        self.state = State::Closed;
        Step::Close(CloseReason::ProtocolError { error, meta })
    }

    /// The caller's HELLO timer fired: appends AGENT-DISCONNECT (status 2) and closes.
    pub fn hello_timeout<'a>(&mut self, out: &mut BytesMut) -> Step<'a> {
        encode_agent_disconnect(out, DisconnectStatus::Timeout);
        self.state = State::Closed;
        Step::Close(CloseReason::HelloTimeout)
    }

    /// The connection sent nothing for the configured idle time after HELLO: appends
    /// AGENT-DISCONNECT (status 2, timeout) and closes.
    pub fn idle_timeout<'a>(&mut self, out: &mut BytesMut) -> Step<'a> {
        encode_agent_disconnect(out, DisconnectStatus::Timeout);
        self.state = State::Closed;
        Step::Close(CloseReason::IdleTimeout)
    }

    /// Graceful shutdown: appends AGENT-DISCONNECT (status 0) unless already closed.
    pub fn shutdown<'a>(&mut self, out: &mut BytesMut) -> Step<'a> {
        if self.state != State::Closed {
            encode_agent_disconnect(out, DisconnectStatus::Normal);
            self.state = State::Closed;
        }
        Step::Close(CloseReason::Shutdown)
    }
}
