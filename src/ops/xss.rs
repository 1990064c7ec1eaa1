//! `@detectXSS`: libinjection 3.9's XSS check, the one libmodsecurity3 3.0.9 runs, written from
//! its published algorithm.
//!
//! Owns the verdict: the input is tokenized by `ops::html5` in each of the five contexts it could
//! be reflected in (text, and an unquoted, single-, double- or back-quoted attribute value); it is
//! XSS when any reading shows a doctype, a dangerous tag, an event-handler-like or otherwise
//! dangerous attribute, a URL attribute whose value starts with a script-capable scheme, or an
//! IE-style comment. It refuses to be clever: the lists and rules are libinjection 3.9's, so
//! `<x onxxx=1` is XSS (any attribute of five or more bytes starting `on`) as it is for
//! libmodsecurity3, and no name outside the lists is added. Memoisation lives in
//! `ops::libinjection`.

use super::html5::{Kind, Start, Tokenizer};

/// How an attribute is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    None,
    /// Dangerous whatever its value.
    Black,
    /// Its value is a URL: dangerous with a script-capable scheme.
    Url,
    /// Inline style: always dangerous.
    Style,
    /// Its value names another attribute (SVG `attributeName`).
    Indirect,
}

/// Attribute names libinjection 3.9 singles out, upper case (facts from its published list).
const ATTRS: &[(&[u8], Attr)] = &[
    (b"ACTION", Attr::Url),
    (b"ATTRIBUTENAME", Attr::Indirect),
    (b"BY", Attr::Url),
    (b"BACKGROUND", Attr::Url),
    (b"DATAFORMATAS", Attr::Black),
    (b"DATASRC", Attr::Black),
    (b"DYNSRC", Attr::Url),
    (b"FILTER", Attr::Style),
    (b"FORMACTION", Attr::Url),
    (b"FOLDER", Attr::Url),
    (b"FROM", Attr::Url),
    (b"HANDLER", Attr::Url),
    (b"HREF", Attr::Url),
    (b"LOWSRC", Attr::Url),
    (b"POSTER", Attr::Url),
    (b"SRC", Attr::Url),
    (b"STYLE", Attr::Style),
    (b"TO", Attr::Url),
    (b"VALUES", Attr::Url),
    (b"XLINK:HREF", Attr::Url),
];

/// Tag names that are XSS on sight (besides anything starting `svg` or `xsl`).
const TAGS: &[&[u8]] = &[
    b"APPLET",
    b"BASE",
    b"COMMENT",
    b"EMBED",
    b"FRAME",
    b"FRAMESET",
    b"HANDLER",
    b"IFRAME",
    b"IMPORT",
    b"ISINDEX",
    b"LINK",
    b"LISTENER",
    b"META",
    b"NOSCRIPT",
    b"OBJECT",
    b"SCRIPT",
    b"STYLE",
    b"VMLFRAME",
    b"XML",
    b"XSS",
];

/// URL schemes (prefixes, upper case) that run script or show source: `JAVA` covers
/// `javascript:`.
const URL_PREFIXES: &[&[u8]] = &[b"DATA", b"VIEW-SOURCE", b"JAVA", b"VBSCRIPT"];

/// True when `input`, NULs skipped and upper-cased, is exactly `upper`.
fn eq_upper_skipping_nul(upper: &[u8], input: &[u8]) -> bool {
    let mut want = upper.iter();
    for &c in input {
        if c == 0 {
            continue;
        }
        if want.next() != Some(&c.to_ascii_uppercase()) {
            return false;
        }
    }
    want.next().is_none()
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn is_black_tag(name: &[u8]) -> bool {
    if name.len() < 3 {
        return false;
    }
    TAGS.iter().any(|t| eq_upper_skipping_nul(t, name))
        || starts_with_ci(name, b"svg")
        || starts_with_ci(name, b"xsl")
}

fn attr_kind(name: &[u8]) -> Attr {
    if name.len() < 2 {
        return Attr::None;
    }
    if name.len() >= 5 {
        // Any `on…` event handler, known to browsers or not; and namespace tricks.
        if starts_with_ci(name, b"on") {
            return Attr::Black;
        }
        let head = name.get(..5).unwrap_or_default();
        if eq_upper_skipping_nul(b"XMLNS", head) || eq_upper_skipping_nul(b"XLINK", head) {
            return Attr::Black;
        }
    }
    ATTRS
        .iter()
        .find(|(n, _)| eq_upper_skipping_nul(n, name))
        .map_or(Attr::None, |&(_, a)| a)
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// Decodes one character at `s[0]`: a numeric entity (`&#65;`, `&#x41`, `;` optional) or a
/// byte. Named entities and malformed ones read as `&`. Returns (value, bytes consumed).
fn decode_char(s: &[u8]) -> (u32, usize) {
    let Some(&first) = s.first() else {
        return (0, 0);
    };
    if first != b'&' || s.len() < 2 {
        return (u32::from(first), 1);
    }
    if s.get(1) != Some(&b'#') {
        return (u32::from(b'&'), 1);
    }
    // Past the end of the value the C code reads the byte that ended it (a quote, white
    // space, `>` or the terminating NUL): never a digit, so "no digit" is the same answer.
    let (radix, digits_from) = match s.get(2) {
        Some(b'x' | b'X') => (16, 3),
        _ => (10, 2),
    };
    let digit = |c: u8| {
        if radix == 16 {
            hex_digit(c)
        } else {
            (c as char).to_digit(10)
        }
    };
    let Some(mut val) = s.get(digits_from).copied().and_then(digit) else {
        return (u32::from(b'&'), 1);
    };
    let mut i = digits_from + 1;
    while let Some(&c) = s.get(i) {
        if c == b';' {
            return (val, i + 1);
        }
        let Some(d) = digit(c) else {
            return (val, i);
        };
        val = val * radix + d;
        if val > 0x10_00FF {
            return (u32::from(b'&'), 1);
        }
        i += 1;
    }
    (val, i)
}

/// Does the HTML-encoded `s` start with `upper`? Leading control characters and white space,
/// NULs and newlines are ignored; a decoded character is compared by its low byte, as the C
/// code does.
fn entity_starts_with(upper: &[u8], mut s: &[u8]) -> bool {
    let mut want = upper.iter().peekable();
    let mut first = true;
    while !s.is_empty() {
        let Some(&&w) = want.peek() else {
            return true;
        };
        let (mut c, used) = decode_char(s);
        s = s.get(used..).unwrap_or_default();
        if first && c <= 32 {
            continue;
        }
        first = false;
        if c == 0 || c == 10 {
            continue;
        }
        if (u32::from(b'a')..=u32::from(b'z')).contains(&c) {
            c -= 0x20;
        }
        if w != (c & 0xff) as u8 {
            return false;
        }
        want.next();
    }
    want.peek().is_none()
}

fn is_black_url(v: &[u8]) -> bool {
    // Leading control bytes, white space and every non-ASCII byte are skipped (signed chars).
    let skip = v.iter().take_while(|&&c| c <= 32 || c >= 127).count();
    let v = v.get(skip..).unwrap_or_default();
    URL_PREFIXES.iter().any(|p| entity_starts_with(p, v))
}

fn is_black_comment(c: &[u8]) -> bool {
    // IE treats a back-tick as the end of a tag; conditional comments; XML and import tricks.
    if memchr::memchr(b'`', c).is_some() {
        return true;
    }
    if c.len() > 3
        && ((c[0] == b'[' && starts_with_ci(&c[1..], b"if")) || starts_with_ci(c, b"xml"))
    {
        return true;
    }
    c.len() > 5
        && (eq_upper_skipping_nul(b"IMPORT", &c[..6]) || eq_upper_skipping_nul(b"ENTITY", &c[..6]))
}

fn is_xss_from(s: &[u8], start: Start) -> bool {
    let mut attr = Attr::None;
    for t in Tokenizer::new(s, start) {
        let bytes = s.get(t.start..t.end).unwrap_or_default();
        if t.kind != Kind::AttrValue {
            attr = Attr::None;
        }
        match t.kind {
            Kind::Doctype => return true,
            Kind::TagOpen if is_black_tag(bytes) => return true,
            Kind::AttrName => attr = attr_kind(bytes),
            Kind::AttrValue => {
                let bad = match attr {
                    Attr::None => false,
                    Attr::Black | Attr::Style => true,
                    Attr::Url => is_black_url(bytes),
                    Attr::Indirect => attr_kind(bytes) != Attr::None,
                };
                if bad {
                    return true;
                }
                attr = Attr::None;
            }
            Kind::Comment if is_black_comment(bytes) => return true,
            _ => {}
        }
    }
    false
}

/// True when libinjection 3.9 (as in libmodsecurity3 3.0.9) calls `input` XSS.
pub fn is_xss(input: &[u8]) -> bool {
    [
        Start::Data,
        Start::ValueNoQuote,
        Start::ValueSingleQuote,
        Start::ValueDoubleQuote,
        Start::ValueBackQuote,
    ]
    .into_iter()
    .any(|start| is_xss_from(input, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_examples_are_xss() {
        // What libmodsecurity3 3.0.9 (C libinjection) says XSS to.
        for s in [
            &b"<x onxxx=1"[..],
            b"<x/onxxx=1",
            b"<X OnXxx=1",
            b"<x onxxx=alert(1)",
            b"<script>alert(1)</script>",
            b"<img src=x onerror=alert(1)>",
            b"<a href=\"javascript:alert(1)\">",
            b"<a href=\"&#x6A;avascript:alert(1)\">",
            b"<a href=\" &#106;avascript:x\">",
            b"<svg/onload=x>",
            b"<!DOCTYPE html>",
            b"<!--[if IE]>x<![endif]-->",
            b"\" onmouseover=alert(1) x=\"",
            b"' style='x",
            b"<div style=x>",
            b"<set attributeName=onmouseover to=x>",
            b"<sc\0ript>",
        ] {
            assert!(is_xss(s), "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn benign_is_not_xss() {
        for s in [
            &b""[..],
            b"hello world",
            b"hello <b>world</b>",
            b"a < b and c > d",
            b"<a href=\"/x\">",
            b"<x on=1",
            b"<x onx=1",
            b"<img src=x>",
            b"x=1&y=2",
            b"O'Reilly",
        ] {
            assert!(!is_xss(s), "{:?}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn entities_decode_like_the_c_code() {
        assert_eq!(decode_char(b"&#106;x"), (106, 6));
        assert_eq!(decode_char(b"&#x6a"), (0x6a, 5));
        assert_eq!(decode_char(b"&#x"), (u32::from(b'&'), 1));
        assert_eq!(decode_char(b"&amp;"), (u32::from(b'&'), 1));
        assert_eq!(decode_char(b"&#99999999;"), (u32::from(b'&'), 1));
        // A decoded code point is compared by its low byte.
        assert!(entity_starts_with(b"JAVA", b"&#x14a;ava"));
    }
}
