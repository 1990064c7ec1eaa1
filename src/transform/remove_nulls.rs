//! `t:removeNulls`: drops every NUL (0x00) byte.
//!
//! Example: `SecRule ARGS "@rx <script" "id:1,t:removeNulls"` sees `<sc\0ript` as `<script`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    // NULs are rare: copy the runs between them in bulk.
    let mut i = 0;
    while i < input.len() {
        i = super::copy_until(input, i, out, 0) + 1;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_nuls() {
        let mut out = Vec::new();
        super::apply(b"\0a\0\0b\0", &mut out);
        assert_eq!(out, b"ab");
    }
}
