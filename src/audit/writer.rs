//! The audit-log writer: one thread that drains the shards' bounded queues and writes records
//! to the Serial file or the Concurrent storage directory.
//!
//! Owns opening (checked at start, with errors that name the directive and its `file:line`),
//! file and directory modes, reopening the Serial file when asked (SIGUSR1 sets the flag
//! [`AuditLog::reopen_flag`]; `cmd` installs the handler), and counting what it wrote and what
//! the disk refused. It refuses to ever make a shard wait: shards `try_send` and count a full
//! queue as a drop; a failed write (full disk, file-size limit) drops that record, truncates
//! any partial write away so a reader never sees half a line, and is counted.

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam::channel::{bounded, Receiver, Select, Sender};

use super::config::{AuditConfig, Format, LogType};
use super::record::{Record, Utc};

/// Records a shard may have queued before it starts dropping.
pub const QUEUE_PER_SHARD: usize = 4096;

/// Why the audit log could not start.
#[derive(Debug)]
pub struct AuditError {
    /// The directive at fault, with its `file:line`, and why.
    pub message: String,
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuditError {}

fn err(at: Option<&str>, directive: &str, what: String) -> AuditError {
    AuditError {
        message: format!("{}: {directive} {what}", at.unwrap_or("(configuration)")),
    }
}

/// Counters the writer keeps (read by the metrics endpoint and the exit log).
#[derive(Debug, Default)]
pub struct AuditStats {
    /// Records written.
    pub written: AtomicU64,
    /// Records the disk refused (dropped).
    pub write_failed: AtomicU64,
    /// Times the Serial file was reopened.
    pub reopened: AtomicU64,
}

/// A running writer.
#[derive(Debug)]
pub struct AuditLog {
    senders: Vec<Sender<Box<Record>>>,
    stats: Arc<AuditStats>,
    reopen: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

enum Target {
    Serial { path: PathBuf, file: File },
    Concurrent { dir: PathBuf },
}

impl AuditLog {
    /// Checks the configured file or directory, then starts the writer with one bounded queue
    /// per shard. `log` reports write failures (once until the next success) and reopens.
    pub fn start(
        cfg: &AuditConfig,
        shards: usize,
        queue: usize,
        log: impl Fn(&str) + Send + 'static,
    ) -> Result<AuditLog, AuditError> {
        let target = open_target(cfg)?;
        let stats = Arc::new(AuditStats::default());
        let reopen = Arc::new(AtomicBool::new(false));
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..shards.max(1))
            .map(|_| bounded::<Box<Record>>(queue.max(1)))
            .unzip();
        let mut w = Writer {
            target,
            format: cfg.format,
            file_mode: cfg.file_mode,
            dir_mode: cfg.dir_mode,
            stats: stats.clone(),
            failing: false,
            seq: 0,
        };
        let flag = reopen.clone();
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || w.run(receivers, &flag, &log))
            .map_err(|e| AuditError {
                message: format!("cannot start the audit writer thread: {e}"),
            })?;
        Ok(AuditLog {
            senders,
            stats,
            reopen,
            thread: Some(thread),
        })
    }

    /// Shard `n`'s queue.
    pub fn sender(&self, n: usize) -> Sender<Box<Record>> {
        self.senders[n % self.senders.len()].clone()
    }

    /// The writer's counters.
    pub fn stats(&self) -> Arc<AuditStats> {
        self.stats.clone()
    }

    /// Set it (from a signal handler) to reopen the Serial file before the next write.
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        self.reopen.clone()
    }

    /// Drops this handle's senders and waits until every queued record is written (the shards'
    /// senders must be gone too).
    pub fn finish(mut self) {
        self.senders.clear();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open_serial(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .open(path)
}

fn open_target(cfg: &AuditConfig) -> Result<Target, AuditError> {
    match cfg.log_type {
        LogType::Serial => {
            let Some(path) = &cfg.path else {
                return Err(err(
                    cfg.engine_at.as_deref(),
                    "SecAuditEngine",
                    "needs SecAuditLog (the Serial log file)".into(),
                ));
            };
            let file = open_serial(path, cfg.file_mode).map_err(|e| {
                err(
                    cfg.path_at.as_deref(),
                    "SecAuditLog",
                    format!("{}: cannot open for appending: {e}", path.display()),
                )
            })?;
            Ok(Target::Serial {
                path: path.clone(),
                file,
            })
        }
        LogType::Concurrent => {
            let Some(dir) = &cfg.storage_dir else {
                return Err(err(
                    cfg.engine_at.as_deref(),
                    "SecAuditLogType Concurrent",
                    "needs SecAuditLogStorageDir".into(),
                ));
            };
            let bad = |what: String| {
                err(
                    cfg.storage_dir_at.as_deref(),
                    "SecAuditLogStorageDir",
                    format!("{}: {what}", dir.display()),
                )
            };
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(bad("is not a directory".into())),
                Err(e) => return Err(bad(e.to_string())),
            }
            // Writable? A probe file says it for every kind of refusal (mode, read-only mount).
            let probe = dir.join(format!(".spoa-waf-probe-{}", std::process::id()));
            File::create(&probe)
                .and_then(|_| std::fs::remove_file(&probe))
                .map_err(|e| bad(format!("cannot create files: {e}")))?;
            Ok(Target::Concurrent { dir: dir.clone() })
        }
    }
}

struct Writer {
    target: Target,
    format: Format,
    file_mode: u32,
    dir_mode: u32,
    stats: Arc<AuditStats>,
    /// A failure was logged and no write succeeded since: log the next one only on recovery.
    failing: bool,
    seq: u64,
}

impl Writer {
    fn run(&mut self, mut rx: Vec<Receiver<Box<Record>>>, reopen: &AtomicBool, log: &dyn Fn(&str)) {
        while !rx.is_empty() {
            if reopen.swap(false, Ordering::AcqRel) {
                self.reopen(log);
            }
            let mut sel = Select::new();
            for r in &rx {
                sel.recv(r);
            }
            // Wake up now and then to see the reopen flag even when idle.
            let Ok(op) = sel.select_timeout(Duration::from_millis(200)) else {
                continue;
            };
            let i = op.index();
            match op.recv(&rx[i]) {
                Ok(rec) => {
                    self.write(&rec, log);
                    // Drain what else is queued on this shard without re-selecting.
                    while let Ok(rec) = rx[i].try_recv() {
                        self.write(&rec, log);
                    }
                }
                Err(_) => {
                    rx.swap_remove(i);
                }
            }
        }
    }

    fn reopen(&mut self, log: &dyn Fn(&str)) {
        if let Target::Serial { path, file } = &mut self.target {
            match open_serial(path, self.file_mode) {
                Ok(f) => {
                    *file = f;
                    self.stats.reopened.fetch_add(1, Ordering::Relaxed);
                    log(&format!("audit log {} reopened", path.display()));
                }
                Err(e) => log(&format!(
                    "audit log {}: cannot reopen ({e}); still writing to the old file",
                    path.display()
                )),
            }
        }
    }

    fn render(&mut self, rec: &Record) -> Vec<u8> {
        match self.format {
            Format::Json => rec.to_json(),
            Format::Native => rec.to_native(&boundary(self.seq)),
        }
    }

    fn write(&mut self, rec: &Record, log: &dyn Fn(&str)) {
        self.seq += 1;
        let bytes = self.render(rec);
        let result = match &mut self.target {
            Target::Serial { file, .. } => append_whole(file, &bytes),
            Target::Concurrent { dir } => {
                write_concurrent(dir, rec, &bytes, self.file_mode, self.dir_mode)
            }
        };
        match result {
            Ok(()) => {
                self.stats.written.fetch_add(1, Ordering::Relaxed);
                if self.failing {
                    self.failing = false;
                    log("audit log writes succeed again");
                }
            }
            Err(e) => {
                self.stats.write_failed.fetch_add(1, Ordering::Relaxed);
                if !self.failing {
                    self.failing = true;
                    log(&format!(
                        "audit log write failed: {e}; records are dropped and counted \
                         (spoa_waf_audit_records_dropped_total) until writes succeed again"
                    ));
                }
            }
        }
    }
}

/// Writes `bytes` at the end of `file` in one piece or not at all: a short write (file-size
/// limit, full disk) is cut back off so a reader of the file never sees half a record.
fn append_whole(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => {
                cut(file, done);
                return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0"));
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                cut(file, done);
                return Err(e);
            }
        }
    }
    Ok(())
}

fn cut(file: &File, written: usize) {
    if written > 0 {
        if let Ok(m) = file.metadata() {
            let _ = file.set_len(m.len().saturating_sub(written as u64));
        }
    }
}

/// `DIR/YYYYMMDD/YYYYMMDD-HHMM/YYYYMMDD-HHMMSS-UNIQUEID`, as libmodsecurity3 lays it out.
pub fn concurrent_path(dir: &Path, rec: &Record) -> PathBuf {
    let u = Utc::of(rec.time.unwrap_or(SystemTime::UNIX_EPOCH));
    let day = format!("{:04}{:02}{:02}", u.year, u.month, u.day);
    let minute = format!("{day}-{:02}{:02}", u.hour, u.min);
    // The id comes from the client side (HAProxy's unique-id): keep it to one path component.
    let id: String = rec
        .unique_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(&day)
        .join(&minute)
        .join(format!("{day}-{:02}{:02}{:02}-{id}", u.hour, u.min, u.sec))
}

fn write_concurrent(
    dir: &Path,
    rec: &Record,
    bytes: &[u8],
    file_mode: u32,
    dir_mode: u32,
) -> io::Result<()> {
    let path = concurrent_path(dir, rec);
    if let Some(parent) = path.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(dir_mode)
            .create(parent)?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(file_mode)
        .open(&path)?;
    f.write_all(bytes).inspect_err(|_| {
        let _ = std::fs::remove_file(&path);
    })
}

/// An 8-character section boundary, different per record.
fn boundary(seq: u64) -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 of (time, sequence): distinct per record, no RNG needed.
    let mut x = t ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (0..8)
        .map(|i| ALPHA[((x >> (i * 6)) % ALPHA.len() as u64) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::config::{AuditEngine, Parts};
    use std::os::unix::fs::PermissionsExt;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("spoa-audit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rec(id: &str) -> Box<Record> {
        Box::new(Record {
            parts: Parts::default(),
            time: Some(SystemTime::now()),
            unique_id: id.into(),
            method: "GET".into(),
            http_version: "1.1".into(),
            uri: "/".into(),
            http_code: 200,
            secrules_engine: "Enabled",
            ..Record::default()
        })
    }

    #[test]
    fn serial_json_lines_reopen_and_mode() {
        let d = tmp("serial");
        let path = d.join("audit.log");
        let cfg = AuditConfig {
            engine: AuditEngine::On,
            path: Some(path.clone()),
            format: Format::Json,
            file_mode: 0o640,
            ..AuditConfig::default()
        };
        let log = AuditLog::start(&cfg, 2, 16, |_| {}).unwrap();
        let (a, b) = (log.sender(0), log.sender(1));
        a.send(rec("one")).unwrap();
        b.send(rec("two")).unwrap();
        let stats = log.stats();
        while stats.written.load(Ordering::Relaxed) < 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
        // logrotate: move the file away, ask for a reopen, write on.
        std::fs::rename(&path, d.join("audit.log.1")).unwrap();
        log.reopen_flag().store(true, Ordering::Release);
        std::thread::sleep(Duration::from_millis(300));
        a.send(rec("three")).unwrap();
        drop((a, b));
        log.finish();
        let old = std::fs::read_to_string(d.join("audit.log.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert_eq!(old.lines().count(), 2);
        assert_eq!(new.lines().count(), 1);
        assert!(new.contains("\"unique_id\":\"three\""));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(stats.reopened.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn concurrent_layout_and_modes() {
        let d = tmp("conc");
        let cfg = AuditConfig {
            engine: AuditEngine::On,
            log_type: LogType::Concurrent,
            storage_dir: Some(d.clone()),
            format: Format::Native,
            file_mode: 0o600,
            dir_mode: 0o750,
            ..AuditConfig::default()
        };
        let log = AuditLog::start(&cfg, 1, 16, |_| {}).unwrap();
        let r = rec("abc/../x");
        let expect = concurrent_path(&d, &r);
        log.sender(0).send(r).unwrap();
        log.finish();
        let text = std::fs::read_to_string(&expect).unwrap();
        assert!(text.contains("---A--") && text.ends_with("---Z--\n\n"));
        let name = expect.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with("-abc_.._x"), "{name}");
        let minute = expect.parent().unwrap();
        let day = minute.parent().unwrap();
        assert_eq!(day.parent().unwrap(), d);
        assert_eq!(&name[..8], day.file_name().unwrap().to_str().unwrap());
        assert!(minute
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&name[..13]));
        let m = std::fs::metadata(minute).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o750);
    }

    #[test]
    fn start_errors_name_the_directive_and_place() {
        let cfg = AuditConfig {
            engine: AuditEngine::On,
            path: Some("/nonexistent-dir/x/audit.log".into()),
            path_at: Some("rules.conf:7".into()),
            ..AuditConfig::default()
        };
        let e = AuditLog::start(&cfg, 1, 1, |_| {}).unwrap_err().to_string();
        assert!(
            e.starts_with("rules.conf:7: SecAuditLog /nonexistent-dir/x/audit.log"),
            "{e}"
        );
        let cfg = AuditConfig {
            engine: AuditEngine::On,
            log_type: LogType::Concurrent,
            storage_dir: Some("/nonexistent-dir".into()),
            storage_dir_at: Some("rules.conf:9".into()),
            ..AuditConfig::default()
        };
        let e = AuditLog::start(&cfg, 1, 1, |_| {}).unwrap_err().to_string();
        assert!(e.starts_with("rules.conf:9: SecAuditLogStorageDir"), "{e}");
    }
}
