//! `application/json` bodies → ARGS pairs, named exactly as libmodsecurity3 3.0.9 names them.
//!
//! Naming (confirmed against the reference engine): a top-level scalar is `json`; object
//! members append `.key` (`json.a.b`), an empty key is spelled `empty-key`; array elements
//! append `.array_N` counting every element, containers included (`json.a.array_2.c`; a
//! top-level array gives `json.array_0`). Values: strings unescaped, numbers as their source
//! text (`1.5e3`, `-0`), `true`/`false`, `null` → empty; empty arrays and objects yield nothing.
//! The grammar and the error texts are yajl 2.1's (the parser ModSecurity uses), including its
//! quirks: lenient UTF-8 checking, `\uD8xx` followed by any `\u` escape combined, a lone high
//! surrogate → `?`. Parsing stops at the first error; pairs emitted before it are kept, as in
//! ModSecurity. Nesting deeper than `depth_limit` containers is an error. Iterative: no
//! recursion, so no stack overflow on hostile nesting.

use std::io::Write as _;

use super::{Pair, PairPool};

/// libmodsecurity3's depth limit when `SecRequestBodyJsonDepthLimit` is not set.
pub const DEFAULT_DEPTH_LIMIT: usize = 10_000;

/// Flattens `body` into `out`. On error the pairs found before the error stay in `out`, and
/// the message is REQBODY_ERROR_MSG as ModSecurity words it (`JSON parsing error: ...`).
/// An empty body is not an error (ModSecurity skips it).
pub fn parse(body: &[u8], depth_limit: usize, out: &mut Vec<Pair>) -> Result<(), String> {
    parse_pooled(
        body,
        depth_limit,
        out,
        &mut PairPool::default(),
        &mut JsonScratch::default(),
    )
}

/// The parser's buffers, kept by a caller between bodies (with a [`PairPool`]) so a warm shard
/// flattens JSON without allocating.
#[derive(Debug, Default)]
pub struct JsonScratch {
    stack: Vec<(Container, State)>,
    names: Vec<u8>,
    key: Vec<u8>,
    scratch: Vec<u8>,
}

/// [`parse`], with the pairs taken from `pool` and the parser's buffers from `js`.
pub fn parse_pooled(
    body: &[u8],
    depth_limit: usize,
    out: &mut Vec<Pair>,
    pool: &mut PairPool,
    js: &mut JsonScratch,
) -> Result<(), String> {
    parse_limited(body, depth_limit, usize::MAX, out, pool, js)
}

/// [`parse_pooled`] adding at most `max_args` pairs: one more stops the parser with
/// ModSecurity's error for `SecArgumentsLimit` (the pairs before it stay).
pub fn parse_limited(
    body: &[u8],
    depth_limit: usize,
    max_args: usize,
    out: &mut Vec<Pair>,
    pool: &mut PairPool,
    js: &mut JsonScratch,
) -> Result<(), String> {
    if body.is_empty() {
        return Ok(());
    }
    let mut p = Parser {
        src: body,
        pos: 0,
        stack: std::mem::take(&mut js.stack),
        names: std::mem::take(&mut js.names),
        key: std::mem::take(&mut js.key),
        scratch: std::mem::take(&mut js.scratch),
        room: max_args,
    };
    p.stack.clear();
    p.names.clear();
    p.key.clear();
    let r = p.run(depth_limit, out, pool);
    js.stack = p.stack;
    js.names = p.names;
    js.key = p.key;
    js.scratch = p.scratch;
    r.map_err(|e| {
        let mut msg = String::from("JSON parsing error: ");
        msg.push_str(e.text());
        msg.push('\n');
        if e == Error::ArgsLimit {
            return super::limits::JSON_ARGS_LIMIT_MSG.to_string();
        }
        if matches!(e, Error::Depth) {
            msg.push_str(". Parsing depth limit exceeded");
        }
        msg
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Error {
    // lexical
    InvalidChar,
    InvalidString,
    StringChar,
    Utf8,
    Escape,
    Hex,
    Minus,
    Decimal,
    Exponent,
    Comment,
    // parse
    Eof,
    Trailing,
    Unallowed,
    ObjectKey,
    Colon,
    MapSep,
    ArraySep,
    Depth,
    /// More pairs than `SecArgumentsLimit` leaves room for.
    ArgsLimit,
}

impl Error {
    fn text(self) -> &'static str {
        match self {
            Error::InvalidChar => "lexical error: invalid char in json text.",
            Error::InvalidString => "lexical error: invalid string in json text.",
            Error::StringChar => "lexical error: invalid character inside string.",
            Error::Utf8 => "lexical error: invalid bytes in UTF8 string.",
            Error::Escape => {
                "lexical error: inside a string, '\\' occurs before a character which it may not."
            }
            Error::Hex => {
                "lexical error: invalid (non-hex) character occurs after '\\u' inside string."
            }
            Error::Minus => {
                "lexical error: malformed number, a digit is required after the minus sign."
            }
            Error::Decimal => {
                "lexical error: malformed number, a digit is required after the decimal point."
            }
            Error::Exponent => {
                "lexical error: malformed number, a digit is required after the exponent."
            }
            Error::Comment => {
                "lexical error: probable comment found in input text, comments are not enabled."
            }
            Error::Eof => "parse error: premature EOF",
            Error::Trailing => "parse error: trailing garbage",
            Error::Unallowed => "parse error: unallowed token at this point in JSON text",
            Error::ObjectKey => "parse error: invalid object key (must be a string)",
            Error::Colon => "parse error: object key and value must be separated by a colon (':')",
            Error::MapSep => "parse error: after key and value, inside map, I expect ',' or '}'",
            Error::ArraySep => "parse error: after array element, I expect ',' or ']'",
            Error::Depth | Error::ArgsLimit => {
                "parse error: client cancelled parse via callback return value"
            }
        }
    }
}

/// One token; strings and numbers are spans of `src` (strings without their quotes).
#[derive(Debug, Clone, Copy)]
enum Tok {
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Str(usize, usize),
    Num(usize, usize),
    True,
    False,
    Null,
    End,
}

#[derive(Debug)]
struct Container {
    is_array: bool,
    /// Its name segment: `names[name.0..name.1]` (names are a stack, like the containers).
    name: (usize, usize),
    count: usize,
}

/// What the parser expects next (yajl's state names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    MapStart,
    MapNeedKey,
    MapSep,
    MapNeedVal,
    MapGotVal,
    ArrayStart,
    ArrayNeedVal,
    ArrayGotVal,
    Complete,
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    stack: Vec<(Container, State)>,
    names: Vec<u8>,
    key: Vec<u8>,
    scratch: Vec<u8>,
    /// Pairs that may still be added (`SecArgumentsLimit`).
    room: usize,
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

impl Parser<'_> {
    /// yajl finishes a parse by feeding one space: every token ends before "the end".
    fn at(&self, i: usize) -> Option<u8> {
        match self.src.get(i) {
            Some(&c) => Some(c),
            None if i == self.src.len() => Some(b' '),
            None => None,
        }
    }

    fn lex(&mut self) -> Result<Tok, Error> {
        while let Some(c) = self.at(self.pos) {
            if !is_ws(c) {
                break;
            }
            self.pos += 1;
        }
        let Some(c) = self.at(self.pos) else {
            return Ok(Tok::End);
        };
        self.pos += 1;
        Ok(match c {
            b'{' => Tok::LBrace,
            b'}' => Tok::RBrace,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b',' => Tok::Comma,
            b':' => Tok::Colon,
            b'"' => return self.lex_string(),
            b't' => return self.lex_literal(b"rue", Tok::True),
            b'f' => return self.lex_literal(b"alse", Tok::False),
            b'n' => return self.lex_literal(b"ull", Tok::Null),
            b'-' | b'0'..=b'9' => return self.lex_number(),
            b'/' => return Err(Error::Comment),
            _ => return Err(Error::InvalidChar),
        })
    }

    fn lex_literal(&mut self, rest: &[u8], tok: Tok) -> Result<Tok, Error> {
        for &want in rest {
            match self.at(self.pos) {
                None => return Err(Error::Eof),
                Some(c) if c == want => self.pos += 1,
                Some(_) => return Err(Error::InvalidString),
            }
        }
        Ok(tok)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.at(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn lex_number(&mut self) -> Result<Tok, Error> {
        let start = self.pos - 1;
        let first = self.src.get(start).copied().unwrap_or(b' ');
        if first == b'-' {
            match self.at(self.pos) {
                Some(b'0'..=b'9') => self.pos += 1,
                None => return Err(Error::Eof),
                Some(_) => return Err(Error::Minus),
            }
        }
        // A leading zero ends the integer part ("01" is the number 0, then a stray "1").
        if self.src.get(self.pos - 1) != Some(&b'0') {
            self.digits();
        }
        if self.at(self.pos) == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(if self.at(self.pos).is_none() {
                    Error::Eof
                } else {
                    Error::Decimal
                });
            }
        }
        if let Some(b'e' | b'E') = self.at(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.at(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(if self.at(self.pos).is_none() {
                    Error::Eof
                } else {
                    Error::Exponent
                });
            }
        }
        Ok(Tok::Num(start, self.pos.min(self.src.len())))
    }

    fn lex_string(&mut self) -> Result<Tok, Error> {
        let start = self.pos;
        loop {
            let Some(c) = self.at(self.pos) else {
                return Err(Error::Eof);
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(Tok::Str(start, self.pos - 1)),
                b'\\' => {
                    let Some(e) = self.at(self.pos) else {
                        return Err(Error::Eof);
                    };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            for _ in 0..4 {
                                match self.at(self.pos) {
                                    None => return Err(Error::Eof),
                                    Some(h) if h.is_ascii_hexdigit() => self.pos += 1,
                                    Some(_) => return Err(Error::Hex),
                                }
                            }
                        }
                        _ => return Err(Error::Escape),
                    }
                }
                0..=0x1f => return Err(Error::StringChar),
                0x80..=0xff => {
                    // yajl checks only the shape: lead byte class + continuation bytes.
                    let extra = match c >> 3 {
                        0x18..=0x1b => 1,
                        0x1c | 0x1d => 2,
                        0x1e => 3,
                        _ => return Err(Error::Utf8),
                    };
                    for _ in 0..extra {
                        match self.at(self.pos) {
                            None => return Err(Error::Eof),
                            Some(b) if b >> 6 == 2 => self.pos += 1,
                            Some(_) => return Err(Error::Utf8),
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Decodes the escapes of a lexed (hence well-formed) string span into `self.scratch`.
    fn unescape(&mut self, start: usize, end: usize) {
        self.scratch.clear();
        let s = self.src.get(start..end).unwrap_or_default();
        let mut i = 0;
        while let Some(&c) = s.get(i) {
            i += 1;
            if c != b'\\' {
                self.scratch.push(c);
                continue;
            }
            let e = s.get(i).copied().unwrap_or(b'\\');
            i += 1;
            let simple = match e {
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let mut cp = hex4(s.get(i..i + 4));
                    i += 4;
                    if cp & 0xFC00 == 0xD800 {
                        if s.get(i) == Some(&b'\\') && s.get(i + 1) == Some(&b'u') {
                            // yajl combines with whatever \u follows, low surrogate or not.
                            let low = hex4(s.get(i + 2..i + 6));
                            i += 6;
                            cp = ((cp & 0x3F) << 10)
                                | ((((cp >> 6) & 0xF) + 1) << 16)
                                | (low & 0x3FF);
                        } else {
                            self.scratch.push(b'?');
                            continue;
                        }
                    }
                    push_utf8(&mut self.scratch, cp);
                    continue;
                }
                other => other,
            };
            self.scratch.push(simple);
        }
    }

    fn run(
        &mut self,
        depth_limit: usize,
        out: &mut Vec<Pair>,
        pool: &mut PairPool,
    ) -> Result<(), Error> {
        let mut state = State::Start;
        loop {
            let tok = if state == State::Complete {
                // After the document, anything but whitespace (even a lexical error) is garbage.
                return match self.lex() {
                    Ok(Tok::End) => Ok(()),
                    _ => Err(Error::Trailing),
                };
            } else {
                self.lex()?
            };
            state = match (state, tok) {
                (_, Tok::End) => return Err(Error::Eof),
                (State::MapStart, Tok::RBrace) | (State::ArrayStart, Tok::RBracket) => self.close(),
                (State::MapStart | State::MapNeedKey, Tok::Str(a, b)) => {
                    self.unescape(a, b);
                    self.key.clear();
                    self.key.extend_from_slice(&self.scratch);
                    State::MapSep
                }
                (State::MapStart | State::MapNeedKey, _) => return Err(Error::ObjectKey),
                (State::MapSep, Tok::Colon) => State::MapNeedVal,
                (State::MapSep, _) => return Err(Error::Colon),
                (State::MapGotVal, Tok::Comma) => State::MapNeedKey,
                (State::MapGotVal, Tok::RBrace) => self.close(),
                (State::MapGotVal, _) => return Err(Error::MapSep),
                (State::ArrayGotVal, Tok::Comma) => State::ArrayNeedVal,
                (State::ArrayGotVal, Tok::RBracket) => self.close(),
                (State::ArrayGotVal, _) => return Err(Error::ArraySep),
                // A value is expected: Start, MapNeedVal, ArrayStart, ArrayNeedVal.
                (_, Tok::LBrace | Tok::LBracket) => {
                    let is_array = matches!(tok, Tok::LBracket);
                    let start = self.names.len();
                    let mut names = std::mem::take(&mut self.names);
                    self.push_container_name(&mut names);
                    let name = (start, names.len());
                    self.names = names;
                    let after = self.after_value(state);
                    self.stack.push((
                        Container {
                            is_array,
                            name,
                            count: 0,
                        },
                        after,
                    ));
                    if self.stack.len() > depth_limit {
                        return Err(Error::Depth);
                    }
                    if is_array {
                        State::ArrayStart
                    } else {
                        State::MapStart
                    }
                }
                (_, Tok::Str(a, b)) => {
                    self.unescape(a, b);
                    let value = std::mem::take(&mut self.scratch);
                    let r = self.emit(out, pool, &value);
                    self.scratch = value;
                    r?;
                    self.after_value(state)
                }
                (_, Tok::Num(a, b)) => {
                    let src = self.src;
                    self.emit(out, pool, src.get(a..b).unwrap_or_default())?;
                    self.after_value(state)
                }
                (_, Tok::True | Tok::False | Tok::Null) => {
                    let value: &[u8] = match tok {
                        Tok::True => b"true",
                        Tok::False => b"false",
                        _ => b"",
                    };
                    self.emit(out, pool, value)?;
                    self.after_value(state)
                }
                (_, Tok::RBrace | Tok::RBracket | Tok::Comma | Tok::Colon) => {
                    return Err(Error::Unallowed)
                }
            };
        }
    }

    /// The state to return to once a value in `state` is complete.
    fn after_value(&self, state: State) -> State {
        match state {
            State::MapNeedVal => State::MapGotVal,
            State::ArrayStart | State::ArrayNeedVal => State::ArrayGotVal,
            _ => State::Complete,
        }
    }

    /// Pops a container; the enclosing array (if any) counts it as an element.
    fn close(&mut self) -> State {
        let after = match self.stack.pop() {
            Some((c, after)) => {
                self.names.truncate(c.name.0);
                after
            }
            None => State::Complete,
        };
        if let Some((parent, _)) = self.stack.last_mut() {
            if parent.is_array {
                parent.count += 1;
            }
        }
        after
    }

    /// Appends ModSecurity's `getCurrentKey` to `name`: `json` at top level, nothing inside an
    /// array, the pending object key otherwise (`empty-key` when it is empty), which is used up.
    fn push_container_name(&mut self, name: &mut Vec<u8>) {
        match self.stack.last() {
            None => name.extend_from_slice(b"json"),
            Some((c, _)) if c.is_array => {}
            Some(_) if self.key.is_empty() => name.extend_from_slice(b"empty-key"),
            Some(_) => {
                name.extend_from_slice(&self.key);
                self.key.clear();
            }
        }
    }

    fn emit(
        &mut self,
        out: &mut Vec<Pair>,
        pool: &mut PairPool,
        value: &[u8],
    ) -> Result<(), Error> {
        if self.room == 0 {
            return Err(Error::ArgsLimit);
        }
        self.room -= 1;
        let (mut name, mut v) = pool.take();
        for (c, _) in &self.stack {
            name.extend_from_slice(self.names.get(c.name.0..c.name.1).unwrap_or_default());
            if c.is_array {
                // Writing into a Vec cannot fail.
                let _ = write!(name, ".array_{}", c.count);
            } else {
                name.push(b'.');
            }
        }
        self.push_container_name(&mut name);
        if let Some((c, _)) = self.stack.last_mut() {
            if c.is_array {
                c.count += 1;
            }
        }
        v.extend_from_slice(value);
        out.push((name, v));
        Ok(())
    }
}

fn hex4(s: Option<&[u8]>) -> u32 {
    s.unwrap_or_default().iter().fold(0, |acc, &h| {
        let d = match h {
            b'0'..=b'9' => h - b'0',
            b'a'..=b'f' => h - b'a' + 10,
            b'A'..=b'F' => h - b'A' + 10,
            _ => 0,
        };
        acc << 4 | u32::from(d)
    })
}

/// yajl's UTF-32 → UTF-8 (no validity checks: lone low surrogates are encoded as is).
fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    match cp {
        0..=0x7F => out.push(cp as u8),
        0x80..=0x7FF => out.extend([0xC0 | (cp >> 6) as u8, 0x80 | (cp & 0x3F) as u8]),
        0x800..=0xFFFF => out.extend([
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]),
        0x10000..=0x1F_FFFF => out.extend([
            0xF0 | (cp >> 18) as u8,
            0x80 | ((cp >> 12) & 0x3F) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]),
        _ => out.push(b'?'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(body: &str) -> (Vec<(String, String)>, Option<String>) {
        j_limit(body.as_bytes(), 512)
    }

    fn j_limit(body: &[u8], limit: usize) -> (Vec<(String, String)>, Option<String>) {
        let mut out = Vec::new();
        let err = parse(body, limit, &mut out).err();
        let pairs = out
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        (pairs, err)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn ok(v: &[(&str, &str)]) -> (Vec<(String, String)>, Option<String>) {
        (pairs(v), None)
    }

    fn err(v: &[(&str, &str)], msg: &str) -> (Vec<(String, String)>, Option<String>) {
        (pairs(v), Some(format!("JSON parsing error: {msg}\n")))
    }

    // Every expectation below was recorded from libmodsecurity3 3.0.9 (ARGS, REQBODY_ERROR_MSG).
    #[test]
    fn reference_naming() {
        assert_eq!(
            j(r#"{"a":{"b":[1,2,{"c":true}],"d":null,"e":[],"f":{}},"g":1.5e3}"#),
            ok(&[
                ("json.a.b.array_0", "1"),
                ("json.a.b.array_1", "2"),
                ("json.a.b.array_2.c", "true"),
                ("json.a.d", ""),
                ("json.g", "1.5e3")
            ])
        );
        assert_eq!(
            j(r#"[1,[2,3],{"x":"y"}]"#),
            ok(&[
                ("json.array_0", "1"),
                ("json.array_1.array_0", "2"),
                ("json.array_1.array_1", "3"),
                ("json.array_2.x", "y")
            ])
        );
        assert_eq!(
            j(r#"[[[1]],[[]],{"a":[[2,3],{"b":[4]}]}]"#),
            ok(&[
                ("json.array_0.array_0.array_0", "1"),
                ("json.array_2.a.array_0.array_0", "2"),
                ("json.array_2.a.array_0.array_1", "3"),
                ("json.array_2.a.array_1.b.array_0", "4")
            ])
        );
        assert_eq!(
            j(r#"[null,[],{},""]"#),
            ok(&[("json.array_0", ""), ("json.array_3", "")])
        );
        assert_eq!(
            j(r#"{"":1,"b":{"":{"x":[{"":2}]}}}"#),
            ok(&[
                ("json.empty-key", "1"),
                ("json.b.empty-key.x.array_0.empty-key", "2")
            ])
        );
        assert_eq!(j(r#"{"a.b":{"":"x"}}"#), ok(&[("json.a.b.empty-key", "x")]));
        assert_eq!(
            j(r#"{"a":1,"a":2}"#),
            ok(&[("json.a", "1"), ("json.a", "2")])
        );
        assert_eq!(j(r#""hello""#), ok(&[("json", "hello")]));
        assert_eq!(j("42"), ok(&[("json", "42")]));
        assert_eq!(j("null"), ok(&[("json", "")]));
        assert_eq!(j("true"), ok(&[("json", "true")]));
        assert_eq!(j(""), ok(&[]));
        assert_eq!(j("{}"), ok(&[]));
        assert_eq!(j("[]"), ok(&[]));
        assert_eq!(
            j(" \n {\"a\" : [ true , false , null ] } \n "),
            ok(&[
                ("json.a.array_0", "true"),
                ("json.a.array_1", "false"),
                ("json.a.array_2", "")
            ])
        );
        assert_eq!(j("\x0c\x0b[1]"), ok(&[("json.array_0", "1")]));
    }

    #[test]
    fn reference_numbers_and_strings() {
        assert_eq!(
            j(r#"{"a":1.0,"b":-0,"c":1E5,"d":123456789012345678901234567890,"e":0.1e-2}"#),
            ok(&[
                ("json.a", "1.0"),
                ("json.b", "-0"),
                ("json.c", "1E5"),
                ("json.d", "123456789012345678901234567890"),
                ("json.e", "0.1e-2")
            ])
        );
        assert_eq!(
            j("[-0.0e-0,0E+1,1E400]"),
            ok(&[
                ("json.array_0", "-0.0e-0"),
                ("json.array_1", "0E+1"),
                ("json.array_2", "1E400")
            ])
        );
        let mut out = Vec::new();
        parse(br#"{"k\u0041\"":"v\n\u00e9\ud83d\ude00\/"}"#, 512, &mut out).unwrap();
        assert_eq!(
            out,
            vec![(
                b"json.kA\"".to_vec(),
                "v\n\u{e9}\u{1F600}/".as_bytes().to_vec()
            )]
        );
        out.clear();
        parse(
            br#"{"a":"\ud800x","b":"\udc00","c":"\u0000z","d":"\ud800\u0041","e":"\ud800"}"#,
            512,
            &mut out,
        )
        .unwrap();
        let values: Vec<&[u8]> = out.iter().map(|(_, v)| v.as_slice()).collect();
        assert_eq!(
            values,
            vec![
                &b"?x"[..],
                b"\xed\xb0\x80",
                b"\0z",
                b"\xf0\x90\x81\x81",
                b"?"
            ]
        );
        out.clear();
        parse(b"{\"a\\u0000b\":1, \"x\\ty\":2}", 512, &mut out).unwrap();
        assert_eq!(out[0].0, b"json.a\0b");
        assert_eq!(out[1].0, b"json.x\ty");
    }

    #[test]
    fn reference_errors_keep_earlier_pairs() {
        assert_eq!(
            j(r#"{"a":1"#),
            err(&[("json.a", "1")], "parse error: premature EOF")
        );
        assert_eq!(
            j(r#"{"a":1}x"#),
            err(&[("json.a", "1")], "parse error: trailing garbage")
        );
        assert_eq!(
            j(r#"{"a":1}{"b":2}"#),
            err(&[("json.a", "1")], "parse error: trailing garbage")
        );
        assert_eq!(
            j("1,2"),
            err(&[("json", "1")], "parse error: trailing garbage")
        );
        assert_eq!(
            j("{a:1}"),
            err(&[], "lexical error: invalid char in json text.")
        );
        assert_eq!(
            j("[1,]"),
            err(
                &[("json.array_0", "1")],
                "parse error: unallowed token at this point in JSON text"
            )
        );
        assert_eq!(
            j("]"),
            err(
                &[],
                "parse error: unallowed token at this point in JSON text"
            )
        );
        assert_eq!(
            j("\u{feff}{\"a\":1}"),
            err(&[], "lexical error: invalid char in json text.")
        );
        assert_eq!(
            j(r#"{"b":01}"#),
            err(
                &[("json.b", "0")],
                "parse error: after key and value, inside map, I expect ',' or '}'"
            )
        );
        assert_eq!(
            j(r#"{"a":tru}"#),
            err(&[], "lexical error: invalid string in json text.")
        );
        assert_eq!(
            j("nul"),
            err(&[], "lexical error: invalid string in json text.")
        );
        assert_eq!(
            j(r#"{"a":1 /* c */}"#),
            err(
                &[("json.a", "1")],
                "lexical error: probable comment found in input text, comments are not enabled."
            )
        );
        assert_eq!(
            j(r#"{"a":NaN}"#),
            err(&[], "lexical error: invalid char in json text.")
        );
        assert_eq!(
            j("{'a':1}"),
            err(&[], "lexical error: invalid char in json text.")
        );
        assert_eq!(
            j("{\"a\":\"x\ty\"}"),
            err(&[], "lexical error: invalid character inside string.")
        );
        assert_eq!(
            j(r#"{"a":"x\qy"}"#),
            err(
                &[],
                "lexical error: inside a string, '\\' occurs before a character which it may not."
            )
        );
        assert_eq!(j("  "), err(&[], "parse error: premature EOF"));
        assert_eq!(
            j("[1x]"),
            err(
                &[("json.array_0", "1")],
                "lexical error: invalid char in json text."
            )
        );
        assert_eq!(
            j("[-]"),
            err(
                &[],
                "lexical error: malformed number, a digit is required after the minus sign."
            )
        );
        assert_eq!(
            j("[1.]"),
            err(
                &[],
                "lexical error: malformed number, a digit is required after the decimal point."
            )
        );
        assert_eq!(
            j("[1e]"),
            err(
                &[],
                "lexical error: malformed number, a digit is required after the exponent."
            )
        );
        assert_eq!(
            j("[1 2]"),
            err(
                &[("json.array_0", "1")],
                "parse error: after array element, I expect ',' or ']'"
            )
        );
        assert_eq!(
            j("[1:2]"),
            err(
                &[("json.array_0", "1")],
                "parse error: after array element, I expect ',' or ']'"
            )
        );
        assert_eq!(
            j(r#"{"a" 1}"#),
            err(
                &[],
                "parse error: object key and value must be separated by a colon (':')"
            )
        );
        assert_eq!(
            j("{1:2}"),
            err(&[], "parse error: invalid object key (must be a string)")
        );
        assert_eq!(
            j(r#"{"a":1,}"#),
            err(
                &[("json.a", "1")],
                "parse error: invalid object key (must be a string)"
            )
        );
        assert_eq!(
            j(r#"{"a":1 "b":2}"#),
            err(
                &[("json.a", "1")],
                "parse error: after key and value, inside map, I expect ',' or '}'"
            )
        );
        assert_eq!(
            j(r#"["\u12G4"]"#),
            err(
                &[],
                "lexical error: invalid (non-hex) character occurs after '\\u' inside string."
            )
        );
        assert_eq!(
            j_limit(b"{\"a\":\"\xff\xfe\",\"\xc3\":1}", 512),
            err(&[], "lexical error: invalid bytes in UTF8 string.")
        );
    }

    #[test]
    fn reference_depth_limit() {
        let nested = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        let (pairs, e) = j(&nested(512));
        assert_eq!((pairs.len(), e), (1, None));
        assert_eq!(pairs[0].0, format!("json{}", ".a".repeat(512)));
        let depth_err =
            "JSON parsing error: parse error: client cancelled parse via callback return \
                         value\n. Parsing depth limit exceeded";
        assert_eq!(j(&nested(513)), (vec![], Some(depth_err.to_string())));
        let arrays = format!("{}{}", "[".repeat(600), "]".repeat(600));
        assert_eq!(j(&arrays), (vec![], Some(depth_err.to_string())));
        // Deep nesting far beyond the limit must neither recurse nor allocate per level.
        let hostile = "[".repeat(1_000_000);
        assert!(j_limit(hostile.as_bytes(), 10_000).1.is_some());
    }

    #[test]
    fn lenient_utf8_shape_check_like_yajl() {
        // Overlong and surrogate encodings pass yajl's shape-only check.
        assert_eq!(j_limit(b"[\"\xc0\x80\xed\xa0\x80\"]", 8).1, None);
        assert!(j_limit(b"[\"\xf8\x80\x80\x80\x80\"]", 8).1.is_some());
        assert!(j_limit(b"[\"\xe2\x82\"]", 8).1.is_some());
    }

    #[test]
    fn recycled_buffers_give_the_same_pairs_and_errors() {
        let seeds: &[&[u8]] = &[
            br#"{"a":{"b":[1,2,{"c":true}],"d":null,"e":[],"f":{}},"g":1.5e3}"#,
            br#"["\u00e9\ud83d\ude00", -0.5e+3, "\\\"", {"":[null]}]"#,
            br#"{"x":[[1,[2,{"y":"z"}]],3],"":{"":""}}"#,
        ];
        let mut rng = crate::body::testrand::Rng::new(7);
        let (mut pool, mut js) = (PairPool::default(), JsonScratch::default());
        let mut out = Vec::new();
        for i in 0..3_000 {
            // Every other input is a seed: fresh state must not depend on a failed parse.
            let input = if i % 2 == 0 {
                seeds[i / 2 % seeds.len()].to_vec()
            } else {
                rng.splice(seeds, 4, b"{}[],:\"\\u0e-.")
            };
            let limit = 1 + rng.below(6);
            let mut fresh = Vec::new();
            let want = parse(&input, limit, &mut fresh);
            pool.recycle(&mut out);
            let got = parse_pooled(&input, limit, &mut out, &mut pool, &mut js);
            assert_eq!(
                (&out, &got),
                (&fresh, &want),
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn never_panics_on_random_input() {
        let seeds: &[&[u8]] = &[
            br#"{"a":{"b":[1,2,{"c":true}],"d":null,"e":[],"f":{}},"g":1.5e3}"#,
            br#"["\u00e9\ud83d\ude00", -0.5e+3, "\\\"", {"":[null]}]"#,
            b"[\"\xc3\xa9\xf0\x9f\x98\x80\"]",
        ];
        let mut rng = crate::body::testrand::Rng::new(3);
        for _ in 0..30_000 {
            let input = rng.splice(seeds, 8, b"{}[],:\"\\u0e-.");
            let mut out = Vec::new();
            let limit = rng.below(6);
            let _ = parse(&input, limit, &mut out);
            for (name, _) in &out {
                assert!(name.starts_with(b"json"));
            }
        }
    }
}
