//! Typed data, KV-lists and message lists (SPOE.txt §3.1, §3.2.4–3.2.6; contract §4.3–4.4).
//!
//! Owns [`TypedData`] (all ten types, borrowed from the frame), the KV-list iterator of HELLO and
//! DISCONNECT payloads and the message/argument iterators of NOTIFY payloads, with their encoders.
//! Decoding is zero-copy: strings and binaries are `&'a [u8]` views of the frame, never copied
//! and never required to be UTF-8 (HAProxy sends raw request bytes). Malformed input is a
//! [`DecodeError`], never a panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use super::error::DecodeError;
use super::varint;

/// Typed-data type ids (low nibble of the type byte).
pub mod type_id {
    /// NULL.
    pub const NULL: u8 = 0;
    /// BOOL; the value lives in the flag nibble.
    pub const BOOL: u8 = 1;
    /// 32-bit signed int, varint-encoded.
    pub const INT32: u8 = 2;
    /// 32-bit unsigned int, varint-encoded.
    pub const UINT32: u8 = 3;
    /// 64-bit signed int, varint-encoded (negative: 64-bit two's complement).
    pub const INT64: u8 = 4;
    /// 64-bit unsigned int, varint-encoded.
    pub const UINT64: u8 = 5;
    /// IPv4 address, 4 bytes.
    pub const IPV4: u8 = 6;
    /// IPv6 address, 16 bytes.
    pub const IPV6: u8 = 7;
    /// Varint length + bytes.
    pub const STRING: u8 = 8;
    /// Varint length + bytes.
    pub const BINARY: u8 = 9;
    /// The BOOL flag bit that means `true`.
    pub const FLAG_TRUE: u8 = 0x10;
}

/// One SPOP typed value. Strings and binaries borrow the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypedData<'a> {
    /// No value (a sample fetch that failed).
    Null,
    /// A boolean.
    Bool(bool),
    /// INT32.
    Int32(i32),
    /// UINT32.
    Uint32(u32),
    /// INT64.
    Int64(i64),
    /// UINT64.
    Uint64(u64),
    /// IPV4.
    Ipv4(Ipv4Addr),
    /// IPV6.
    Ipv6(Ipv6Addr),
    /// STRING: raw bytes, not necessarily UTF-8.
    String(&'a [u8]),
    /// BINARY.
    Binary(&'a [u8]),
}

impl<'a> TypedData<'a> {
    /// Any integer type (2–5) as an `i64`, as HAProxy itself converts them. UINT64 values above
    /// `i64::MAX` wrap, as in HAProxy.
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            TypedData::Int32(v) => Some(i64::from(v)),
            TypedData::Uint32(v) => Some(i64::from(v)),
            TypedData::Int64(v) => Some(v),
            TypedData::Uint64(v) => Some(v as i64),
            _ => None,
        }
    }

    /// STRING or BINARY contents.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            TypedData::String(b) | TypedData::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, TypedData::Null)
    }

    /// Appends the wire encoding (type byte, then data).
    pub fn encode(&self, out: &mut BytesMut) {
        match *self {
            TypedData::Null => out.put_u8(type_id::NULL),
            TypedData::Bool(b) => {
                out.put_u8(type_id::BOOL | if b { type_id::FLAG_TRUE } else { 0 });
            }
            TypedData::Int32(v) => {
                out.put_u8(type_id::INT32);
                // Negative values travel as their 64-bit two's complement, like HAProxy's.
                put_varint(out, i64::from(v) as u64);
            }
            TypedData::Uint32(v) => {
                out.put_u8(type_id::UINT32);
                put_varint(out, u64::from(v));
            }
            TypedData::Int64(v) => {
                out.put_u8(type_id::INT64);
                put_varint(out, v as u64);
            }
            TypedData::Uint64(v) => {
                out.put_u8(type_id::UINT64);
                put_varint(out, v);
            }
            TypedData::Ipv4(a) => {
                out.put_u8(type_id::IPV4);
                out.put_slice(&a.octets());
            }
            TypedData::Ipv6(a) => {
                out.put_u8(type_id::IPV6);
                out.put_slice(&a.octets());
            }
            TypedData::String(s) => {
                out.put_u8(type_id::STRING);
                put_str(out, s);
            }
            TypedData::Binary(s) => {
                out.put_u8(type_id::BINARY);
                put_str(out, s);
            }
        }
    }
}

/// Appends a varint.
pub fn put_varint(out: &mut BytesMut, v: u64) {
    varint::encode(v, out);
}

/// Appends a SPOP "STRING" without type byte: varint length, then the bytes.
pub fn put_str(out: &mut BytesMut, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.put_slice(s);
}

/// A read cursor over a complete frame payload. Running out of bytes is an error here, because
/// the frame length said everything is present.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Cursor { rest: b }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let (v, n) = varint::decode(self.rest).ok_or(DecodeError::BadVarint)?;
        self.rest = self.rest.get(n..).ok_or(DecodeError::BadVarint)?;
        Ok(v)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn string(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        self.bytes(len)
    }

    pub(crate) fn typed(&mut self) -> Result<TypedData<'a>, DecodeError> {
        let t = self.u8()?;
        Ok(match t & 0x0F {
            type_id::NULL => TypedData::Null,
            type_id::BOOL => TypedData::Bool(t & type_id::FLAG_TRUE != 0),
            // HAProxy casts integers the same way: the varint carries 64 bits.
            type_id::INT32 => TypedData::Int32(self.varint()? as i64 as i32),
            type_id::UINT32 => TypedData::Uint32(self.varint()? as u32),
            type_id::INT64 => TypedData::Int64(self.varint()? as i64),
            type_id::UINT64 => TypedData::Uint64(self.varint()?),
            type_id::IPV4 => {
                let b = self.bytes(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                TypedData::Ipv4(Ipv4Addr::from(a))
            }
            type_id::IPV6 => {
                let b = self.bytes(16)?;
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                TypedData::Ipv6(Ipv6Addr::from(a))
            }
            type_id::STRING => TypedData::String(self.string()?),
            type_id::BINARY => TypedData::Binary(self.string()?),
            other => return Err(DecodeError::UnknownDataType(other)),
        })
    }
}

/// Decodes one typed value at the start of `b`: the value and the bytes it used.
pub fn decode_typed(b: &[u8]) -> Result<(TypedData<'_>, usize), DecodeError> {
    let mut c = Cursor::new(b);
    let v = c.typed()?;
    Ok((v, b.len() - c.rest.len()))
}

/// Iterator over a KV-list (`(name, typed value)*`) of a HELLO or DISCONNECT payload.
///
/// Yields `Err` once on malformed input, then stops.
#[derive(Debug, Clone)]
pub struct KvList<'a> {
    cur: Cursor<'a>,
    failed: bool,
}

impl<'a> KvList<'a> {
    /// Iterates over the KV-list in `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        KvList {
            cur: Cursor::new(payload),
            failed: false,
        }
    }
}

impl<'a> Iterator for KvList<'a> {
    type Item = Result<(&'a [u8], TypedData<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.cur.is_empty() {
            return None;
        }
        let r = (|| Ok((self.cur.string()?, self.cur.typed()?)))();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Appends one KV entry.
pub fn put_kv(out: &mut BytesMut, name: &[u8], value: &TypedData<'_>) {
    put_str(out, name);
    value.encode(out);
}

/// One message of a NOTIFY: its name and its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `spoe-message` name, e.g. `check-request`.
    pub name: &'a [u8],
    /// Number of arguments announced (and present: iteration checked it).
    pub nb_args: u8,
    /// The encoded arguments, exactly `nb_args` of them.
    args: &'a [u8],
}

impl<'a> Message<'a> {
    /// Iterates the arguments as `(name, value)`; unnamed arguments have an empty name.
    pub fn args(&self) -> Args<'a> {
        Args {
            cur: Cursor::new(self.args),
            left: self.nb_args,
        }
    }
}

/// Iterator over one message's arguments. The message list iterator has already checked they
/// decode, so this yields no errors.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    cur: Cursor<'a>,
    left: u8,
}

impl<'a> Iterator for Args<'a> {
    type Item = (&'a [u8], TypedData<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let name = self.cur.string().ok()?;
        let value = self.cur.typed().ok()?;
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

/// Iterator over a NOTIFY's list of messages. Yields `Err` once on malformed input, then stops.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    cur: Cursor<'a>,
    failed: bool,
}

impl<'a> Messages<'a> {
    /// Iterates over the message list in a NOTIFY `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Messages {
            cur: Cursor::new(payload),
            failed: false,
        }
    }

    /// Checks the whole list decodes; `Ok(n)` is the number of messages.
    pub fn validate(payload: &'a [u8]) -> Result<usize, DecodeError> {
        let mut n = 0;
        for m in Messages::new(payload) {
            m?;
            n += 1;
        }
        Ok(n)
    }

    fn next_message(&mut self) -> Result<Message<'a>, DecodeError> {
        let name = self.cur.string()?;
        let nb_args = self.cur.u8()?;
        let start = self.cur.rest;
        for _ in 0..nb_args {
            self.cur.string()?;
            self.cur.typed()?;
        }
        let used = start.len() - self.cur.rest.len();
        let args = start.get(..used).ok_or(DecodeError::Truncated)?;
        Ok(Message {
            name,
            nb_args,
            args,
        })
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.cur.is_empty() {
            return None;
        }
        let r = self.next_message();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Appends a message header (name and argument count); follow with exactly `nb_args`
/// [`put_arg`] calls.
pub fn put_message_header(out: &mut BytesMut, name: &[u8], nb_args: u8) {
    put_str(out, name);
    out.put_u8(nb_args);
}

/// Appends one message argument (an empty `name` for an unnamed argument).
pub fn put_arg(out: &mut BytesMut, name: &[u8], value: &TypedData<'_>) {
    put_kv(out, name, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: TypedData<'_>) -> Vec<u8> {
        let mut b = BytesMut::new();
        v.encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn all_ten_types_round_trip() {
        let values = [
            TypedData::Null,
            TypedData::Bool(false),
            TypedData::Bool(true),
            TypedData::Int32(-5),
            TypedData::Int32(i32::MAX),
            TypedData::Uint32(403),
            TypedData::Int64(-1),
            TypedData::Int64(i64::MIN),
            TypedData::Uint64(u64::MAX),
            TypedData::Ipv4(Ipv4Addr::new(10, 1, 2, 3)),
            TypedData::Ipv6("2001:db8::1".parse().unwrap()),
            TypedData::String(b"GET"),
            TypedData::Binary(b"\x00\xff"),
        ];
        for v in values {
            let bytes = enc(v);
            assert_eq!(decode_typed(&bytes), Ok((v, bytes.len())), "{v:?}");
        }
    }

    #[test]
    fn golden_typed_bytes() {
        assert_eq!(enc(TypedData::Bool(true)), [0x11]);
        assert_eq!(enc(TypedData::Bool(false)), [0x01]);
        assert_eq!(enc(TypedData::Uint32(403)), [0x03, 0xf3, 0x0a]);
        assert_eq!(
            enc(TypedData::String(b"2.0")),
            [0x08, 0x03, b'2', b'.', b'0']
        );
        assert_eq!(
            enc(TypedData::Ipv4(Ipv4Addr::new(127, 0, 0, 1))),
            [6, 127, 0, 0, 1]
        );
        // Negative ints: 64-bit two's complement, 10 varint bytes.
        let neg = enc(TypedData::Int64(-1));
        assert_eq!(neg.len(), 1 + varint::MAX_LEN);
        let neg32 = enc(TypedData::Int32(-1));
        assert_eq!(&neg32[1..], &neg[1..]);
    }

    #[test]
    fn reserved_types_and_truncation_are_errors() {
        assert_eq!(decode_typed(&[0x0a]), Err(DecodeError::UnknownDataType(10)));
        assert_eq!(decode_typed(&[0x0f]), Err(DecodeError::UnknownDataType(15)));
        assert_eq!(
            decode_typed(&[0x08, 0x05, b'a']),
            Err(DecodeError::Truncated)
        );
        assert_eq!(decode_typed(&[0x06, 1, 2]), Err(DecodeError::Truncated));
        assert_eq!(decode_typed(&[0x03, 0xf0]), Err(DecodeError::BadVarint));
        assert_eq!(decode_typed(&[]), Err(DecodeError::Truncated));
    }

    #[test]
    fn int_types_are_interchangeable() {
        for v in [
            TypedData::Int32(7),
            TypedData::Uint32(7),
            TypedData::Int64(7),
            TypedData::Uint64(7),
        ] {
            assert_eq!(v.as_int(), Some(7));
        }
        assert_eq!(TypedData::String(b"7").as_int(), None);
    }

    #[test]
    fn messages_and_args_decode() {
        let mut b = BytesMut::new();
        put_message_header(&mut b, b"check-request", 2);
        put_arg(&mut b, b"", &TypedData::Null);
        put_arg(&mut b, b"method", &TypedData::String(b"GET"));
        put_message_header(&mut b, b"other", 0);
        let msgs: Vec<_> = Messages::new(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].name, b"check-request");
        let args: Vec<_> = msgs[0].args().collect();
        assert_eq!(
            args,
            vec![
                (&b""[..], TypedData::Null),
                (&b"method"[..], TypedData::String(b"GET"))
            ]
        );
        assert_eq!(msgs[1].args().count(), 0);
        assert_eq!(Messages::validate(&b), Ok(2));
        // Cut anywhere inside: an error, never a panic, never a bogus success.
        for cut in 1..b.len() {
            let r = Messages::validate(&b[..cut]);
            // A cut exactly after the first message is a valid shorter list.
            if cut != b.len() - 7 {
                assert!(r.is_err(), "cut {cut}");
            }
        }
    }

    #[test]
    fn kv_list_yields_error_once() {
        let mut b = BytesMut::new();
        put_kv(&mut b, b"a", &TypedData::Uint32(1));
        b.put_slice(&[0x05, b'x']);
        let items: Vec<_> = KvList::new(&b).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], Ok((&b"a"[..], TypedData::Uint32(1))));
        assert!(items[1].is_err());
    }
}
