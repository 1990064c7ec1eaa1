//! `@validateByteRange`: true when any byte of the input lies outside the allowed ranges.
//!
//! The specification is a comma-separated list of decimal bytes and `lo-hi` ranges
//! (`1-255`, `9,10,13,32-126`). Numbers are read like C++ `std::stoi`: leading whitespace
//! and a sign are accepted and trailing junk is ignored (`32-126 ` works). libmodsecurity3
//! silently ignores a malformed item; we report it as an error so the rule author sees it.
//! Example: `SecRule ARGS "@validateByteRange 1-255" "id:920270,…"`.

/// A set of allowed byte values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteRanges {
    /// Bit `b` set ⇔ byte `b` allowed.
    allowed: [u64; 4],
}

/// `std::stoi`-like: optional leading whitespace and sign, at least one digit, junk after.
fn stoi(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match (t.strip_prefix('-'), t.strip_prefix('+')) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits.get(..end)?.parse().ok()?;
    Some(if neg { -n } else { n })
}

impl ByteRanges {
    /// Parses `"1-255"` / `"9,10,13,32-126"`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut allowed = [0u64; 4];
        for item in spec.split(',') {
            let (lo, hi) = match item.split_once('-') {
                // A leading '-' is a sign for stoi only when no digits precede it; CRS never
                // writes negative bytes, so treat "a-b" as a range as ModSecurity does.
                Some((a, b)) => {
                    let lo = stoi(a).ok_or_else(|| format!("not a number: {a:?} in {spec:?}"))?;
                    let hi = stoi(b).ok_or_else(|| format!("not a number: {b:?} in {spec:?}"))?;
                    (lo, hi)
                }
                None => {
                    let v =
                        stoi(item).ok_or_else(|| format!("not a number: {item:?} in {spec:?}"))?;
                    (v, v)
                }
            };
            if !(0..=255).contains(&lo) || !(0..=255).contains(&hi) {
                return Err(format!("byte value out of 0-255 in {item:?}"));
            }
            if lo > hi {
                return Err(format!("invalid range {lo}-{hi}"));
            }
            for b in lo..=hi {
                let b = b as usize;
                if let Some(word) = allowed.get_mut(b / 64) {
                    *word |= 1u64 << (b % 64);
                }
            }
        }
        Ok(ByteRanges { allowed })
    }

    /// Is byte `b` allowed?
    #[inline]
    pub fn allows(&self, b: u8) -> bool {
        let b = usize::from(b);
        self.allowed
            .get(b / 64)
            .is_some_and(|w| w & (1u64 << (b % 64)) != 0)
    }

    /// True if any byte of `input` is outside the ranges.
    pub fn violates(&self, input: &[u8]) -> bool {
        input.iter().any(|&b| !self.allows(b))
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRanges;

    #[test]
    fn crs_specs() {
        let r = ByteRanges::parse("1-255").unwrap();
        assert!(!r.violates(b"abc\xff\x01"));
        assert!(r.violates(b"a\0b"));
        assert!(!r.violates(b""));

        let r = ByteRanges::parse("9,10,13,32-126").unwrap();
        assert!(!r.violates(b"GET /\tx\r\n~"));
        assert!(r.violates(b"\x7f"));
        assert!(r.violates(b"\x0b"));
        assert!(r.violates("é".as_bytes()));

        let r = ByteRanges::parse("38,44-46,48-58,61,65-90,95,97-122").unwrap();
        assert!(!r.violates(b"a=1&b-2.Z_"));
        assert!(r.violates(b"a b"));
    }

    #[test]
    fn stoi_leniency_and_errors() {
        let r = ByteRanges::parse(" 32 - 126 ").unwrap();
        assert!(r.allows(b' ') && r.allows(b'~') && !r.allows(31));
        assert!(ByteRanges::parse("x").is_err());
        assert!(ByteRanges::parse("1-256").is_err());
        assert!(ByteRanges::parse("200-100").is_err());
        assert!(ByteRanges::parse("300").is_err());
    }
}
