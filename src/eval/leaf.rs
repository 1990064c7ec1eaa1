//! TEMP until transform / ops / body / matcher land: minimal stand-ins with the documented
//! leaf APIs (`/work/briefs/leaf-apis.md`), so the spine compiles and runs end to end.
//! Everything here is deleted (replaced by `pub use crate::<leaf>`) once the leaves merge.
#![allow(missing_docs, dead_code)]

pub mod transform {
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
    use Transformation::*;
    const ALL: &[(Transformation, &str)] = &[
        (Base64Decode, "base64Decode"),
        (Base64DecodeExt, "base64DecodeExt"),
        (Base64Encode, "base64Encode"),
        (CmdLine, "cmdLine"),
        (CompressWhitespace, "compressWhitespace"),
        (CssDecode, "cssDecode"),
        (EscapeSeqDecode, "escapeSeqDecode"),
        (HexDecode, "hexDecode"),
        (HexEncode, "hexEncode"),
        (HtmlEntityDecode, "htmlEntityDecode"),
        (JsDecode, "jsDecode"),
        (Length, "length"),
        (Lowercase, "lowercase"),
        (Md5, "md5"),
        (NormalizePath, "normalizePath"),
        (NormalizePath, "normalisePath"),
        (NormalizePathWin, "normalizePathWin"),
        (NormalizePathWin, "normalisePathWin"),
        (ParityEven7bit, "parityEven7bit"),
        (ParityOdd7bit, "parityOdd7bit"),
        (ParityZero7bit, "parityZero7bit"),
        (RemoveComments, "removeComments"),
        (RemoveCommentsChar, "removeCommentsChar"),
        (RemoveNulls, "removeNulls"),
        (RemoveWhitespace, "removeWhitespace"),
        (ReplaceComments, "replaceComments"),
        (ReplaceNulls, "replaceNulls"),
        (Sha1, "sha1"),
        (SqlHexDecode, "sqlHexDecode"),
        (Trim, "trim"),
        (TrimLeft, "trimLeft"),
        (TrimRight, "trimRight"),
        (Uppercase, "uppercase"),
        (UrlDecode, "urlDecode"),
        (UrlDecodeUni, "urlDecodeUni"),
        (UrlEncode, "urlEncode"),
        (Utf8ToUnicode, "utf8toUnicode"),
    ];
    fn hexval(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    impl Transformation {
        pub fn from_name(name: &str) -> Option<Self> {
            ALL.iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name))
                .map(|(t, _)| *t)
        }
        pub fn name(self) -> &'static str {
            ALL.iter()
                .find(|(t, _)| *t == self)
                .map(|(_, n)| *n)
                .unwrap_or("?")
        }
        pub fn apply(self, input: &[u8], out: &mut Vec<u8>) -> bool {
            out.clear();
            match self {
                Lowercase => out.extend(input.iter().map(u8::to_ascii_lowercase)),
                Uppercase => out.extend(input.iter().map(u8::to_ascii_uppercase)),
                RemoveNulls => out.extend(input.iter().copied().filter(|&c| c != 0)),
                ReplaceNulls => out.extend(input.iter().map(|&c| if c == 0 { b' ' } else { c })),
                RemoveWhitespace => {
                    out.extend(input.iter().copied().filter(|c| !c.is_ascii_whitespace()))
                }
                CompressWhitespace => {
                    let mut ws = false;
                    for &c in input {
                        if c.is_ascii_whitespace() || c == 0x0b {
                            if !ws {
                                out.push(b' ');
                            }
                            ws = true;
                        } else {
                            out.push(c);
                            ws = false;
                        }
                    }
                }
                Length => out.extend_from_slice(input.len().to_string().as_bytes()),
                Trim => out.extend_from_slice(input.trim_ascii()),
                TrimLeft => out.extend_from_slice(input.trim_ascii_start()),
                TrimRight => out.extend_from_slice(input.trim_ascii_end()),
                HexEncode => {
                    for &c in input {
                        out.extend_from_slice(format!("{c:02x}").as_bytes());
                    }
                }
                UrlDecode | UrlDecodeUni => {
                    let mut i = 0;
                    while i < input.len() {
                        let c = input[i];
                        if c == b'%' {
                            if self == UrlDecodeUni
                                && i + 5 < input.len()
                                && (input[i + 1] | 0x20) == b'u'
                            {
                                if let (Some(a), Some(b), Some(c2), Some(d)) = (
                                    hexval(input[i + 2]),
                                    hexval(input[i + 3]),
                                    hexval(input[i + 4]),
                                    hexval(input[i + 5]),
                                ) {
                                    let _ = (a, b);
                                    out.push((c2 << 4) | d);
                                    i += 6;
                                    continue;
                                }
                            }
                            if let (Some(a), Some(b)) = (
                                input.get(i + 1).and_then(|&x| hexval(x)),
                                input.get(i + 2).and_then(|&x| hexval(x)),
                            ) {
                                out.push((a << 4) | b);
                                i += 3;
                                continue;
                            }
                            out.push(c);
                        } else if c == b'+' {
                            out.push(b' ');
                        } else {
                            out.push(c);
                        }
                        i += 1;
                    }
                }
                CmdLine => {
                    let mut space = false;
                    for &c in input {
                        match c {
                            b'\\' | b'"' | b'\'' | b'^' => {}
                            b' ' | b'\t' | b'\r' | b'\n' | b',' | b';' => space = true,
                            b'/' | b'(' => {
                                space = false;
                                out.push(c)
                            }
                            _ => {
                                if space && !out.is_empty() {
                                    out.push(b' ');
                                }
                                space = false;
                                out.push(c.to_ascii_lowercase());
                            }
                        }
                    }
                }
                _ => out.extend_from_slice(input),
            }
            out.as_slice() != input
        }
    }
}

pub mod ops {
    pub mod within {
        pub fn within(input: &[u8], param: &[u8]) -> bool {
            input.is_empty() || param.windows(input.len()).any(|w| w == input)
        }
    }
    pub mod byte_range {
        #[derive(Debug)]
        pub struct ByteRanges([bool; 256]);
        impl ByteRanges {
            pub fn parse(spec: &str) -> Result<Self, String> {
                let mut ok = [false; 256];
                for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (a, b) = part.split_once('-').unwrap_or((part, part));
                    let a: u8 = a.trim().parse().map_err(|_| format!("bad range {part}"))?;
                    let b: u8 = b.trim().parse().map_err(|_| format!("bad range {part}"))?;
                    for i in a..=b {
                        ok[i as usize] = true;
                    }
                }
                Ok(ByteRanges(ok))
            }
            pub fn violates(&self, input: &[u8]) -> bool {
                input.iter().any(|&c| !self.0[c as usize])
            }
        }
    }
    pub mod validate {
        pub fn url_encoding_invalid(input: &[u8]) -> bool {
            let mut i = 0;
            while i < input.len() {
                if input[i] == b'%' {
                    let ok = input.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                        && input.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                    if !ok {
                        return true;
                    }
                    i += 3;
                } else {
                    i += 1;
                }
            }
            false
        }
        pub fn utf8_encoding_invalid(input: &[u8]) -> bool {
            std::str::from_utf8(input).is_err()
        }
    }
    pub mod ip_match {
        #[derive(Debug)]
        pub struct IpMatcher(Vec<String>);
        impl IpMatcher {
            pub fn parse(list: &str) -> Result<Self, String> {
                Ok(IpMatcher(
                    list.split([',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                ))
            }
            pub fn matches(&self, ip: &[u8]) -> bool {
                self.0.iter().any(|e| e.as_bytes() == ip)
            }
        }
    }
    pub mod libinjection {
        pub fn detect_sqli(input: &[u8]) -> Option<String> {
            let r = libinjectionrs::detect_sqli(input);
            if r.is_injection() {
                Some(r.fingerprint.map(|f| f.to_string()).unwrap_or_default())
            } else {
                None
            }
        }
        pub fn detect_xss(input: &[u8]) -> bool {
            libinjectionrs::detect_xss(input).is_injection()
        }
    }
}

pub mod body {
    pub type Pair = (Vec<u8>, Vec<u8>);
    pub mod urlencoded {
        pub fn parse(input: &[u8], sep: u8, out: &mut Vec<super::Pair>) {
            for part in input.split(|&c| c == sep) {
                if part.is_empty() {
                    continue;
                }
                let (k, v) = match part.iter().position(|&c| c == b'=') {
                    Some(p) => (&part[..p], &part[p + 1..]),
                    None => (part, &b""[..]),
                };
                out.push((dec(k), dec(v)));
            }
        }
        fn dec(s: &[u8]) -> Vec<u8> {
            let mut o = Vec::new();
            crate::eval::leaf::transform::Transformation::UrlDecode.apply(s, &mut o);
            o
        }
    }
    pub mod cookies {
        pub fn parse(header_value: &[u8], out: &mut Vec<super::Pair>) {
            for part in header_value.split(|&c| c == b';') {
                let part = part.trim_ascii();
                if part.is_empty() {
                    continue;
                }
                match part.iter().position(|&c| c == b'=') {
                    Some(p) => out.push((part[..p].to_vec(), part[p + 1..].to_vec())),
                    None => out.push((part.to_vec(), Vec::new())),
                }
            }
        }
    }
    pub mod multipart {
        #[derive(Debug, Default)]
        pub struct FilePart {
            pub field: Vec<u8>,
            pub filename: Vec<u8>,
            pub size: usize,
            pub content_type: Vec<u8>,
        }
        #[derive(Debug, Default)]
        pub struct Flags {
            pub strict_error: bool,
            pub unmatched_boundary: bool,
            pub boundary_quoted: bool,
            pub boundary_whitespace: bool,
            pub data_before: bool,
            pub data_after: bool,
            pub header_folding: bool,
            pub lf_line: bool,
            pub crlf_line: bool,
            pub missing_semicolon: bool,
            pub invalid_quoting: bool,
            pub invalid_part: bool,
            pub invalid_header_folding: bool,
            pub file_limit_exceeded: bool,
        }
        #[derive(Debug, Default)]
        pub struct Multipart {
            pub args: Vec<super::Pair>,
            pub files: Vec<FilePart>,
            pub part_headers: Vec<super::Pair>,
            pub flags: Flags,
            pub error: Option<String>,
        }
        pub fn parse(_content_type: &[u8], _body: &[u8]) -> Multipart {
            Multipart::default()
        }
    }
    pub mod json {
        pub fn parse(
            _body: &[u8],
            _depth_limit: usize,
            _out: &mut Vec<super::Pair>,
        ) -> Result<(), String> {
            Ok(())
        }
    }
    pub mod xml {
        #[derive(Debug, Default)]
        pub struct Xml {
            pub root_text: Vec<Vec<u8>>,
            pub attr_values: Vec<Vec<u8>>,
        }
        pub fn parse(_body: &[u8]) -> Result<Xml, String> {
            Ok(Xml::default())
        }
    }
}

pub mod matcher {
    #[derive(Debug)]
    pub struct MatcherError {
        pub pattern: String,
        pub message: String,
    }
    impl std::fmt::Display for MatcherError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} (pattern {:?})", self.message, self.pattern)
        }
    }
    #[derive(Debug)]
    pub struct Regex(pcre2::bytes::Regex);
    impl Regex {
        pub fn new(pattern: &str) -> Result<Self, MatcherError> {
            pcre2::bytes::RegexBuilder::new()
                .dotall(true)
                .multi_line(true)
                .jit_if_available(true)
                .build(pattern)
                .map(Regex)
                .map_err(|e| MatcherError {
                    pattern: pattern.to_string(),
                    message: e.to_string(),
                })
        }
        pub fn is_match(&self, hay: &[u8]) -> bool {
            self.0.is_match(hay).unwrap_or(false)
        }
        pub fn captures(&self, hay: &[u8], caps: &mut [Option<(usize, usize)>; 10]) -> bool {
            match self.0.captures(hay) {
                Ok(Some(c)) => {
                    for (i, slot) in caps.iter_mut().enumerate() {
                        *slot = c.get(i).map(|m| (m.start(), m.end()));
                    }
                    true
                }
                _ => false,
            }
        }
    }
}
