//! `t:removeWhitespace`: drops C-locale whitespace (space, `\t\n\v\f\r`) and the bytes 0xA0
//! and 0xC2.
//!
//! ModSecurity treats 0xA0 (Latin-1 NBSP) and 0xC2 (the lead byte of UTF-8 NBSP) as
//! "non-breaking spaces" and removes each of them wherever it occurs, even when 0xC2 starts
//! another UTF-8 character; we do the same.
//! Example: `SecRule ARGS "@rx unionselect" "id:1,t:lowercase,t:removeWhitespace"`.

use super::is_c_space;

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    // Whitespace is sparse in most values: copy the runs between dropped bytes in bulk.
    for part in input.split(|&b| is_c_space(b) || b == 0xa0 || b == 0xc2) {
        out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_spaces_and_nbsp_bytes() {
        let mut out = Vec::new();
        super::apply(b" a\tb\x0bc\xc2\xa0d\xc3\xa9", &mut out);
        assert_eq!(out, b"abcd\xc3\xa9");
    }
}
