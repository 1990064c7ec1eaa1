//! `t:jsDecode`: decodes JavaScript escapes.
//!
//! `\uHHHH` keeps the low byte (full-width `\uFF01`–`\uFF5E` map to ASCII, as ModSecurity
//! does), `\xHH` is a byte, `\o`–`\ooo` octal is a byte (a 3-digit form that would exceed 0xFF
//! uses only two digits: `\777` → `?7`), `\a \b \f \n \r \t \v` are control bytes, and any
//! other `\c` is `c`. `u` and `x` must be lowercase. A trailing lone backslash is kept.
//! Example: `SecRule ARGS "@rx alert\(" "id:1,t:jsDecode"` sees `\u0061lert(`.

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
        if i + 5 < len && at(i + 1) == b'u' && (2..6).all(|k| is_hex(at(i + k))) {
            let mut v = x2c(at(i + 4), at(i + 5));
            let ff = at(i + 2).eq_ignore_ascii_case(&b'f') && at(i + 3).eq_ignore_ascii_case(&b'f');
            if ff && v > 0 && v < 0x5f {
                v += 0x20;
            }
            out.push(v);
            i += 6;
        } else if i + 3 < len && at(i + 1) == b'x' && is_hex(at(i + 2)) && is_hex(at(i + 3)) {
            out.push(x2c(at(i + 2), at(i + 3)));
            i += 4;
        } else if i + 1 < len && is_odigit(at(i + 1)) {
            let mut j = 0;
            while i + 1 + j < len && j < 3 {
                j += 1;
                if !is_odigit(at(i + 1 + j)) {
                    break;
                }
            }
            if j == 3 && at(i + 1) > b'3' {
                j = 2;
            }
            let mut v: u32 = 0;
            for k in 0..j {
                v = v * 8 + u32::from(at(i + 1 + k) - b'0');
            }
            out.push((v & 0xff) as u8);
            i += 1 + j;
        } else if i + 1 < len {
            out.push(match at(i + 1) {
                b'a' => 0x07,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 0x0b,
                c => c,
            });
            i += 2;
        } else {
            out.push(b'\\');
            i += 1;
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
        assert_eq!(run(b"\\u0061lert\\x28\\061\\51"), b"alert(1)");
        assert_eq!(run(b"\\uff1c\\777\\q\\n\\"), b"<?7q\n\\");
        assert_eq!(run(b"\\U0061\\X41"), b"U0061X41");
    }
}
