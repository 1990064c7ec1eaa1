//! SPOP 2.0, sans-io: frames, typed data, KV-lists, messages, actions, and the connection state
//! machine (SPOE.txt §3; `shared/docs/spoe-contract.md` §4).
//!
//! Never does I/O, never reads a clock, never panics on input bytes, and depends on `bytes`
//! only, so the load generator can use it with the `engine` feature off. Decoding borrows the
//! connection buffer (`&'a [u8]` in, [`TypedData<'a>`] out) and returns `Ok(None)` on partial
//! input; encoders append to a `BytesMut`. Both directions are implemented: the agent side for
//! the server, the HAProxy side for tests and `bench/spop-flood`.
//!
//! Layout: [`varint`] → [`data`] (typed data, KV-lists, messages) → [`frame`] (header,
//! splitting) → [`hello`] / [`action`] (payload views) → [`encode`] (whole frames) →
//! [`session`] (the agent's state machine).

pub mod action;
pub mod data;
pub mod encode;
pub mod error;
pub mod frame;
pub mod hello;
pub mod session;
pub mod varint;

pub use action::{Action, Actions, VarScope};
pub use data::{decode_typed, KvList, Message, Messages, TypedData};
pub use encode::{
    encode_ack, encode_agent_disconnect, encode_agent_hello, encode_haproxy_disconnect,
    encode_haproxy_hello, encode_notify, FrameWriter, MessageSpec,
};
pub use error::{DecodeError, DisconnectStatus};
pub use frame::{decode_frame, Frame, FrameFlags, FrameId, FrameType, Metadata, StreamId};
pub use hello::{AgentHello, Disconnect, HaproxyHello};
pub use session::{CloseReason, Notify, ProtocolError, Session, SessionConfig, State, Step};

#[cfg(test)]
mod tests;
