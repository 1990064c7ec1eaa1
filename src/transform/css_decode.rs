//! `t:cssDecode`: decodes CSS 2 escapes (`\` + 1–6 hex digits, `\` + any char, `\` + newline).
//!
//! Hex escapes keep only the low byte of the code point, except full-width ASCII
//! (`\FF01`–`\FF5E`, also written `\0FF01`/`\00FF01`) which maps to ASCII, as in ModSecurity.
//! One whitespace byte after a hex escape is swallowed; `\` + newline disappears; a trailing
//! lone `\` is dropped. libmodsecurity3 returns the decoded value only up to its first NUL
//! (it rebuilds the string from a C pointer); we keep that quirk (measured).
//! Example: `SecRule ARGS "@rx javascript:" "id:1,t:cssDecode"` sees `j\61vascript:`.

use super::{is_c_space, is_hex, nibble, x2c};

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let at = |p: usize| input.get(p).copied().unwrap_or(0);
    let len = input.len();
    let mut i = 0;
    while i < len {
        i = super::copy_until(input, i, out, b'\\');
        if i >= len {
            break;
        }
        if i + 1 >= len {
            // A backslash at the very end continues "to nothing".
            break;
        }
        i += 1;
        let mut j = 0;
        while j < 6 && i + j < len && is_hex(at(i + j)) {
            j += 1;
        }
        if j == 0 {
            if at(i) != b'\n' {
                out.push(at(i));
            }
            i += 1;
            continue;
        }
        let last2 = || x2c(at(i + j - 2), at(i + j - 1));
        let full_check = match j {
            1 => {
                out.push(nibble(at(i)));
                None
            }
            2 | 3 => {
                out.push(last2());
                None
            }
            4 => Some(last2()),
            5 if at(i) == b'0' => Some(last2()),
            6 if at(i) == b'0' && at(i + 1) == b'0' => Some(last2()),
            _ => {
                out.push(last2());
                None
            }
        };
        if let Some(mut v) = full_check {
            let ff = at(i + j - 3).eq_ignore_ascii_case(&b'f')
                && at(i + j - 4).eq_ignore_ascii_case(&b'f');
            if v > 0 && v < 0x5f && ff {
                v += 0x20;
            }
            out.push(v);
        }
        if i + j < len && is_c_space(at(i + j)) {
            j += 1;
        }
        i += j;
    }
    if let Some(nul) = memchr::memchr(0, out) {
        out.truncate(nul);
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
    fn hex_escapes() {
        assert_eq!(run(b"j\\61vascript"), b"javascript");
        assert_eq!(run(b"\\6a \\41"), b"jA");
        assert_eq!(run(b"\\ff01\\0ff3c\\00ff21"), b"!\\A");
        assert_eq!(run(b"\\1234567"), b"\x567");
    }

    #[test]
    fn other_escapes() {
        assert_eq!(run(b"a\\\nb\\q\\"), b"abq");
        assert_eq!(run(b"ab\\0 cd"), b"ab");
    }
}
