//! The loose HTML5 tokenizer `@detectXSS` runs: libinjection 3.9's reading of the HTML5
//! tokenization states (spec §12.2.4), with its browser quirks, as libmodsecurity3 3.0.9 embeds it.
//!
//! Owns only tokenizing: it yields tag names, attribute names and values, comments, doctypes and
//! text as byte ranges of the input, starting in any of the five contexts a reflected value can
//! land in (text, unquoted / single / double / back-quoted attribute value). It decodes nothing
//! and judges nothing; `ops::xss` decides what is dangerous.
//!
//! Quirks kept on purpose because the C tokenizer has them (and verdicts depend on them):
//! NUL counts as white space everywhere except inside a tag name, where it is skipped; `\v` and
//! `\r` are white space; an attribute name always takes its first byte (`<a =x>` names `=x`);
//! `<%…%>` is a comment (old IE and Safari); a 0xFF byte where white space may be skipped ends
//! the input (the C code's signed-`char` EOF); `</>` leaves the "closing tag" flag set for the
//! next tag; a doctype or comment runs to the next `>` with no further structure.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text between tags (and CDATA content).
    Text,
    /// `<name` of a start tag.
    TagOpen,
    /// `>` ending a start tag.
    TagEnd,
    /// `/>` ending a start tag.
    TagSelfClose,
    /// `</name>`.
    TagClose,
    AttrName,
    AttrValue,
    /// `<!-- … -->`, `<? … >`, `<% … %>`, `<! … >`, and malformed end tags.
    Comment,
    /// `<!DOCTYPE …>`.
    Doctype,
}

/// Where tokenizing starts: the context the input is assumed to be reflected in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Data,
    ValueNoQuote,
    ValueSingleQuote,
    ValueDoubleQuote,
    ValueBackQuote,
}

/// One token: its kind and its bytes' range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Eof,
    Data,
    TagOpen,
    EndTagOpen,
    TagName,
    TagNameClose,
    BeforeAttrName,
    AttrName,
    AfterAttrName,
    BeforeAttrValue,
    ValueQuoted(u8),
    ValueNoQuote,
    AfterValueQuoted,
    SelfClosing,
    BogusComment,
    PercentComment,
    MarkupDeclOpen,
    Comment,
    Cdata,
    Doctype,
}

/// What one state step did: produced a token, ended the input, or moved on without output.
enum Step {
    Emit(Token),
    Stop,
    Go(State),
}

/// White space as the C tokenizer sees it (`strchr(" \t\n\v\f\r", c)` also matches NUL).
fn is_white(c: u8) -> bool {
    matches!(c, 0 | b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// An iterator over the tokens of `input`.
#[derive(Debug)]
pub struct Tokenizer<'a> {
    s: &'a [u8],
    pos: usize,
    state: State,
    is_close: bool,
}

impl<'a> Tokenizer<'a> {
    pub fn new(s: &'a [u8], start: Start) -> Self {
        let state = match start {
            Start::Data => State::Data,
            Start::ValueNoQuote => State::BeforeAttrName,
            Start::ValueSingleQuote => State::ValueQuoted(b'\''),
            Start::ValueDoubleQuote => State::ValueQuoted(b'"'),
            Start::ValueBackQuote => State::ValueQuoted(b'`'),
        };
        Tokenizer {
            s,
            pos: 0,
            state,
            is_close: false,
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    fn find_byte(&self, from: usize, c: u8) -> Option<usize> {
        let rest = self.s.get(from..)?;
        memchr::memchr(c, rest).map(|i| from + i)
    }

    fn tok(&self, kind: Kind, start: usize, end: usize) -> Token {
        Token { kind, start, end }
    }

    /// Skips white space from `pos`; the byte after it, if any. A 0xFF byte reads as the end
    /// of the input: the C code returns the byte as a signed `char`, and -1 is its EOF.
    fn skip_white(&mut self) -> Option<u8> {
        while let Some(c) = self.at(self.pos) {
            if c == 0xff {
                return None;
            }
            if !is_white(c) {
                return Some(c);
            }
            self.pos += 1;
        }
        None
    }

    fn step(&mut self, st: State) -> Step {
        let len = self.s.len();
        match st {
            State::Eof => Step::Stop,
            State::Data => match self.find_byte(self.pos, b'<') {
                None => {
                    let start = self.pos;
                    self.state = State::Eof;
                    if start >= len {
                        Step::Stop
                    } else {
                        Step::Emit(self.tok(Kind::Text, start, len))
                    }
                }
                Some(lt) => {
                    let start = self.pos;
                    self.pos = lt + 1;
                    self.state = State::TagOpen;
                    if lt == start {
                        Step::Go(State::TagOpen)
                    } else {
                        Step::Emit(self.tok(Kind::Text, start, lt))
                    }
                }
            },
            State::TagOpen => {
                let Some(c) = self.at(self.pos) else {
                    return Step::Stop;
                };
                match c {
                    b'!' => {
                        self.pos += 1;
                        Step::Go(State::MarkupDeclOpen)
                    }
                    b'/' => {
                        self.pos += 1;
                        self.is_close = true;
                        Step::Go(State::EndTagOpen)
                    }
                    b'?' => {
                        self.pos += 1;
                        Step::Go(State::BogusComment)
                    }
                    b'%' => {
                        self.pos += 1;
                        Step::Go(State::PercentComment)
                    }
                    c if c.is_ascii_alphabetic() || c == 0 => Step::Go(State::TagName),
                    _ => {
                        if self.pos == 0 {
                            return Step::Go(State::Data);
                        }
                        // A lone `<`: one byte of text, and the byte after it is text again.
                        self.state = State::Data;
                        Step::Emit(self.tok(Kind::Text, self.pos - 1, self.pos))
                    }
                }
            }
            State::EndTagOpen => {
                let Some(c) = self.at(self.pos) else {
                    return Step::Stop;
                };
                if c == b'>' {
                    // `</>`: the `>` is text; `is_close` stays set, as in the C code.
                    Step::Go(State::Data)
                } else if c.is_ascii_alphabetic() {
                    Step::Go(State::TagName)
                } else {
                    self.is_close = false;
                    Step::Go(State::BogusComment)
                }
            }
            State::TagNameClose => {
                self.is_close = false;
                let t = self.tok(Kind::TagEnd, self.pos, self.pos + 1);
                self.pos += 1;
                self.state = if self.pos < len {
                    State::Data
                } else {
                    State::Eof
                };
                Step::Emit(t)
            }
            State::TagName => {
                let start = self.pos;
                let mut p = start;
                while let Some(c) = self.at(p) {
                    if c == 0 {
                        // Old browsers ignore NUL inside a tag name.
                        p += 1;
                    } else if is_white(c) {
                        self.pos = p + 1;
                        self.state = State::BeforeAttrName;
                        return Step::Emit(self.tok(Kind::TagOpen, start, p));
                    } else if c == b'/' {
                        self.pos = p + 1;
                        self.state = State::SelfClosing;
                        return Step::Emit(self.tok(Kind::TagOpen, start, p));
                    } else if c == b'>' {
                        if self.is_close {
                            self.pos = p + 1;
                            self.is_close = false;
                            self.state = State::Data;
                            return Step::Emit(self.tok(Kind::TagClose, start, p));
                        }
                        self.pos = p;
                        self.state = State::TagNameClose;
                        return Step::Emit(self.tok(Kind::TagOpen, start, p));
                    } else {
                        p += 1;
                    }
                }
                self.state = State::Eof;
                Step::Emit(self.tok(Kind::TagOpen, start, len))
            }
            State::BeforeAttrName => match self.skip_white() {
                None => Step::Stop,
                Some(b'/') => {
                    self.pos += 1;
                    Step::Go(State::SelfClosing)
                }
                Some(b'>') => {
                    self.state = State::Data;
                    let t = self.tok(Kind::TagEnd, self.pos, self.pos + 1);
                    self.pos += 1;
                    Step::Emit(t)
                }
                Some(_) => Step::Go(State::AttrName),
            },
            State::AttrName => {
                let start = self.pos;
                // The first byte always belongs to the name, whatever it is.
                let mut p = start + 1;
                while let Some(c) = self.at(p) {
                    let next = if is_white(c) {
                        Some((State::AfterAttrName, p + 1))
                    } else if c == b'/' {
                        Some((State::SelfClosing, p + 1))
                    } else if c == b'=' {
                        Some((State::BeforeAttrValue, p + 1))
                    } else if c == b'>' {
                        Some((State::TagNameClose, p))
                    } else {
                        None
                    };
                    if let Some((state, pos)) = next {
                        self.state = state;
                        self.pos = pos;
                        return Step::Emit(self.tok(Kind::AttrName, start, p));
                    }
                    p += 1;
                }
                self.state = State::Eof;
                self.pos = len;
                Step::Emit(self.tok(Kind::AttrName, start.min(len), len))
            }
            State::AfterAttrName => match self.skip_white() {
                None => Step::Stop,
                Some(b'/') => {
                    self.pos += 1;
                    Step::Go(State::SelfClosing)
                }
                Some(b'=') => {
                    self.pos += 1;
                    Step::Go(State::BeforeAttrValue)
                }
                Some(b'>') => Step::Go(State::TagNameClose),
                Some(_) => Step::Go(State::AttrName),
            },
            State::BeforeAttrValue => match self.skip_white() {
                None => {
                    self.state = State::Eof;
                    Step::Stop
                }
                Some(q @ (b'"' | b'\'' | b'`')) => Step::Go(State::ValueQuoted(q)),
                Some(_) => Step::Go(State::ValueNoQuote),
            },
            State::ValueQuoted(q) => {
                // Skip the opening quote, except when tokenizing started inside the value.
                if self.pos > 0 {
                    self.pos += 1;
                }
                let start = self.pos.min(len);
                match self.find_byte(start, q) {
                    None => {
                        self.state = State::Eof;
                        Step::Emit(self.tok(Kind::AttrValue, start, len))
                    }
                    Some(end) => {
                        self.state = State::AfterValueQuoted;
                        self.pos = end + 1;
                        Step::Emit(self.tok(Kind::AttrValue, start, end))
                    }
                }
            }
            State::ValueNoQuote => {
                let start = self.pos;
                let mut p = start;
                while let Some(c) = self.at(p) {
                    if is_white(c) {
                        self.pos = p + 1;
                        self.state = State::BeforeAttrName;
                        return Step::Emit(self.tok(Kind::AttrValue, start, p));
                    } else if c == b'>' {
                        self.pos = p;
                        self.state = State::TagNameClose;
                        return Step::Emit(self.tok(Kind::AttrValue, start, p));
                    }
                    p += 1;
                }
                self.state = State::Eof;
                Step::Emit(self.tok(Kind::AttrValue, start.min(len), len))
            }
            State::AfterValueQuoted => {
                let Some(c) = self.at(self.pos) else {
                    return Step::Stop;
                };
                if is_white(c) {
                    self.pos += 1;
                    Step::Go(State::BeforeAttrName)
                } else if c == b'/' {
                    self.pos += 1;
                    Step::Go(State::SelfClosing)
                } else if c == b'>' {
                    let t = self.tok(Kind::TagEnd, self.pos, self.pos + 1);
                    self.pos += 1;
                    self.state = State::Data;
                    Step::Emit(t)
                } else {
                    Step::Go(State::BeforeAttrName)
                }
            }
            State::SelfClosing => {
                let Some(c) = self.at(self.pos) else {
                    return Step::Stop;
                };
                if c == b'>' {
                    let t = self.tok(Kind::TagSelfClose, self.pos.saturating_sub(1), self.pos + 1);
                    self.state = State::Data;
                    self.pos += 1;
                    Step::Emit(t)
                } else {
                    Step::Go(State::BeforeAttrName)
                }
            }
            State::BogusComment => {
                let start = self.pos.min(len);
                match self.find_byte(start, b'>') {
                    None => {
                        self.pos = len;
                        self.state = State::Eof;
                        Step::Emit(self.tok(Kind::Comment, start, len))
                    }
                    Some(gt) => {
                        self.pos = gt + 1;
                        self.state = State::Data;
                        Step::Emit(self.tok(Kind::Comment, start, gt))
                    }
                }
            }
            State::PercentComment => {
                let start = self.pos.min(len);
                let mut from = start;
                loop {
                    match self.find_byte(from, b'%') {
                        Some(pc) if pc + 1 < len => {
                            if self.at(pc + 1) != Some(b'>') {
                                from = pc + 1;
                                continue;
                            }
                            self.pos = pc + 2;
                            self.state = State::Data;
                            return Step::Emit(self.tok(Kind::Comment, start, pc));
                        }
                        _ => {
                            self.pos = len;
                            self.state = State::Eof;
                            return Step::Emit(self.tok(Kind::Comment, start, len));
                        }
                    }
                }
            }
            State::MarkupDeclOpen => {
                let rest = self.s.get(self.pos..).unwrap_or_default();
                if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"DOCTYPE") {
                    Step::Go(State::Doctype)
                } else if rest.starts_with(b"[CDATA[") {
                    self.pos += 7;
                    Step::Go(State::Cdata)
                } else if rest.starts_with(b"--") {
                    self.pos += 2;
                    Step::Go(State::Comment)
                } else {
                    Step::Go(State::BogusComment)
                }
            }
            State::Comment => {
                // Ends at `-->` or `-!>` (NULs may sit between the dashes), or at the end.
                let start = self.pos.min(len);
                let to_end = |me: &mut Self| {
                    me.state = State::Eof;
                    Step::Emit(me.tok(Kind::Comment, start, len))
                };
                let mut from = start;
                loop {
                    let Some(dash) = self.find_byte(from, b'-') else {
                        return to_end(self);
                    };
                    if dash + 3 > len {
                        return to_end(self);
                    }
                    let mut off = 1;
                    while self.at(dash + off) == Some(0) {
                        off += 1;
                    }
                    let Some(c) = self.at(dash + off) else {
                        return to_end(self);
                    };
                    if c != b'-' && c != b'!' {
                        from = dash + 1;
                        continue;
                    }
                    off += 1;
                    let Some(c) = self.at(dash + off) else {
                        return to_end(self);
                    };
                    if c != b'>' {
                        from = dash + 1;
                        continue;
                    }
                    self.pos = dash + off + 1;
                    self.state = State::Data;
                    return Step::Emit(self.tok(Kind::Comment, start, dash));
                }
            }
            State::Cdata => {
                let start = self.pos.min(len);
                let mut from = start;
                loop {
                    match self.find_byte(from, b']') {
                        Some(rb) if rb + 3 <= len => {
                            if self.at(rb + 1) == Some(b']') && self.at(rb + 2) == Some(b'>') {
                                self.pos = rb + 3;
                                self.state = State::Data;
                                return Step::Emit(self.tok(Kind::Text, start, rb));
                            }
                            from = rb + 1;
                        }
                        _ => {
                            self.state = State::Eof;
                            return Step::Emit(self.tok(Kind::Text, start, len));
                        }
                    }
                }
            }
            State::Doctype => {
                let start = self.pos.min(len);
                match self.find_byte(start, b'>') {
                    None => {
                        self.state = State::Eof;
                        Step::Emit(self.tok(Kind::Doctype, start, len))
                    }
                    Some(gt) => {
                        self.state = State::Data;
                        self.pos = gt + 1;
                        Step::Emit(self.tok(Kind::Doctype, start, gt))
                    }
                }
            }
        }
    }
}

impl Iterator for Tokenizer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let mut st = self.state;
        loop {
            match self.step(st) {
                Step::Emit(t) => return Some(t),
                Step::Stop => return None,
                Step::Go(next) => st = next,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &[u8], start: Start) -> Vec<(Kind, &[u8])> {
        Tokenizer::new(s, start)
            .map(|t| (t.kind, &s[t.start..t.end]))
            .collect()
    }

    #[test]
    fn tags_attributes_values() {
        assert_eq!(
            kinds(b"a<x onxxx=1 b='2'>t</x>", Start::Data),
            vec![
                (Kind::Text, &b"a"[..]),
                (Kind::TagOpen, b"x"),
                (Kind::AttrName, b"onxxx"),
                (Kind::AttrValue, b"1"),
                (Kind::AttrName, b"b"),
                (Kind::AttrValue, b"2"),
                (Kind::TagEnd, b">"),
                (Kind::Text, b"t"),
                (Kind::TagClose, b"x"),
            ]
        );
        assert_eq!(
            kinds(b"<x/onxxx=1", Start::Data),
            vec![
                (Kind::TagOpen, &b"x"[..]),
                (Kind::AttrName, b"onxxx"),
                (Kind::AttrValue, b"1"),
            ]
        );
    }

    #[test]
    fn value_contexts_and_comments() {
        assert_eq!(
            kinds(b"x\" onload=y", Start::ValueDoubleQuote),
            vec![
                (Kind::AttrValue, &b"x"[..]),
                (Kind::AttrName, b"onload"),
                (Kind::AttrValue, b"y"),
            ]
        );
        assert_eq!(
            kinds(b"<!-- a -- b --!><?php x ?><%= y %>", Start::Data),
            vec![
                // `-!>` ends it at the dash before the `!`, so the first `-` of `--!>` stays.
                (Kind::Comment, &b" a -- b -"[..]),
                (Kind::Comment, b"php x ?"),
                (Kind::Comment, b"= y "),
            ]
        );
        assert_eq!(
            kinds(b"<!doctype html>", Start::Data),
            vec![(Kind::Doctype, &b"doctype html"[..])]
        );
        // Garbage never panics, whatever the start.
        for start in [
            Start::Data,
            Start::ValueNoQuote,
            Start::ValueSingleQuote,
            Start::ValueDoubleQuote,
            Start::ValueBackQuote,
        ] {
            for s in [
                &b"<"[..],
                b"</",
                b"<!",
                b"<!-",
                b"<a =",
                b"<a b=\"",
                b"'",
                b"\0<\0",
                b"</>",
            ] {
                let _ = kinds(s, start);
            }
        }
    }
}
