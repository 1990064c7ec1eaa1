//! A recycled transaction (the shard's `EngineScratch`) must give exactly the verdicts a fresh
//! one gives: nothing of one request (TX variables, ctl removals, collections, MATCHED_VAR,
//! log lines, the disruption) may leak into the next. Compared request by request over the
//! mixed corpus with CRS 4.28 PL1, and on a rule set built to expose each kind of leak.

use std::path::Path;

use spoa_waf::corpus::CorpusRequest;
use spoa_waf::engine::Engine;
use spoa_waf::inspect::{HeaderBlock, HttpResponse, Inspector, Verdict};

fn crs4_engine(test: &str) -> Option<Engine> {
    crate::crs4::crs4_engine(test)
}

fn key(v: &Verdict) -> impl PartialEq + std::fmt::Debug {
    (
        v.disruption.clone(),
        v.logged_rule_ids.clone(),
        v.log_lines.clone(),
        v.anomaly_score,
    )
}

/// Every request of the mixed corpus (GETs, forms, JSON, multipart, attacks), in order through
/// one scratch, against a fresh scratch per request; a response is inspected in between.
#[test]
fn recycled_scratch_matches_fresh_scratch_on_the_mixed_corpus() {
    let Some(engine) = crs4_engine("recycled_scratch_matches_fresh_scratch_on_the_mixed_corpus")
    else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = std::fs::read_to_string(repo.join("bench/corpus/mix.jsonl")).unwrap();
    let mut shared = engine.new_scratch();
    let (mut compared, mut blocked, mut logged) = (0, 0, 0);
    // Every third request keeps the debug-build run short while mixing every kind.
    for (n, line) in corpus.lines().enumerate().filter(|(n, _)| n % 3 == 0) {
        let req = CorpusRequest::parse(line, n + 1).unwrap();
        let req = req.as_request();
        let warm = engine.inspect_request(&mut shared, &req);
        let fresh = engine.inspect_request(&mut engine.new_scratch(), &req);
        assert_eq!(key(&warm), key(&fresh), "line {}", n + 1);
        compared += 1;
        blocked += usize::from(fresh.disruption.is_some());
        logged += usize::from(!fresh.logged_rule_ids.is_empty());
        if n % 10 == 0 {
            let res = HttpResponse {
                unique_id: None,
                status: 200,
                version: b"1.1",
                headers: HeaderBlock::Binary(&[0, 0]),
                body: b"",
            };
            let warm = engine.inspect_response(&mut shared, &res);
            let fresh = engine.inspect_response(&mut engine.new_scratch(), &res);
            assert_eq!(key(&warm), key(&fresh), "response after line {}", n + 1);
        }
    }
    // The comparison is only meaningful if attacks and benign requests alternate.
    assert!(
        compared > 300 && blocked >= 10 && logged >= blocked,
        "{compared} {blocked} {logged}"
    );
}

/// The body corpora interleaved (JSON, multipart, form, large form bodies, GETs): each kind's
/// collections and body-processor state are refilled from the previous kind's buffers.
#[test]
fn recycled_scratch_matches_fresh_scratch_across_body_kinds() {
    let Some(engine) = crs4_engine("recycled_scratch_matches_fresh_scratch_across_body_kinds")
    else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kinds = ["post-json", "multipart", "post-form", "post-16k", "get"];
    let corpora: Vec<Vec<String>> = kinds
        .iter()
        .map(|k| {
            let text = std::fs::read_to_string(repo.join(format!("bench/corpus/{k}.jsonl")));
            text.unwrap().lines().map(str::to_string).collect()
        })
        .collect();
    let mut shared = engine.new_scratch();
    let mut compared = 0;
    for i in 0..40 {
        for (k, lines) in kinds.iter().zip(&corpora) {
            let Some(line) = lines.get(i * 5 % lines.len().max(1)) else {
                continue;
            };
            let req = CorpusRequest::parse(line, i + 1).unwrap();
            let req = req.as_request();
            let warm = engine.inspect_request(&mut shared, &req);
            let fresh = engine.inspect_request(&mut engine.new_scratch(), &req);
            assert_eq!(key(&warm), key(&fresh), "{k} line {}", i * 5 + 1);
            compared += 1;
        }
    }
    assert_eq!(compared, 40 * kinds.len());
}

/// TX variables, ctl removals and MATCHED_VAR set by one request are gone for the next.
#[test]
fn no_state_survives_into_the_next_request() {
    let text = "SecRuleEngine On\n\
        SecRule ARGS:a \"@streq 1\" \"id:1,phase:1,pass,nolog,setvar:tx.flag=1,\
            ctl:ruleRemoveById=3,ctl:ruleRemoveTargetById=4;ARGS:b\"\n\
        SecRule TX:flag \"@eq 1\" \"id:2,phase:1,pass,log,msg:'flag %{tx.flag}'\"\n\
        SecRule REQUEST_URI \"@contains /x\" \"id:3,phase:1,pass,log\"\n\
        SecRule ARGS \"@streq evil\" \"id:4,phase:1,pass,log\"\n\
        SecRule &TX:flag \"@eq 0\" \"id:5,phase:2,pass,log,setvar:tx.score=+1\"\n\
        SecRule TX:score \"@gt 1\" \"id:6,phase:2,deny,status:409\"\n";
    let cfg = spoa_waf::seclang::parse_str(text, Path::new("reuse.conf")).unwrap();
    let rs = spoa_waf::compile::compile(cfg).unwrap();
    let engine = Engine::from_rules(std::sync::Arc::new(rs));
    let parse = |l: &str| CorpusRequest::parse(l, 1).unwrap();
    let first = parse(
        r#"{"name":"a","method":"GET","uri":"/x?a=1&b=evil","version":"1.1","headers":[["Host","h"]]}"#,
    );
    let second = parse(
        r#"{"name":"b","method":"GET","uri":"/x?b=evil","version":"1.1","headers":[["Host","h"]]}"#,
    );
    let mut shared = engine.new_scratch();
    let v1 = engine.inspect_request(&mut shared, &first.as_request());
    assert_eq!(v1.logged_rule_ids, vec![2], "{:?}", v1.log_lines);
    for _ in 0..3 {
        let warm = engine.inspect_request(&mut shared, &second.as_request());
        let fresh = engine.inspect_request(&mut engine.new_scratch(), &second.as_request());
        assert_eq!(warm.logged_rule_ids, vec![3, 4, 5]);
        assert!(warm.disruption.is_none(), "tx.score must restart from 0");
        assert_eq!(key(&warm), key(&fresh));
    }
}
