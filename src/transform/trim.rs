//! `t:trim`: removes leading and trailing C-locale whitespace (space, `\t\n\v\f\r`).
//!
//! NUL and 0xA0 are not whitespace here. Example: `SecRule ARGS "@streq admin" "id:1,t:trim"`.

use super::is_c_space;

/// The slice without leading C-locale whitespace.
pub(super) fn trim_start(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|&b| !is_c_space(b))
        .unwrap_or(input.len());
    input.get(start..).unwrap_or_default()
}

/// The slice without trailing C-locale whitespace.
pub(super) fn trim_end(input: &[u8]) -> &[u8] {
    let end = input
        .iter()
        .rposition(|&b| !is_c_space(b))
        .map_or(0, |p| p + 1);
    input.get(..end).unwrap_or_default()
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(trim_start(trim_end(input)));
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_ends() {
        let mut out = Vec::new();
        out.clear();
        super::apply(b" \t a b \r\n", &mut out);
        assert_eq!(out, b"a b");
        out.clear();
        super::apply(b" \x0b ", &mut out);
        assert_eq!(out, b"");
    }
}
