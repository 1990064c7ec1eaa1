//! Golden-byte tests from the contract, session scenarios and a never-panics property test.

use bytes::BytesMut;

use super::*;

/// Contract §4.12: the exact health-check HELLO of `option spop-check`.
const HEALTHCHECK_HELLO: &[u8] = b"\x00\x00\x00\x4e\x01\x00\x00\x00\x01\x00\x00\
\x12supported-versions\x08\x032.0\
\x0emax-frame-size\x03\xfc\xf0\x06\
\x0ccapabilities\x08\x00\
\x0bhealthcheck\x11";

/// Contract §4.16: ACK setting txn code = 403 on stream 1, frame 1.
const ACK_403: &[u8] =
    b"\x00\x00\x00\x12\x67\x00\x00\x00\x01\x01\x01\x01\x03\x02\x04code\x03\xf3\x0a";

fn hello(max: u32) -> BytesMut {
    let mut b = BytesMut::new();
    encode_haproxy_hello(
        &mut b,
        b"2.0",
        max,
        b"pipelining,async",
        Some(b"engine-1"),
        false,
    );
    b
}

fn frames(mut b: &[u8]) -> Vec<(FrameType, FrameFlags, Metadata, Vec<u8>)> {
    let mut v = Vec::new();
    while let Some((f, n)) = decode_frame(b, u32::MAX).unwrap() {
        v.push((f.ftype, f.flags, f.meta, f.payload.to_vec()));
        b = &b[n..];
    }
    assert!(b.is_empty());
    v
}

fn drive(s: &mut Session, input: &[u8], out: &mut BytesMut) -> Vec<String> {
    let mut steps = Vec::new();
    let mut pos = 0;
    while let Some((step, n)) = s.next_step(&input[pos..], out) {
        pos += n;
        steps.push(match step {
            Step::Continue => "continue".to_string(),
            Step::Notify(n) => {
                encode_ack(out, n.meta, &[]);
                format!("notify {}/{}", n.meta.stream_id, n.meta.frame_id)
            }
            Step::Close(r) => format!("close {r:?}"),
        });
        if s.state() == State::Closed || pos >= input.len() {
            break;
        }
    }
    steps
}

#[test]
fn golden_healthcheck_hello_encodes_and_decodes() {
    let mut b = BytesMut::new();
    encode_haproxy_hello(&mut b, b"2.0", 16380, b"", None, true);
    assert_eq!(&b[..], HEALTHCHECK_HELLO);
    let (f, n) = decode_frame(HEALTHCHECK_HELLO, 16380).unwrap().unwrap();
    assert_eq!(n, HEALTHCHECK_HELLO.len());
    let h = HaproxyHello::parse(f.payload).unwrap();
    assert_eq!(h.supported_versions, Some(&b"2.0"[..]));
    assert_eq!(h.max_frame_size, Some(16380));
    assert_eq!(h.capabilities, Some(&b""[..]));
    assert!(h.healthcheck);
}

#[test]
fn golden_ack_example() {
    let mut b = BytesMut::new();
    let act = Action::SetVar {
        scope: VarScope::Txn,
        name: b"code",
        value: TypedData::Uint32(403),
    };
    encode_ack(
        &mut b,
        Metadata {
            stream_id: 1,
            frame_id: 1,
        },
        &[act],
    );
    assert_eq!(&b[..], ACK_403);
    let (f, _) = decode_frame(ACK_403, 16380).unwrap().unwrap();
    assert_eq!(f.ftype, FrameType::Ack);
    assert_eq!(
        Actions::new(f.payload)
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        vec![act]
    );
}

#[test]
fn healthcheck_gets_agent_hello_then_close() {
    let mut s = Session::new(SessionConfig::default());
    let mut out = BytesMut::new();
    let steps = drive(&mut s, HEALTHCHECK_HELLO, &mut out);
    assert_eq!(steps, vec!["close HealthCheck"]);
    let fs = frames(&out);
    assert_eq!(fs.len(), 1);
    let (t, flags, meta, payload) = &fs[0];
    assert_eq!(
        (*t, *flags, *meta),
        (FrameType::AgentHello, FrameFlags::FIN, Metadata::default())
    );
    let h = AgentHello::parse(payload).unwrap();
    assert_eq!(h.version, Some(&b"2.0"[..]));
    assert_eq!(h.max_frame_size, Some(16380));
    assert_eq!(h.capabilities, Some(&b"pipelining"[..]));
}

#[test]
fn hello_negotiates_min_frame_size() {
    for (ours, theirs, want) in [
        (16380, 16380, 16380),
        (1 << 20, 65532, 65532),
        (4096, 16380, 4096),
    ] {
        let mut s = Session::new(SessionConfig {
            max_frame_size: ours,
        });
        let mut out = BytesMut::new();
        assert_eq!(drive(&mut s, &hello(theirs), &mut out), vec!["continue"]);
        let fs = frames(&out);
        assert_eq!(
            AgentHello::parse(&fs[0].3).unwrap().max_frame_size,
            Some(want)
        );
        assert_eq!(s.max_frame_size(), want);
        assert_eq!(s.state(), State::Connected);
    }
}

fn notify(sid: u64, fid: u64) -> BytesMut {
    let mut b = BytesMut::new();
    let args = [(&b""[..], TypedData::String(b"GET"))];
    encode_notify(
        &mut b,
        Metadata {
            stream_id: sid,
            frame_id: fid,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
    );
    b
}

#[test]
fn pipelined_notifies_each_yield_one_step_with_their_ids() {
    let mut s = Session::new(SessionConfig::default());
    let mut input = hello(16380);
    // Stream 0 is valid (HAProxy ≤ 3.0); odd ids come from ≥ 3.1.
    for (sid, fid) in [(0, 1), (1, 1), (3, 1), (0, 2), (5, 7)] {
        input.extend_from_slice(&notify(sid, fid));
    }
    let mut out = BytesMut::new();
    let steps = drive(&mut s, &input, &mut out);
    assert_eq!(
        steps,
        vec![
            "continue",
            "notify 0/1",
            "notify 1/1",
            "notify 3/1",
            "notify 0/2",
            "notify 5/7"
        ]
    );
    let acks: Vec<_> = frames(&out)
        .into_iter()
        .skip(1)
        .map(|f| (f.0, f.1, f.2))
        .collect();
    assert_eq!(acks.len(), 5);
    assert!(acks.iter().all(|a| a.0 == FrameType::Ack && a.1.fin()));
    assert_eq!(
        acks[4].2,
        Metadata {
            stream_id: 5,
            frame_id: 7
        }
    );
}

#[test]
fn messages_of_a_notify_are_borrowed() {
    let mut s = Session::new(SessionConfig::default());
    let mut out = BytesMut::new();
    drive(&mut s, &hello(16380), &mut out);
    let n = notify(9, 1);
    let (step, used) = s.next_step(&n, &mut out).unwrap();
    assert_eq!(used, n.len());
    let Step::Notify(notify) = step else {
        panic!("expected a NOTIFY step")
    };
    let msgs: Vec<_> = notify.messages.map(Result::unwrap).collect();
    assert_eq!(msgs[0].name, b"check-request");
    let (_, v) = msgs[0].args().next().unwrap();
    // Zero-copy: the string points into the input buffer.
    let p = v.as_bytes().unwrap().as_ptr() as usize;
    assert!(p >= n.as_ptr() as usize && p < n.as_ptr() as usize + n.len());
}

fn disconnect_status(out: &[u8]) -> u32 {
    let fs = frames(out);
    let last = fs.last().unwrap();
    assert_eq!(last.0, FrameType::AgentDisconnect);
    assert!(last.1.fin());
    Disconnect::parse(&last.3).unwrap().status_code
}

#[test]
fn haproxy_disconnect_is_answered_with_status_0() {
    let mut s = Session::new(SessionConfig::default());
    let mut input = hello(16380);
    encode_haproxy_disconnect(&mut input, 1, b"I/O error");
    let mut out = BytesMut::new();
    let steps = drive(&mut s, &input, &mut out);
    assert_eq!(
        steps.last().unwrap(),
        "close PeerDisconnect { status_code: 1 }"
    );
    assert_eq!(disconnect_status(&out), 0);
}

#[test]
fn protocol_errors_map_to_status_codes() {
    let mut frag = notify(1, 1);
    frag[8] = 0; // clear FIN (flags are bytes 5..9)
    let mut big = BytesMut::new();
    big.extend_from_slice(&(16381u32).to_be_bytes());
    let mut no_version = BytesMut::new();
    {
        let mut w = FrameWriter::begin(
            &mut no_version,
            FrameType::HaproxyHello,
            FrameFlags::FIN,
            Metadata::default(),
        );
        data::put_kv(w.buf(), b"max-frame-size", &TypedData::Uint32(16380));
        w.finish();
    }
    let mut bad_version = BytesMut::new();
    encode_haproxy_hello(&mut bad_version, b"1.0", 16380, b"", None, false);
    let mut tiny = BytesMut::new();
    encode_haproxy_hello(&mut tiny, b"2.0", 100, b"", None, false);
    let mut no_caps = BytesMut::new();
    {
        let mut w = FrameWriter::begin(
            &mut no_caps,
            FrameType::HaproxyHello,
            FrameFlags::FIN,
            Metadata::default(),
        );
        data::put_kv(w.buf(), b"supported-versions", &TypedData::String(b"2.0"));
        data::put_kv(w.buf(), b"max-frame-size", &TypedData::Uint32(16380));
        w.finish();
    }
    let mut garbage_payload = hello(16380);
    {
        let mut w = FrameWriter::begin(
            &mut garbage_payload,
            FrameType::Notify,
            FrameFlags::FIN,
            Metadata {
                stream_id: 1,
                frame_id: 1,
            },
        );
        w.buf().extend_from_slice(b"\x05abc");
        w.finish();
    }
    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("notify before hello", notify(1, 1).to_vec(), 4),
        (
            "fragmented notify",
            [&hello(16380)[..], &frag[..]].concat(),
            10,
        ),
        ("frame too big", [&hello(16380)[..], &big[..]].concat(), 3),
        ("missing version", no_version.to_vec(), 5),
        ("unsupported version", bad_version.to_vec(), 8),
        ("frame size too small", tiny.to_vec(), 9),
        ("missing capabilities", no_caps.to_vec(), 7),
        (
            "duplicate hello",
            [&hello(16380)[..], &hello(16380)[..]].concat(),
            4,
        ),
        ("garbage notify payload", garbage_payload.to_vec(), 4),
        (
            "frame shorter than header",
            b"\x00\x00\x00\x02\x03\x00".to_vec(),
            4,
        ),
    ];
    for (name, input, want) in cases {
        let mut s = Session::new(SessionConfig::default());
        let mut out = BytesMut::new();
        let steps = drive(&mut s, &input, &mut out);
        assert!(
            steps.last().unwrap().starts_with("close ProtocolError"),
            "{name}: {steps:?}"
        );
        assert_eq!(disconnect_status(&out), want, "{name}");
        assert_eq!(s.state(), State::Closed);
    }
}

#[test]
fn unknown_frame_types_and_kv_keys_are_tolerated() {
    let mut s = Session::new(SessionConfig::default());
    let mut input = BytesMut::new();
    {
        let mut w = FrameWriter::begin(
            &mut input,
            FrameType::HaproxyHello,
            FrameFlags::FIN,
            Metadata::default(),
        );
        data::put_kv(w.buf(), b"supported-versions", &TypedData::String(b"2.0"));
        data::put_kv(
            w.buf(),
            b"some-future-key",
            &TypedData::Ipv4([1, 2, 3, 4].into()),
        );
        data::put_kv(w.buf(), b"max-frame-size", &TypedData::Int64(16380));
        data::put_kv(w.buf(), b"capabilities", &TypedData::String(b"pipelining"));
        w.finish();
    }
    FrameWriter::begin(
        &mut input,
        FrameType::Other(77),
        FrameFlags::FIN,
        Metadata::default(),
    )
    .finish();
    input.extend_from_slice(&notify(1, 1));
    let mut out = BytesMut::new();
    assert_eq!(
        drive(&mut s, &input, &mut out),
        vec!["continue", "continue", "notify 1/1"]
    );
}

#[test]
fn shutdown_sends_disconnect_0_once() {
    let mut s = Session::new(SessionConfig::default());
    let mut out = BytesMut::new();
    drive(&mut s, &hello(16380), &mut out);
    out.clear();
    assert!(matches!(
        s.shutdown(&mut out),
        Step::Close(CloseReason::Shutdown)
    ));
    assert_eq!(disconnect_status(&out), 0);
    let n = out.len();
    s.shutdown(&mut out);
    assert_eq!(out.len(), n);

    let mut s = Session::new(SessionConfig::default());
    let mut out = BytesMut::new();
    assert!(matches!(
        s.hello_timeout(&mut out),
        Step::Close(CloseReason::HelloTimeout)
    ));
    assert_eq!(disconnect_status(&out), 2);
}

/// A tiny xorshift PRNG: deterministic, std-only.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn valid_stream() -> BytesMut {
    let mut b = hello(16380);
    let args = [
        (&b""[..], TypedData::Null),
        (&b"m"[..], TypedData::String(b"POST")),
        (&b"b"[..], TypedData::Binary(&[0xf0, 0xff, 0x00])),
        (&b"i"[..], TypedData::Int64(-7)),
        (&b"6"[..], TypedData::Ipv6("::1".parse().unwrap())),
        (&b"t"[..], TypedData::Bool(true)),
    ];
    for i in 0..4 {
        encode_notify(
            &mut b,
            Metadata {
                stream_id: i,
                frame_id: 1,
            },
            &[MessageSpec {
                name: b"coraza-req",
                args: &args,
            }],
        );
    }
    encode_haproxy_disconnect(&mut b, 0, b"bye");
    b
}

/// Feeds random, truncated and mutated streams through the session and every payload iterator;
/// success is "no panic" plus the invariant that consumption always progresses.
#[test]
fn never_panics_on_random_truncated_or_mutated_input() {
    let base = valid_stream();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let mut input = base.to_vec();
        match round % 4 {
            0 => {
                let cut = rng.below(input.len());
                input.truncate(cut);
            }
            1 => {
                for _ in 0..1 + rng.below(6) {
                    let i = rng.below(input.len());
                    input[i] = rng.next() as u8;
                }
            }
            2 => {
                input = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
                // Sometimes keep a valid HELLO in front to reach the NOTIFY paths.
                if rng.next() % 2 == 0 {
                    input.splice(0..0, hello(16380).iter().copied());
                }
            }
            _ => {
                let i = rng.below(input.len());
                let j = rng.below(input.len());
                let (a, b) = (i.min(j), i.max(j));
                input.drain(a..b);
            }
        }
        let mut s = Session::new(SessionConfig {
            max_frame_size: 1 + rng.below(70_000) as u32,
        });
        let mut out = BytesMut::new();
        let mut pos = 0;
        while pos < input.len() {
            let Some((step, n)) = s.next_step(&input[pos..], &mut out) else {
                break;
            };
            assert!(n > 0, "no progress");
            if let Step::Notify(nf) = step {
                for m in nf.messages {
                    let m = m.expect("validated");
                    for (_, v) in m.args() {
                        let _ = v.as_int();
                    }
                }
            }
            pos += n;
            if s.state() == State::Closed {
                break;
            }
        }
        // The payload iterators on raw garbage as well.
        let _ = KvList::new(&input).count();
        let _ = Messages::new(&input).count();
        let _ = Actions::new(&input).count();
        let _ = HaproxyHello::parse(&input);
        let _ = decode_typed(&input);
    }
}
