//! `spoa-waf check` and `spoa-waf serve` decide every request alike.
//!
//! The mixed benchmark corpus (benign browser/API traffic with 5 % attacks) goes once through the
//! real `check` binary and once over SPOP through an in-process server running the same
//! default rules, in both HAProxy Ingress dialects; status and anomaly score must agree request
//! by request.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use bytes::BytesMut;
use spoa_waf::corpus::CorpusRequest;
use spoa_waf::engine::Engine;
use spoa_waf::server::{Server, ServerConfig};
use spoa_waf::spop::{self, FrameType, MessageSpec, Metadata, TypedData};

use crate::util::*;

/// What `check` printed for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision {
    status: u16,
    score: i64,
}

fn check_decisions(rules: &std::path::Path, corpus: &std::path::Path) -> HashMap<String, Decision> {
    let out = Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
        .arg("check")
        .arg("--rules")
        .arg(rules)
        .arg("--input")
        .arg(corpus)
        .output()
        .expect("run spoa-waf check");
    assert!(
        out.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("check prints JSON lines");
        let d = Decision {
            status: v["status"].as_u64().expect("status") as u16,
            score: v["score"].as_i64().expect("score"),
        };
        map.insert(v["name"].as_str().expect("name").to_string(), d);
    }
    map
}

fn classic_args(r: &CorpusRequest) -> Vec<(&'static [u8], TypedData<'_>)> {
    vec![
        (b"", TypedData::String(r.name.as_bytes())),
        (b"", TypedData::String(r.method.as_bytes())),
        (b"", TypedData::String(r.path.as_bytes())),
        (
            b"",
            r.query
                .as_deref()
                .map_or(TypedData::Null, |q| TypedData::String(q.as_bytes())),
        ),
        (b"", TypedData::String(r.version.as_bytes())),
        (b"", TypedData::Binary(&r.hdrs_bin)),
        (b"", TypedData::Int64(r.body.len() as i64)),
        (b"", TypedData::Binary(&r.body)),
    ]
}

fn coraza_args<'a>(r: &'a CorpusRequest, hdrs: &'a [u8]) -> Vec<(&'static [u8], TypedData<'a>)> {
    let src = match r.src {
        std::net::IpAddr::V4(a) => TypedData::Ipv4(a),
        std::net::IpAddr::V6(a) => TypedData::Ipv6(a),
    };
    vec![
        (
            b"app",
            TypedData::String(r.header("host").unwrap_or("").as_bytes()),
        ),
        (b"id", TypedData::String(r.name.as_bytes())),
        (b"src-ip", src),
        (b"src-port", TypedData::Int64(40000)),
        (b"method", TypedData::String(r.method.as_bytes())),
        (b"path", TypedData::String(r.path.as_bytes())),
        (
            b"query",
            r.query
                .as_deref()
                .map_or(TypedData::Null, |q| TypedData::String(q.as_bytes())),
        ),
        (b"version", TypedData::String(r.version.as_bytes())),
        (b"headers", TypedData::String(hdrs)),
        (b"body", TypedData::Binary(&r.body)),
    ]
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn check_and_serve_agree_on_the_mixed_corpus_in_both_dialects() {
    let root = repo_root();
    let rules = root.join("rules/spoa-waf.conf");
    let corpus_path = root.join("bench/corpus/mix.jsonl");
    let expected = check_decisions(&rules, &corpus_path);
    let corpus = CorpusRequest::parse_all(&std::fs::read_to_string(&corpus_path).unwrap()).unwrap();
    assert_eq!(expected.len(), corpus.len());
    assert!(
        expected.values().any(|d| d.status != 200),
        "the mixed corpus blocks nothing: the comparison would prove little"
    );

    let engine = Arc::new(Engine::from_file(&rules).expect("default rules load"));
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.shards = 1;
    cfg.cpus = None;
    cfg.max_frame_size = 1 << 20;
    let agent = Server::start(cfg, engine).expect("agent starts");
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(1 << 20);

    let mut disagreements = Vec::new();
    for (i, r) in corpus.iter().enumerate() {
        let want = expected[&r.name];
        let hdrs = r.hdrs_text();
        for (name, args) in [
            (&b"check-request"[..], classic_args(r)),
            (&b"coraza-req"[..], coraza_args(r, &hdrs)),
        ] {
            let meta = Metadata {
                stream_id: i as u64 + 1,
                frame_id: 1,
            };
            let mut b = BytesMut::new();
            spop::encode_notify(&mut b, meta, &[MessageSpec { name, args: &args }]);
            c.send(&b);
            let ack = c.read_frame().expect("an ACK for every NOTIFY");
            assert_eq!(ack.ftype, FrameType::Ack, "{ack:?}");
            assert_eq!(ack.meta, meta);
            let vars = ack_vars(&ack.payload);
            let got = if name == b"check-request" {
                let code: i64 = var(&vars, "code").expect("code").parse().unwrap();
                assert!(code >= 0, "{}: error code {code}", r.name);
                Decision {
                    status: if code == 0 { 200 } else { code as u16 },
                    score: want.score, // the classic dialect carries no score
                }
            } else {
                let status = match var(&vars, "action") {
                    Some("deny") | Some("drop") | Some("redirect") => {
                        var(&vars, "status").expect("status").parse().unwrap()
                    }
                    _ => 200,
                };
                Decision {
                    status,
                    score: var(&vars, "anomaly_score")
                        .expect("anomaly_score")
                        .parse()
                        .unwrap(),
                }
            };
            if got != want {
                disagreements.push(format!(
                    "{} via {}: check {want:?}, serve {got:?}",
                    r.name,
                    String::from_utf8_lossy(name)
                ));
            }
        }
    }
    let summary = agent.shutdown();
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(
        summary.counters.errors.iter().all(|&n| n == 0),
        "{:?}",
        summary.counters
    );
    assert_eq!(summary.counters.acks, 2 * corpus.len() as u64);
}
