//! The single integration-test binary: one `mod` per area.

mod body;
mod crs;
mod crs4;
mod engine;
mod matcher;
// A recycled transaction gives the verdicts a fresh one gives (no state leaks).
mod reuse;
// The fast engine decides as the literal reference evaluator does.
mod reference;
// The gadget-free RCE patterns answer as the full ones on values without gadget bytes.
mod rce;
// Harness for the agent tests: in-process agent, raw SPOP/HTTP clients, child processes.
mod util;
// SPOP over raw TCP against the in-process server: HELLO, pipelining, health check, errors.
mod spop;
// Both HAProxy Ingress dialects over raw TCP, end to end through the server.
mod adapters;
// `check` and `serve` give the same verdicts on the mixed corpus.
mod agreement;
// End to end with the real Debian HAProxy in front of the agent.
mod haproxy;
// The audit log against libmodsecurity3's own, and live behind HAProxy.
mod audit;
// The systemd unit, the seccomp profiles, the Debian package, readiness notification.
mod deploy;
// Hot reload: under load, SIGHUP, --watch.
mod reload;
// Applications from coraza-spoa's YAML; `app` selects the rule set.
mod apps;
// Responses continue their request's transaction (the cross-shard store).
mod response;
// --listen unix:/path and the idle timeout.
mod listen;
// Request-body and argument limits, differential against libmodsecurity3 (recorded).
mod limits;
// Loading configurations: duplicated rule ids, escaped error text.
mod load;
// Faults with real processes and sockets: signals under load, --allow-from.
mod faults;

// Generated requests through spoa-waf and libmodsecurity3: bounded fuzz run, deviation tests.
mod difffuzz;

// ops::libinjection vs the C libinjection in libmodsecurity3 (builds its C driver; skips without one).
#[path = "../libinjection/differential.rs"]
mod libinjection_diff;
