//! SecLang transformations (`t:`) as pure byte functions, one file per transformation.
//!
//! Owns the [`Transformation`] enum, its one registry (a static `match` in [`Transformation::
//! from_name`], [`Transformation::name`] and [`Transformation::apply`]) and the byte-level
//! helpers the decoders share. Semantics are libmodsecurity3 v3.0.x's, quirks included (they
//! were measured against Debian's libmodsecurity3 3.0.9; see `tests/data/transform/`), and every
//! function is byte-oriented: input is never assumed to be UTF-8.
//!
//! Refuses: `none` (the parser handles it), hidden state (the one configurable input, the
//! `SecUnicodeMapFile` table of `urlDecodeUni`, is passed explicitly to
//! [`Transformation::apply_with_map`]), and panics on any input.

mod base64_decode;
mod base64_decode_ext;
mod base64_encode;
mod cmd_line;
mod compress_whitespace;
mod css_decode;
mod escape_seq_decode;
mod hex_decode;
mod hex_encode;
mod html_entity_decode;
mod js_decode;
mod length;
mod lowercase;
mod md5;
mod normalize_path;
mod normalize_path_win;
mod parity_even_7bit;
mod parity_odd_7bit;
mod parity_zero_7bit;
mod remove_comments;
mod remove_comments_char;
mod remove_nulls;
mod remove_whitespace;
mod replace_comments;
mod replace_nulls;
mod sha1;
mod sql_hex_decode;
mod trim;
mod trim_left;
mod trim_right;
mod uppercase;
mod url_decode;
mod url_decode_uni;
mod url_encode;
mod utf8_to_unicode;

#[cfg(test)]
mod vectors;

pub use url_decode_uni::UnicodeMap;

/// One SecLang transformation. The discriminant order is the SecLang name order, so a chain can
/// be stored as a compact `Vec<Transformation>` and compared or hashed cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Transformation {
    Base64Decode,
    Base64DecodeExt,
    Base64Encode,
    CmdLine,
    CompressWhitespace,
    CssDecode,
    EscapeSeqDecode,
    HexDecode,
    HexEncode,
    HtmlEntityDecode,
    JsDecode,
    Length,
    Lowercase,
    Md5,
    NormalizePath,
    NormalizePathWin,
    ParityEven7bit,
    ParityOdd7bit,
    ParityZero7bit,
    RemoveComments,
    RemoveCommentsChar,
    RemoveNulls,
    RemoveWhitespace,
    ReplaceComments,
    ReplaceNulls,
    Sha1,
    SqlHexDecode,
    Trim,
    TrimLeft,
    TrimRight,
    Uppercase,
    UrlDecode,
    UrlDecodeUni,
    UrlEncode,
    Utf8ToUnicode,
}

impl Transformation {
    /// Every transformation, in discriminant order.
    pub const ALL: [Transformation; 35] = [
        Self::Base64Decode,
        Self::Base64DecodeExt,
        Self::Base64Encode,
        Self::CmdLine,
        Self::CompressWhitespace,
        Self::CssDecode,
        Self::EscapeSeqDecode,
        Self::HexDecode,
        Self::HexEncode,
        Self::HtmlEntityDecode,
        Self::JsDecode,
        Self::Length,
        Self::Lowercase,
        Self::Md5,
        Self::NormalizePath,
        Self::NormalizePathWin,
        Self::ParityEven7bit,
        Self::ParityOdd7bit,
        Self::ParityZero7bit,
        Self::RemoveComments,
        Self::RemoveCommentsChar,
        Self::RemoveNulls,
        Self::RemoveWhitespace,
        Self::ReplaceComments,
        Self::ReplaceNulls,
        Self::Sha1,
        Self::SqlHexDecode,
        Self::Trim,
        Self::TrimLeft,
        Self::TrimRight,
        Self::Uppercase,
        Self::UrlDecode,
        Self::UrlDecodeUni,
        Self::UrlEncode,
        Self::Utf8ToUnicode,
    ];

    /// Case-insensitive SecLang name; accepts the `normalisePath`/`normalisePathWin` spellings.
    /// `none` is NOT a transformation (the parser handles it): returns None.
    pub fn from_name(name: &str) -> Option<Self> {
        // Names are short; lowercasing into a stack buffer avoids an allocation per lookup.
        let mut buf = [0u8; 24];
        let bytes = name.as_bytes();
        let lower = buf.get_mut(..bytes.len())?;
        for (d, s) in lower.iter_mut().zip(bytes) {
            *d = s.to_ascii_lowercase();
        }
        Some(match &*lower {
            b"base64decode" => Self::Base64Decode,
            b"base64decodeext" => Self::Base64DecodeExt,
            b"base64encode" => Self::Base64Encode,
            b"cmdline" => Self::CmdLine,
            b"compresswhitespace" => Self::CompressWhitespace,
            b"cssdecode" => Self::CssDecode,
            b"escapeseqdecode" => Self::EscapeSeqDecode,
            b"hexdecode" => Self::HexDecode,
            b"hexencode" => Self::HexEncode,
            b"htmlentitydecode" => Self::HtmlEntityDecode,
            b"jsdecode" => Self::JsDecode,
            b"length" => Self::Length,
            b"lowercase" => Self::Lowercase,
            b"md5" => Self::Md5,
            b"normalizepath" | b"normalisepath" => Self::NormalizePath,
            b"normalizepathwin" | b"normalisepathwin" => Self::NormalizePathWin,
            b"parityeven7bit" => Self::ParityEven7bit,
            b"parityodd7bit" => Self::ParityOdd7bit,
            b"parityzero7bit" => Self::ParityZero7bit,
            b"removecomments" => Self::RemoveComments,
            b"removecommentschar" => Self::RemoveCommentsChar,
            b"removenulls" => Self::RemoveNulls,
            b"removewhitespace" => Self::RemoveWhitespace,
            b"replacecomments" => Self::ReplaceComments,
            b"replacenulls" => Self::ReplaceNulls,
            b"sha1" => Self::Sha1,
            b"sqlhexdecode" => Self::SqlHexDecode,
            b"trim" => Self::Trim,
            b"trimleft" => Self::TrimLeft,
            b"trimright" => Self::TrimRight,
            b"uppercase" => Self::Uppercase,
            b"urldecode" => Self::UrlDecode,
            b"urldecodeuni" => Self::UrlDecodeUni,
            b"urlencode" => Self::UrlEncode,
            b"utf8tounicode" => Self::Utf8ToUnicode,
            _ => return None,
        })
    }

    /// The canonical SecLang spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Base64Decode => "base64Decode",
            Self::Base64DecodeExt => "base64DecodeExt",
            Self::Base64Encode => "base64Encode",
            Self::CmdLine => "cmdLine",
            Self::CompressWhitespace => "compressWhitespace",
            Self::CssDecode => "cssDecode",
            Self::EscapeSeqDecode => "escapeSeqDecode",
            Self::HexDecode => "hexDecode",
            Self::HexEncode => "hexEncode",
            Self::HtmlEntityDecode => "htmlEntityDecode",
            Self::JsDecode => "jsDecode",
            Self::Length => "length",
            Self::Lowercase => "lowercase",
            Self::Md5 => "md5",
            Self::NormalizePath => "normalizePath",
            Self::NormalizePathWin => "normalizePathWin",
            Self::ParityEven7bit => "parityEven7bit",
            Self::ParityOdd7bit => "parityOdd7bit",
            Self::ParityZero7bit => "parityZero7bit",
            Self::RemoveComments => "removeComments",
            Self::RemoveCommentsChar => "removeCommentsChar",
            Self::RemoveNulls => "removeNulls",
            Self::RemoveWhitespace => "removeWhitespace",
            Self::ReplaceComments => "replaceComments",
            Self::ReplaceNulls => "replaceNulls",
            Self::Sha1 => "sha1",
            Self::SqlHexDecode => "sqlHexDecode",
            Self::Trim => "trim",
            Self::TrimLeft => "trimLeft",
            Self::TrimRight => "trimRight",
            Self::Uppercase => "uppercase",
            Self::UrlDecode => "urlDecode",
            Self::UrlDecodeUni => "urlDecodeUni",
            Self::UrlEncode => "urlEncode",
            Self::Utf8ToUnicode => "utf8toUnicode",
        }
    }

    /// Writes the transformed `input` into `out` (cleared first). Returns true when the output
    /// differs from the input (needed for multiMatch and caching).
    pub fn apply(self, input: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Self::Base64Decode => base64_decode::apply(input, out),
            Self::Base64DecodeExt => base64_decode_ext::apply(input, out),
            Self::Base64Encode => base64_encode::apply(input, out),
            Self::CmdLine => cmd_line::apply(input, out),
            Self::CompressWhitespace => compress_whitespace::apply(input, out),
            Self::CssDecode => css_decode::apply(input, out),
            Self::EscapeSeqDecode => escape_seq_decode::apply(input, out),
            Self::HexDecode => hex_decode::apply(input, out),
            Self::HexEncode => hex_encode::apply(input, out),
            Self::HtmlEntityDecode => html_entity_decode::apply(input, out),
            Self::JsDecode => js_decode::apply(input, out),
            Self::Length => length::apply(input, out),
            Self::Lowercase => lowercase::apply(input, out),
            Self::Md5 => md5::apply(input, out),
            Self::NormalizePath => normalize_path::apply(input, out),
            Self::NormalizePathWin => normalize_path_win::apply(input, out),
            Self::ParityEven7bit => parity_even_7bit::apply(input, out),
            Self::ParityOdd7bit => parity_odd_7bit::apply(input, out),
            Self::ParityZero7bit => parity_zero_7bit::apply(input, out),
            Self::RemoveComments => remove_comments::apply(input, out),
            Self::RemoveCommentsChar => remove_comments_char::apply(input, out),
            Self::RemoveNulls => remove_nulls::apply(input, out),
            Self::RemoveWhitespace => remove_whitespace::apply(input, out),
            Self::ReplaceComments => replace_comments::apply(input, out),
            Self::ReplaceNulls => replace_nulls::apply(input, out),
            Self::Sha1 => sha1::apply(input, out),
            Self::SqlHexDecode => sql_hex_decode::apply(input, out),
            Self::Trim => trim::apply(input, out),
            Self::TrimLeft => trim_left::apply(input, out),
            Self::TrimRight => trim_right::apply(input, out),
            Self::Uppercase => uppercase::apply(input, out),
            Self::UrlDecode => url_decode::apply(input, out),
            Self::UrlDecodeUni => url_decode_uni::apply(input, out),
            Self::UrlEncode => url_encode::apply(input, out),
            Self::Utf8ToUnicode => utf8_to_unicode::apply(input, out),
        }
        // One memcmp is cheaper and less error-prone than tracking changes in every decoder.
        out.as_slice() != input
    }
}

impl Transformation {
    /// True when `input` certainly comes out of [`Transformation::apply`] unchanged: it holds
    /// none of the bytes this transformation acts on (`%`/`+` for URL decoding, `&` for HTML
    /// entities, ASCII capitals for `lowercase`, …). A cheap SIMD search instead of a full pass,
    /// a copy and a comparison; false means "apply it" (it may still change nothing), and
    /// transformations without a simple trigger set always answer false.
    pub fn leaves_unchanged(self, input: &[u8]) -> bool {
        use memchr::{memchr, memchr2, memchr3};
        let none = |pred: fn(u8) -> bool| !input.iter().any(|&b| pred(b));
        match self {
            Self::UrlDecode | Self::UrlDecodeUni => memchr2(b'%', b'+', input).is_none(),
            Self::HtmlEntityDecode => memchr(b'&', input).is_none(),
            // NUL too: ModSecurity's C-string decoders stop there.
            Self::JsDecode | Self::CssDecode | Self::EscapeSeqDecode => {
                memchr2(b'\\', 0, input).is_none()
            }
            Self::RemoveNulls | Self::ReplaceNulls => memchr(0, input).is_none(),
            Self::Utf8ToUnicode => none(|b| b == 0 || b >= 0x80),
            Self::Lowercase => none(|b| b.is_ascii_uppercase()),
            Self::Uppercase => none(|b| b.is_ascii_lowercase()),
            Self::RemoveWhitespace => none(|b| is_c_space(b) || b == 0xa0 || b == 0xc2),
            Self::CompressWhitespace | Self::Trim | Self::TrimLeft | Self::TrimRight => {
                none(is_c_space)
            }
            Self::NormalizePath => memchr2(b'/', b'.', input).is_none(),
            Self::NormalizePathWin => memchr3(b'/', b'.', b'\\', input).is_none(),
            Self::ReplaceComments => memchr2(b'/', b'*', input).is_none(),
            Self::RemoveComments | Self::RemoveCommentsChar => {
                none(|b| matches!(b, b'/' | b'*' | b'-' | b'#' | b'<' | b'>'))
            }
            _ => false,
        }
    }
    /// False when a value with byte-class signature `sig` ([`classes`]) certainly comes out
    /// of [`Transformation::apply`] unchanged.
    #[inline]
    pub fn may_change(self, sig: u16) -> bool {
        let t = self.triggers();
        t == ALWAYS || sig & t != 0
    }

    /// The byte classes ([`classes`]) whose presence lets this transformation change a value:
    /// a value whose [`classes`] signature shares no bit with it comes out of
    /// [`Transformation::apply`] unchanged, so a plan can skip the step from the signature
    /// alone. [`ALWAYS`] for transformations without a simple trigger set (they always run).
    /// Mirrors [`Transformation::leaves_unchanged`] (tested to agree), plus `cmdLine`.
    pub fn triggers(self) -> u16 {
        match self {
            Self::UrlDecode | Self::UrlDecodeUni => class::PCT_PLUS,
            Self::HtmlEntityDecode => class::AMP,
            Self::JsDecode | Self::CssDecode | Self::EscapeSeqDecode => class::BSLASH | class::NUL,
            Self::RemoveNulls | Self::ReplaceNulls => class::NUL,
            Self::Utf8ToUnicode => class::NUL | class::HIGH,
            Self::Lowercase => class::UPPER,
            Self::Uppercase => class::LOWER,
            Self::RemoveWhitespace => class::SPACE | class::NBSP,
            Self::CompressWhitespace | Self::Trim | Self::TrimLeft | Self::TrimRight => {
                class::SPACE
            }
            Self::NormalizePath => class::SLASH | class::DOT,
            Self::NormalizePathWin => class::SLASH | class::DOT | class::BSLASH,
            Self::ReplaceComments => class::SLASH | class::STAR,
            Self::RemoveComments | Self::RemoveCommentsChar => {
                class::SLASH | class::STAR | class::COMMENT
            }
            // Deletes `\ " ' ^`, folds space, `,` and `;` runs, lowercases: anything else
            // passes through as it is.
            Self::CmdLine => {
                class::UPPER | class::QUOTE | class::BSLASH | class::SPACE | class::SEPARATOR
            }
            _ => ALWAYS,
        }
    }

    /// [`Transformation::apply`] with the `SecUnicodeMapFile` table in effect (it only changes
    /// `urlDecodeUni`); `None` is the same as `apply`.
    pub fn apply_with_map(self, input: &[u8], out: &mut Vec<u8>, map: Option<&UnicodeMap>) -> bool {
        match (self, map) {
            (Self::UrlDecodeUni, Some(m)) => {
                out.clear();
                url_decode_uni::decode(input, out, Some(m));
                out.as_slice() != input
            }
            _ => self.apply(input, out),
        }
    }
}

impl std::fmt::Display for Transformation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Byte classes of a value's signature ([`classes`]), one bit each; see
/// [`Transformation::triggers`].
pub mod class {
    /// `%` or `+` (URL decoding).
    pub const PCT_PLUS: u16 = 1 << 0;
    /// `&` (HTML entities).
    pub const AMP: u16 = 1 << 1;
    /// Backslash.
    pub const BSLASH: u16 = 1 << 2;
    /// NUL (ModSecurity's C-string decoders stop there).
    pub const NUL: u16 = 1 << 3;
    /// Bytes ≥ 0x80.
    pub const HIGH: u16 = 1 << 4;
    /// `A`–`Z`.
    pub const UPPER: u16 = 1 << 5;
    /// `a`–`z`.
    pub const LOWER: u16 = 1 << 6;
    /// C `isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`.
    pub const SPACE: u16 = 1 << 7;
    /// 0xa0 and 0xc2 (`removeWhitespace` drops non-breaking spaces).
    pub const NBSP: u16 = 1 << 8;
    /// `/`.
    pub const SLASH: u16 = 1 << 9;
    /// `.`.
    pub const DOT: u16 = 1 << 10;
    /// `*`.
    pub const STAR: u16 = 1 << 11;
    /// `-`, `#`, `<`, `>` (comment openers besides `/*`).
    pub const COMMENT: u16 = 1 << 12;
    /// `"`, `'`, `^` (deleted by `cmdLine`).
    pub const QUOTE: u16 = 1 << 13;
    /// `,` and `;` (folded by `cmdLine`).
    pub const SEPARATOR: u16 = 1 << 14;
    /// `)`, `[`, `$` (with `QUOTE` and `BSLASH`, what CRS's RCE evasion gadget consumes).
    pub const GADGET: u16 = 1 << 15;
}

/// [`Transformation::triggers`] of a transformation that always runs.
pub const ALWAYS: u16 = u16::MAX;

/// The class of each byte.
static CLASS_OF: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let mut m = 0u16;
        if c == b'%' || c == b'+' {
            m |= class::PCT_PLUS;
        }
        if c == b'&' {
            m |= class::AMP;
        }
        if c == b'\\' {
            m |= class::BSLASH;
        }
        if c == 0 {
            m |= class::NUL;
        }
        if c >= 0x80 {
            m |= class::HIGH;
        }
        if c.is_ascii_uppercase() {
            m |= class::UPPER;
        }
        if c.is_ascii_lowercase() {
            m |= class::LOWER;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            m |= class::SPACE;
        }
        if c == 0xa0 || c == 0xc2 {
            m |= class::NBSP;
        }
        if c == b'/' {
            m |= class::SLASH;
        }
        if c == b'.' {
            m |= class::DOT;
        }
        if c == b'*' {
            m |= class::STAR;
        }
        if matches!(c, b'-' | b'#' | b'<' | b'>') {
            m |= class::COMMENT;
        }
        if matches!(c, b'"' | b'\'' | b'^') {
            m |= class::QUOTE;
        }
        if c == b',' || c == b';' {
            m |= class::SEPARATOR;
        }
        if matches!(c, b')' | b'[' | b'$') {
            m |= class::GADGET;
        }
        t[b] = m;
        b += 1;
    }
    t
};

/// A value's byte-class signature: the union of [`class`] bits of its bytes, in one pass.
pub fn classes(input: &[u8]) -> u16 {
    // Four independent accumulators: the loop is bound by the table loads, not a dependency.
    let mut acc = [0u16; 4];
    let mut chunks = input.chunks_exact(4);
    for c in &mut chunks {
        for (a, &b) in acc.iter_mut().zip(c) {
            *a |= CLASS_OF[usize::from(b)];
        }
    }
    let mut m = acc[0] | acc[1] | acc[2] | acc[3];
    for &b in chunks.remainder() {
        m |= CLASS_OF[usize::from(b)];
    }
    m
}

/// True for `[0-9A-Fa-f]` (ModSecurity's `VALID_HEX`).
#[inline]
fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// C `isspace` in the "C" locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
#[inline]
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// One hex digit as ModSecurity's `x2c`/`xsingle2c` compute it. The arithmetic is done on a
/// byte with wrap-around, exactly like the C code, because `hexDecode` feeds it arbitrary bytes
/// and the resulting "garbage" values are observable.
#[inline]
fn nibble(b: u8) -> u8 {
    if b >= b'A' {
        (b & 0xdf).wrapping_sub(b'A').wrapping_add(10)
    } else {
        b.wrapping_sub(b'0')
    }
}

/// ModSecurity's `x2c`: two hex digits to a byte (wrapping, see [`nibble`]).
#[inline]
fn x2c(hi: u8, lo: u8) -> u8 {
    nibble(hi).wrapping_mul(16).wrapping_add(nibble(lo))
}

/// Copies the run of ordinary bytes starting at `i` into `out` and returns the index of the
/// next byte for which `special` holds (or `input.len()`). Decoders spend most of their time
/// on plain text; one bulk copy per run beats a push per byte.
#[inline]
fn copy_plain(input: &[u8], i: usize, out: &mut Vec<u8>, special: impl Fn(u8) -> bool) -> usize {
    // (Single-byte stops use `copy_until`, which is SIMD-accelerated.)
    let rest = input.get(i..).unwrap_or_default();
    let n = rest.iter().position(|&b| special(b)).unwrap_or(rest.len());
    out.extend_from_slice(rest.get(..n).unwrap_or_default());
    i + n
}

/// [`copy_plain`] for a single stop byte, searched with `memchr`.
#[inline]
fn copy_until(input: &[u8], i: usize, out: &mut Vec<u8>, stop: u8) -> usize {
    let rest = input.get(i..).unwrap_or_default();
    let n = memchr::memchr(stop, rest).unwrap_or(rest.len());
    out.extend_from_slice(rest.get(..n).unwrap_or_default());
    i + n
}

/// The URL decoders' plain runs: everything up to the next `%`, with `+` turned into a space
/// on the way (cheaper than stopping at every `+` of a form value). Returns the `%` index.
#[inline]
fn copy_plus_to_space(input: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    let rest = input.get(i..).unwrap_or_default();
    let n = memchr::memchr(b'%', rest).unwrap_or(rest.len());
    let run = rest.get(..n).unwrap_or_default();
    if memchr::memchr(b'+', run).is_some() {
        out.extend(run.iter().map(|&b| if b == b'+' { b' ' } else { b }));
    } else {
        out.extend_from_slice(run);
    }
    i + n
}

/// Lowercase hex digits, as ModSecurity's `c2x` writes them.
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for t in Transformation::ALL {
            assert_eq!(Transformation::from_name(t.name()), Some(t));
            assert_eq!(Transformation::from_name(&t.name().to_uppercase()), Some(t));
        }
        assert_eq!(
            Transformation::from_name("normalisePath"),
            Some(Transformation::NormalizePath)
        );
        assert_eq!(
            Transformation::from_name("NORMALISEPATHWIN"),
            Some(Transformation::NormalizePathWin)
        );
        assert_eq!(Transformation::from_name("none"), None);
        assert_eq!(Transformation::from_name(""), None);
        assert_eq!(
            Transformation::from_name("a-name-longer-than-the-buffer-is"),
            None
        );
    }

    #[test]
    fn discriminants_follow_all() {
        for (i, t) in Transformation::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
    }

    #[test]
    fn apply_reports_change() {
        let mut out = vec![1, 2, 3];
        assert!(!Transformation::Lowercase.apply(b"abc", &mut out));
        assert_eq!(out, b"abc");
        assert!(Transformation::Lowercase.apply(b"aBc", &mut out));
        assert_eq!(out, b"abc");
    }

    #[test]
    fn x2c_matches_modsecurity_arithmetic() {
        assert_eq!(x2c(b'4', b'1'), 0x41);
        assert_eq!(x2c(b'f', b'F'), 0xff);
        // Non-hex input: 'z' → (0x5a - 0x41 + 10) = 35; 35 * 16 + 35 = 595 → 0x53.
        assert_eq!(x2c(b'z', b'z'), 0x53);
        // '!' < '0' wraps: 0x21 - 0x30 = 0xf1.
        assert_eq!(nibble(b'!'), 0xf1);
    }

    /// Seeded xorshift byte strings: plain text, escape-heavy and fully random mixes.
    fn random_inputs(count: usize) -> Vec<Vec<u8>> {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"%uU+&#;x\\0fF9aZ /.*-<!>'\"^\n\t\0\x80\xc3\xa9\xff=";
        (0..count)
            .map(|k| {
                let len = (next() % 64) as usize;
                (0..len)
                    .map(|_| {
                        let r = next();
                        if k % 3 == 0 {
                            r as u8
                        } else {
                            alphabet[(r % alphabet.len() as u64) as usize]
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_transformation_total_on_arbitrary_bytes() {
        let mut out = Vec::new();
        for input in random_inputs(3000) {
            for t in Transformation::ALL {
                let changed = t.apply(&input, &mut out);
                assert_eq!(changed, out != input, "{t} on {input:?}");
            }
        }
    }

    /// `leaves_unchanged` never claims an input the transformation would change, and it does
    /// answer true for plain values (otherwise it would be useless).
    #[test]
    fn leaves_unchanged_is_never_wrong() {
        let mut out = Vec::new();
        let mut inputs = random_inputs(4000);
        // Plain variants: the same strings without the bytes most transformations act on.
        let plain: Vec<Vec<u8>> = inputs
            .iter()
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(u8::is_ascii_alphanumeric)
                    .collect()
            })
            .collect();
        inputs.extend(plain);
        inputs.push(b"Mozilla/5.0 (X11; Linux x86_64)".to_vec());
        inputs.push(b"text/html,application/xhtml+xml;q=0.9".to_vec());
        let mut claimed = [0usize; 35];
        for input in &inputs {
            for t in Transformation::ALL {
                if t.leaves_unchanged(input) {
                    claimed[t as usize] += 1;
                    assert!(!t.apply(input, &mut out), "{t} changes {input:?}");
                }
            }
        }
        for t in [
            Transformation::UrlDecodeUni,
            Transformation::HtmlEntityDecode,
            Transformation::JsDecode,
            Transformation::Utf8ToUnicode,
            Transformation::Lowercase,
            Transformation::RemoveWhitespace,
            Transformation::NormalizePath,
            Transformation::RemoveCommentsChar,
        ] {
            assert!(claimed[t as usize] > 1000, "{t}: {}", claimed[t as usize]);
        }
        assert_eq!(claimed[Transformation::CmdLine as usize], 0);
    }

    /// A signature without a transformation's trigger bits means the value comes out
    /// unchanged, and for every step with a byte-search hint the two agree exactly.
    #[test]
    fn triggers_are_exact() {
        let mut out = Vec::new();
        let mut inputs = random_inputs(4000);
        let plain: Vec<Vec<u8>> = inputs
            .iter()
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|b| b.is_ascii_lowercase())
                    .collect()
            })
            .collect();
        inputs.extend(plain);
        inputs.push(b"mozilla/5.0 x11".to_vec());
        inputs.push(b"c^at /etc/passwd; ls".to_vec());
        inputs.push(b"a b".to_vec());
        let mut skipped = [0usize; 35];
        for input in &inputs {
            let sig = classes(input);
            for t in Transformation::ALL {
                let skip = !t.may_change(sig);
                if skip {
                    skipped[t as usize] += 1;
                    assert!(!t.apply(input, &mut out), "{t} changes {input:?}");
                }
                if t != Transformation::CmdLine && t.triggers() != ALWAYS {
                    assert_eq!(skip, t.leaves_unchanged(input), "{t} on {input:?}");
                }
            }
        }
        for t in [
            Transformation::UrlDecodeUni,
            Transformation::CmdLine,
            Transformation::Lowercase,
            Transformation::RemoveCommentsChar,
        ] {
            assert!(skipped[t as usize] > 1000, "{t}: {}", skipped[t as usize]);
        }
    }

    #[test]
    fn encoders_round_trip_through_their_decoders() {
        let (mut enc, mut dec) = (Vec::new(), Vec::new());
        let pairs = [
            (Transformation::HexEncode, Transformation::HexDecode),
            (Transformation::Base64Encode, Transformation::Base64Decode),
            (
                Transformation::Base64Encode,
                Transformation::Base64DecodeExt,
            ),
            (Transformation::UrlEncode, Transformation::UrlDecode),
            (Transformation::UrlEncode, Transformation::UrlDecodeUni),
        ];
        for input in random_inputs(2000) {
            for (e, d) in pairs {
                e.apply(&input, &mut enc);
                d.apply(&enc, &mut dec);
                assert_eq!(dec, input, "{d}({e}(x)) != x for {input:?}");
            }
        }
    }
}
