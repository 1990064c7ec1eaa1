//! Adapter tests: both dialects against a small test inspector.

use std::net::Ipv4Addr;

use super::*;
use crate::inspect::{Disruption, DisruptiveAction, HttpRequest, HttpResponse};
use crate::spop::{
    decode_frame, encode_notify, Action, Actions, MessageSpec, Messages, Metadata, TypedData,
    VarScope,
};

/// Blocks when the query contains `/etc/passwd` (rule 930120), panics on method `PANIC`,
/// blocks responses with status 500.
struct TestInspector;

impl Inspector for TestInspector {
    type Scratch = u32;
    fn new_scratch(&self) -> u32 {
        0
    }
    fn inspect_request(&self, n: &mut u32, req: &HttpRequest<'_>) -> Verdict {
        *n += 1;
        if req.method == b"PANIC" {
            panic!("test inspector asked to panic");
        }
        let q = req.query.unwrap_or_default();
        if q.windows(11).any(|w| w == b"/etc/passwd") {
            return Verdict {
                disruption: Some(Disruption {
                    action: DisruptiveAction::Deny,
                    status: 403,
                    rule_id: 930120,
                    redirect_url: String::new(),
                    phase: 2,
                }),
                logged_rule_ids: vec![930120],
                log_lines: vec!["Access denied with code 403 (phase 2). [id \"930120\"]".into()],
                anomaly_score: 5,
                ..Verdict::default()
            };
        }
        Verdict::pass()
    }
    fn inspect_response(&self, _: &mut u32, res: &HttpResponse<'_>) -> Verdict {
        let mut v = Verdict::pass();
        if res.status == 500 {
            v.disruption = Some(Disruption {
                action: DisruptiveAction::Redirect,
                status: 302,
                rule_id: 1,
                redirect_url: "https://x/".into(),
                phase: 3,
            });
        }
        v
    }
}

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    errors: Vec<(AdapterError, String)>,
}

impl Sink for Log {
    fn match_line(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }
    fn error(&mut self, err: AdapterError, message: &str, _: u64, _: u64) {
        self.errors.push((err, message.to_string()));
    }
}

fn run(messages: &[MessageSpec<'_>]) -> (Vec<(Vec<u8>, TypedData<'static>)>, Outcome, Log) {
    run_opts(messages, false)
}

fn run_opts(
    messages: &[MessageSpec<'_>],
    result_vars: bool,
) -> (Vec<(Vec<u8>, TypedData<'static>)>, Outcome, Log) {
    let mut notify = BytesMut::new();
    let meta = Metadata {
        stream_id: 7,
        frame_id: 3,
    };
    encode_notify(&mut notify, meta, messages);
    let (f, _) = decode_frame(&notify, u32::MAX).unwrap().unwrap();
    let n = Notify {
        meta,
        messages: Messages::new(f.payload),
    };
    let mut a = Adapter::new(Arc::new(TestInspector)).with_result_vars(result_vars);
    let mut out = BytesMut::new();
    let mut log = Log::default();
    let outcome = a.answer(&n, 16380, &mut out, &mut log);
    let (ack, used) = decode_frame(&out, u32::MAX).unwrap().unwrap();
    assert_eq!(used, out.len(), "exactly one frame");
    assert_eq!(ack.ftype, FrameType::Ack);
    assert!(ack.flags.fin());
    assert_eq!(ack.meta, meta);
    let vars = Actions::new(ack.payload)
        .map(|a| match a.unwrap() {
            Action::SetVar {
                scope: VarScope::Txn,
                name,
                value,
            } => {
                let value = to_static(value);
                (name.to_vec(), value)
            }
            other => panic!("unexpected action {other:?}"),
        })
        .collect();
    (vars, outcome, log)
}

/// Test-only: leaks borrowed bytes so assertions can outlive the ACK buffer.
fn to_static(v: TypedData<'_>) -> TypedData<'static> {
    let leak = |s: &[u8]| -> &'static [u8] { Box::leak(s.to_vec().into_boxed_slice()) };
    match v {
        TypedData::Null => TypedData::Null,
        TypedData::Bool(b) => TypedData::Bool(b),
        TypedData::Int32(i) => TypedData::Int32(i),
        TypedData::Uint32(i) => TypedData::Uint32(i),
        TypedData::Int64(i) => TypedData::Int64(i),
        TypedData::Uint64(i) => TypedData::Uint64(i),
        TypedData::Ipv4(a) => TypedData::Ipv4(a),
        TypedData::Ipv6(a) => TypedData::Ipv6(a),
        TypedData::String(s) => TypedData::String(leak(s)),
        TypedData::Binary(s) => TypedData::Binary(leak(s)),
    }
}

fn classic_args<'a>(query: TypedData<'a>, method: &'a [u8]) -> Vec<(&'a [u8], TypedData<'a>)> {
    vec![
        (b"", TypedData::Null),
        (b"", TypedData::String(method)),
        (b"", TypedData::String(b"/")),
        (b"", query),
        (b"", TypedData::String(b"1.1")),
        (b"", TypedData::Binary(b"\x04host\x01a\x00\x00")),
        (b"", TypedData::Int64(0)),
        (b"", TypedData::Null),
    ]
}

#[test]
fn classic_pass_and_block() {
    let args = classic_args(TypedData::String(b"q=1"), b"GET");
    let (vars, o, _) = run(&[MessageSpec {
        name: b"check-request",
        args: &args,
    }]);
    assert_eq!(vars, vec![(b"code".to_vec(), TypedData::Uint32(0))]);
    assert_eq!((o.inspected, o.blocked), (1, 0));

    let args = classic_args(TypedData::String(b"p=/etc/passwd"), b"GET");
    let (vars, o, log) = run(&[MessageSpec {
        name: b"check-request",
        args: &args,
    }]);
    assert_eq!(vars, vec![(b"code".to_vec(), TypedData::Uint32(403))]);
    assert_eq!(o.blocked, 1);
    assert_eq!(
        log.lines,
        vec!["[client -] ModSecurity: Access denied with code 403 (phase 2). [id \"930120\"]"]
    );
}

#[test]
fn result_vars_add_rule_ids_and_the_classic_score_only_when_asked() {
    let args = classic_args(TypedData::String(b"p=/etc/passwd"), b"GET");
    let msg = [MessageSpec {
        name: b"check-request",
        args: &args,
    }];
    let (vars, _, _) = run_opts(&msg, true);
    assert_eq!(
        vars,
        vec![
            (b"code".to_vec(), TypedData::Uint32(403)),
            (b"rule_ids".to_vec(), TypedData::String(b"930120")),
            (b"anomaly_score".to_vec(), TypedData::Int64(5)),
        ]
    );
    let args = classic_args(TypedData::String(b"q=1"), b"GET");
    let (vars, _, _) = run_opts(
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
        true,
    );
    assert_eq!(vars[1], (b"rule_ids".to_vec(), TypedData::String(b"")));
    // Off by default: the contract's single variable.
    assert_eq!(run(&msg).0.len(), 1);
}

#[test]
fn classic_accepts_null_everywhere_and_any_int_type() {
    let mut args = vec![(&b""[..], TypedData::Null); 8];
    args[6].1 = TypedData::Uint32(12);
    let (vars, o, _) = run(&[MessageSpec {
        name: b"check-request",
        args: &args,
    }]);
    assert_eq!(vars, vec![(b"code".to_vec(), TypedData::Uint32(0))]);
    assert_eq!(o.inspected, 1);
}

#[test]
fn classic_bad_arguments_get_negative_code() {
    let args = classic_args(TypedData::Null, b"GET");
    let (vars, o, log) = run(&[MessageSpec {
        name: b"check-request",
        args: &args[..7],
    }]);
    assert_eq!(vars, vec![(b"code".to_vec(), TypedData::Int64(-1))]);
    assert_eq!(o.errors, [1, 0, 0]);
    assert_eq!(log.errors[0].1, "check-request");
    let mut args = classic_args(TypedData::Null, b"GET");
    args[1].1 = TypedData::Int32(5);
    let (vars, _, _) = run(&[MessageSpec {
        name: b"check-request",
        args: &args,
    }]);
    assert_eq!(vars, vec![(b"code".to_vec(), TypedData::Int64(-1))]);
}

fn var<'v>(
    vars: &'v [(Vec<u8>, TypedData<'static>)],
    name: &str,
) -> Option<&'v TypedData<'static>> {
    vars.iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v)
}

fn coraza_args<'a>(query: &'a [u8]) -> Vec<(&'a [u8], TypedData<'a>)> {
    vec![
        (b"app", TypedData::String(b"example.com")),
        (b"id", TypedData::String(b"abc-1")),
        (b"src-ip", TypedData::Ipv4(Ipv4Addr::new(192, 0, 2, 7))),
        (b"src-port", TypedData::Int64(5555)),
        (b"dst-ip", TypedData::Ipv4(Ipv4Addr::new(10, 0, 0, 1))),
        (b"dst-port", TypedData::Int64(80)),
        (b"method", TypedData::String(b"GET")),
        (b"path", TypedData::String(b"/")),
        (b"query", TypedData::String(query)),
        (b"version", TypedData::String(b"1.1")),
        (b"headers", TypedData::String(b"host: example.com\r\n\r\n")),
        (b"body", TypedData::Binary(b"")),
        (b"exportRuleIDs", TypedData::Bool(false)),
    ]
}

#[test]
fn coraza_pass_sets_fail_0_and_action_pass() {
    let args = coraza_args(b"q=1");
    let (vars, _, _) = run(&[MessageSpec {
        name: b"coraza-req",
        args: &args,
    }]);
    assert_eq!(var(&vars, "id"), Some(&TypedData::String(b"abc-1")));
    assert_eq!(var(&vars, "action"), Some(&TypedData::String(b"pass")));
    assert_eq!(var(&vars, "fail"), Some(&TypedData::Int64(0)));
    assert_eq!(var(&vars, "rules_hit"), Some(&TypedData::Int64(0)));
    assert_eq!(var(&vars, "anomaly_score"), Some(&TypedData::Int64(0)));
    assert_eq!(var(&vars, "status"), None);
    assert_eq!(var(&vars, "ruleid"), None);
}

#[test]
fn coraza_block_sets_interruption_vars_and_logs_client() {
    let mut args = coraza_args(b"p=/etc/passwd");
    args.reverse(); // any order
    let (vars, o, log) = run(&[MessageSpec {
        name: b"coraza-req",
        args: &args,
    }]);
    assert_eq!(var(&vars, "action"), Some(&TypedData::String(b"deny")));
    assert_eq!(var(&vars, "status"), Some(&TypedData::Int64(403)));
    assert_eq!(var(&vars, "data"), Some(&TypedData::String(b"")));
    assert_eq!(var(&vars, "ruleid"), Some(&TypedData::Int64(930120)));
    assert_eq!(var(&vars, "rules_hit"), Some(&TypedData::Int64(1)));
    assert_eq!(var(&vars, "anomaly_score"), Some(&TypedData::Int64(5)));
    assert_eq!(var(&vars, "fail"), Some(&TypedData::Int64(1)));
    assert_eq!(o.blocked, 1);
    assert!(log.lines[0].starts_with("[client 192.0.2.7] ModSecurity: Access denied"));
}

#[test]
fn coraza_with_classic_unnamed_args_is_read_by_position() {
    let args = classic_args(TypedData::String(b"x=/etc/passwd"), b"GET");
    let (vars, _, _) = run(&[MessageSpec {
        name: b"coraza-req",
        args: &args,
    }]);
    assert_eq!(var(&vars, "action"), Some(&TypedData::String(b"deny")));
    assert_eq!(var(&vars, "fail"), Some(&TypedData::Int64(1)));
}

#[test]
fn coraza_response_and_errors() {
    let args: Vec<(&[u8], TypedData<'_>)> = vec![
        (b"app", TypedData::String(b"a")),
        (b"id", TypedData::String(b"abc-1")),
        (b"version", TypedData::String(b"1.1")),
        (b"status", TypedData::Int64(500)),
        (b"headers", TypedData::String(b"")),
        (b"body", TypedData::Null),
    ];
    let (vars, _, _) = run(&[MessageSpec {
        name: b"coraza-res",
        args: &args,
    }]);
    assert_eq!(var(&vars, "action"), Some(&TypedData::String(b"redirect")));
    assert_eq!(var(&vars, "data"), Some(&TypedData::String(b"https://x/")));

    let bad: Vec<(&[u8], TypedData<'_>)> = vec![(b"status", TypedData::String(b"500"))];
    let (vars, o, _) = run(&[MessageSpec {
        name: b"coraza-res",
        args: &bad,
    }]);
    assert_eq!(
        vars,
        vec![
            (b"error".to_vec(), TypedData::Int64(1)),
            (b"fail".to_vec(), TypedData::Int64(1))
        ]
    );
    assert_eq!(o.errors, [1, 0, 0]);
}

#[test]
fn unknown_message_panics_and_several_messages() {
    let good = classic_args(TypedData::Null, b"GET");
    let panicky = classic_args(TypedData::Null, b"PANIC");
    let (vars, o, log) = run(&[
        MessageSpec {
            name: b"who-knows",
            args: &[],
        },
        MessageSpec {
            name: b"check-request",
            args: &panicky,
        },
        MessageSpec {
            name: b"check-request",
            args: &good,
        },
    ]);
    assert_eq!(
        vars,
        vec![
            (b"code".to_vec(), TypedData::Int64(-2)),
            (b"error".to_vec(), TypedData::Int64(2)),
            (b"fail".to_vec(), TypedData::Int64(1)),
            (b"code".to_vec(), TypedData::Int64(-3)),
            (b"code".to_vec(), TypedData::Uint32(0)),
        ]
    );
    assert_eq!(o.errors, [0, 1, 1]);
    assert_eq!(o.inspected, 1);
    assert_eq!(log.errors.len(), 2);
}

#[test]
fn empty_notify_gets_empty_ack() {
    let (vars, o, _) = run(&[]);
    assert!(vars.is_empty());
    assert_eq!(o, Outcome::default());
}

/// Random argument lists (names, types, counts) under every message name: always exactly one
/// well-formed ACK, never a panic.
#[test]
fn random_messages_always_get_exactly_one_ack() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let names: [&[u8]; 14] = [
        b"",
        b"app",
        b"id",
        b"src-ip",
        b"src-port",
        b"dst-ip",
        b"dst-port",
        b"method",
        b"path",
        b"query",
        b"version",
        b"headers",
        b"body",
        b"status",
    ];
    let blobs: [&[u8]; 5] = [
        b"",
        b"GET",
        b"/etc/passwd",
        b"\x04host\x01a\x00\x00",
        b"\xff\xfe\x00",
    ];
    let mut a = Adapter::new(Arc::new(TestInspector));
    for round in 0..5000 {
        let nb = (next() % 14) as usize;
        let args: Vec<(&[u8], TypedData<'_>)> = (0..nb)
            .map(|_| {
                let name = names[(next() % names.len() as u64) as usize];
                let blob = blobs[(next() % blobs.len() as u64) as usize];
                let v = match next() % 10 {
                    0 => TypedData::Null,
                    1 => TypedData::Bool(next() % 2 == 0),
                    2 => TypedData::Int32(next() as i32),
                    3 => TypedData::Uint32(next() as u32),
                    4 => TypedData::Int64(next() as i64),
                    5 => TypedData::Uint64(next()),
                    6 => TypedData::Ipv4((next() as u32).into()),
                    7 => TypedData::Ipv6(u128::from(next()).into()),
                    8 => TypedData::String(blob),
                    _ => TypedData::Binary(blob),
                };
                (name, v)
            })
            .collect();
        let name: &[u8] = [&b"check-request"[..], b"coraza-req", b"coraza-res", b"x"][round % 4];
        let mut notify = BytesMut::new();
        let meta = Metadata {
            stream_id: round as u64,
            frame_id: 1,
        };
        encode_notify(&mut notify, meta, &[MessageSpec { name, args: &args }]);
        let (f, _) = decode_frame(&notify, u32::MAX).unwrap().unwrap();
        let mut out = BytesMut::new();
        a.answer(
            &Notify {
                meta,
                messages: Messages::new(f.payload),
            },
            16380,
            &mut out,
            &mut Log::default(),
        );
        let (ack, used) = decode_frame(&out, u32::MAX).unwrap().unwrap();
        assert_eq!(
            (ack.ftype, ack.meta, used),
            (FrameType::Ack, meta, out.len())
        );
        assert!(Actions::new(ack.payload).all(|a| a.is_ok()));
    }
}
