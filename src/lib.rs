//! spoa-waf: a ModSecurity-compatible web application firewall agent for HAProxy.
//!
//! HAProxy offloads each request to this agent over SPOP; the agent evaluates the OWASP Core Rule
//! Set (or any SecLang configuration) and answers with variables HAProxy turns into a verdict.
//! See `ARCHITECTURE.md` for the module map and the invariants; in short:
//!
//! - [`spop`] is the sans-io protocol codec and connection state machine.
//! - [`inspect`] is the seam: an engine-neutral request model, [`inspect::Verdict`] and the
//!   [`inspect::Inspector`] trait the server is generic over.
//! - `seclang` parses configuration text into an AST; `compile` lowers it into an immutable
//!   `RuleSet` (Hyperscan databases included); `eval` runs it against one transaction.
//! - `server` is the only module that serves traffic: glommio shards, one per CPU; `preflight`
//!   probes io_uring and `notify` tells systemd, at start-up.
#![warn(missing_debug_implementations, rust_2018_idioms)]
// The Hyperscan/PCRE2 wrapper (`matcher`) is the one place allowed to write `unsafe`.
#![deny(unsafe_code)]

pub mod corpus;
pub mod inspect;
pub mod metrics;
pub mod spop;

#[cfg(feature = "engine")]
pub mod access;
pub mod adapter;
#[cfg(feature = "engine")]
pub mod audit;
#[cfg(feature = "engine")]
pub mod body;
#[cfg(feature = "engine")]
pub mod cmd;
#[cfg(feature = "engine")]
pub mod compile;
#[cfg(feature = "engine")]
pub mod config;
#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod eval;
#[cfg(feature = "engine")]
mod fasthash;
#[cfg(feature = "engine")]
#[allow(unsafe_code)]
pub mod matcher;
#[cfg(feature = "engine")]
pub mod notify;
#[cfg(feature = "engine")]
pub mod observe;
#[cfg(feature = "engine")]
pub mod ops;
#[cfg(feature = "engine")]
pub mod plan;
#[cfg(feature = "engine")]
pub mod preflight;
#[cfg(feature = "engine")]
pub mod reload;
#[cfg(feature = "engine")]
pub mod seclang;
#[cfg(feature = "engine")]
pub mod server;
#[cfg(feature = "engine")]
pub mod transform;
#[cfg(feature = "engine")]
pub mod txstore;
