//! What spop-flood puts on the wire and reads back, built on `spoa_waf::spop` (no second codec):
//! HAPROXY-HELLO, the NOTIFY message list for one corpus request in either message shape,
//! NOTIFY framing with fresh ids, HAPROXY-DISCONNECT, and the classification of agent frames
//! (AGENT-HELLO, ACK blocked or not, AGENT-DISCONNECT).
//!
//! Message shapes follow `shared/docs/spoe-contract.md` §1.2 and §4.14: `check-request` carries
//! 8 unnamed args with `req.hdrs_bin`; `coraza-req` carries named args with `req.hdrs` text.
//! Never panics on agent bytes: every malformed frame becomes a [`Reply::Bad`] or an error.

use std::net::{IpAddr, Ipv4Addr};

use bytes::BytesMut;
use spoa_waf::corpus::CorpusRequest;
use spoa_waf::spop::action::{Action, Actions};
use spoa_waf::spop::data::{put_arg, put_message_header, TypedData};
use spoa_waf::spop::encode::{encode_haproxy_disconnect, encode_haproxy_hello, FrameWriter};
use spoa_waf::spop::frame::{decode_frame, FrameFlags, FrameType, Metadata};
use spoa_waf::spop::hello::{has_capability, AgentHello, Disconnect};

use crate::cli::MessageKind;

/// Room HAProxy keeps for the frame header when it fills a NOTIFY (`SPOP_FRAME_HDR_SIZE`).
pub const FRAME_HEADER_ROOM: usize = 32;

/// One corpus request's NOTIFY payload (the list of messages), encoded once and reused.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The encoded message list.
    pub bytes: Vec<u8>,
    /// Whether the body was cut to fit the frame size, as HAProxy's buffer would cut it.
    pub truncated: bool,
}

/// `req.hdrs` as HAProxy renders it: lower-case names (HTX), `name: value\r\n`, empty line.
fn hdrs_text_lower(r: &CorpusRequest) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in &r.headers {
        out.extend(n.bytes().map(|b| b.to_ascii_lowercase()));
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn ip(a: IpAddr) -> TypedData<'static> {
    match a {
        IpAddr::V4(v4) => TypedData::Ipv4(v4),
        IpAddr::V6(v6) => TypedData::Ipv6(v6),
    }
}

fn encode_message(
    r: &CorpusRequest,
    kind: MessageKind,
    index: usize,
    body: &[u8],
    hdrs_text: &[u8],
) -> Vec<u8> {
    let mut out = BytesMut::new();
    let query = match &r.query {
        Some(q) => TypedData::String(q.as_bytes()),
        None => TypedData::Null,
    };
    let body_size = i64::try_from(body.len()).unwrap_or(i64::MAX);
    match kind {
        MessageKind::CheckRequest => {
            let args: [TypedData<'_>; 8] = [
                TypedData::String(r.name.as_bytes()),
                TypedData::String(r.method.as_bytes()),
                TypedData::String(r.path.as_bytes()),
                query,
                TypedData::String(r.version.as_bytes()),
                TypedData::Binary(&r.hdrs_bin),
                TypedData::Int64(body_size),
                TypedData::Binary(body),
            ];
            put_message_header(&mut out, kind.name().as_bytes(), args.len() as u8);
            for v in &args {
                // Unnamed args: HAProxy writes a zero-length name.
                put_arg(&mut out, b"", v);
            }
        }
        MessageKind::CorazaReq => {
            let host = r.header("host").unwrap_or("");
            // Distinct, plausible client ports so an agent keyed on them sees many clients.
            let src_port = 1024 + (index % 60_000) as i64;
            let args: [(&[u8], TypedData<'_>); 12] = [
                (b"app", TypedData::String(host.as_bytes())),
                (b"id", TypedData::String(r.name.as_bytes())),
                (b"src-ip", ip(r.src)),
                (b"src-port", TypedData::Int64(src_port)),
                (b"dst-ip", TypedData::Ipv4(Ipv4Addr::LOCALHOST)),
                (b"dst-port", TypedData::Int64(80)),
                (b"method", TypedData::String(r.method.as_bytes())),
                (b"path", TypedData::String(r.path.as_bytes())),
                (b"query", query),
                (b"version", TypedData::String(r.version.as_bytes())),
                (b"headers", TypedData::String(hdrs_text)),
                (b"body", TypedData::Binary(body)),
            ];
            put_message_header(&mut out, kind.name().as_bytes(), args.len() as u8);
            for (n, v) in &args {
                put_arg(&mut out, n, v);
            }
        }
    }
    out.to_vec()
}

/// Encodes `r` as the message list of one NOTIFY. A body too big for `max_frame_size` is cut
/// so the frame fits, as HAProxy's `req.body` only holds what its buffer holds.
pub fn notify_payload(
    r: &CorpusRequest,
    kind: MessageKind,
    index: usize,
    max_frame_size: u32,
) -> Payload {
    let hdrs_text = if kind == MessageKind::CorazaReq {
        hdrs_text_lower(r)
    } else {
        Vec::new()
    };
    let budget = (max_frame_size as usize).saturating_sub(FRAME_HEADER_ROOM);
    let full = encode_message(r, kind, index, &r.body, &hdrs_text);
    if full.len() <= budget || r.body.is_empty() {
        return Payload {
            bytes: full,
            truncated: false,
        };
    }
    let overflow = full.len() - budget;
    // Varint lengths shrink with the body, so one cut always fits; keep at most what fits.
    let keep = r.body.len().saturating_sub(overflow);
    let cut = encode_message(
        r,
        kind,
        index,
        r.body.get(..keep).unwrap_or(&[]),
        &hdrs_text,
    );
    Payload {
        bytes: cut,
        truncated: true,
    }
}

/// Appends a HAPROXY-HELLO offering `pipelining`, as HAProxy ≥ 3.1 does.
pub fn hello(out: &mut BytesMut, max_frame_size: u32, engine_id: &str) {
    encode_haproxy_hello(
        out,
        b"2.0",
        max_frame_size,
        b"pipelining",
        Some(engine_id.as_bytes()),
        false,
    );
}

/// Appends one NOTIFY (FIN) carrying `payload` on stream `stream_id`, frame 1.
pub fn notify(out: &mut BytesMut, stream_id: u64, payload: &[u8]) -> u32 {
    let meta = Metadata {
        stream_id,
        frame_id: 1,
    };
    let mut w = FrameWriter::begin(out, FrameType::Notify, FrameFlags::FIN, meta);
    w.buf().extend_from_slice(payload);
    w.finish()
}

/// Appends a HAPROXY-DISCONNECT "normal".
pub fn disconnect(out: &mut BytesMut) {
    encode_haproxy_disconnect(out, 0, b"normal");
}

/// The agent's answer to our HELLO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Frame size both sides use from now on.
    pub max_frame_size: u32,
    /// Whether the agent announced `pipelining`.
    pub pipelining: bool,
}

/// One frame from the agent, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// ACK for `stream_id`; `blocked` when it sets `code` > 0 or `action` = `deny`.
    Ack {
        /// Stream id echoed by the agent.
        stream_id: u64,
        /// Verdict.
        blocked: bool,
        /// The action list was malformed (the actions before the damage still count).
        bad_actions: bool,
    },
    /// AGENT-HELLO.
    Hello(Negotiated),
    /// AGENT-DISCONNECT with its status code and message.
    Disconnect(u32, String),
    /// A frame we do not expect from an agent, or a malformed HELLO/DISCONNECT.
    Bad(String),
}

/// Whether an action list blocks the request the way HAProxy Ingress's deny rules read it.
fn blocks(payload: &[u8]) -> (bool, bool) {
    let mut blocked = false;
    for a in Actions::new(payload) {
        match a {
            Ok(Action::SetVar { name, value, .. }) => {
                if name == b"code" && value.as_int().is_some_and(|v| v > 0) {
                    blocked = true;
                }
                if name == b"action" && value.as_bytes() == Some(b"deny".as_slice()) {
                    blocked = true;
                }
            }
            Ok(Action::UnsetVar { .. }) => {}
            Err(_) => return (blocked, true),
        }
    }
    (blocked, false)
}

/// Cuts the next agent frame off `buf`: `Ok(None)` needs more bytes, `Err` is a framing error
/// after which the connection cannot continue.
pub fn next_reply(
    buf: &[u8],
    max_frame_size: u32,
    our_max: u32,
) -> Result<Option<(Reply, usize)>, String> {
    let Some((f, used)) =
        decode_frame(buf, max_frame_size).map_err(|e| format!("bad frame from agent: {e}"))?
    else {
        return Ok(None);
    };
    let reply = match f.ftype {
        FrameType::Ack => {
            let (blocked, bad_actions) = blocks(f.payload);
            Reply::Ack {
                stream_id: f.meta.stream_id,
                blocked,
                bad_actions,
            }
        }
        FrameType::AgentHello => match AgentHello::parse(f.payload) {
            Ok(h) => match (h.version, h.max_frame_size) {
                (Some(_), mfs) => Reply::Hello(Negotiated {
                    // ≥ 3.1 keeps its own size when the agent omits it; never go above ours.
                    max_frame_size: mfs.unwrap_or(our_max).min(our_max),
                    pipelining: h
                        .capabilities
                        .is_some_and(|c| has_capability(c, b"pipelining")),
                }),
                (None, _) => Reply::Bad("AGENT-HELLO without version".into()),
            },
            Err(e) => Reply::Bad(format!("malformed AGENT-HELLO: {e}")),
        },
        FrameType::AgentDisconnect => match Disconnect::parse(f.payload) {
            Ok(d) => Reply::Disconnect(
                d.status_code,
                String::from_utf8_lossy(d.message).into_owned(),
            ),
            Err(e) => Reply::Bad(format!("malformed AGENT-DISCONNECT: {e}")),
        },
        other => Reply::Bad(format!("unexpected frame type {} from agent", other.code())),
    };
    Ok(Some((reply, used)))
}

#[cfg(test)]
mod tests {
    use spoa_waf::spop::{
        encode_ack, encode_agent_disconnect, encode_agent_hello, DisconnectStatus, Messages,
        VarScope,
    };

    use super::*;

    const LINE: &str = r#"{"name":"r1","method":"POST","uri":"/a/b?x=1&y=2","headers":[["Host","h.example"],["Content-Type","text/plain"]],"body":"hello","src":"192.0.2.7"}"#;

    fn one_message(p: &[u8]) -> (Vec<u8>, Vec<(Vec<u8>, String)>) {
        let mut it = Messages::new(p);
        let m = it.next().unwrap().unwrap();
        assert!(it.next().is_none(), "exactly one message");
        let args = m
            .args()
            .map(|(n, v)| (n.to_vec(), format!("{v:?}")))
            .collect();
        (m.name.to_vec(), args)
    }

    #[test]
    fn check_request_has_eight_positional_args() {
        let r = CorpusRequest::parse(LINE, 1).unwrap();
        let p = notify_payload(&r, MessageKind::CheckRequest, 0, 16380);
        assert!(!p.truncated);
        let m = Messages::new(&p.bytes).next().unwrap().unwrap();
        assert_eq!(m.name, b"check-request");
        let args: Vec<_> = m.args().collect();
        assert_eq!(args.len(), 8);
        assert!(args.iter().all(|(n, _)| n.is_empty()), "unnamed args");
        assert_eq!(args[0].1, TypedData::String(b"r1"));
        assert_eq!(args[1].1, TypedData::String(b"POST"));
        assert_eq!(args[2].1, TypedData::String(b"/a/b"));
        assert_eq!(args[3].1, TypedData::String(b"x=1&y=2"));
        assert_eq!(args[4].1, TypedData::String(b"1.1"));
        assert_eq!(args[5].1, TypedData::Binary(&r.hdrs_bin));
        assert_eq!(args[6].1.as_int(), Some(5));
        assert_eq!(args[7].1, TypedData::Binary(b"hello"));
    }

    #[test]
    fn coraza_req_has_named_args_and_text_headers() {
        let r = CorpusRequest::parse(
            r#"{"name":"r2","uri":"/p","headers":[["Host","h.example"]]}"#,
            1,
        )
        .unwrap();
        let p = notify_payload(&r, MessageKind::CorazaReq, 3, 16380);
        let m = Messages::new(&p.bytes).next().unwrap().unwrap();
        assert_eq!(m.name, b"coraza-req");
        let get = |k: &[u8]| m.args().find(|(n, _)| *n == k).map(|(_, v)| v);
        assert_eq!(get(b"app"), Some(TypedData::String(b"h.example")));
        assert_eq!(get(b"id"), Some(TypedData::String(b"r2")));
        assert_eq!(get(b"src-ip"), Some(TypedData::Ipv4(Ipv4Addr::LOCALHOST)));
        assert_eq!(get(b"query"), Some(TypedData::Null), "no ? means NULL");
        assert_eq!(
            get(b"headers"),
            Some(TypedData::String(b"host: h.example\r\n\r\n"))
        );
        assert_eq!(get(b"body"), Some(TypedData::Binary(b"")));
        assert_eq!(one_message(&p.bytes).1.len(), 12);
    }

    #[test]
    fn big_bodies_are_cut_to_fit_the_frame() {
        let body = "a".repeat(40_000);
        let line = format!(
            r#"{{"name":"big","method":"POST","uri":"/","headers":[["Host","h"]],"body":"{body}"}}"#
        );
        let r = CorpusRequest::parse(&line, 1).unwrap();
        for kind in [MessageKind::CheckRequest, MessageKind::CorazaReq] {
            let p = notify_payload(&r, kind, 0, 16380);
            assert!(p.truncated);
            assert!(
                p.bytes.len() + FRAME_HEADER_ROOM <= 16380,
                "{}",
                p.bytes.len()
            );
            // Nearly all of the room went to the body.
            assert!(
                p.bytes.len() + FRAME_HEADER_ROOM > 16380 - 16,
                "{}",
                p.bytes.len()
            );
            assert_eq!(Messages::validate(&p.bytes), Ok(1));
        }
    }

    #[test]
    fn notify_frames_round_trip_through_the_codec() {
        let mut out = BytesMut::new();
        let len = notify(&mut out, 77, b"payload");
        let (f, used) = decode_frame(&out, 16380).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(len as usize + 4, out.len());
        assert_eq!(f.ftype, FrameType::Notify);
        assert!(f.flags.fin());
        assert_eq!(
            f.meta,
            Metadata {
                stream_id: 77,
                frame_id: 1
            }
        );
        assert_eq!(f.payload, b"payload");
    }

    #[test]
    fn agent_frames_are_classified() {
        let mut b = BytesMut::new();
        encode_agent_hello(&mut b, b"2.0", 9000, b"pipelining,async");
        let (r, used) = next_reply(&b, 16380, 16380).unwrap().unwrap();
        assert_eq!(used, b.len());
        assert_eq!(
            r,
            Reply::Hello(Negotiated {
                max_frame_size: 9000,
                pipelining: true
            })
        );

        let meta = Metadata {
            stream_id: 5,
            frame_id: 1,
        };
        for (name, value, blocked) in [
            (&b"code"[..], TypedData::Uint32(403), true),
            (b"code", TypedData::Int64(0), false),
            (b"code", TypedData::Int64(-1), false),
            (b"action", TypedData::String(b"deny"), true),
            (b"action", TypedData::String(b"allow"), false),
        ] {
            let mut b = BytesMut::new();
            encode_ack(
                &mut b,
                meta,
                &[Action::SetVar {
                    scope: VarScope::Txn,
                    name,
                    value,
                }],
            );
            let (r, _) = next_reply(&b, 16380, 16380).unwrap().unwrap();
            assert_eq!(
                r,
                Reply::Ack {
                    stream_id: 5,
                    blocked,
                    bad_actions: false
                },
                "{value:?}"
            );
        }

        let mut b = BytesMut::new();
        encode_agent_disconnect(&mut b, DisconnectStatus::TooBig);
        let (r, _) = next_reply(&b, 16380, 16380).unwrap().unwrap();
        assert!(matches!(r, Reply::Disconnect(3, _)), "{r:?}");

        // An ACK with a broken action list; a NOTIFY is not something an agent sends.
        let mut b = BytesMut::new();
        let mut w = FrameWriter::begin(&mut b, FrameType::Ack, FrameFlags::FIN, meta);
        w.buf().extend_from_slice(&[1, 3, 2, 200]);
        w.finish();
        let (r, _) = next_reply(&b, 16380, 16380).unwrap().unwrap();
        assert_eq!(
            r,
            Reply::Ack {
                stream_id: 5,
                blocked: false,
                bad_actions: true
            }
        );
        let mut b = BytesMut::new();
        notify(&mut b, 1, b"");
        assert!(matches!(
            next_reply(&b, 16380, 16380).unwrap().unwrap().0,
            Reply::Bad(_)
        ));

        // Partial input waits; an oversized length is an error.
        assert_eq!(next_reply(&[0, 0], 16380, 16380), Ok(None));
        assert!(next_reply(&[0, 1, 0, 0, 103], 16380, 16380).is_err());
    }
}
