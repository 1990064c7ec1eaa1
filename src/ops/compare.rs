//! `@eq`, `@ge`, `@gt`, `@le`, `@lt`: numeric comparisons of the input with the (macro-expanded)
//! parameter, with libmodsecurity3's two different number parsers.
//!
//! `@eq` parses both sides with C++ `std::stoi`: leading C whitespace, optional sign, decimal
//! digits, junk after ignored; no digits or a value outside `i32` throws, and ModSecurity
//! turns that into 0 (so `@eq 0` matches `abc` and `99999999999`). `@ge/@gt/@le/@lt` use C
//! `atoll`: same syntax, no digits → 0, overflow saturates at `i64::MIN/MAX`. Both stop at a
//! NUL byte. Example: `SecRule &TX:paranoia_level "@eq 0" "id:901120,…"`.

/// C `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtol`-style scan: `None` when there are no digits; otherwise the value saturated to
/// `i64` and whether it overflowed.
fn scan(s: &[u8]) -> Option<(i64, bool)> {
    let mut i = s.iter().position(|&b| !is_c_space(b)).unwrap_or(s.len());
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s.get(i..).unwrap_or_default();
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: i64 = 0;
    let mut overflow = false;
    for &d in digits.iter().take(n) {
        let d = i64::from(d - b'0');
        // Accumulate negatively so that i64::MIN itself is representable.
        match v.checked_mul(10).and_then(|x| x.checked_sub(d)) {
            Some(x) => v = x,
            None => {
                overflow = true;
                break;
            }
        }
    }
    if overflow {
        return Some((if neg { i64::MIN } else { i64::MAX }, true));
    }
    if neg {
        Some((v, false))
    } else {
        match v.checked_neg() {
            Some(x) => Some((x, false)),
            None => Some((i64::MAX, true)),
        }
    }
}

/// C++ `std::stoi` as `@eq` uses it: 0 when it would throw.
pub fn stoi(s: &[u8]) -> i32 {
    match scan(s) {
        Some((v, false)) => i32::try_from(v).unwrap_or(0),
        _ => 0,
    }
}

/// C `atoll` as `@ge/@gt/@le/@lt` use it.
pub fn atoll(s: &[u8]) -> i64 {
    scan(s).map_or(0, |(v, _)| v)
}

/// `@eq param`.
pub fn eq(input: &[u8], param: &[u8]) -> bool {
    stoi(input) == stoi(param)
}

/// `@ge param`: input >= param.
pub fn ge(input: &[u8], param: &[u8]) -> bool {
    atoll(input) >= atoll(param)
}

/// `@gt param`: input > param.
pub fn gt(input: &[u8], param: &[u8]) -> bool {
    atoll(input) > atoll(param)
}

/// `@le param`: input <= param.
pub fn le(input: &[u8], param: &[u8]) -> bool {
    atoll(input) <= atoll(param)
}

/// `@lt param`: input < param.
pub fn lt(input: &[u8], param: &[u8]) -> bool {
    atoll(input) < atoll(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(stoi(b" \t-12abc"), -12);
        assert_eq!(stoi(b"abc"), 0);
        assert_eq!(stoi(b"2147483647"), i32::MAX);
        assert_eq!(stoi(b"2147483648"), 0);
        assert_eq!(stoi(b"-2147483648"), i32::MIN);
        assert_eq!(stoi(b"+7"), 7);
        assert_eq!(stoi(b"- 7"), 0);
        assert_eq!(atoll(b"99999999999999999999"), i64::MAX);
        assert_eq!(atoll(b"-99999999999999999999"), i64::MIN);
        assert_eq!(atoll(b"-9223372036854775808"), i64::MIN);
        assert_eq!(atoll(b"12\x0034"), 12);
        assert_eq!(atoll(b""), 0);
    }

    #[test]
    fn operators() {
        assert!(eq(b"abc", b"0"));
        assert!(eq(b"99999999999", b"0"));
        assert!(eq(b"007", b"7"));
        assert!(ge(b"5", b"5") && !gt(b"5", b"5") && gt(b"6", b"5"));
        assert!(lt(b"abc", b"1") && le(b"0", b"0"));
        assert!(gt(b"99999999999", b"2147483647"));
    }
}
