//! SPOP 2.0, sans-io: frames, typed data, KV-lists, messages, actions, and the connection state
//! machine (SPOE.txt §3; `shared/docs/spoe-contract.md` §4).
//!
//! Never does I/O, never reads a clock, never panics on input bytes.

pub mod varint;
