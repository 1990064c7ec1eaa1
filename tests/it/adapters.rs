//! Both HAProxy Ingress dialects end to end through the in-process server.

use bytes::BytesMut;
use spoa_waf::spop::{self, FrameType, MessageSpec, Metadata, TypedData};

use crate::util::*;

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn coraza_req<'a>(id: &'a [u8], query: &'a [u8]) -> Vec<(&'a [u8], TypedData<'a>)> {
    vec![
        (b"app", TypedData::String(b"example.com")),
        (b"id", TypedData::String(id)),
        (b"src-ip", TypedData::Ipv4([198, 51, 100, 9].into())),
        (b"src-port", TypedData::Int64(40000)),
        (b"dst-ip", TypedData::Ipv6("::1".parse().unwrap())),
        (b"dst-port", TypedData::Int64(443)),
        (b"method", TypedData::String(b"GET")),
        (b"path", TypedData::String(b"/")),
        (b"query", TypedData::String(query)),
        (b"version", TypedData::String(b"2.0")),
        (
            b"headers",
            TypedData::String(b"host: example.com\r\nuser-agent: t\r\n\r\n"),
        ),
        (b"body", TypedData::Binary(b"")),
    ]
}

#[test]
fn coraza_req_pass_and_deny_over_tcp() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(16380);
    let pass = coraza_req(b"uuid-1", b"q=fine");
    let deny = coraza_req(b"uuid-2", b"file=/etc/passwd");
    let mut b = BytesMut::new();
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 1,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"coraza-req",
            args: &pass,
        }],
    );
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 3,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"coraza-req",
            args: &deny,
        }],
    );
    c.send(&b);
    let mut acks = [c.read_frame().unwrap(), c.read_frame().unwrap()];
    acks.sort_by_key(|f| f.meta.stream_id);
    let p = ack_vars(&acks[0].payload);
    assert_eq!(var(&p, "id"), Some("uuid-1"));
    assert_eq!(var(&p, "action"), Some("pass"));
    assert_eq!(var(&p, "fail"), Some("0"));
    assert_eq!(var(&p, "status"), None);
    let d = ack_vars(&acks[1].payload);
    assert_eq!(var(&d, "id"), Some("uuid-2"));
    assert_eq!(var(&d, "action"), Some("deny"));
    assert_eq!(var(&d, "status"), Some("403"));
    assert_eq!(var(&d, "ruleid"), Some("930120"));
    assert_eq!(var(&d, "data"), Some(""));
    assert_eq!(var(&d, "rules_hit"), Some("1"));
    assert_eq!(var(&d, "anomaly_score"), Some("5"));
    assert_eq!(var(&d, "fail"), Some("1"));
}

#[test]
fn unknown_messages_bad_args_and_panics_still_get_an_ack() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(16380);
    let mut panicky = coraza_req(b"x", b"");
    panicky[6].1 = TypedData::String(b"PANIC");
    let bad = [(&b"src-port"[..], TypedData::String(b"eighty"))];
    let mut b = BytesMut::new();
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 0,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"no-such-message",
            args: &[],
        }],
    );
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 0,
            frame_id: 2,
        },
        &[MessageSpec {
            name: b"coraza-req",
            args: &bad,
        }],
    );
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 0,
            frame_id: 3,
        },
        &[MessageSpec {
            name: b"coraza-req",
            args: &panicky,
        }],
    );
    c.send(&b);
    let mut by_fid = std::collections::BTreeMap::new();
    for _ in 0..3 {
        let f = c.read_frame().expect("an ACK for every NOTIFY");
        assert_eq!(f.ftype, FrameType::Ack);
        by_fid.insert(f.meta.frame_id, ack_vars(&f.payload));
    }
    assert_eq!(var(&by_fid[&1], "code"), Some("-2"));
    assert_eq!(var(&by_fid[&1], "error"), Some("2"));
    assert_eq!(var(&by_fid[&2], "error"), Some("1"));
    assert_eq!(var(&by_fid[&3], "error"), Some("3"));
    assert_eq!(var(&by_fid[&3], "fail"), Some("1"));
    // The shard survived the panic: the connection still answers.
    let ok = coraza_req(b"y", b"");
    let mut b = BytesMut::new();
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 0,
            frame_id: 4,
        },
        &[MessageSpec {
            name: b"coraza-req",
            args: &ok,
        }],
    );
    c.send(&b);
    assert_eq!(
        var(&ack_vars(&c.read_frame().unwrap().payload), "action"),
        Some("pass")
    );
    let s = agent.shutdown();
    assert_eq!(&s.counters.errors[1..4], &[1, 1, 1]);
}

#[test]
fn several_messages_in_one_notify_are_each_answered() {
    let agent = start_agent(1, |_| {});
    let mut c = SpopClient::connect(agent.local_addr());
    c.hello(16380);
    let classic: [(&[u8], TypedData<'_>); 8] = [
        (b"", TypedData::String(b"uid")),
        (b"", TypedData::String(b"GET")),
        (b"", TypedData::String(b"/etc/passwd")),
        (b"", TypedData::Null),
        (b"", TypedData::String(b"1.1")),
        (b"", TypedData::Binary(b"\x00\x00")),
        (b"", TypedData::Int32(0)),
        (b"", TypedData::Binary(b"")),
    ];
    let coraza = coraza_req(b"z", b"a=1");
    let mut b = BytesMut::new();
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 7,
            frame_id: 9,
        },
        &[
            MessageSpec {
                name: b"check-request",
                args: &classic,
            },
            MessageSpec {
                name: b"coraza-req",
                args: &coraza,
            },
        ],
    );
    c.send(&b);
    let f = c.read_frame().unwrap();
    assert_eq!((f.meta.stream_id, f.meta.frame_id), (7, 9));
    let v = ack_vars(&f.payload);
    assert_eq!(v[0], ("code".to_string(), "403".to_string()));
    assert_eq!(var(&v, "action"), Some("pass"));
}

fn capture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("tests/data/spop").join(name)).unwrap()
}

/// Runs a capture through a session; returns the NOTIFY's ids and messages' decoded requests.
fn decode_capture(bytes: &[u8]) -> Vec<(Metadata, spoa_waf::inspect::HttpRequest<'_>)> {
    let mut session = spop::Session::new(spop::SessionConfig::default());
    let mut out = BytesMut::new();
    let mut pos = 0;
    let mut reqs = Vec::new();
    while let Some((step, n)) = session.next_step(&bytes[pos..], &mut out) {
        if let spop::Step::Notify(notify) = step {
            for m in notify.messages {
                let m = m.unwrap();
                let req = match m.name {
                    b"check-request" => spoa_waf::adapter::classic::parse_request(&m),
                    b"coraza-req" => spoa_waf::adapter::coraza::parse_request(&m),
                    other => panic!("unexpected message {other:?}"),
                };
                reqs.push((notify.meta, req.unwrap()));
            }
        } else {
            assert!(matches!(step, spop::Step::Continue), "{step:?}");
        }
        pos += n;
    }
    assert_eq!(pos, bytes.len(), "the capture decodes completely");
    reqs
}

fn headers(req: &spoa_waf::inspect::HttpRequest<'_>) -> Vec<(String, String)> {
    let mut v = Vec::new();
    assert!(req.headers.for_each(|n, val| {
        v.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(val).into_owned(),
        ))
    }));
    v
}

#[test]
fn real_haproxy_captures_decode_in_both_dialects() {
    for dialect in ["classic", "coraza"] {
        let get = capture(&format!("haproxy-2.6-{dialect}-get.bin"));
        let reqs = decode_capture(&get);
        assert_eq!(reqs.len(), 1);
        let (meta, r) = &reqs[0];
        assert_eq!(meta.frame_id, 1);
        assert_eq!(
            (r.method, r.path, r.query, r.version),
            (
                &b"GET"[..],
                &b"/index.html"[..],
                Some(&b"q=hello&x=%2Fetc"[..]),
                &b"1.1"[..]
            )
        );
        let h = headers(r);
        assert!(
            h.contains(&("user-agent".into(), "curl/7.88.1".into())),
            "{h:?}"
        );
        assert!(h.contains(&("x-test".into(), "1".into())), "{h:?}");
        assert!(r.body.is_empty());
        if dialect == "classic" {
            // No unique-id-format in classic mode: NULL; HAProxy 2.6 stream ids may be 0.
            assert_eq!(r.unique_id, None);
            assert!(r.client.is_none());
        } else {
            assert_eq!(r.unique_id.map(<[u8]>::len), Some(36), "uuid()");
            assert_eq!(r.client.map(|c| c.0), Some("127.0.0.1".parse().unwrap()));
            assert!(r.server.is_some_and(|s| s.1 > 0));
        }
        let post = capture(&format!("haproxy-2.6-{dialect}-post.bin"));
        let reqs = decode_capture(&post);
        let (_, r) = &reqs[0];
        assert_eq!(
            (r.method, r.path, r.query, r.body),
            (&b"POST"[..], &b"/form"[..], None, &b"a=1&b=2"[..])
        );
        assert!(headers(r).contains(&(
            "content-type".into(),
            "application/x-www-form-urlencoded".into()
        )));
    }
}

#[test]
fn real_haproxy_captures_replayed_to_the_agent_get_acks() {
    let agent = start_agent(1, |_| {});
    for (file, var_name, want) in [
        ("haproxy-2.6-classic-get.bin", "code", "0"),
        ("haproxy-2.6-classic-post.bin", "code", "0"),
        ("haproxy-2.6-coraza-get.bin", "action", "pass"),
        ("haproxy-2.6-coraza-post.bin", "fail", "0"),
    ] {
        let bytes = capture(file);
        let expected = decode_capture(&bytes)[0].0;
        let mut c = SpopClient::connect(agent.local_addr());
        c.send(&bytes);
        assert_eq!(c.read_frame().unwrap().ftype, FrameType::AgentHello);
        let ack = c.read_frame().unwrap();
        assert_eq!(ack.ftype, FrameType::Ack);
        assert_eq!(ack.meta, expected, "{file}");
        assert_eq!(var(&ack_vars(&ack.payload), var_name), Some(want), "{file}");
    }
}
