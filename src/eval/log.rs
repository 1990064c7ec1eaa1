//! Renders one libmodsecurity-style log line per logged rule match:
//! `ModSecurity: Warning. Matched "Operator `Rx' with parameter `…' against variable `ARGS:p'
//! (Value: `…' )" [file "…"] [line "…"] [id "…"] [msg "…"] [data "…"] [severity "…"] …`.
//! Owns only the formatting; what logs is decided by `eval`.

use std::fmt::Write as _;

use super::Transaction;
use crate::compile::{severity_name, Rule, RuleSet};

/// Values longer than this are cut in log lines (ModSecurity cuts `data` similarly).
const MAX_VALUE: usize = 200;

fn clip(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX_VALUE)]).into_owned();
    s.replace('"', "\\\"")
}

fn op_display(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One log line for `rule`, with `head` (`Warning.` or `Access denied with code 403 (phase 2).`).
pub(crate) fn line(tx: &Transaction, _rs: &RuleSet, rule: &Rule, head: &str) -> String {
    let mut s = String::with_capacity(512);
    let _ = write!(
        s,
        "ModSecurity: {head} Matched \"Operator `{}' with parameter `{}' against variable `{}' (Value: `{}' )\"",
        op_display(&rule.op_name),
        clip(rule.op_arg.as_bytes()),
        tx.matched_var_name,
        clip(&tx.matched_var),
    );
    let _ = write!(
        s,
        " [file \"{}\"] [line \"{}\"] [id \"{}\"]",
        rule.span.file.display(),
        rule.span.line,
        rule.id
    );
    if let Some(r) = &rule.rev {
        let _ = write!(s, " [rev \"{r}\"]");
    }
    if let Some(m) = &rule.msg {
        let _ = write!(s, " [msg \"{}\"]", clip(&tx.expand(m)));
    }
    if let Some(d) = &rule.logdata {
        let _ = write!(s, " [data \"{}\"]", clip(&tx.expand(d)));
    }
    if let Some(sev) = rule.severity {
        let _ = write!(s, " [severity \"{}\"]", severity_name(sev));
    }
    if let Some(v) = &rule.ver {
        let _ = write!(s, " [ver \"{v}\"]");
    }
    if let Some(m) = &rule.maturity {
        let _ = write!(s, " [maturity \"{m}\"]");
    }
    if let Some(a) = &rule.accuracy {
        let _ = write!(s, " [accuracy \"{a}\"]");
    }
    for t in &rule.tags {
        let _ = write!(s, " [tag \"{t}\"]");
    }
    let _ = write!(
        s,
        " [hostname \"{}\"] [uri \"{}\"] [unique_id \"{}\"]",
        clip(&tx.hostname),
        clip(&tx.uri_raw),
        clip(&tx.unique_id)
    );
    s
}
