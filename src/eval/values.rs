//! Variable resolution without allocation: what a target (`ARGS:p`, `TX:/^x_/`, `&REQUEST_HEADERS`)
//! selects, visited as borrowed `(name, bytes, origin)` triples, and the recyclable arenas
//! (`Values`, `Hits`) the evaluator copies them into.
//!
//! Owns the mapping from each [`Var`] to the transaction's storage (the single source of what a
//! variable yields; `eval::fast` mirrors a subset) and the rendering of names (`ARGS:p`), which
//! is only done when a match needs it. Computed values (sizes, counts, times) are formatted on
//! the stack. Refuses to decide anything about matching, exclusions or logging.
//! Semantics: crs-scope.md §11 (variables and collections, as libmodsecurity3 3.0.9 names them).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;

use super::{origin, Pair, Transaction};
#[cfg(test)]
use super::{Name, Value};
use crate::compile::{KeySel, Target, Var};
use crate::matcher::Regex;

/// A key selector, borrowed from a target or a macro reference.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyRef<'a> {
    /// Every key.
    All,
    /// One key, compared ASCII case-insensitively.
    Name(&'a [u8]),
    /// Keys matching the regex.
    Regex(&'a Regex),
}

impl<'a> KeyRef<'a> {
    /// The borrowed form of a compiled selector.
    pub(crate) fn of(sel: &'a KeySel) -> Self {
        match sel {
            KeySel::All => KeyRef::All,
            KeySel::Name(n) => KeyRef::Name(n.as_bytes()),
            KeySel::Regex(re, _) => KeyRef::Regex(re),
        }
    }

    /// Whether `key` is selected.
    pub(crate) fn selects(self, key: &[u8]) -> bool {
        match self {
            KeyRef::All => true,
            KeyRef::Name(n) => key.eq_ignore_ascii_case(n),
            KeyRef::Regex(re) => re.is_match(key),
        }
    }
}

/// The name of a value, borrowed; rendered (`ARGS:p`) only when a match needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NameRef<'a> {
    /// A scalar variable (`REQUEST_URI`).
    Var(Var),
    /// A collection member (`ARGS:p`), key as received.
    Keyed(Var, &'a [u8]),
    /// The count of a target's values (`&ARGS`).
    Count(Var),
}

impl NameRef<'_> {
    /// Appends `VAR`, `VAR:key` or `&VAR` to `out`; invalid UTF-8 in a key becomes U+FFFD,
    /// exactly as `String::from_utf8_lossy` renders it.
    pub(crate) fn render_into(self, out: &mut String) {
        match self {
            NameRef::Var(v) => out.push_str(v.name()),
            NameRef::Keyed(v, k) => {
                out.push_str(v.name());
                out.push(':');
                for chunk in k.utf8_chunks() {
                    out.push_str(chunk.valid());
                    if !chunk.invalid().is_empty() {
                        out.push(char::REPLACEMENT_CHARACTER);
                    }
                }
            }
            NameRef::Count(v) => {
                out.push('&');
                out.push_str(v.name());
            }
        }
    }

    /// The owned form (for [`Value`]).
    #[cfg(test)]
    pub(crate) fn to_owned_name(self) -> Name {
        match self {
            NameRef::Var(v) => Name::Var(v),
            NameRef::Keyed(v, k) => Name::Keyed(v, k.to_vec()),
            NameRef::Count(v) => Name::Text(format!("&{}", v.name())),
        }
    }
}

/// One value, borrowed from an arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueRef<'a> {
    /// `ARGS:p`, `REQUEST_URI`, …
    pub(crate) name: NameRef<'a>,
    /// The bytes.
    pub(crate) data: &'a [u8],
    /// As [`Value::origin`].
    pub(crate) origin: u32,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Var,
    Keyed,
    Count,
}

/// One value of a [`Values`] arena: spans into its byte buffer.
#[derive(Debug, Clone, Copy)]
struct Item {
    var: Var,
    kind: Kind,
    key: (usize, usize),
    data: (usize, usize),
    /// The rendered name, when pushed with [`Values::push_rendered`] (MATCHED_VARS).
    text: (usize, usize),
    origin: u32,
}

/// A recyclable list of values: names and bytes copied into one buffer, so refilling a warm
/// arena does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Values {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

fn span(bytes: &[u8], s: (usize, usize)) -> &[u8] {
    bytes.get(s.0..s.1).unwrap_or_default()
}

fn view<'b>(bytes: &'b [u8], it: &Item) -> ValueRef<'b> {
    ValueRef {
        name: match it.kind {
            Kind::Var => NameRef::Var(it.var),
            Kind::Keyed => NameRef::Keyed(it.var, span(bytes, it.key)),
            Kind::Count => NameRef::Count(it.var),
        },
        data: span(bytes, it.data),
        origin: it.origin,
    }
}

impl Values {
    /// Empties the arena, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }

    /// [`Values::clear`], releasing a byte buffer grown past `MAX_KEPT_BUFFER`.
    pub(crate) fn clear_bounded(&mut self) {
        self.clear();
        if self.bytes.capacity() > super::MAX_KEPT_BUFFER {
            self.bytes = Vec::new();
        }
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    fn put(&mut self, b: &[u8]) -> (usize, usize) {
        let s = self.bytes.len();
        self.bytes.extend_from_slice(b);
        (s, self.bytes.len())
    }

    /// Appends a copy of one value.
    pub(crate) fn push(&mut self, name: NameRef<'_>, data: &[u8], origin: u32) {
        let (var, kind, key) = match name {
            NameRef::Var(v) => (v, Kind::Var, (0, 0)),
            NameRef::Keyed(v, k) => (v, Kind::Keyed, self.put(k)),
            NameRef::Count(v) => (v, Kind::Count, (0, 0)),
        };
        let data = self.put(data);
        self.items.push(Item {
            var,
            kind,
            key,
            data,
            text: (0, 0),
            origin,
        });
    }

    /// [`Values::push`], also keeping the rendered name (read back by [`Values::text`]).
    pub(crate) fn push_rendered(&mut self, name: NameRef<'_>, rendered: &str, data: &[u8]) {
        self.push(name, data, 0);
        let text = self.put(rendered.as_bytes());
        if let Some(it) = self.items.last_mut() {
            it.text = text;
        }
    }

    /// Value `i` (empty past the end).
    pub(crate) fn get(&self, i: usize) -> ValueRef<'_> {
        match self.items.get(i) {
            Some(it) => view(&self.bytes, it),
            None => ValueRef {
                name: NameRef::Var(Var::Rule),
                data: &[],
                origin: 0,
            },
        }
    }

    /// The rendered name of value `i` (pushed with [`Values::push_rendered`]).
    pub(crate) fn text(&self, i: usize) -> &[u8] {
        self.items
            .get(i)
            .map_or(&[], |it| span(&self.bytes, it.text))
    }

    /// Keeps the values `keep` accepts (their bytes stay in the buffer until `clear`).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(ValueRef<'_>) -> bool) {
        let Values { bytes, items } = self;
        items.retain(|it| keep(view(bytes, it)));
    }

    /// Replaces values `start..` by their count (`&VAR`).
    fn count_from(&mut self, start: usize, var: Var) {
        let n = self.items.len().saturating_sub(start);
        let from = self.items.get(start).map_or(self.bytes.len(), |it| {
            if matches!(it.kind, Kind::Keyed) {
                it.key.0
            } else {
                it.data.0
            }
        });
        self.items.truncate(start);
        self.bytes.truncate(from);
        with_number(n, |d| self.push(NameRef::Count(var), d, 0));
    }
}

/// Matching values of one operator evaluation (one per matching stage with multiMatch).
#[derive(Debug, Default)]
pub(crate) struct Hits {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Hits {
    /// Forgets the hits, keeping the buffers.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
    }

    /// [`Hits::clear`], releasing a byte buffer grown past `MAX_KEPT_BUFFER`.
    pub(crate) fn clear_bounded(&mut self) {
        self.clear();
        if self.bytes.capacity() > super::MAX_KEPT_BUFFER {
            self.bytes = Vec::new();
        }
    }

    /// Records a copy of one matching value.
    pub(crate) fn push(&mut self, v: impl AsRef<[u8]>) {
        let s = self.bytes.len();
        self.bytes.extend_from_slice(v.as_ref());
        self.spans.push((s, self.bytes.len()));
    }

    /// Number of hits.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Hit `i` (empty past the end).
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        self.spans.get(i).map_or(&[], |&s| span(&self.bytes, s))
    }
}

/// Calls `f` with the decimal rendering of `n`, formatted on the stack.
pub(crate) fn with_number<R>(n: impl std::fmt::Display, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; 48];
    let mut w = &mut buf[..];
    // 48 bytes hold any integer this module formats; a failed write only truncates.
    let _ = write!(w, "{n}");
    let len = 48 - w.len();
    f(buf.get(..len).unwrap_or_default())
}

/// Scratch for [`Transaction::visit`]'s TX enumeration (keys lower-cased for a regex
/// selector), behind a `RefCell` because visiting only borrows the transaction.
#[derive(Debug, Default)]
pub(crate) struct VisitScratch {
    lower: RefCell<Vec<u8>>,
}

impl VisitScratch {
    /// Empties the buffer (it holds nothing between visits; this only keeps it so).
    pub(crate) fn clear(&mut self) {
        self.lower.get_mut().clear();
    }
}

impl Transaction {
    /// Copies the values `t` selects into `out` (a `&` target: one value, their count).
    pub(crate) fn collect_into(&self, t: &Target, out: &mut Values) {
        let start = out.len();
        self.visit(t.var, KeyRef::of(&t.key), &mut |n, d, o| out.push(n, d, o));
        if t.count {
            out.count_from(start, t.var);
        }
    }

    /// Appends the values `t` selects, owned (tests and tools; the evaluator uses
    /// [`Transaction::collect_into`]).
    #[cfg(test)]
    pub(crate) fn collect(&self, t: &Target, out: &mut Vec<Value>) {
        let mut vals = Values::default();
        self.collect_into(t, &mut vals);
        for i in 0..vals.len() {
            let v = vals.get(i);
            out.push(Value {
                name: v.name.to_owned_name(),
                data: v.data.to_vec(),
                origin: v.origin,
            });
        }
    }

    /// Appends the first value `var`/`key` selects to `out` (macro expansion).
    pub(crate) fn first_value_into(&self, var: Var, key: KeyRef<'_>, out: &mut Vec<u8>) {
        let mut first = true;
        self.visit(var, key, &mut |_, d, _| {
            if first {
                out.extend_from_slice(d);
                first = false;
            }
        });
    }

    /// Calls `f(name, bytes, origin)` for every value `var`/`key` selects, in ModSecurity's
    /// order. `origin` is [`Value::origin`].
    pub(crate) fn visit(
        &self,
        var: Var,
        key: KeyRef<'_>,
        f: &mut dyn FnMut(NameRef<'_>, &[u8], u32),
    ) {
        let pairs = |list: &[Pair], src: u32, f: &mut dyn FnMut(NameRef<'_>, &[u8], u32)| {
            for (i, (k, v)) in list.iter().enumerate() {
                if key.selects(k) {
                    f(NameRef::Keyed(var, k), v, origin(src, i));
                }
            }
        };
        let names = |list: &[Pair], src: u32, f: &mut dyn FnMut(NameRef<'_>, &[u8], u32)| {
            for (i, (k, _)) in list.iter().enumerate() {
                if key.selects(k) {
                    f(NameRef::Keyed(var, k), k, origin(src + 1, i));
                }
            }
        };
        // Scalars are cached by content (origin 0): several are recomputed between phases.
        let mut scalar = |v: &[u8]| f(NameRef::Var(var), v, 0);
        let flag = |b: bool| -> &'static [u8] {
            if b {
                b"1"
            } else {
                b"0"
            }
        };
        let mp = self.multipart.as_ref();
        match var {
            Var::Args => {
                pairs(&self.args_get, 2, f);
                pairs(&self.args_post, 4, f);
            }
            Var::ArgsGet => pairs(&self.args_get, 2, f),
            Var::ArgsPost => pairs(&self.args_post, 4, f),
            Var::ArgsNames => {
                names(&self.args_get, 2, f);
                names(&self.args_post, 4, f);
            }
            Var::ArgsGetNames => names(&self.args_get, 2, f),
            Var::ArgsPostNames => names(&self.args_post, 4, f),
            Var::ArgsCombinedSize => {
                let n: usize = self
                    .args_get
                    .iter()
                    .chain(&self.args_post)
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                with_number(n, scalar)
            }
            Var::RequestHeaders => pairs(&self.headers, 6, f),
            Var::RequestHeadersNames => names(&self.headers, 6, f),
            Var::RequestCookies => pairs(&self.cookies, 8, f),
            Var::RequestCookiesNames => names(&self.cookies, 8, f),
            Var::RequestFilename => scalar(&self.filename),
            Var::RequestBasename => scalar(&self.basename),
            Var::RequestUri => scalar(&self.uri_decoded),
            Var::RequestUriRaw => scalar(&self.uri_raw),
            Var::RequestLine => scalar(&self.request_line),
            Var::RequestMethod => scalar(&self.method),
            Var::RequestProtocol => scalar(&self.protocol),
            Var::QueryString => scalar(&self.query),
            Var::RequestBody => {
                if self.expose_body {
                    scalar(&self.body)
                }
            }
            Var::RequestBodyLength => with_number(self.body_len, scalar),
            // Always present (empty without a processor): CRS 901340 tests it with a negated
            // operator, which must see an empty value to match.
            Var::ReqbodyProcessor => scalar(self.processor.map_or("", |p| p.name()).as_bytes()),
            Var::ReqbodyError => scalar(flag(self.reqbody_error)),
            Var::ReqbodyProcessorError => scalar(flag(self.body_flags.processor_error)),
            Var::ReqbodyErrorMsg => scalar(&self.reqbody_error_msg),
            Var::Files => {
                for (field, filename, _) in &self.files {
                    if key.selects(field) {
                        f(NameRef::Keyed(Var::Files, field), filename, 0);
                    }
                }
            }
            Var::FilesNames => {
                for (field, _, _) in &self.files {
                    if key.selects(field) {
                        f(NameRef::Keyed(Var::FilesNames, field), field, 0);
                    }
                }
            }
            Var::FilesSizes => {
                for (field, _, size) in &self.files {
                    if key.selects(field) {
                        with_number(size, |d| f(NameRef::Keyed(Var::FilesSizes, field), d, 0));
                    }
                }
            }
            Var::FilesCombinedSize => {
                let n: usize = self.files.iter().map(|f| f.2).sum();
                with_number(n, scalar)
            }
            Var::FilesTmpNames => {}
            Var::MultipartStrictError => {
                if let Some(m) = mp {
                    scalar(flag(m.strict_error))
                }
            }
            Var::MultipartUnmatchedBoundary => {
                if let Some(m) = mp {
                    scalar(flag(m.unmatched_boundary))
                }
            }
            Var::MultipartBoundaryQuoted => scalar(flag(mp.is_some_and(|m| m.boundary_quoted))),
            Var::MultipartBoundaryWhitespace => {
                scalar(flag(mp.is_some_and(|m| m.boundary_whitespace)))
            }
            Var::MultipartDataBefore => scalar(flag(mp.is_some_and(|m| m.data_before))),
            Var::MultipartDataAfter => scalar(flag(mp.is_some_and(|m| m.data_after))),
            Var::MultipartHeaderFolding => scalar(flag(mp.is_some_and(|m| m.header_folding))),
            Var::MultipartLfLine => scalar(flag(mp.is_some_and(|m| m.lf_line))),
            Var::MultipartCrlfLfLines => scalar(flag(mp.is_some_and(|m| m.crlf_lf_lines()))),
            Var::MultipartMissingSemicolon => scalar(flag(mp.is_some_and(|m| m.missing_semicolon))),
            Var::MultipartInvalidQuoting => scalar(flag(mp.is_some_and(|m| m.invalid_quoting))),
            Var::MultipartInvalidPart => scalar(flag(mp.is_some_and(|m| m.invalid_part))),
            Var::MultipartInvalidHeaderFolding => {
                scalar(flag(mp.is_some_and(|m| m.invalid_header_folding)))
            }
            Var::MultipartFileLimitExceeded => {
                scalar(flag(mp.is_some_and(|m| m.file_limit_exceeded)))
            }
            Var::MultipartPartHeaders => pairs(&self.part_headers, 10, f),
            Var::MultipartFilename | Var::MultipartName => {}
            Var::Xml => {
                let attrs = matches!(key, KeyRef::Name(k) if k.contains(&b'@'));
                let list = if attrs {
                    &self.xml_attrs
                } else {
                    &self.xml_text
                };
                for v in list {
                    f(NameRef::Var(Var::Xml), v, 0);
                }
            }
            Var::Tx => {
                // A named key is one lookup; the key renders as it was last written.
                if let KeyRef::Name(n) = key {
                    if let Some((orig, v)) = self.tx.entry(n) {
                        f(NameRef::Keyed(Var::Tx, orig), v, 0);
                    }
                    return;
                }
                // Selectors see the lower-cased key, as when TX was a map keyed that way.
                let mut lower = self.visit_scratch.lower.try_borrow_mut().ok();
                let mut emit = |k: &[u8], v: &[u8]| {
                    let selected = match (key, lower.as_deref_mut()) {
                        (KeyRef::Regex(_), Some(buf)) => {
                            buf.clear();
                            buf.extend(k.iter().map(u8::to_ascii_lowercase));
                            key.selects(buf)
                        }
                        (KeyRef::Regex(_), None) => key.selects(&k.to_ascii_lowercase()),
                        _ => key.selects(k),
                    };
                    if selected {
                        f(NameRef::Keyed(Var::Tx, k), v, 0);
                    }
                };
                self.tx.for_each_sorted(&mut emit);
            }
            Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource => {
                // Stored as `COLL.key` (rare in CRS 4: no persistent collections).
                let mut prefix = String::with_capacity(16);
                let _ = write!(prefix, "{}.", var.name());
                for (k, (orig, v)) in self.other_colls.range(prefix.clone()..) {
                    let Some(sub) = k.strip_prefix(&prefix) else {
                        break;
                    };
                    if key.selects(sub.as_bytes()) {
                        f(NameRef::Keyed(var, orig.as_bytes()), v, 0);
                    }
                }
            }
            Var::Geo | Var::Env => {}
            Var::RemoteAddr => scalar(&self.remote_addr),
            Var::RemotePort => with_number(self.remote_port, scalar),
            Var::RemoteHost => scalar(&self.remote_addr),
            Var::RemoteUser | Var::AuthType => {}
            Var::ServerAddr => scalar(&self.server_addr),
            Var::ServerPort => with_number(self.server_port, scalar),
            Var::ServerName => scalar(&self.hostname),
            Var::UniqueId => scalar(&self.unique_id),
            Var::Duration => scalar(b"0"),
            Var::Time
            | Var::TimeDay
            | Var::TimeEpoch
            | Var::TimeHour
            | Var::TimeMin
            | Var::TimeSec
            | Var::TimeWday
            | Var::TimeMon
            | Var::TimeYear => time_value(var, scalar),
            Var::ResponseStatus => {
                if let Some(s) = self.response_status {
                    with_number(s, scalar)
                }
            }
            Var::ResponseHeaders => pairs(&self.response_headers, 12, f),
            Var::ResponseHeadersNames => names(&self.response_headers, 12, f),
            Var::ResponseBody => {
                if self.expose_response_body {
                    scalar(&self.response_body)
                }
            }
            Var::ResponseProtocol => scalar(&self.response_protocol),
            Var::ResponseContentType => {
                if let Some((_, v)) = self
                    .response_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(b"content-type"))
                {
                    scalar(v)
                }
            }
            Var::ResponseContentLength => {
                if let Some((_, v)) = self
                    .response_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(b"content-length"))
                {
                    scalar(v)
                }
            }
            Var::MatchedVar => scalar(&self.matched_var),
            Var::MatchedVarName => scalar(self.matched_var_name.as_bytes()),
            Var::MatchedVars => {
                let m = &self.matched_vars;
                for i in 0..m.len() {
                    if key.selects(m.text(i)) {
                        let v = m.get(i);
                        f(v.name, v.data, 0);
                    }
                }
            }
            Var::MatchedVarsNames => {
                let m = &self.matched_vars;
                for i in 0..m.len() {
                    let n = m.text(i);
                    if key.selects(n) {
                        f(m.get(i).name, n, 0);
                    }
                }
            }
            Var::Rule => {}
            Var::FullRequest | Var::FullRequestLength => {}
            Var::InboundDataError => scalar(flag(self.body_flags.inbound_data_error)),
            Var::OutboundDataError | Var::UrlencodedError => scalar(flag(false)),
            Var::HighestSeverity => {
                if let Some(s) = self.highest_severity {
                    with_number(s, scalar)
                }
            }
            Var::StatusLine | Var::WebserverErrorLog => {}
        }
    }
}

/// TIME_* variables, formatted on the stack.
fn time_value(v: Var, f: impl FnOnce(&[u8])) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day_secs = secs % 86_400;
    let two = |n: u64, f: &mut dyn FnMut(&[u8])| {
        let d = [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
        f(&d)
    };
    let mut f = Some(f);
    let mut call = |d: &[u8]| {
        if let Some(f) = f.take() {
            f(d)
        }
    };
    match v {
        Var::TimeHour => two(day_secs / 3600, &mut call),
        Var::TimeMin => two((day_secs % 3600) / 60, &mut call),
        Var::TimeSec => two(day_secs % 60, &mut call),
        Var::TimeWday => with_number((secs / 86_400 + 4) % 7, call),
        _ => with_number(secs, call),
    }
}
