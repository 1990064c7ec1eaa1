//! `t:length`: replaces the value with its length in bytes, as decimal ASCII.
//!
//! Example: `SecRule ARGS "@gt 400" "id:1,t:length"` (CRS argument length limits).

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Written straight into `out`: no temporary String per value.
    let _ = write!(out, "{}", input.len());
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_bytes_not_chars() {
        let mut out = Vec::new();
        out.clear();
        super::apply("é".as_bytes(), &mut out);
        assert_eq!(out, b"2");
        out.clear();
        super::apply(b"", &mut out);
        assert_eq!(out, b"0");
    }
}
