//! Renders one libmodsecurity3-style log line per logged rule match, field for field as
//! libmodsecurity3 3.0.9 writes them (checked with modsec-ref):
//! `ModSecurity: Warning. Matched "Operator `Rx' with parameter `…' against variable `ARGS:p'
//! (Value: `…' ) [file "…"] [line "…"] [id "…"] [rev ""] [msg "…"] [data "…"] [severity "2"]
//! [ver "…"] [maturity "0"] [accuracy "0"] [tag "…"]… [hostname "…"] [uri "…"] [unique_id "…"]
//! [ref ""]`. Owns only the formatting; what logs is decided by `eval`.

use std::fmt::Write as _;

use super::Transaction;
use crate::compile::{Macro, Rule, RuleSet};

/// Values longer than this are cut in log lines.
const MAX_VALUE: usize = 200;

fn clip(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX_VALUE)]).into_owned();
    s.replace('"', "\\\"")
}

/// The first `max` bytes and, when cut, ` (N characters omitted)`, as libmodsecurity3 limits
/// the operator parameter (200) and the value (100) in a match description.
fn limit(b: &[u8], max: usize) -> String {
    let mut s = String::from_utf8_lossy(&b[..b.len().min(max)]).replace('"', "\\\"");
    if b.len() > max {
        s.push_str(&format!(" ({} characters omitted)", b.len() - max));
    }
    s
}

/// `pmFromFile` → `PmFromFile`, as libmodsecurity3 names operators in messages.
fn op_display(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `Matched "Operator `Rx' with parameter `…' against variable `…' (Value: `…' )` (the audit
/// log's `details.match`).
///
/// As libmodsecurity3 writes it: the operator of the chain's last link (the one that matched
/// last) and the variable's value before transformations.
pub(crate) fn matched(tx: &Transaction, rs: &RuleSet, rule: &Rule) -> String {
    let mut last = rule;
    while let Some(next) = last.chain.and_then(|i| rs.rules.get(i)) {
        last = next;
    }
    // libmodsecurity3's libinjection operators describe themselves.
    match last.op_name.to_ascii_lowercase().as_str() {
        "detectsqli" => return "detected SQLi using libinjection.".to_string(),
        "detectxss" => return "detected XSS using libinjection.".to_string(),
        _ => {}
    }
    // The parameter is shown macro-expanded, as libmodsecurity3 does.
    let param = tx.expand(&Macro::parse(&last.op_arg));
    format!(
        "Matched \"Operator `{}' with parameter `{}' against variable `{}' (Value: `{}' )",
        op_display(&last.op_name),
        limit(&param, 200),
        tx.matched_var_name,
        limit(&tx.matched_raw, 100),
    )
}

/// One log line for `rule`, with `head` (`Warning.` or `Access denied with code 403 (phase 2).`).
pub(crate) fn line(tx: &Transaction, rs: &RuleSet, rule: &Rule, head: &str) -> String {
    let mut s = String::with_capacity(512);
    let _ = write!(s, "ModSecurity: {head} {}", matched(tx, rs, rule));
    let _ = write!(
        s,
        " [file \"{}\"] [line \"{}\"] [id \"{}\"] [rev \"{}\"]",
        rule.span.file.display(),
        rule.span.line,
        rule.id,
        rule.rev.as_deref().unwrap_or("")
    );
    let msg = rule.msg.as_ref().map(|m| tx.expand(m)).unwrap_or_default();
    let data = rule
        .logdata
        .as_ref()
        .map(|d| tx.expand(d))
        .unwrap_or_default();
    let _ = write!(s, " [msg \"{}\"] [data \"{}\"]", clip(&msg), clip(&data));
    if let Some(sev) = rule.severity {
        let _ = write!(s, " [severity \"{sev}\"]");
    }
    if let Some(v) = &rule.ver {
        let _ = write!(s, " [ver \"{v}\"]");
    }
    let _ = write!(
        s,
        " [maturity \"{}\"] [accuracy \"{}\"]",
        rule.maturity.as_deref().unwrap_or("0"),
        rule.accuracy.as_deref().unwrap_or("0")
    );
    for t in &rule.tags {
        let _ = write!(s, " [tag \"{t}\"]");
    }
    // libmodsecurity3's hostname is the server address; the Host header when we have none.
    let host = if tx.server_addr.is_empty() {
        &tx.hostname
    } else {
        &tx.server_addr
    };
    let _ = write!(
        s,
        " [hostname \"{}\"] [uri \"{}\"] [unique_id \"{}\"] [ref \"\"]",
        clip(host),
        clip(&tx.uri_raw),
        clip(&tx.unique_id)
    );
    s
}
