//! `t:sqlHexDecode`: decodes SQL hex literals `0xHHHH…` in place (`0x414243` → `ABC`).
//!
//! ModSecurity 3.0.x's loop has off-by-one behaviour we keep for fidelity (measured): the
//! value stops at the first NUL, the last input byte is dropped unless it was consumed by a
//! hex literal (`abc` → `ab`), and `0x` needs at least one full pair to be decoded.
//! Example: `SecRule ARGS "@rx union" "id:1,t:sqlHexDecode"`.

use super::{is_hex, x2c};

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    // The C code reads its NUL-terminated copy one past the end; model that as 0.
    let at = |p: usize| input.get(p).copied().unwrap_or(0);
    let len = input.len();
    let mut p = 0usize;
    let mut count = 0usize;
    loop {
        count += 1;
        if count >= len || at(p) == 0 {
            break;
        }
        if at(p) == b'0'
            && at(p + 1).eq_ignore_ascii_case(&b'x')
            && is_hex(at(p + 2))
            && is_hex(at(p + 3))
        {
            p += 2;
            count += 2;
            while is_hex(at(p)) && is_hex(at(p + 1)) {
                out.push(x2c(at(p), at(p + 1)));
                p += 2;
                count += 2;
            }
        }
        // The loop step copies the byte after whatever was handled, unconditionally.
        out.push(at(p));
        p += 1;
    }
    // The result is measured with strlen().
    if let Some(nul) = out.iter().position(|&b| b == 0) {
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
    fn decodes_literals() {
        assert_eq!(run(b"0x41b"), b"Ab");
        assert_eq!(run(b"00x4142"), b"0AB");
        assert_eq!(run(b"x0x414"), b"xA4");
    }

    #[test]
    fn modsecurity_off_by_one() {
        assert_eq!(run(b"a"), b"");
        assert_eq!(run(b"abc"), b"ab");
        assert_eq!(run(b"0x4"), b"0x");
        assert_eq!(run(b""), b"");
    }
}
