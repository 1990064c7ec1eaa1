//! A finished transaction → its audit record, if it is to be audited: `SecAuditEngine` (or
//! `ctl:auditEngine`) On, or RelevantOnly and relevant. Relevant means a saved message without
//! `noauditlog`, a disruption, or a status that `SecAuditLogRelevantStatus` matches; the status
//! is the response's when the response was inspected, else the disruption's, else 200 (what
//! libmodsecurity3 reports for a transaction whose response it never saw).

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use super::config::AuditEngine;
use super::record::Record;
use crate::compile::{EngineMode, RuleSet};
use crate::eval::Transaction;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn pairs(p: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (text(k), text(v))).collect()
}

thread_local! {
    static SEQ: Cell<u32> = const { Cell::new(0) };
}

/// An id for a transaction HAProxy sent none for: time in microseconds and a per-thread
/// sequence number, in libmodsecurity3's `digits.digits` shape.
fn generated_id(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let n = SEQ.with(|s| {
        let n = s.get().wrapping_add(1);
        s.set(n);
        n
    });
    format!(
        "{}{:06}.{:06}",
        d.as_secs(),
        d.subsec_micros(),
        n % 1_000_000
    )
}

/// The record for `tx`, or `None` when it is not audited.
pub fn record(rs: &RuleSet, tx: &Transaction) -> Option<Box<Record>> {
    let cfg = &rs.settings.audit;
    if !cfg.possible() {
        return None;
    }
    let engine = tx.audit.engine.unwrap_or(cfg.engine);
    let disruption = tx.disruption();
    let status = tx
        .response_status
        .or(disruption.map(|d| d.status))
        .unwrap_or(200);
    match engine {
        AuditEngine::Off => return None,
        AuditEngine::On => {}
        AuditEngine::RelevantOnly => {
            if !(tx.audit.relevant || disruption.is_some() || cfg.relevant_status(status)) {
                return None;
            }
        }
    }
    let parts = tx.audit.parts(rs);
    let now = SystemTime::now();
    let secrules_engine = match tx.engine_override().unwrap_or(rs.settings.engine) {
        EngineMode::On => "Enabled",
        EngineMode::DetectionOnly => "DetectionOnly",
        EngineMode::Off => "Disabled",
    };
    Some(Box::new(Record {
        parts,
        time: Some(now),
        unique_id: if tx.unique_id.is_empty() {
            generated_id(now)
        } else {
            text(&tx.unique_id)
        },
        client_ip: text(&tx.remote_addr),
        client_port: tx.remote_port,
        host_ip: text(&tx.server_addr),
        host_port: tx.server_port,
        method: text(&tx.method),
        http_version: text(tx.protocol.strip_prefix(b"HTTP/").unwrap_or(&tx.protocol)),
        uri: text(&tx.uri_raw),
        request_headers: if parts.has(b'B') {
            pairs(&tx.headers)
        } else {
            Vec::new()
        },
        request_body: if parts.has(b'C') {
            text(&tx.body)
        } else {
            String::new()
        },
        http_code: status,
        response_headers: if parts.has(b'F') {
            pairs(&tx.response_headers)
        } else {
            Vec::new()
        },
        response_body: if parts.has(b'E') {
            text(&tx.response_body)
        } else {
            String::new()
        },
        secrules_engine,
        messages: if parts.has(b'H') {
            tx.audit.messages.clone()
        } else {
            Vec::new()
        },
    }))
}
