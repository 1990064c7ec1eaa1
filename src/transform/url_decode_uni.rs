//! `t:urlDecodeUni`: `t:urlDecode` plus IIS-style `%uXXXX` escapes.
//!
//! `%uXXXX` becomes one byte. With a [`UnicodeMap`] (`SecUnicodeMapFile FILE CODEPAGE`) a
//! mapped code point becomes its mapped byte. Otherwise (and always without a map) it is the
//! low byte of the code point, except that full-width ASCII (`%uFF01`–`%uFF5E`) is mapped down
//! to ASCII by adding 0x20. Both behaviours were measured against libmodsecurity3 (no map, and
//! ModSecurity's `unicode.mapping` with code page 20127). An invalid `%u` escape keeps both `%`
//! and `u` literally. Example: `SecRule ARGS "@rx <script" "id:1,t:urlDecodeUni"`.

use super::{copy_plus_to_space, is_hex, x2c};

/// A `SecUnicodeMapFile` table: code point (U+0000–U+FFFF) → byte.
#[derive(Clone, PartialEq, Eq)]
pub struct UnicodeMap {
    table: Box<[Option<u8>]>,
}

impl std::fmt::Debug for UnicodeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.table.iter().filter(|e| e.is_some()).count();
        write!(f, "UnicodeMap({n} entries)")
    }
}

/// C `atol`: leading whitespace, optional sign, decimal digits, anything after ignored.
fn atol(tok: &str) -> i64 {
    let t = tok.trim_start();
    let (neg, rest) = match (t.strip_prefix('-'), t.strip_prefix('+')) {
        (Some(r), _) => (true, r),
        (None, Some(r)) => (false, r),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in rest.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// C `sscanf("%x")` on a token: leading hex digits (an optional `0x` prefix is accepted).
fn scan_hex(tok: &str) -> Option<u32> {
    let t = tok.trim_start();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: String = t.chars().take_while(char::is_ascii_hexdigit).collect();
    u32::from_str_radix(&digits, 16).ok()
}

impl UnicodeMap {
    /// Builds the table for `code_page` from the text of a ModSecurity `unicode.mapping` file,
    /// the way libmodsecurity3 reads it: whitespace-separated tokens; the section starts at the
    /// first token whose `atol` value equals the code page, its `XXXX:YY` tokens are the
    /// entries, and the first token without a `:` after them ends it. U+3002, U+FF61, U+FF0E
    /// and U+002E always map to `.` (RFC 3490 dots). Errors when the code page has no entries.
    pub fn parse(text: &str, code_page: u32) -> Result<Self, String> {
        let mut table = vec![None; 65536].into_boxed_slice();
        for dot in [0x3002usize, 0xff61, 0xff0e, 0x002e] {
            if let Some(e) = table.get_mut(dot) {
                *e = Some(b'.');
            }
        }
        let (mut found, mut processing, mut entries) = (false, false, 0usize);
        for tok in text
            .split([' ', '\t', '\n', '\r'])
            .filter(|t| !t.is_empty())
        {
            if atol(tok) == i64::from(code_page) {
                found = true;
            }
            let is_mapping = tok.contains(':');
            if found && is_mapping {
                processing = true;
                let (code, byte) = tok.split_once(':').unwrap_or((tok, ""));
                if let (Some(code), Some(byte)) = (scan_hex(code), scan_hex(byte)) {
                    if let Some(e) = table.get_mut(code as usize) {
                        // The C code stores an int and later writes it into a byte.
                        *e = Some((byte & 0xff) as u8);
                        entries += 1;
                    }
                }
            }
            if processing && !is_mapping {
                break;
            }
        }
        if entries == 0 {
            return Err(format!("no unicode map entries for code page {code_page}"));
        }
        Ok(UnicodeMap { table })
    }

    /// The mapped byte for a code point, if any.
    pub fn get(&self, code: u16) -> Option<u8> {
        self.table.get(usize::from(code)).copied().flatten()
    }
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    decode(input, out, None);
}

/// `urlDecodeUni` with an optional `SecUnicodeMapFile` table.
pub(super) fn decode(input: &[u8], out: &mut Vec<u8>, map: Option<&UnicodeMap>) {
    out.reserve(input.len());
    let mut i = 0;
    loop {
        i = copy_plus_to_space(input, i, out);
        let Some(&b) = input.get(i) else { break };
        if b == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        match input.get(i + 1) {
            Some(&(b'u' | b'U')) => {
                if let Some(&[_, _, a, b2, c, d]) = input.get(i..i + 6) {
                    if is_hex(a) && is_hex(b2) && is_hex(c) && is_hex(d) {
                        let code = u16::from_be_bytes([x2c(a, b2), x2c(c, d)]);
                        if let Some(mapped) = map.and_then(|m| m.get(code)) {
                            out.push(mapped);
                            i += 6;
                            continue;
                        }
                        let mut v = x2c(c, d);
                        let full_width =
                            a.eq_ignore_ascii_case(&b'f') && b2.eq_ignore_ascii_case(&b'f');
                        if full_width && v > 0x00 && v < 0x5f {
                            v += 0x20;
                        }
                        out.push(v);
                        i += 6;
                        continue;
                    }
                }
                // Not a valid %u escape: keep "%u" and carry on after it.
                out.extend_from_slice(input.get(i..i + 2).unwrap_or_default());
                i += 2;
            }
            _ => match (input.get(i + 1), input.get(i + 2)) {
                (Some(&h), Some(&l)) if is_hex(h) && is_hex(l) => {
                    out.push(x2c(h, l));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    fn run(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        super::apply(input, &mut out);
        out
    }

    #[test]
    fn percent_u_low_byte_and_full_width() {
        assert_eq!(run(b"%u0041%uFF01%uff3c%u1234"), b"A!\\4");
        // 0xFF5F is past the full-width range: low byte 0x5f is kept.
        assert_eq!(run(b"%uff5f%uFF00"), b"\x5f\x00");
    }

    #[test]
    fn unicode_map_parsing_and_lookup() {
        let text = "(header)\n\n1252  (ANSI - Latin I)\n00c0:41 ff01:7a\n\n20127 (US-ASCII)\n00e9:65 02bc:27\n\n20261 (T.61)\n00e9:45\n";
        let m = super::UnicodeMap::parse(text, 20127).unwrap();
        assert_eq!(m.get(0x00e9), Some(b'e'));
        assert_eq!(m.get(0x00c0), None);
        assert_eq!(m.get(0x3002), Some(b'.'));
        let mut out = Vec::new();
        super::decode(b"%u00e9%u02BC%u3002%uff01%u1234", &mut out, Some(&m));
        assert_eq!(out, b"e'.!4");
        assert!(super::UnicodeMap::parse(text, 437).is_err());
    }

    #[test]
    fn invalid_escapes_kept() {
        assert_eq!(run(b"%u004%uzzzz%"), b"%u004%uzzzz%");
        assert_eq!(run(b"%u"), b"%u");
        assert_eq!(run(b"+%2B"), b" +");
    }
}
