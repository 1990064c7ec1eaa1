//! `t:lowercase`: ASCII `A-Z` → `a-z`; every other byte (including 0x80–0xFF) is unchanged.
//!
//! ModSecurity calls `std::tolower` in the "C" locale, which only knows ASCII; so do we.
//! Example: `SecRule ARGS "@rx select" "id:1,t:lowercase"` sees `SeLeCt` as `select`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.extend(input.iter().map(u8::to_ascii_lowercase));
}

#[cfg(test)]
mod tests {
    #[test]
    fn ascii_only() {
        let mut out = Vec::new();
        super::apply(b"AbC\xc4\xd6Z", &mut out);
        assert_eq!(out, b"abc\xc4\xd6z");
    }
}
