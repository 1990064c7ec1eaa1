//! Pure operator primitives: the parts of SecLang operators that are not pattern matching.
//!
//! Owns `@within`, `@eq/@ge/@gt/@le/@lt` (their number parsing), `@validateByteRange`, `@validateUrlEncoding`, `@validateUtf8Encoding`,
//! `@ipMatch`, `@detectXSS` (`xss` over the `html5` tokenizer) and the libinjection wrappers behind
//! `@detectSQLi`/`@detectXSS`, each with
//! libmodsecurity3 v3.0.x semantics (including its edge cases, noted per module). `@rx`,
//! `@pm` and the string-comparison operators live in `matcher`; macro expansion, negation,
//! captures and `TX:0` handling belong to the evaluator. Nothing here allocates per call
//! except `detect_sqli`'s fingerprint, and nothing panics on request bytes.

pub mod byte_range;
pub mod compare;
pub mod html5;
pub mod ip_match;
pub mod libinjection;
pub mod validate;
pub mod within;
pub mod xss;

#[cfg(test)]
mod vectors;
