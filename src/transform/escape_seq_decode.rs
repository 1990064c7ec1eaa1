//! `t:escapeSeqDecode`: decodes ANSI C escape sequences.
//!
//! `\a \b \f \n \r \t \v \\ \? \' \"`, `\xHH` (exactly two hex digits, `x` or `X`) and `\o`,
//! `\oo`, `\ooo` octal (the value is truncated to a byte, so `\777` → 0xFF). An unknown or
//! malformed escape drops the backslash and keeps the next byte (`\xZ` → `xZ`); a trailing
//! lone backslash is kept.
//! Example: `SecRule ARGS "@rx /etc/passwd" "id:1,t:escapeSeqDecode"` sees `\x2fetc\057passwd`.

use super::{is_hex, x2c};

fn is_odigit(b: u8) -> bool {
    (b'0'..=b'7').contains(&b)
}

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
            out.push(at(i));
            i += 1;
            continue;
        }
        let simple = match at(i + 1) {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            b'?' => Some(b'?'),
            b'\'' => Some(b'\''),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        let n = at(i + 1);
        if (n == b'x' || n == b'X') && i + 3 < len && is_hex(at(i + 2)) && is_hex(at(i + 3)) {
            out.push(x2c(at(i + 2), at(i + 3)));
            i += 4;
        } else if is_odigit(n) {
            let mut v: u32 = 0;
            let mut j = 0;
            while i + 1 + j < len && j < 3 {
                v = v * 8 + u32::from(at(i + 1 + j) - b'0');
                j += 1;
                if !is_odigit(at(i + 1 + j)) {
                    break;
                }
            }
            out.push((v & 0xff) as u8);
            i += 1 + j;
        } else {
            out.push(n);
            i += 2;
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
    fn decodes() {
        assert_eq!(run(b"\\x2fetc\\057passwd\\n"), b"/etc/passwd\n");
        assert_eq!(run(b"\\777\\1a"), b"\xff\x01a");
        assert_eq!(run(b"\\xZ\\q\\"), b"xZq\\");
    }
}
