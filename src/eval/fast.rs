//! The no-match fast path: decides, from the per-transaction scan cache alone, that a
//! pattern-operator rule cannot match, before any value is copied or named.
//!
//! A rule whose operator is a pattern of a group (`Rule::prefilter`) matches a value exactly
//! when the cached scan of that value says so (negation applied). So when no value its targets
//! select can match, the rule is skipped; values are only borrowed, and names, `MATCHED_VAR`
//! and log data are never built. This module refuses to decide a match: any rule it cannot
//! prove unmatched (`&` counts, macro operators, variables it does not enumerate) goes through
//! the full path in `eval`, which is the single source of semantics.
//! Soundness needs only that [`Transaction::borrowed_values`] yields a superset of the values
//! `collect` would: exclusions and ctl target removals only remove values, so ignoring them here
//! is safe.

use super::scan::UnionState;
use super::values::KeyRef;
use super::Transaction;
use crate::compile::{Rule, RuleSet, Target, Var};

impl Transaction {
    /// True when `rule` provably cannot match on any value (so its evaluation can be skipped).
    pub(super) fn cannot_match(&mut self, rs: &RuleSet, rule: &Rule) -> bool {
        let Some(pf) = &rule.prefilter else {
            return false;
        };
        if rule.multi_match || rule.targets.iter().any(|t| t.count) {
            return false;
        }
        // Borrow the values from `self` while the cache (moved out for the duration) is updated.
        let mut scan = std::mem::take(&mut self.scan);
        if !rule.negated {
            // Every rule of a target set has the same targets (see `compile::build_groups`), so
            // one union of matched operators per target set answers all of them.
            let u = pf.union;
            let known = match scan.union_state(u, pf.key) {
                UnionState::Known(hit) => Some(hit),
                UnionState::NotEnumerable => None,
                UnionState::Stale => {
                    scan.union_begin(u);
                    let mut ok = true;
                    for t in &rule.targets {
                        let Some((g, _)) = pf.for_var(t.var) else {
                            ok = false;
                            break;
                        };
                        ok = self.borrowed_values(t, &mut |v, o| {
                            let i = scan.lookup_at(rs, g, v, o);
                            scan.union_add(rs, u, g, i);
                        });
                        if !ok {
                            break;
                        }
                    }
                    if ok {
                        match scan.union_state(u, pf.key) {
                            UnionState::Known(hit) => Some(hit),
                            _ => None,
                        }
                    } else {
                        scan.union_give_up(u);
                        None
                    }
                }
            };
            self.scan = scan;
            return known == Some(false);
        }
        let mut possible = false;
        let mut enumerated = true;
        for t in &rule.targets {
            let Some((g, pid)) = pf.for_var(t.var) else {
                enumerated = false;
                break;
            };
            let ok = self.borrowed_values(t, &mut |v, o| {
                if !possible {
                    let i = scan.lookup_at(rs, g, v, o);
                    possible = scan.hit(rs, g, i, pid) != rule.negated;
                }
            });
            if !ok {
                enumerated = false;
                break;
            }
            if possible {
                break;
            }
        }
        self.scan = scan;
        enumerated && !possible
    }

    /// Calls `f` with every value target `t` selects (a superset of what `collect` yields),
    /// borrowed, with the same `Value::origin` `collect` gives it (0: key on the content).
    /// False, without calling `f`, for variables not enumerated here: only values that change
    /// nowhere but where the scan unions are invalidated (request and body loading, response
    /// loading) may feed a union, so TX, counters and computed variables are refused.
    pub(super) fn borrowed_values(&self, t: &Target, f: &mut dyn FnMut(&[u8], u32)) -> bool {
        let enumerable = matches!(
            t.var,
            Var::Args
                | Var::ArgsGet
                | Var::ArgsPost
                | Var::ArgsNames
                | Var::ArgsGetNames
                | Var::ArgsPostNames
                | Var::RequestHeaders
                | Var::RequestHeadersNames
                | Var::RequestCookies
                | Var::RequestCookiesNames
                | Var::RequestFilename
                | Var::RequestBasename
                | Var::RequestUri
                | Var::RequestUriRaw
                | Var::RequestLine
                | Var::RequestMethod
                | Var::RequestProtocol
                | Var::QueryString
                | Var::RequestBody
                | Var::Files
                | Var::FilesNames
                | Var::Xml
                | Var::ResponseHeaders
                | Var::ResponseHeadersNames
                | Var::ResponseProtocol
                | Var::ResponseBody
        );
        if enumerable {
            // The same enumerator `collect` uses, names dropped: same values, same origins.
            self.visit(t.var, KeyRef::of(&t.key), &mut |_, data, origin| {
                f(data, origin)
            });
        }
        enumerable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::KeySel;
    use crate::eval::Pair;

    fn pair(k: &str, v: &str) -> Pair {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    /// Every variable the fast path enumerates yields at least the values `collect` yields
    /// (here: exactly the same, in the same order), for all-keys and named-key selectors.
    #[test]
    fn borrowed_values_cover_collect() {
        let mut tx = Transaction::new();
        tx.args_get = vec![pair("a", "1"), pair("B", "2")];
        tx.args_post = vec![pair("c", "3")];
        tx.headers = vec![pair("Host", "h"), pair("User-Agent", "ua")];
        tx.cookies = vec![pair("sid", "x")];
        tx.response_headers = vec![pair("Content-Type", "text/html")];
        tx.files = vec![(b"up".to_vec(), b"f.txt".to_vec(), 3)];
        tx.filename = b"/p/f.php".to_vec();
        tx.basename = b"f.php".to_vec();
        tx.uri_decoded = b"/p/f.php?a=1".to_vec();
        tx.uri_raw = b"/p/f.php?a=1".to_vec();
        tx.request_line = b"GET /p/f.php?a=1 HTTP/1.1".to_vec();
        tx.method = b"GET".to_vec();
        tx.protocol = b"HTTP/1.1".to_vec();
        tx.query = b"a=1".to_vec();
        tx.body = b"c=3".to_vec();
        tx.expose_body = true;
        tx.response_protocol = b"HTTP/1.1".to_vec();
        tx.response_body = b"<html>".to_vec();
        tx.expose_response_body = true;
        let vars = [
            Var::Args,
            Var::ArgsGet,
            Var::ArgsPost,
            Var::ArgsNames,
            Var::ArgsGetNames,
            Var::ArgsPostNames,
            Var::RequestHeaders,
            Var::RequestHeadersNames,
            Var::RequestCookies,
            Var::RequestCookiesNames,
            Var::RequestFilename,
            Var::RequestBasename,
            Var::RequestUri,
            Var::RequestUriRaw,
            Var::RequestLine,
            Var::RequestMethod,
            Var::RequestProtocol,
            Var::QueryString,
            Var::RequestBody,
            Var::Files,
            Var::FilesNames,
            Var::ResponseHeaders,
            Var::ResponseHeadersNames,
            Var::ResponseProtocol,
            Var::ResponseBody,
        ];
        let mut checked = 0;
        for var in vars {
            for key in [
                KeySel::All,
                KeySel::Name("b".into()),
                KeySel::Name("host".into()),
            ] {
                let t = Target {
                    var,
                    key,
                    count: false,
                };
                let mut full = Vec::new();
                tx.collect(&t, &mut full);
                // Same bytes and same cache key (origin) as the full path.
                let full: Vec<(Vec<u8>, u32)> =
                    full.into_iter().map(|v| (v.data, v.origin)).collect();
                let mut fast: Vec<(Vec<u8>, u32)> = Vec::new();
                assert!(tx.borrowed_values(&t, &mut |v, o| fast.push((v.to_vec(), o))));
                assert_eq!(fast, full, "{var:?}");
                checked += usize::from(!full.is_empty());
            }
        }
        assert!(
            checked > 30,
            "the fixture exercises the variables ({checked})"
        );
        // XML: a superset of what each selector collects.
        tx.xml_text = vec![b"text".to_vec()];
        tx.xml_attrs = vec![b"attr".to_vec()];
        for key in [KeySel::Name("/*".into()), KeySel::Name("//@*".into())] {
            let t = Target {
                var: Var::Xml,
                key,
                count: false,
            };
            let mut full = Vec::new();
            tx.collect(&t, &mut full);
            let mut fast: Vec<Vec<u8>> = Vec::new();
            assert!(tx.borrowed_values(&t, &mut |v, _| fast.push(v.to_vec())));
            assert!(!full.is_empty());
            assert!(full.iter().all(|v| fast.contains(&v.data)), "{t:?}");
        }
        // Variables it does not enumerate are refused, not guessed.
        let t = Target {
            var: Var::Tx,
            key: KeySel::All,
            count: false,
        };
        assert!(!tx.borrowed_values(&t, &mut |_, _| {}));
    }

    /// A group's union computed in phase 1 (no ARGS yet) must not hide the body's ARGS from
    /// a phase-2 rule of the same group: body processing invalidates it.
    #[test]
    fn group_union_is_recomputed_after_the_body() {
        use crate::corpus::CorpusRequest;
        use crate::inspect::Inspector;
        let text = "SecRuleEngine On\nSecRequestBodyAccess On\n\
            SecRule ARGS \"@rx attack\" \"id:1,phase:1,deny,status:403\"\n\
            SecRule ARGS \"@rx attack\" \"id:2,phase:2,deny,status:406\"\n";
        let cfg = crate::seclang::parse_str(text, std::path::Path::new("t.conf")).unwrap();
        let rs = crate::compile::compile(cfg).unwrap();
        // Same chain and targets: one target set, so phase 2 reads the union phase 1 computed.
        let union = |r: &Rule| r.prefilter.as_ref().map(|p| p.union);
        assert!(union(&rs.rules[0]).is_some());
        assert_eq!(union(&rs.rules[0]), union(&rs.rules[1]));
        let engine = crate::engine::Engine::from_rules(std::sync::Arc::new(rs));
        let mut scratch = engine.new_scratch();
        let line = r#"{"name":"p","method":"POST","uri":"/x","version":"1.1","headers":[["Content-Type","application/x-www-form-urlencoded"]],"body":"a=attack"}"#;
        let r = CorpusRequest::parse(line, 1).unwrap();
        for _ in 0..2 {
            let v = engine.inspect_request(&mut scratch, &r.as_request());
            assert_eq!(v.disruption.map(|d| (d.rule_id, d.status)), Some((2, 406)));
        }
        let get = r#"{"name":"g","method":"GET","uri":"/x?a=attack","version":"1.1","headers":[]}"#;
        let r = CorpusRequest::parse(get, 1).unwrap();
        let v = engine.inspect_request(&mut scratch, &r.as_request());
        assert_eq!(v.disruption.map(|d| (d.rule_id, d.status)), Some((1, 403)));
    }
}
