//! One audit record and its two renderings: libmodsecurity3's JSON (one object per line, its
//! key order and types) and the Native multipart text. A record owns copies of what its parts
//! need, taken on the shard when the transaction ends; rendering happens on the writer thread.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::config::Parts;

/// One rule message (`messages[]` in JSON, a line of part H in Native).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// `msg`, expanded.
    pub message: String,
    /// `Matched "Operator …' against variable …' (Value: …' )`.
    pub matched: String,
    /// libmodsecurity3's match offsets; not tracked here (always empty).
    pub reference: String,
    /// Rule id.
    pub rule_id: u32,
    /// Rule file as loaded.
    pub file: String,
    /// Rule line.
    pub line: usize,
    /// `logdata`, expanded.
    pub data: String,
    /// Severity number (0 when the rule has none, as libmodsecurity3 writes it).
    pub severity: u8,
    /// `ver`.
    pub ver: String,
    /// `rev`.
    pub rev: String,
    /// `tag`s.
    pub tags: Vec<String>,
    /// `maturity` (`0` when unset).
    pub maturity: String,
    /// `accuracy` (`0` when unset).
    pub accuracy: String,
    /// The error-log line of the match (part H of the Native format).
    pub log_line: String,
}

/// Everything one transaction's audit record shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Which parts to render.
    pub parts: Parts,
    /// When the transaction was audited.
    pub time: Option<SystemTime>,
    /// `unique_id` (HAProxy's unique-id, else generated).
    pub unique_id: String,
    /// Client address.
    pub client_ip: String,
    /// Client port.
    pub client_port: u16,
    /// Server (HAProxy frontend) address.
    pub host_ip: String,
    /// Server port.
    pub host_port: u16,
    /// Request method.
    pub method: String,
    /// `1.1`, `2.0`, … (written as a JSON number).
    pub http_version: String,
    /// Path and query as received.
    pub uri: String,
    /// Request headers in order (part B).
    pub request_headers: Vec<(String, String)>,
    /// Request body (part C).
    pub request_body: String,
    /// Response status (libmodsecurity3 writes 200 when it saw no response).
    pub http_code: u16,
    /// Response headers (part F; empty for a request-only transaction).
    pub response_headers: Vec<(String, String)>,
    /// Response body (part E; empty for a request-only transaction).
    pub response_body: String,
    /// `Enabled`, `DetectionOnly` or `Disabled`.
    pub secrules_engine: &'static str,
    /// Messages (part H).
    pub messages: Vec<Message>,
}

/// What the producer section names.
pub const PRODUCER: &str = concat!("spoa-waf v", env!("CARGO_PKG_VERSION"), " (Linux)");
/// The connector name.
pub const CONNECTOR: &str = "spoa-waf";

/// Days since 1970-01-01 → (year, month 1–12, day 1–31) (Howard Hinnant's civil algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day 1–31.
    pub day: u32,
    /// Hour.
    pub hour: u32,
    /// Minute.
    pub min: u32,
    /// Second.
    pub sec: u32,
    /// Day of week, 0 = Sunday.
    pub wday: u32,
    /// Microseconds.
    pub micros: u32,
}

impl Utc {
    /// `t` in UTC.
    pub fn of(t: SystemTime) -> Utc {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil(days);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            min: rem / 60 % 60,
            sec: rem % 60,
            wday: (days + 4).rem_euclid(7) as u32,
            micros: d.subsec_micros(),
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `Fri Dec  4 21:01:47 2026` (ctime, as libmodsecurity3's JSON `time_stamp`).
pub fn ctime(u: &Utc) -> String {
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[u.wday as usize],
        MONTHS[(u.month - 1) as usize],
        u.day,
        u.hour,
        u.min,
        u.sec,
        u.year
    )
}

/// `04/Dec/2026:21:00:59 +0000` (part A of the Native format).
pub fn clf(u: &Utc) -> String {
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        u.day,
        MONTHS[(u.month - 1) as usize],
        u.year,
        u.hour,
        u.min,
        u.sec
    )
}

struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // An object in wire order (serde_json's Map would sort the names).
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// `1.1` as a JSON number; what is not a number (a bad version) stays a string.
struct Version<'a>(&'a str);

impl Serialize for Version<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<f64>() {
            Ok(v) if v.is_finite() => s.serialize_f64(v),
            _ => s.serialize_str(self.0),
        }
    }
}

struct Request<'a>(&'a Record);

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("method", &r.method)?;
        m.serialize_entry("http_version", &Version(&r.http_version))?;
        m.serialize_entry("uri", &r.uri)?;
        if r.parts.has(b'C') {
            m.serialize_entry("body", &r.request_body)?;
        }
        if r.parts.has(b'B') {
            m.serialize_entry("headers", &Headers(&r.request_headers))?;
        }
        m.end()
    }
}

struct Response<'a>(&'a Record);

impl Serialize for Response<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        if r.parts.has(b'E') {
            m.serialize_entry("body", &r.response_body)?;
        }
        m.serialize_entry("http_code", &r.http_code)?;
        if r.parts.has(b'F') {
            m.serialize_entry("headers", &Headers(&r.response_headers))?;
        }
        m.end()
    }
}

struct Producer<'a>(&'a Record);

impl Serialize for Producer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("modsecurity", PRODUCER)?;
        m.serialize_entry("connector", CONNECTOR)?;
        m.serialize_entry("secrules_engine", self.0.secrules_engine)?;
        m.serialize_entry("components", &[] as &[&str])?;
        m.end()
    }
}

struct Details<'a>(&'a Message);

impl Serialize for Details<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        // Every value a string, as libmodsecurity3 writes them.
        let mut m = s.serialize_map(Some(12))?;
        m.serialize_entry("match", &d.matched)?;
        m.serialize_entry("reference", &d.reference)?;
        m.serialize_entry("ruleId", &d.rule_id.to_string())?;
        m.serialize_entry("file", &d.file)?;
        m.serialize_entry("lineNumber", &d.line.to_string())?;
        m.serialize_entry("data", &d.data)?;
        m.serialize_entry("severity", &d.severity.to_string())?;
        m.serialize_entry("ver", &d.ver)?;
        m.serialize_entry("rev", &d.rev)?;
        m.serialize_entry("tags", &d.tags)?;
        m.serialize_entry("maturity", &d.maturity)?;
        m.serialize_entry("accuracy", &d.accuracy)?;
        m.end()
    }
}

struct Messages<'a>(&'a [Message]);

impl Serialize for Messages<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for msg in self.0 {
            seq.serialize_element(&MessageObj(msg))?;
        }
        seq.end()
    }
}

struct MessageObj<'a>(&'a Message);

impl Serialize for MessageObj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("message", &self.0.message)?;
        m.serialize_entry("details", &Details(self.0))?;
        m.end()
    }
}

struct Transaction<'a>(&'a Record, &'a str);

impl Serialize for Transaction<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("client_ip", &r.client_ip)?;
        m.serialize_entry("time_stamp", self.1)?;
        m.serialize_entry("server_id", server_id())?;
        m.serialize_entry("client_port", &r.client_port)?;
        m.serialize_entry("host_ip", &r.host_ip)?;
        m.serialize_entry("host_port", &r.host_port)?;
        m.serialize_entry("unique_id", &r.unique_id)?;
        m.serialize_entry("request", &Request(r))?;
        m.serialize_entry("response", &Response(r))?;
        if r.parts.has(b'H') {
            m.serialize_entry("producer", &Producer(r))?;
            m.serialize_entry("messages", &Messages(&r.messages))?;
        }
        m.end()
    }
}

struct Top<'a>(&'a Record, &'a str);

impl Serialize for Top<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("transaction", &Transaction(self.0, self.1))?;
        m.end()
    }
}

/// A stable id of this host: a hash of its host name in hex (libmodsecurity3 writes a SHA-1 of
/// its own; nothing parses it).
fn server_id() -> &'static str {
    use std::hash::{Hash, Hasher};
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        // SipHash with fixed keys: the same on every start.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        host.trim().hash(&mut h);
        format!("{:016x}", h.finish())
    })
}

impl Record {
    fn utc(&self) -> Utc {
        Utc::of(self.time.unwrap_or(UNIX_EPOCH))
    }

    /// The JSON rendering, one line ending in `\n`.
    pub fn to_json(&self) -> Vec<u8> {
        let ts = ctime(&self.utc());
        let mut out = serde_json::to_vec(&Top(self, &ts)).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The Native rendering with section boundary `boundary` (8 characters).
    pub fn to_native(&self, boundary: &str) -> Vec<u8> {
        let mut s = String::with_capacity(1024);
        let sec = |s: &mut String, c: char| {
            let _ = writeln!(s, "---{boundary}---{c}--");
        };
        // Part A is always written: it opens the record.
        sec(&mut s, 'A');
        let _ = writeln!(
            s,
            "[{}] {} {} {} {} {}",
            clf(&self.utc()),
            self.unique_id,
            self.client_ip,
            self.client_port,
            self.host_ip,
            self.host_port
        );
        if self.parts.has(b'B') {
            sec(&mut s, 'B');
            let _ = writeln!(s, "{} {} HTTP/{}", self.method, self.uri, self.http_version);
            for (k, v) in &self.request_headers {
                let _ = writeln!(s, "{k}: {v}");
            }
            s.push('\n');
        }
        if self.parts.has(b'C') && !self.request_body.is_empty() {
            sec(&mut s, 'C');
            let _ = writeln!(s, "{}", self.request_body);
            s.push('\n');
        }
        if self.parts.has(b'E') && !self.response_body.is_empty() {
            sec(&mut s, 'E');
            let _ = writeln!(s, "{}", self.response_body);
            s.push('\n');
        }
        if self.parts.has(b'F') {
            sec(&mut s, 'F');
            let _ = writeln!(s, "HTTP/{} {}", self.http_version, self.http_code);
            for (k, v) in &self.response_headers {
                let _ = writeln!(s, "{k}: {v}");
            }
            s.push('\n');
        }
        if self.parts.has(b'H') {
            sec(&mut s, 'H');
            for m in &self.messages {
                let _ = writeln!(s, "{}", m.log_line);
            }
            s.push('\n');
        }
        sec(&mut s, 'Z');
        s.push('\n');
        s.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> Record {
        Record {
            parts: Parts::parse("ABCFHZ").unwrap(),
            time: Some(UNIX_EPOCH + Duration::from_secs(1_796_418_107)),
            unique_id: "u1".into(),
            client_ip: "192.0.2.1".into(),
            client_port: 40000,
            host_ip: "192.0.2.2".into(),
            host_port: 80,
            method: "GET".into(),
            http_version: "1.1".into(),
            uri: "/?a=1".into(),
            request_headers: vec![("Zeta".into(), "1".into()), ("Alpha".into(), "2".into())],
            http_code: 200,
            secrules_engine: "Enabled",
            messages: vec![Message {
                rule_id: 7,
                line: 3,
                maturity: "0".into(),
                accuracy: "0".into(),
                tags: vec!["t".into()],
                log_line: "ModSecurity: Warning. x".into(),
                ..Message::default()
            }],
            ..Record::default()
        }
    }

    #[test]
    fn times_format_as_libmodsecurity3_does() {
        let u = Utc::of(UNIX_EPOCH + Duration::from_secs(1_796_418_107));
        assert_eq!(ctime(&u), "Fri Dec  4 21:01:47 2026");
        assert_eq!(clf(&u), "04/Dec/2026:21:01:47 +0000");
        let u = Utc::of(UNIX_EPOCH + Duration::from_secs(951_782_400)); // 2000-02-29
        assert_eq!((u.year, u.month, u.day, u.wday), (2000, 2, 29, 2));
    }

    #[test]
    fn json_keeps_libmodsecurity3s_shape() {
        let line = sample().to_json();
        assert_eq!(line.last(), Some(&b'\n'));
        let text = String::from_utf8(line).unwrap();
        // Header order is kept, not sorted.
        assert!(
            text.contains(r#""headers":{"Zeta":"1","Alpha":"2"}"#),
            "{text}"
        );
        assert!(text.contains(r#""http_version":1.1,"uri":"/?a=1","body":"","headers""#));
        assert!(text.contains(r#""response":{"http_code":200,"headers":{}}"#));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let t = &v["transaction"];
        assert_eq!(t["client_port"], 40000);
        assert_eq!(t["time_stamp"], "Fri Dec  4 21:01:47 2026");
        let d = &t["messages"][0]["details"];
        assert_eq!(d["ruleId"], "7");
        assert_eq!(d["lineNumber"], "3");
        assert_eq!(d["severity"], "0");
        assert_eq!(t["producer"]["components"], serde_json::json!([]));
        let mut r = sample();
        r.parts = Parts::parse("AZ").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        let keys: Vec<_> = v["transaction"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert!(!keys.contains(&"messages".to_string()));
        assert_eq!(
            v["transaction"]["response"],
            serde_json::json!({"http_code": 200})
        );
    }

    #[test]
    fn native_sections_follow_the_parts() {
        let text = String::from_utf8(sample().to_native("abcdEFGH")).unwrap();
        let sections: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("---abcdEFGH---"))
            .collect();
        assert_eq!(
            sections,
            [
                "---abcdEFGH---A--",
                "---abcdEFGH---B--",
                "---abcdEFGH---F--",
                "---abcdEFGH---H--",
                "---abcdEFGH---Z--"
            ]
        );
        assert!(text.contains("\nGET /?a=1 HTTP/1.1\nZeta: 1\nAlpha: 2\n\n"));
        assert!(text.contains("[04/Dec/2026:21:01:47 +0000] u1 192.0.2.1 40000 192.0.2.2 80\n"));
        assert!(text.ends_with("---abcdEFGH---Z--\n\n"));
    }
}
