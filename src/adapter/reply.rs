//! Verdict → SET-VAR actions, per dialect (contract §2.4, §3.3, §1.3).
//!
//! Owns the variable names, types and values HAProxy configurations match on. Classic:
//! `txn.<prefix>.code` = 0 pass / HTTP status block / negative on error. Coraza: `id`, `action`
//! (`pass`/`deny`/`drop`/`redirect`), `status`, `data`, `ruleid` (only when interrupted),
//! `rules_hit`, `anomaly_score`, and `fail` 0/1 for HAProxy Ingress 0.14.0–0.14.6, which denies
//! every request whose `fail` is not 0; on error `error` > 0 (0.14.7+ deny it with 504).

use bytes::BytesMut;

use crate::inspect::Verdict;
use crate::spop::action::put_set_var;
use crate::spop::{TypedData, VarScope};

use super::AdapterError;

const TXN: VarScope = VarScope::Txn;

/// `check-request` verdict: `code` = 0 or the disruptive status.
pub fn classic_verdict(out: &mut BytesMut, v: &Verdict) {
    let code = v.disruption.as_ref().map_or(0, |d| u32::from(d.status));
    put_set_var(out, TXN, b"code", &TypedData::Uint32(code));
}

/// Longest `rule_ids` value: ids past it are left out (a log field, not a protocol).
const RULE_IDS_MAX: usize = 256;

/// The optional variables for HAProxy's log-format (`--result-vars`): `rule_ids`, the ids of
/// the rules that logged, comma-separated (`930120,949110`, empty when none), and, in the
/// classic dialect that has none, `anomaly_score`. Off by default: the HAProxy Ingress
/// contract sets only the variables above.
pub fn result_vars(out: &mut BytesMut, v: &Verdict, classic: bool) {
    use std::io::Write as _;
    let mut buf = [0u8; RULE_IDS_MAX];
    let mut len = 0;
    for (i, id) in v.logged_rule_ids.iter().enumerate() {
        let mut one = [0u8; 12];
        let mut w = &mut one[..];
        let _ = write!(w, "{}{id}", if i == 0 { "" } else { "," });
        let n = 12 - w.len();
        if len + n > RULE_IDS_MAX {
            break;
        }
        buf[len..len + n].copy_from_slice(&one[..n]);
        len += n;
    }
    put_set_var(out, TXN, b"rule_ids", &TypedData::String(&buf[..len]));
    if classic {
        put_set_var(
            out,
            TXN,
            b"anomaly_score",
            &TypedData::Int64(v.anomaly_score),
        );
    }
}

/// `check-request` error: a negative `code`, which HAProxy Ingress's `gt 0` lets pass but logs
/// and dashboards can tell from a clean 0.
pub fn classic_error(out: &mut BytesMut, e: AdapterError) {
    put_set_var(out, TXN, b"code", &TypedData::Int64(-i64::from(e.code())));
}

/// `coraza-req` / `coraza-res` verdict.
pub fn coraza_verdict(out: &mut BytesMut, v: &Verdict, id: Option<&[u8]>) {
    if let Some(id) = id {
        put_set_var(out, TXN, b"id", &TypedData::String(id));
    }
    match &v.disruption {
        Some(d) => {
            put_set_var(
                out,
                TXN,
                b"action",
                &TypedData::String(d.action.as_str().as_bytes()),
            );
            put_set_var(out, TXN, b"status", &TypedData::Int64(i64::from(d.status)));
            put_set_var(
                out,
                TXN,
                b"data",
                &TypedData::String(d.redirect_url.as_bytes()),
            );
            put_set_var(out, TXN, b"ruleid", &TypedData::Int64(i64::from(d.rule_id)));
        }
        None => put_set_var(out, TXN, b"action", &TypedData::String(b"pass")),
    }
    put_set_var(
        out,
        TXN,
        b"rules_hit",
        &TypedData::Int64(v.logged_rule_ids.len() as i64),
    );
    put_set_var(
        out,
        TXN,
        b"anomaly_score",
        &TypedData::Int64(v.anomaly_score),
    );
    put_set_var(
        out,
        TXN,
        b"fail",
        &TypedData::Int64(i64::from(v.is_blocking())),
    );
}

/// Coraza error: `error` = the error code, `fail` = 1.
pub fn coraza_error(out: &mut BytesMut, e: AdapterError) {
    put_set_var(out, TXN, b"error", &TypedData::Int64(i64::from(e.code())));
    put_set_var(out, TXN, b"fail", &TypedData::Int64(1));
}
