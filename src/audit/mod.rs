//! The ModSecurity audit log, with libmodsecurity3 3.0.9's semantics and formats.
//!
//! Owns the directives' runtime configuration ([`config`]), the record and its JSON and Native
//! renderings ([`record`]), building a record from a finished transaction ([`build`]) and the
//! writer thread with its Serial/Concurrent targets and reopen ([`writer`]). The engine only
//! collects the messages a record needs where rules log; the server only hands records to the
//! bounded per-shard queues [`writer::AuditLog`] provides. It refuses to block a shard: a full
//! queue or a failed write drops the record and counts it. What a request-only agent cannot know
//! (the response of a request whose response is not inspected) is left out as libmodsecurity3
//! leaves it: status 200, no headers, no body.

pub mod build;
pub mod config;
pub mod record;
pub mod writer;

pub use config::{AuditConfig, AuditEngine, Format, LogType, Parts};
pub use record::{Message, Record};
pub use writer::{AuditError, AuditLog, AuditStats};
