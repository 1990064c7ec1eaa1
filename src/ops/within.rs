//! `@within`: true when the (transformed) input occurs as a substring of the parameter.
//!
//! The parameter is the macro-expanded operator argument; CRS wraps its lists in `|…|` so
//! that a substring test behaves like a token test (`|GET| |POST|`). libmodsecurity3 returns
//! **true for an empty input** (the empty string is within everything); we do the same.
//! Example: `SecRule REQUEST_METHOD "!@within %{tx.allowed_methods}" "id:911100,…"`.

/// Does `input` occur in `param`? Case-sensitive, byte-wise.
pub fn within(input: &[u8], param: &[u8]) -> bool {
    if input.is_empty() {
        return true;
    }
    if input.len() > param.len() {
        return false;
    }
    memchr::memmem::find(param, input).is_some()
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn substring_semantics() {
        let methods = b"GET HEAD POST OPTIONS";
        assert!(within(b"POST", methods));
        assert!(within(b"T HE", methods));
        assert!(!within(b"PUT", methods));
        assert!(!within(b"post", methods));
        assert!(within(b"", methods));
        assert!(within(b"", b""));
        assert!(!within(b"a", b""));
        assert!(!within(b"GET HEAD POST OPTIONS!", methods));
    }
}
