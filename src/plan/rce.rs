//! The gadget-free specialisation of CRS's RCE evasion patterns (932235, 932236, 932239,
//! 932250, 932260, …): CRS places an evasion gadget between every letter of a command word,
//!
//! ```text
//! ["')\[\\]*(?:(?:(?:\|\||&&)[\s\x0b]*)?\$[!#(*\-0-9?@_a-{]*)?\\?
//! ```
//!
//! (quotes, `)`, `[` or backslashes; optionally `||`/`&&` and a `$` variable; an optional
//! backslash). On a value holding none of `" ' ) [ \ $` each of its three parts can only match
//! the empty string, so the pattern with every gadget removed matches exactly the same values,
//! at the same offsets and with the same capture groups (the gadget has none): a plain word
//! list that Hyperscan factors well. [`GADGET_CLASSES`] is the signature test; a value with
//! any of those bytes takes the full pattern. Proven by a property test against PCRE2
//! (`tests/it/rce.rs`).

use crate::transform::class;

/// The gadget as it appears, byte for byte, in CRS 3.3 and 4.x `@rx` sources.
pub const GADGET: &str =
    r#"[\"'\)\[\x5c]*(?:(?:(?:\|\||&&)[\s\x0b]*)?\$[!#\(\*\-0-9\?@_a-\{]*)?\x5c?"#;

/// Signature classes (`transform::classes`) covering every byte the gadget can consume:
/// `"` `'` (and `^`) in `QUOTE`, `\` in `BSLASH`, `)` `[` `$` in `GADGET`. A value whose
/// signature has none of them sees the gadget-free pattern answer exactly as the full one.
pub const GADGET_CLASSES: u16 = class::QUOTE | class::BSLASH | class::GADGET;

/// `pattern` with every gadget removed, or `None` when it has none (or an occurrence is not a
/// whole sequence of atoms: escaped, or followed by a quantifier that would then apply to the
/// atom before it).
pub fn gadget_free(pattern: &str) -> Option<String> {
    if !pattern.contains(GADGET) {
        return None;
    }
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find(GADGET) {
        let (head, tail) = rest.split_at(at);
        let after = &tail[GADGET.len()..];
        // An odd run of backslashes before it would escape its `[`.
        let escapes = head.bytes().rev().take_while(|&b| b == b'\\').count();
        if escapes % 2 == 1 || after.starts_with(['?', '*', '+', '{']) {
            return None;
        }
        out.push_str(head);
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_every_gadget_and_refuses_odd_contexts() {
        let p = format!("(?i)c{GADGET}a{GADGET}t");
        assert_eq!(gadget_free(&p).as_deref(), Some("(?i)cat"));
        assert_eq!(gadget_free("(?i)cat"), None);
        assert_eq!(gadget_free(&format!("c{GADGET}?a")), None);
        assert_eq!(gadget_free(&format!("c\\{GADGET}a")), None);
        assert_eq!(
            gadget_free(&format!("c\\\\{GADGET}a")).as_deref(),
            Some("c\\\\a")
        );
    }
}
