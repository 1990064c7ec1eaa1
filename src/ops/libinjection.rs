//! `@detectSQLi` / `@detectXSS`: the entry points the evaluator calls. SQLi is the
//! `libinjectionrs` crate (a Rust port of libinjection, which libmodsecurity3 embeds in C); XSS
//! is our own `ops::xss` (libinjection 3.9's algorithm: the crate follows a later libinjection
//! that only flags known event-handler names, so it missed `<x onxxx=1`).
//!
//! `detect_sqli` returns the fingerprint ModSecurity stores in `TX:0` when the rule has
//! `capture` (e.g. `s&1UE`). How closely the port agrees with the C library libmodsecurity3
//! 3.0.9 ships is measured over the CRS regression payloads by `tests/libinjection/`.
//! Example: `SecRule ARGS "@detectSQLi" "id:942100,capture,logdata:'%{TX.0}',…"`.
//!
//! Both answers are pure functions of the input, and CRS asks them of every argument, cookie and
//! name, so each thread (one per shard) remembers recent answers for short inputs in a small
//! direct-mapped table: argument names and common values repeat across requests.

use std::cell::RefCell;

/// Inputs longer than this are not remembered (bytes).
const MEMO_MAX: usize = 256;
/// Slots per table (power of two).
const MEMO_SLOTS: usize = 2048;

/// A remembered SQLi answer: the fingerprint (at most 8 bytes in libinjection), or none.
#[derive(Debug, Clone, Copy, Default)]
struct SqliAnswer {
    injection: bool,
    len: u8,
    fp: [u8; 8],
}

#[derive(Debug, Default)]
struct Slot<T> {
    /// 0 = empty.
    hash: u64,
    key: Vec<u8>,
    answer: T,
}

/// One thread's answers for one detector.
#[derive(Debug)]
struct Memo<T> {
    seed: u64,
    slots: Vec<Slot<T>>,
}

impl<T: Copy + Default> Memo<T> {
    fn new() -> Self {
        Memo {
            seed: crate::fasthash::random_seed(),
            slots: Vec::new(),
        }
    }

    /// The remembered answer for `input`, or `compute`'s (remembered when short enough).
    fn get_or(&mut self, input: &[u8], compute: impl FnOnce(&[u8]) -> T) -> T {
        if input.len() > MEMO_MAX {
            return compute(input);
        }
        if self.slots.is_empty() {
            self.slots.resize_with(MEMO_SLOTS, Slot::default);
        }
        let h = crate::fasthash::hash(self.seed, input).max(1);
        let Some(slot) = self.slots.get_mut((h as usize) & (MEMO_SLOTS - 1)) else {
            return compute(input);
        };
        if slot.hash == h && slot.key == input {
            return slot.answer;
        }
        let answer = compute(input);
        slot.hash = h;
        slot.key.clear();
        slot.key.extend_from_slice(input);
        slot.answer = answer;
        answer
    }
}

thread_local! {
    static SQLI: RefCell<Memo<SqliAnswer>> = RefCell::new(Memo::new());
    static XSS: RefCell<Memo<bool>> = RefCell::new(Memo::new());
}

fn sqli_uncached(input: &[u8]) -> SqliAnswer {
    let r = libinjectionrs::detect_sqli(input);
    let mut a = SqliAnswer {
        injection: r.is_injection(),
        ..SqliAnswer::default()
    };
    if a.injection {
        if let Some(f) = r.fingerprint {
            let b = f.as_str().as_bytes();
            let n = b.len().min(a.fp.len());
            a.fp[..n].copy_from_slice(&b[..n]);
            a.len = n as u8;
        }
    }
    a
}

/// Some(fingerprint) when libinjection classifies the input as SQLi.
pub fn detect_sqli(input: &[u8]) -> Option<String> {
    let a = SQLI.with(|m| match m.try_borrow_mut() {
        Ok(mut m) => m.get_or(input, sqli_uncached),
        Err(_) => sqli_uncached(input),
    });
    if !a.injection {
        return None;
    }
    let fp = a.fp.get(..usize::from(a.len)).unwrap_or_default();
    Some(String::from_utf8_lossy(fp).into_owned())
}

/// True when libinjection classifies the input as XSS.
pub fn detect_xss(input: &[u8]) -> bool {
    let compute = super::xss::is_xss;
    XSS.with(|m| match m.try_borrow_mut() {
        Ok(mut m) => m.get_or(input, compute),
        Err(_) => compute(input),
    })
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
    fn remembered_answers_equal_fresh_ones() {
        let inputs: [&[u8]; 6] = [
            b"1' OR '1'='1",
            b"hello world",
            b"1 UNION SELECT password FROM users",
            b"<script>alert(1)</script>",
            b"plain",
            b"",
        ];
        for _ in 0..3 {
            for i in inputs {
                let fresh = sqli_uncached(i);
                let sqli = detect_sqli(i);
                assert_eq!(sqli.is_some(), fresh.injection, "{i:?}");
                if let Some(fp) = sqli {
                    assert_eq!(
                        Some(fp.as_str()),
                        libinjectionrs::detect_sqli(i)
                            .fingerprint
                            .map(|f| f.as_str().to_owned())
                            .as_deref()
                    );
                }
                assert_eq!(detect_xss(i), super::super::xss::is_xss(i), "{i:?}");
            }
        }
        // Different inputs keep their own answers (a shared slot is recomputed, not confused).
        let mut m: Memo<bool> = Memo::new();
        assert!(m.get_or(b"a", |_| true));
        assert!(!m.get_or(b"b", |_| false));
        assert!(m.get_or(b"a", |_| true));
        let long = vec![b'x'; MEMO_MAX + 1];
        assert!(!m.get_or(&long, |_| false));
        assert!(
            m.get_or(&long, |_| true),
            "long inputs are never remembered"
        );
    }

    #[test]
    fn xss() {
        assert!(detect_xss(b"<script>alert(1)</script>"));
        assert!(detect_xss(b"<img src=x onerror=alert(1)>"));
        assert!(!detect_xss(b"hello <b>world</b>"));
        assert!(!detect_xss(b""));
    }
}
