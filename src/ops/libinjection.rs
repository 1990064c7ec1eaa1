//! `@detectSQLi` / `@detectXSS`: thin wrappers over the `libinjectionrs` crate (a Rust port
//! of libinjection, which libmodsecurity3 embeds in C).
//!
//! `detect_sqli` returns the fingerprint ModSecurity stores in `TX:0` when the rule has
//! `capture` (e.g. `s&1UE`). How closely the port agrees with the C library libmodsecurity3
//! 3.0.9 ships is measured over the CRS regression payloads by `tests/libinjection/`.
//! Example: `SecRule ARGS "@detectSQLi" "id:942100,capture,logdata:'%{TX.0}',…"`.

/// Some(fingerprint) when libinjection classifies the input as SQLi.
pub fn detect_sqli(input: &[u8]) -> Option<String> {
    let r = libinjectionrs::detect_sqli(input);
    if !r.is_injection() {
        return None;
    }
    Some(
        r.fingerprint
            .map(|f| f.as_str().to_owned())
            .unwrap_or_default(),
    )
}

/// True when libinjection classifies the input as XSS.
pub fn detect_xss(input: &[u8]) -> bool {
    libinjectionrs::detect_xss(input).is_injection()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqli_fingerprints() {
        // Fingerprints as the C libinjection in libmodsecurity3 reports them.
        assert_eq!(detect_sqli(b"1' OR '1'='1").as_deref(), Some("s&sos"));
        assert_eq!(
            detect_sqli(b"1 UNION SELECT password FROM users").as_deref(),
            Some("1UEnk")
        );
        assert_eq!(detect_sqli(b"hello world"), None);
        assert_eq!(detect_sqli(b""), None);
    }

    #[test]
    fn xss() {
        assert!(detect_xss(b"<script>alert(1)</script>"));
        assert!(detect_xss(b"<img src=x onerror=alert(1)>"));
        assert!(!detect_xss(b"hello <b>world</b>"));
        assert!(!detect_xss(b""));
    }
}
