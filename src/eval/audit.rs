//! What the audit log needs from a transaction, collected where rules log: each saved message
//! with its details (not those of `noauditlog` rules), whether one makes the transaction relevant, and the
//! `ctl:auditEngine` / `ctl:auditLogParts` in effect. Only filled when the rule set can audit
//! (`AuditConfig::possible`); `audit::build` turns it into a record.

use super::{log, CtlRef, Transaction};
use crate::audit::{AuditEngine, Message, Parts};
use crate::compile::{Ctl, Rule, RuleSet};

/// The audit state of one transaction.
#[derive(Debug, Default)]
pub(crate) struct AuditState {
    /// Saved messages in evaluation order.
    pub messages: Vec<Message>,
    /// A saved message without `noauditlog`.
    pub relevant: bool,
    /// `ctl:auditEngine` in effect.
    pub engine: Option<AuditEngine>,
    /// `ctl:auditLogParts` in the order they took effect.
    parts: Vec<CtlRef>,
}

impl AuditState {
    pub fn clear(&mut self) {
        self.messages.clear();
        self.relevant = false;
        self.engine = None;
        self.parts.clear();
    }

    /// The parts for this transaction: the configured ones, then each `ctl:auditLogParts`.
    pub fn parts(&self, rs: &RuleSet) -> Parts {
        self.parts
            .iter()
            .filter_map(|c| match c.get(rs) {
                Some(Ctl::AuditLogParts(spec)) => Some(spec.as_str()),
                _ => None,
            })
            .fold(rs.settings.audit.parts, |p, spec| {
                p.modified(spec).unwrap_or(p)
            })
    }

    pub(super) fn ctl_parts(&mut self, at: CtlRef) {
        self.parts.push(at);
    }
}

/// Keeps the message of `rule`'s match (its error-log line is `line`).
pub(super) fn collect(tx: &mut Transaction, rs: &RuleSet, rule: &Rule, line: &str) {
    // `noauditlog`: the match is logged but kept out of the audit log (and its relevance).
    if rule.noaudit {
        return;
    }
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let message = rule
        .msg
        .as_ref()
        .map(|m| text(tx.expand(m)))
        .unwrap_or_default();
    let data = rule
        .logdata
        .as_ref()
        .map(|m| text(tx.expand(m)))
        .unwrap_or_default();
    let msg = Message {
        message,
        matched: log::matched(tx, rs, rule),
        reference: String::new(),
        rule_id: rule.id,
        file: rule.span.file.display().to_string(),
        line: rule.span.line as usize,
        data,
        severity: rule.severity.unwrap_or(0),
        ver: rule.ver.clone().unwrap_or_default(),
        rev: rule.rev.clone().unwrap_or_default(),
        tags: rule.tags.clone(),
        maturity: rule.maturity.clone().unwrap_or_else(|| "0".into()),
        accuracy: rule.accuracy.clone().unwrap_or_else(|| "0".into()),
        log_line: line.to_string(),
    };
    tx.audit.messages.push(msg);
    tx.audit.relevant = true;
}
