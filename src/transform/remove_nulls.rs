//! `t:removeNulls`: drops every NUL (0x00) byte.
//!
//! Example: `SecRule ARGS "@rx <script" "id:1,t:removeNulls"` sees `<sc\0ript` as `<script`.

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    // NULs are rare: copy the runs between them in bulk.
    for part in input.split(|&b| b == 0) {
        out.extend_from_slice(part);
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
