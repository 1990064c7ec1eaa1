//! `multipart/form-data` bodies (RFC 2046 §5.1, RFC 7578) → ARGS, FILES, FILES_NAMES,
//! FILES_SIZES, MULTIPART_PART_HEADERS and the MULTIPART_* strictness flags.
//!
//! This is a faithful re-implementation of libmodsecurity3 3.0.9's line-oriented parser, because
//! CRS and the recommended base rules (200003 `MULTIPART_STRICT_ERROR`, 200004
//! `MULTIPART_UNMATCHED_BOUNDARY @eq 1`) judge requests by its exact flags. Reproduced quirks,
//! each pinned by a test recorded from the reference: lines are cut at 4096 bytes; text-part
//! values lose their inner line breaks; `filename=""` makes a text part; a part whose headers
//! fail to parse swallows its data as header lines; MULTIPART_UNMATCHED_BOUNDARY is 2 (not 1)
//! after any well-formed second boundary; a missing final boundary discards every ARGS/FILES
//! entry. It never writes files (FILES_TMPNAMES and file contents are not produced), never
//! panics and is linear in the body size.

use super::Pair;

/// ModSecurity's line buffer: longer lines are processed in pieces.
const BUF_SIZE: usize = 4096;

/// One uploaded file (a part whose Content-Disposition has a non-empty `filename`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePart {
    /// The form field name: the FILES / FILES_NAMES / FILES_SIZES key.
    pub field: Vec<u8>,
    /// FILES value: the file name as the client sent it.
    pub filename: Vec<u8>,
    /// FILES_SIZES value: content bytes (the line break before the next boundary excluded).
    pub size: usize,
    /// The part's `Content-Type` header value, empty when absent.
    pub content_type: Vec<u8>,
}

/// The MULTIPART_* variables. Each is `1` when true, `0` otherwise, except
/// MULTIPART_UNMATCHED_BOUNDARY: see [`Flags::unmatched_boundary_value`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// MULTIPART_STRICT_ERROR: any flag below except `unmatched_boundary`/`crlf_line`, or a
    /// parse error.
    pub strict_error: bool,
    /// MULTIPART_UNMATCHED_BOUNDARY == 1: a line looked like a boundary but was not ours.
    pub unmatched_boundary: bool,
    /// MULTIPART_BOUNDARY_QUOTED.
    pub boundary_quoted: bool,
    /// MULTIPART_BOUNDARY_WHITESPACE.
    pub boundary_whitespace: bool,
    /// MULTIPART_DATA_BEFORE.
    pub data_before: bool,
    /// MULTIPART_DATA_AFTER.
    pub data_after: bool,
    /// MULTIPART_HEADER_FOLDING.
    pub header_folding: bool,
    /// MULTIPART_LF_LINE: a line ended with a bare LF.
    pub lf_line: bool,
    /// A line ended with CRLF. MULTIPART_CRLF_LF_LINES is `crlf_line && lf_line`.
    pub crlf_line: bool,
    /// MULTIPART_MISSING_SEMICOLON (in the request Content-Type).
    pub missing_semicolon: bool,
    /// MULTIPART_INVALID_QUOTING.
    pub invalid_quoting: bool,
    /// MULTIPART_INVALID_PART.
    pub invalid_part: bool,
    /// MULTIPART_INVALID_HEADER_FOLDING.
    pub invalid_header_folding: bool,
    /// MULTIPART_FILE_LIMIT_EXCEEDED (never set: files are not extracted).
    pub file_limit_exceeded: bool,
    /// The numeric MULTIPART_UNMATCHED_BOUNDARY: 0, 1 (a line looked like a boundary but was
    /// not ours) or 2 (a normal request with a second boundary line; rule 200004 tests `@eq 1`).
    pub unmatched_boundary_level: u8,
}

impl Flags {
    /// MULTIPART_CRLF_LF_LINES: both line-ending styles were seen.
    pub fn crlf_lf_lines(&self) -> bool {
        self.crlf_line && self.lf_line
    }
}

/// Everything a multipart body yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Multipart {
    /// ARGS_POST: text parts as (name, value).
    pub args: Vec<Pair>,
    /// FILES / FILES_NAMES / FILES_SIZES.
    pub files: Vec<FilePart>,
    /// per part: (part name, "Header-Name: value") as MULTIPART_PART_HEADERS exposes them —
    /// the raw header line including its CRLF/LF, or `Name: value` without one when folded.
    pub part_headers: Vec<Pair>,
    /// MULTIPART_* flags.
    pub flags: Flags,
    /// REQBODY_ERROR_MSG (`Multipart parsing error: ...`) when REQBODY_ERROR is 1.
    pub error: Option<String>,
    /// What `SecRequestBodyNoFilesLimit` counts: every part-header line with its line end
    /// (the empty line too) plus the data of the text parts (measured with libmodsecurity3).
    pub no_files_len: usize,
}

impl Multipart {
    /// FILES_COMBINED_SIZE.
    pub fn files_combined_size(&self) -> usize {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Parses `body` with the boundary taken from `content_type` (the full Content-Type value).
pub fn parse(content_type: &[u8], body: &[u8]) -> Multipart {
    let mut p = Parser::default();
    if p.init(content_type) && !body.is_empty() {
        p.seen_data = true;
        p.process(body);
    }
    p.complete()
}

#[derive(Debug, Default)]
struct Part {
    is_file: bool,
    name: Vec<u8>,
    filename: Vec<u8>,
    value: Vec<u8>,
    size: usize,
    /// Header name → value; names compare case-insensitively.
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    last_header_name: Vec<u8>,
    last_header_line: Vec<u8>,
    header_lines: Vec<Vec<u8>>,
}

impl Part {
    fn header(&self, name: &[u8]) -> Option<usize> {
        self.headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// The raw ModSecurity flags; the public [`Flags`] are derived at the end.
#[derive(Debug, Default)]
struct RawFlags {
    error: bool,
    data_before: bool,
    data_after: bool,
    header_folding: bool,
    boundary_quoted: bool,
    lf_line: bool,
    crlf_line: bool,
    unmatched_boundary: u8,
    boundary_whitespace: bool,
    missing_semicolon: bool,
    invalid_quoting: bool,
    invalid_part: bool,
    invalid_header_folding: bool,
}

#[derive(Debug, Default)]
struct Parser {
    boundary: Vec<u8>,
    buf: Vec<u8>,
    /// The previous chunk ended with LF: this one starts a line (and may be a boundary).
    buf_contains_line: bool,
    part: Option<Part>,
    parts: Vec<Part>,
    in_data: bool,
    part_data_read: bool,
    /// Line-break bytes held back from the previous data chunk (they belong to the next
    /// chunk unless a boundary follows).
    reserve: usize,
    boundary_count: usize,
    is_complete: bool,
    seen_data: bool,
    /// 1 after CR, 2 after a bare LF, 3 after CRLF, 0 otherwise.
    crlf_state: u8,
    crlf_state_buf_end: u8,
    f: RawFlags,
    error: Option<String>,
    part_headers: Vec<Pair>,
    no_files_len: usize,
}

/// C `isspace` in the "C" locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The C-string view of a byte buffer: everything before the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How many `boundary` words in `s` (any case) are followed, somewhere, by an `=`.
fn count_boundary_params(s: &[u8]) -> usize {
    let lower = s.to_ascii_lowercase();
    let mut rest = cstr(&lower);
    let mut count = 0;
    while let Some(at) = find(rest, b"boundary") {
        rest = &rest[at + 8..];
        if rest.contains(&b'=') {
            count += 1;
        }
    }
    count
}

/// RFC 2046 boundary characters (a space is allowed, but not last).
fn boundary_characters_valid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, &c)| {
        c.is_ascii_alphanumeric() || (c == b' ' && i + 1 < b.len()) || b"'()+_,-./:=?".contains(&c)
    })
}

/// RFC 2616 token characters.
fn is_token_char(c: u8) -> bool {
    c > 32 && c < 127 && !b"()<>@,;:\\\"/[]?=".contains(&c)
}

/// ModSecurity's `chomp`: strip trailing CR/LF unless the string is nothing but CR/LF.
fn chomp(v: &mut Vec<u8>) {
    if let Some(last) = v.iter().rposition(|&c| c != b'\r' && c != b'\n') {
        v.truncate(last + 1);
    }
}

impl Parser {
    fn fail(&mut self, msg: &str) {
        self.error = Some(format!("Multipart: {msg}"));
    }

    /// Reads the boundary from the Content-Type. Returns false when the body cannot be parsed
    /// (sometimes silently, as ModSecurity does for `boundary=""`).
    fn init(&mut self, ct: &[u8]) -> bool {
        self.buf_contains_line = true;
        let reject = |p: &mut Parser, msg: &str| {
            p.f.error = true;
            p.fail(msg);
            false
        };
        if ct.is_empty() {
            return reject(self, "Content-Type header not available.");
        }
        if ct.len() > 1024 {
            return reject(self, "Invalid boundary in C-T (length).");
        }
        if ct.len() < 19 || !ct[..19].eq_ignore_ascii_case(b"multipart/form-data") {
            return reject(self, "Invalid MIME type.");
        }
        if count_boundary_params(ct) > 1 {
            return reject(self, "Multiple boundary parameters in C-T.");
        }
        let ct = cstr(ct);
        let Some(at) = find(ct, b"boundary") else {
            if count_boundary_params(ct) > 0 {
                return reject(self, "Invalid boundary in C-T (case sensitivity).");
            }
            return reject(self, "Boundary not found in C-T.");
        };
        let mut seen_semicolon = false;
        for &c in ct.get(19..at).unwrap_or_default() {
            if !is_space(c) {
                if !seen_semicolon && c == b';' {
                    seen_semicolon = true;
                } else {
                    return reject(self, "Invalid boundary in C-T (malformed).");
                }
            }
        }
        if !seen_semicolon {
            self.f.missing_semicolon = true;
        }
        let after_word = &ct[at + 8..];
        let Some(eq) = after_word.iter().position(|&c| c == b'=') else {
            return reject(self, "Invalid boundary in C-T (malformed).");
        };
        for &c in &after_word[..eq] {
            if is_space(c) {
                self.f.boundary_whitespace = true;
            } else {
                return reject(self, "Invalid boundary in C-T (parameter name).");
            }
        }
        let b = &after_word[eq + 1..];
        if b.first().is_some_and(|&c| is_space(c)) {
            self.f.boundary_whitespace = true;
        }
        let quoted = b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"';
        if quoted {
            self.boundary = b[1..b.len() - 1].to_vec();
            if self.boundary.is_empty() {
                return false;
            }
            self.f.boundary_quoted = true;
        } else {
            if b.first() == Some(&b'"') || (b.len() >= 2 && b[b.len() - 1] == b'"') {
                return reject(self, "Invalid boundary in C-T (quote).");
            }
            self.boundary = b.to_vec();
            if self.boundary.is_empty() {
                return false;
            }
        }
        if count_boundary_params(&self.boundary) != 0 {
            return reject(self, "Invalid boundary in C-T (content).");
        }
        // Tolerated: frameworks that append `; charset=...` after the boundary.
        if !boundary_characters_valid(&self.boundary) {
            if let Some(semi) = self.boundary.iter().position(|&c| c == b';') {
                self.boundary.truncate(semi);
            }
        }
        if !boundary_characters_valid(&self.boundary) {
            return reject(self, "Invalid boundary in C-T (characters).");
        }
        if self.boundary.is_empty() {
            return reject(self, "Invalid boundary in C-T (empty).");
        }
        true
    }

    /// Feeds the whole body, one line (or 4096-byte piece) at a time.
    fn process(&mut self, data: &[u8]) {
        let mut i = 0;
        while let Some(&c) = data.get(i) {
            // A CR is never the last byte of a full buffer: flush first, re-read it after.
            let flush_before_cr = c == b'\r' && self.buf.len() == BUF_SIZE - 1;
            if !flush_before_cr {
                self.buf.push(c);
                i += 1;
            }
            if c == b'\n' || self.buf.len() == BUF_SIZE || flush_before_cr {
                if !self.process_chunk(flush_before_cr) {
                    return;
                }
                self.buf.clear();
                self.buf_contains_line = c == b'\n';
                if c == b'\n' {
                    self.crlf_state = if self.crlf_state == 1 { 3 } else { 2 };
                }
                self.crlf_state_buf_end = self.crlf_state;
            }
            if c == b'\r' {
                self.crlf_state = 1;
            } else if c != b'\n' {
                self.crlf_state = 0;
            }
            if self.is_complete && i < data.len() {
                self.f.data_after = true;
                return;
            }
        }
    }

    /// One buffered chunk: a boundary, a part header line or part data. Returns false on a
    /// fatal error (parsing stops).
    fn process_chunk(&mut self, flushed_early: bool) -> bool {
        let buf = std::mem::take(&mut self.buf);
        let ok = self.process_chunk_inner(&buf, flushed_early);
        self.buf = buf;
        ok
    }

    fn process_chunk_inner(&mut self, buf: &[u8], flushed_early: bool) -> bool {
        let line = cstr(buf);
        let blen = self.boundary.len();
        let mut processed_as_boundary = false;
        if self.buf_contains_line && line.len() > 3 && line.starts_with(b"--") {
            if line.len() >= blen + 2 && line[2..].starts_with(&self.boundary) {
                if self.crlf_state_buf_end == 2 {
                    self.f.lf_line = true;
                }
                if !self.part_data_read && self.boundary_count > 0 {
                    // Our boundary where part data should begin: kept as data, flagged.
                    self.f.invalid_part = true;
                } else {
                    if self.boundary_count > 0 {
                        self.f.unmatched_boundary = 2;
                    }
                    let mut end = &line[2 + blen..];
                    let is_final = end.starts_with(b"--");
                    if is_final {
                        end = &end[2..];
                        if self.is_complete {
                            self.f.error = true;
                            self.fail("Invalid boundary (final duplicate).");
                            return false;
                        }
                    }
                    match end {
                        b"\r\n" => self.f.crlf_line = true,
                        b"\n" => self.f.lf_line = true,
                        _ => {
                            self.f.error = true;
                            let shown = String::from_utf8_lossy(line).into_owned();
                            self.fail(&format!("Invalid boundary: {shown}"));
                            return false;
                        }
                    }
                    self.process_boundary(is_final);
                    if is_final {
                        self.is_complete = true;
                    }
                    processed_as_boundary = true;
                    self.boundary_count += 1;
                }
            } else {
                if self.f.boundary_quoted
                    && line.len() >= blen + 3
                    && line[2] == b'"'
                    && line[3..].starts_with(&self.boundary)
                {
                    self.f.error = true;
                    self.fail("Invalid boundary (quotes).");
                    return false;
                }
                let trimmed = line[2..]
                    .iter()
                    .position(|&c| !is_space(c))
                    .map_or(&[][..], |n| &line[2 + n..]);
                if trimmed.len() != line.len() - 2 && trimmed.starts_with(&self.boundary) {
                    self.f.error = true;
                    self.fail("Invalid boundary (whitespace).");
                    return false;
                }
                self.f.unmatched_boundary = 1;
            }
        } else if self.buf_contains_line {
            // Something boundary-like inside a line.
            let found = buf.windows(2).enumerate().any(|(i, w)| {
                w == b"--"
                    && buf
                        .get(i + 2..)
                        .is_some_and(|rest| rest.starts_with(&self.boundary))
            });
            if found {
                self.f.unmatched_boundary = 1;
            }
        }
        if !processed_as_boundary {
            if self.part.is_none() {
                self.f.data_before = true;
            } else if !self.in_data {
                if buf.len() == BUF_SIZE || flushed_early {
                    self.f.error = true;
                    self.fail(&format!("Part header line over {BUF_SIZE} bytes long"));
                    return false;
                }
                // ModSecurity 3.0.9 ignores the result: a bad header line is not fatal.
                self.no_files_len += buf.len();
                self.process_part_header(buf);
            } else {
                self.process_part_data(buf);
            }
        }
        true
    }

    fn process_part_header(&mut self, buf: &[u8]) {
        if buf.contains(&0) {
            self.fail("Nul byte in part headers.");
            return;
        }
        let len = buf.len();
        let mut content_len = len.saturating_sub(1);
        if len > 1 && buf[len - 2] == b'\r' {
            self.f.crlf_line = true;
            content_len -= 1;
        } else {
            self.f.lf_line = true;
        }
        let Some(part) = self.part.as_mut() else {
            return;
        };
        if buf == b"\r\n" || buf == b"\n" {
            // End of the part headers.
            if !part.last_header_line.is_empty() {
                part.header_lines
                    .push(std::mem::take(&mut part.last_header_line));
            }
            let Some(cd) = part.header(b"Content-Disposition") else {
                self.fail("Part missing Content-Disposition header.");
                return;
            };
            let cd_value = part.headers[cd].1.clone();
            let rc = self.parse_content_disposition(&cd_value);
            let Some(part) = self.part.as_mut() else {
                return;
            };
            if rc < 0 {
                let shown = String::from_utf8_lossy(&cd_value).into_owned();
                self.fail(&format!(
                    "Invalid Content-Disposition header ({rc}): {shown}"
                ));
                return;
            }
            if part.name.is_empty() {
                self.fail("Content-Disposition header missing name field.");
                return;
            }
            if !part.filename.is_empty() {
                // A client that did not understand C-D as we did must not smuggle a file.
                if find(&cd_value, b"filename=").is_none() {
                    self.fail("Invalid Content-Disposition header (filename).");
                    return;
                }
                part.is_file = true;
            } else {
                part.is_file = false;
            }
            self.in_data = true;
            self.part_data_read = false;
            if let Some(part) = self.part.as_mut() {
                part.last_header_name.clear();
            }
        } else if is_space(buf[0]) {
            // A folded continuation of the previous header.
            self.f.header_folding = true;
            if buf[0] != b' ' && buf[0] != b'\t' {
                self.f.invalid_header_folding = true;
            }
            let at = match part.header(&part.last_header_name) {
                Some(at) if !part.last_header_name.is_empty() => at,
                _ => {
                    self.fail("Invalid part header (folding error).");
                    return;
                }
            };
            let fold_len = buf.iter().position(|&c| !is_space(c)).unwrap_or(len);
            if buf[..fold_len].iter().any(|&c| c != b' ' && c != b'\t') {
                self.f.invalid_header_folding = true;
            }
            let mut more = buf[fold_len..].to_vec();
            chomp(&mut more);
            let value = &mut part.headers[at].1;
            value.push(b' ');
            value.extend_from_slice(&more);
            if value.len() > BUF_SIZE {
                self.fail("Part header too long.");
                return;
            }
            let mut line = part.last_header_name.clone();
            line.extend_from_slice(b": ");
            line.extend_from_slice(value);
            part.last_header_line = line;
        } else {
            if !part.last_header_line.is_empty() {
                part.header_lines
                    .push(std::mem::take(&mut part.last_header_line));
            }
            let Some(colon) = buf.iter().position(|&c| c == b':') else {
                let shown = String::from_utf8_lossy(buf).into_owned();
                self.fail(&format!("Invalid part header (colon missing): {shown}"));
                return;
            };
            if colon == 0 {
                self.fail("Invalid part header (header name missing).");
                return;
            }
            let name = buf[..colon].to_vec();
            let start = buf[colon + 1..]
                .iter()
                .position(|&c| c != b' ' && c != b'\t')
                .map_or(len, |n| colon + 1 + n);
            let mut value = buf[start..].to_vec();
            chomp(&mut value);
            if part.header(&name).is_some() {
                // Duplicate part header: ignored, and (as in ModSecurity) not reported.
                return;
            }
            part.last_header_name = name.clone();
            part.headers.push((name, value));
            part.last_header_line = if content_len > 0 {
                buf.to_vec()
            } else {
                Vec::new()
            };
        }
    }

    /// Parses a Content-Disposition value into the current part. Negative results are
    /// ModSecurity's error codes (they appear in REQBODY_ERROR_MSG).
    fn parse_content_disposition(&mut self, v: &[u8]) -> i32 {
        const CHARSET_SPECIAL: &[u8] = b"!#$%&+-^_`{}~";
        const ATTR_SPECIAL: &[u8] = b"!#$&+-.^_`~";
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        let skip_ws = |mut i: usize| {
            while at(i) == b' ' || at(i) == b'\t' {
                i += 1;
            }
            i
        };
        if !v.starts_with(b"form-data") {
            return -1;
        }
        let mut p = skip_ws(9);
        if at(p) == 0 {
            return 1;
        }
        if at(p) != b';' {
            return -2;
        }
        p += 1;
        let mut filename_star: Vec<u8> = Vec::new();
        while at(p) != 0 {
            p = skip_ws(p);
            if at(p) == 0 {
                return -3;
            }
            let start = p;
            while !matches!(at(p), 0 | b'=' | b'\t' | b' ') {
                p += 1;
            }
            if at(p) == 0 {
                return -4;
            }
            let name = &v[start..p];
            p = skip_ws(p);
            if at(p) == 0 {
                return -5;
            }
            if at(p) != b'=' {
                return -13;
            }
            p = skip_ws(p + 1);
            if at(p) == 0 {
                return -6;
            }
            let mut quote = 0u8;
            let mut unterminated = false;
            let mut value = Vec::new();
            if name == b"filename*" {
                // filename*=charset'[language]'percent-encoded-name
                let cs = p;
                while at(p) != 0
                    && (at(p).is_ascii_alphanumeric() || CHARSET_SPECIAL.contains(&at(p)))
                {
                    p += 1;
                }
                if at(p) != b'\'' || p == cs {
                    return -16;
                }
                p += 1;
                while at(p) != 0 && at(p) != b'\'' {
                    p += 1;
                }
                if at(p) != b'\'' {
                    return -17;
                }
                p += 1;
                let fs = p;
                while at(p) != 0 && at(p) != b';' {
                    if at(p) == b'%' {
                        if !at(p + 1).is_ascii_hexdigit() || !at(p + 2).is_ascii_hexdigit() {
                            return -18;
                        }
                        p += 3;
                    } else if at(p).is_ascii_alphanumeric() || ATTR_SPECIAL.contains(&at(p)) {
                        p += 1;
                    } else {
                        return -19;
                    }
                }
                value.extend_from_slice(&v[fs..p]);
            } else if at(p) == b'"' || at(p) == b'\'' {
                quote = at(p);
                if quote == b'\'' {
                    self.f.invalid_quoting = true;
                }
                p += 1;
                if at(p) == 0 {
                    return -7;
                }
                while at(p) != 0 {
                    if at(p) == b'\\' {
                        if at(p + 1) == 0 {
                            return -8;
                        }
                        // Only the quote and the backslash can be escaped; others kept as is.
                        if at(p + 1) == quote || at(p + 1) == b'\\' {
                            p += 1;
                        }
                    } else if at(p) == quote {
                        break;
                    }
                    value.push(at(p));
                    p += 1;
                }
                // A missing closing quote makes ModSecurity read past the string's end; in
                // practice that fails the header (observed), after the value was stored.
                unterminated = at(p) == 0;
                p = (p + 1).min(v.len());
            } else {
                let start = p;
                while at(p) != 0 && is_token_char(at(p)) {
                    p += 1;
                }
                value.extend_from_slice(&v[start..p]);
            }
            let Some(part) = self.part.as_mut() else {
                return -99;
            };
            let unsafe_quote = quote != b'"' && value.contains(&b'\'');
            match name {
                b"name" => {
                    if unsafe_quote {
                        self.f.invalid_quoting = true;
                    }
                    if !part.name.is_empty() {
                        return -14;
                    }
                    part.name = value;
                }
                b"filename" => {
                    if unsafe_quote {
                        self.f.invalid_quoting = true;
                    }
                    if !part.filename.is_empty() {
                        return -15;
                    }
                    part.filename = value;
                }
                b"filename*" => {
                    if !filename_star.is_empty() {
                        return -20;
                    }
                    filename_star = value;
                }
                _ => return -11,
            }
            if unterminated {
                return -12;
            }
            if at(p) != 0 {
                p = skip_ws(p);
                if at(p) != 0 {
                    if at(p) != b';' {
                        if matches!(at(p.wrapping_sub(1)), b'\'' | b'"') {
                            self.f.invalid_quoting = true;
                        }
                        return -12;
                    }
                    p += 1;
                }
            }
        }
        let no_filename = self
            .part
            .as_ref()
            .is_none_or(|part| part.filename.is_empty());
        if !filename_star.is_empty() && no_filename {
            return -21;
        }
        1
    }

    fn process_part_data(&mut self, buf: &[u8]) {
        self.part_data_read = true;
        let reserved = match buf {
            [.., b'\r', b'\n'] => 2,
            [.., b'\n'] => 1,
            _ => 0,
        };
        let chunk = &buf[..buf.len() - reserved];
        if let Some(part) = self.part.as_mut() {
            if part.is_file {
                part.size += chunk.len() + self.reserve;
            } else {
                // ModSecurity 3.0.9 drops the held-back line break of text parts.
                part.value.extend_from_slice(chunk);
                self.no_files_len += chunk.len();
            }
        }
        self.reserve = reserved;
    }

    fn process_boundary(&mut self, last: bool) {
        if let Some(part) = self.part.take() {
            for line in &part.header_lines {
                self.part_headers.push((part.name.clone(), line.clone()));
            }
            if part.name.is_empty() {
                self.f.invalid_part = true;
            } else {
                self.parts.push(part);
            }
        }
        if !last {
            self.part = Some(Part::default());
            self.in_data = false;
            self.part_data_read = false;
            self.reserve = 0;
        }
    }

    fn complete(mut self) -> Multipart {
        let mut finished = true;
        if self.seen_data && !self.is_complete {
            if self.boundary_count > 0 {
                // The final boundary may sit in the buffer without a line break.
                let b = &self.boundary;
                let buf = &self.buf;
                let is_final = self.buf_contains_line
                    && buf.len() == b.len() + 4
                    && buf.starts_with(b"--")
                    && buf[2..].starts_with(b)
                    && buf.ends_with(b"--");
                if is_final {
                    if self.crlf_state_buf_end == 2 {
                        self.f.lf_line = true;
                    }
                    if !self.part_data_read {
                        self.f.invalid_part = true;
                    }
                    self.process_boundary(true);
                    self.is_complete = true;
                } else {
                    self.fail("Final boundary missing.");
                    finished = false;
                }
            } else {
                self.fail("No boundaries found in payload.");
                finished = false;
            }
        }
        let f = &self.f;
        let flags = Flags {
            strict_error: f.error
                || f.boundary_quoted
                || f.boundary_whitespace
                || f.data_before
                || f.data_after
                || f.header_folding
                || f.lf_line
                || f.missing_semicolon
                || f.invalid_quoting
                || f.invalid_part
                || f.invalid_header_folding,
            unmatched_boundary: f.unmatched_boundary == 1,
            boundary_quoted: f.boundary_quoted,
            boundary_whitespace: f.boundary_whitespace,
            data_before: f.data_before,
            data_after: f.data_after,
            header_folding: f.header_folding,
            lf_line: f.lf_line,
            crlf_line: f.crlf_line,
            missing_semicolon: f.missing_semicolon,
            invalid_quoting: f.invalid_quoting,
            invalid_part: f.invalid_part,
            invalid_header_folding: f.invalid_header_folding,
            file_limit_exceeded: false,
            unmatched_boundary_level: f.unmatched_boundary,
        };
        let mut out = Multipart {
            part_headers: self.part_headers,
            flags,
            error: self.error.map(|e| format!("Multipart parsing error: {e}")),
            no_files_len: self.no_files_len,
            ..Multipart::default()
        };
        if finished {
            for part in self.parts {
                if part.is_file {
                    let content_type = part
                        .header(b"Content-Type")
                        .and_then(|i| part.headers.get(i))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    out.files.push(FilePart {
                        field: part.name,
                        filename: part.filename,
                        size: part.size,
                        content_type,
                    });
                } else {
                    out.args.push((part.name, part.value));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    /// Test bodies are written with `\n`; `crlf` turns them into CRLF (as go-ftw does).
    fn mp(ct: &str, body: &str, crlf: bool) -> Multipart {
        let body = if crlf {
            body.replace('\n', "\r\n")
        } else {
            body.to_string()
        };
        parse(ct.as_bytes(), body.as_bytes())
    }

    fn s(v: &[u8]) -> String {
        String::from_utf8_lossy(v).into_owned()
    }

    fn args(m: &Multipart) -> Vec<(String, String)> {
        m.args.iter().map(|(k, v)| (s(k), s(v))).collect()
    }

    fn headers(m: &Multipart) -> Vec<(String, String)> {
        m.part_headers.iter().map(|(k, v)| (s(k), s(v))).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// The MULTIPART_* variables that are non-zero, named as in ModSecurity.
    fn set_flags(m: &Multipart) -> Vec<String> {
        let f = &m.flags;
        let mut out: Vec<String> = [
            ("STRICT_ERROR", f.strict_error),
            ("BOUNDARY_QUOTED", f.boundary_quoted),
            ("BOUNDARY_WHITESPACE", f.boundary_whitespace),
            ("DATA_BEFORE", f.data_before),
            ("DATA_AFTER", f.data_after),
            ("HEADER_FOLDING", f.header_folding),
            ("LF_LINE", f.lf_line),
            ("CRLF_LF_LINES", f.crlf_lf_lines()),
            ("MISSING_SEMICOLON", f.missing_semicolon),
            ("INVALID_QUOTING", f.invalid_quoting),
            ("INVALID_PART", f.invalid_part),
            ("INVALID_HEADER_FOLDING", f.invalid_header_folding),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n.to_string())
        .collect();
        if f.unmatched_boundary_level != 0 {
            out.push(format!("UNMATCHED_BOUNDARY={}", f.unmatched_boundary_level));
        }
        assert_eq!(f.unmatched_boundary, f.unmatched_boundary_level == 1);
        out
    }

    fn err(msg: &str) -> Option<String> {
        Some(format!("Multipart parsing error: Multipart: {msg}"))
    }

    // Every expectation in this module was recorded from libmodsecurity3 3.0.9.
    #[test]
    fn reference_full_request() {
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nvalue a\n--XyZ\n\
             Content-Disposition: form-data; name=\"f\"; filename=\"x.php\"\n\
             Content-Type: application/octet-stream\nX-Other:  spaced \n\n<?php echo 1; ?>\n\
             --XyZ\nContent-Disposition: form-data; name=\"b\"\nContent-Type: text/plain\n\n\
             line1\nline2\n--XyZ--\n",
            true,
        );
        // Inner line breaks of text parts are lost (a 3.0.9 bug CRS tests live with).
        assert_eq!(args(&m), pairs(&[("a", "value a"), ("b", "line1line2")]));
        assert_eq!(
            m.files,
            vec![FilePart {
                field: b"f".to_vec(),
                filename: b"x.php".to_vec(),
                size: 16,
                content_type: b"application/octet-stream".to_vec(),
            }]
        );
        assert_eq!(m.files_combined_size(), 16);
        assert_eq!(
            headers(&m),
            pairs(&[
                ("a", "Content-Disposition: form-data; name=\"a\"\r\n"),
                (
                    "f",
                    "Content-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\n"
                ),
                ("f", "Content-Type: application/octet-stream\r\n"),
                ("f", "X-Other:  spaced \r\n"),
                ("b", "Content-Disposition: form-data; name=\"b\"\r\n"),
                ("b", "Content-Type: text/plain\r\n"),
            ])
        );
        assert_eq!(set_flags(&m), vec!["UNMATCHED_BOUNDARY=2"]);
        assert_eq!(m.error, None);
    }

    #[test]
    fn reference_strictness_flags() {
        let simple = "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n--XyZ--\n";
        // (content type, body, CRLF?, flags set, error, number of ARGS)
        type Case<'a> = (
            &'a str,
            &'a str,
            bool,
            &'a [&'a str],
            Option<&'a str>,
            usize,
        );
        let cases: &[Case<'_>] = &[
            (
                CT,
                simple,
                false,
                &["STRICT_ERROR", "LF_LINE", "UNMATCHED_BOUNDARY=2"],
                None,
                1,
            ),
            (
                CT,
                "junk\n--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "DATA_BEFORE", "UNMATCHED_BOUNDARY=2"],
                None,
                1,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n--XyZ--\ntrailing junk\n",
                true,
                &["STRICT_ERROR", "DATA_AFTER", "UNMATCHED_BOUNDARY=2"],
                None,
                1,
            ),
            (
                "multipart/form-data; boundary=\"XyZ\"",
                simple,
                true,
                &["STRICT_ERROR", "BOUNDARY_QUOTED", "UNMATCHED_BOUNDARY=2"],
                None,
                1,
            ),
            (
                "multipart/form-data; boundary= XyZ",
                simple,
                true,
                &[
                    "STRICT_ERROR",
                    "BOUNDARY_WHITESPACE",
                    "DATA_BEFORE",
                    "UNMATCHED_BOUNDARY=1",
                ],
                Some("No boundaries found in payload."),
                0,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data name=\"a\"\n\nv\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "INVALID_PART"],
                Some("Final boundary missing."),
                0,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n",
                true,
                &[],
                Some("Final boundary missing."),
                0,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n--XyZa\nmore\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "UNMATCHED_BOUNDARY=2"],
                Some("Final boundary missing."),
                0,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name=a'b\"\n\nv\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "INVALID_QUOTING", "INVALID_PART"],
                Some("Final boundary missing."),
                0,
            ),
            (
                CT,
                "--XyZ\nContent-Type: text/plain\n\nv\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "INVALID_PART"],
                Some("Final boundary missing."),
                0,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name='a'\n\nv\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "INVALID_QUOTING", "UNMATCHED_BOUNDARY=2"],
                None,
                1,
            ),
            (
                "multipart/form-data",
                simple,
                true,
                &["STRICT_ERROR"],
                Some("Boundary not found in C-T."),
                0,
            ),
            (
                "multipart/form-data; boundary=XyZ; boundary=abc",
                simple,
                true,
                &["STRICT_ERROR"],
                Some("Multiple boundary parameters in C-T."),
                0,
            ),
            (
                "multipart/form-data; BOUNDARY=XyZ",
                simple,
                true,
                &["STRICT_ERROR"],
                Some("Invalid boundary in C-T (case sensitivity)."),
                0,
            ),
            (
                "multipart/form-data; boundary=Xy{Z",
                simple,
                true,
                &["STRICT_ERROR"],
                Some("Invalid boundary in C-T (characters)."),
                0,
            ),
            // `; charset=` after the boundary is tolerated; `boundary=""` silently parses nothing.
            (
                "multipart/form-data; boundary=XyZ; charset=utf-8",
                simple,
                true,
                &["UNMATCHED_BOUNDARY=2"],
                None,
                1,
            ),
            (
                "multipart/form-data; boundary=\"\"",
                simple,
                true,
                &[],
                None,
                0,
            ),
            (CT, "", true, &[], None, 0),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n--XyZ--\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "DATA_AFTER", "UNMATCHED_BOUNDARY=2"],
                None,
                1,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n--XyZ junk\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "UNMATCHED_BOUNDARY=2"],
                Some("Final boundary missing."),
                0,
            ),
            (
                CT,
                "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n-- XyZ\n--XyZ--\n",
                true,
                &["STRICT_ERROR"],
                Some("Final boundary missing."),
                0,
            ),
            (
                "multipart/form-data; boundary=\"XyZ\"",
                "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nv\n--\"XyZ\"\n--XyZ--\n",
                true,
                &["STRICT_ERROR", "BOUNDARY_QUOTED"],
                Some("Final boundary missing."),
                0,
            ),
        ];
        for (i, (ct, body, crlf, flags, error, nargs)) in cases.iter().enumerate() {
            let m = mp(ct, body, *crlf);
            let mut want: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
            let mut got = set_flags(&m);
            want.sort();
            got.sort();
            assert_eq!(got, want, "case {i}: {body:?}");
            assert_eq!(m.error, error.and_then(err), "case {i}: {body:?}");
            assert_eq!(m.args.len(), *nargs, "case {i}: {body:?}");
        }
    }

    #[test]
    fn reference_part_shapes() {
        // filename="" is a text part, not a file.
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\n\n\n--XyZ--\n",
            true,
        );
        assert_eq!((args(&m), m.files.len()), (pairs(&[("f", "")]), 0));
        // Unquoted name; two files with their sizes.
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"f1\"; filename=\"a.txt\"\n\nAAAA\n--XyZ\n\
             Content-Disposition: form-data; name=\"f2\"; filename=\"b.txt\"\n\nBB\n--XyZ--\n",
            true,
        );
        let sizes: Vec<(String, String, usize)> = m
            .files
            .iter()
            .map(|f| (s(&f.field), s(&f.filename), f.size))
            .collect();
        assert_eq!(
            sizes,
            vec![
                ("f1".into(), "a.txt".into(), 4),
                ("f2".into(), "b.txt".into(), 2)
            ]
        );
        assert_eq!(m.files_combined_size(), 6);
        // A file's size counts its inner line breaks (LF-only here); content type is kept.
        let m = parse(
            CT.as_bytes(),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\
              content-type: text/x-php\r\n\r\nab\ncd\r\n--XyZ--\r\n",
        );
        assert_eq!(
            (m.files[0].size, s(&m.files[0].content_type)),
            (5, "text/x-php".to_string())
        );
        // Escapes inside a quoted name: only \" and \\ are escapes.
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"a\\\"b\\\\c\\d\"\n\nv\n--XyZ--\n",
            true,
        );
        assert_eq!(args(&m), pairs(&[("a\"b\\c\\d", "v")]));
        // filename* alone is refused; with filename= the plain filename wins.
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"a\"; filename*=utf-8''x%20y.txt; \
             filename=\"x y.txt\"\n\ndata\n--XyZ--\n",
            true,
        );
        assert_eq!(
            (s(&m.files[0].filename), m.files[0].size),
            ("x y.txt".to_string(), 4)
        );
        let m = mp(CT, "--XyZ\nContent-Disposition: form-data; name=\"a\"; filename*=utf-8''x.txt\n\ndata\n--XyZ--\n", true);
        assert_eq!(m.error, err("Final boundary missing."));
        // A boundary-like string inside a line is data; a part with no data swallows the next
        // boundary as data (and flags the part).
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nxx--XyZ yy\n--XyZ--\n",
            true,
        );
        assert_eq!(args(&m), pairs(&[("a", "xx--XyZ yy")]));
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"a\"\n\n--XyZ\nContent-Disposition: \
             form-data; name=\"b\"\n\nv\n--XyZ--\n",
            true,
        );
        assert_eq!(
            args(&m),
            pairs(&[("a", "--XyZContent-Disposition: form-data; name=\"b\"v")])
        );
        assert!(m.flags.invalid_part && m.flags.strict_error);
        // A duplicate part header is ignored silently.
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"a\"\ncontent-disposition: form-data; \
             name=\"b\"\n\nv\n--XyZ--\n",
            true,
        );
        assert_eq!((args(&m), m.error.clone()), (pairs(&[("a", "v")]), None));
        // A NUL in part headers is an error, but parsing goes on.
        let m = parse(CT.as_bytes(), b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX: a\0b\r\n\r\nv\r\n--XyZ--\r\n");
        assert_eq!(
            (args(&m), m.error),
            (pairs(&[("a", "v")]), err("Nul byte in part headers."))
        );
        // The final boundary may end the body without a line break.
        let m = parse(
            CT.as_bytes(),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\n--XyZ--",
        );
        assert_eq!(args(&m), pairs(&[("a", "v")]));
        assert_eq!(
            set_flags(&m),
            vec!["STRICT_ERROR", "LF_LINE", "CRLF_LF_LINES"]
        );
    }

    #[test]
    fn reference_part_headers_folding_and_chomp() {
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data; name=\"a\"\nX-Empty:\nX-Fold: one\n  two\n\t three\n\nv\n--XyZ--",
            true,
        );
        assert_eq!(
            headers(&m),
            pairs(&[
                ("a", "Content-Disposition: form-data; name=\"a\"\r\n"),
                ("a", "X-Empty:\r\n"),
                ("a", "X-Fold: one two three"),
            ])
        );
        assert_eq!(set_flags(&m), vec!["STRICT_ERROR", "HEADER_FOLDING"]);
        let m = mp(
            CT,
            "--XyZ\nContent-Disposition: form-data;\n name=\"a\"\n\nv\n--XyZ--\n",
            true,
        );
        assert_eq!(args(&m), pairs(&[("a", "v")]));
        assert_eq!(
            headers(&m),
            pairs(&[("a", "Content-Disposition: form-data; name=\"a\"")])
        );
    }

    #[test]
    fn reference_long_lines_are_split_at_4096() {
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'a', 5000));
        body.extend_from_slice(b"\r\nb\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.bin\"\r\nContent-Type: image/png\r\n\r\n");
        body.extend(std::iter::repeat_n(b'z', 5000));
        body.extend_from_slice(b"\r\n\r\nq\n--XyZ--\r\n");
        let m = parse(CT.as_bytes(), &body);
        let mut want = vec![b'a'; 5000];
        want.push(b'b');
        assert_eq!(m.args, vec![(b"t".to_vec(), want)]);
        assert_eq!(m.files[0].size, 5000 + 2 + 2 + 1);
        assert_eq!(m.error, None);
        // A header line longer than the buffer is fatal.
        let mut body = b"--XyZ\r\nX-Long: ".to_vec();
        body.extend(std::iter::repeat_n(b'h', 5000));
        body.extend_from_slice(b"\r\n\r\nv\r\n--XyZ--\r\n");
        let m = parse(CT.as_bytes(), &body);
        assert_eq!(m.error, err("Final boundary missing."));
        assert!(m.flags.strict_error);
    }

    #[test]
    fn never_panics_on_random_input() {
        let seeds: &[&[u8]] = &[
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue a\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\nContent-Type: text/plain\r\n\r\nline\r\n--XyZ--\r\n",
            b"--XyZ\nContent-Disposition: form-data;\n\tname=\"q\\\"x\"; filename='z'; filename*=utf-8''a%20b\n\nfile\r\n\n--XyZ--",
            b"\0\r\r\n-- XyZ\r\n--\"XyZ\"",
        ];
        let cts: &[&[u8]] = &[
            b"multipart/form-data; boundary=XyZ",
            b"multipart/form-data; boundary=\"XyZ\"",
            b"multipart/form-data boundary = XyZ;x",
        ];
        let mut rng = crate::body::testrand::Rng::new(4);
        for round in 0..20_000 {
            let body = rng.splice(seeds, 10, b"-\r\n\"';=:XyZ \t\\");
            let ct = if round % 7 == 0 {
                rng.splice(cts, 3, b"=;\" ")
            } else {
                cts[round % cts.len()].to_vec()
            };
            let m = parse(&ct, &body);
            assert!(m.files_combined_size() <= body.len());
            assert!(!m.flags.unmatched_boundary || m.flags.unmatched_boundary_level == 1);
        }
        // Lines around the 4096-byte buffer edge, CR exactly at the edge included.
        for n in 4090..4100 {
            let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n".to_vec();
            body.extend(std::iter::repeat_n(b'x', n));
            body.extend_from_slice(b"\r\n--XyZ--\r\n");
            let m = parse(CT.as_bytes(), &body);
            assert_eq!(m.args.first().map(|(_, v)| v.len()), Some(n), "n = {n}");
        }
    }
}
