//! The on-disk cache of compiled pattern sets (issue #4: a restart with unchanged rules must not
//! pay Hyperscan's multi-second compile again).
//!
//! A cache file holds the exact pattern list it was compiled from, the libhs version, the
//! Hyperscan/PCRE2 placement of every pattern and the serialized Hyperscan database, behind a
//! magic and a checksum. The file name is a hash of the key, but a load compares the whole key,
//! so a hash collision is a miss, not a wrong database. Anything unexpected (short file, bad
//! checksum, other libhs, other patterns, a database libhs refuses) is reported as a reason to
//! rebuild; nothing here panics on file contents. Files are written to a temporary name and
//! renamed, so a concurrent reader sees the old file or the new one, never half of one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hyperscan::{BlockDatabase, SerializedDatabase};

use super::{Confirm, HsEntry, LiteralKind, PatternId, PatternSet, Spec};

const MAGIC: &[u8; 8] = b"SPWAFHS1";
/// Bump when the file layout or the placement rules (flags, confirm policy) change.
const FORMAT: u32 = 4;

/// What compiling produced, or what a cache file restores.
pub(super) struct Plan {
    /// Shared: sets built from the same patterns hold one database (`build_all`).
    pub db: Option<std::sync::Arc<BlockDatabase>>,
    pub db_bytes: usize,
    pub entries: Vec<HsEntry>,
    pub pcre_only: Vec<PatternId>,
}

/// The identity of a set: format version, libhs version and every pattern, encoded.
#[derive(PartialEq, Eq, Hash)]
pub(super) struct Key {
    bytes: Vec<u8>,
}

impl Key {
    pub fn new(specs: &[Spec]) -> Key {
        let mut w = Vec::new();
        put_u32(&mut w, FORMAT);
        put_bytes(&mut w, hyperscan::version_str().to_bytes());
        put_u32(&mut w, u32::try_from(specs.len()).unwrap_or(u32::MAX));
        for spec in specs {
            match spec {
                Spec::Regex(p) => {
                    w.push(0);
                    put_bytes(&mut w, p.as_bytes());
                }
                Spec::Phrases(list) => {
                    w.push(1);
                    put_u32(&mut w, u32::try_from(list.len()).unwrap_or(u32::MAX));
                    for p in list {
                        put_bytes(&mut w, p);
                    }
                }
                Spec::Literal(lit, kind) => {
                    w.push(2);
                    w.push(match kind {
                        LiteralKind::Contains => 0,
                        LiteralKind::BeginsWith => 1,
                        LiteralKind::EndsWith => 2,
                        LiteralKind::Equals => 3,
                    });
                    put_bytes(&mut w, lit);
                }
            }
        }
        Key { bytes: w }
    }

    fn file_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("patternset-{:016x}.hsdb", checksum(&self.bytes)))
    }
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u64(w, b.len() as u64);
    w.extend_from_slice(b);
}

/// A fast non-cryptographic 64-bit hash (word-wise multiply-rotate, FNV constants). It guards
/// against torn or bit-rotted files, not against an attacker who can write the cache directory.
fn checksum(data: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ data.len() as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(PRIME)
            .rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h ^ (h >> 32)
}

/// A bounds-checked reader over a cache file; every read is `None` past the end.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
}

fn confirm_code(c: Confirm) -> u8 {
    match c {
        Confirm::Never => 0,
        Confirm::IfNewline => 1,
        Confirm::Always => 2,
    }
}

fn confirm_from(b: u8) -> Option<Confirm> {
    match b {
        0 => Some(Confirm::Never),
        1 => Some(Confirm::IfNewline),
        2 => Some(Confirm::Always),
        _ => None,
    }
}

/// Reads the cache file for `key`; `Err` says why it cannot be used. A file that is used gets
/// its modification time renewed, which is what [`prune`] goes by.
pub(super) fn load(dir: &Path, key: &Key, n_patterns: usize) -> Result<Plan, String> {
    let path = key.file_in(dir);
    let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let plan = decode(&data, key, n_patterns).map_err(|e| format!("{}: {e}", path.display()))?;
    // Best effort: a read-only cache still serves, it is only never pruned.
    let _ = fs::File::options()
        .append(true)
        .open(&path)
        .and_then(|f| f.set_modified(SystemTime::now()));
    Ok(plan)
}

/// Cache files not used (loaded or written) for this long are removed by [`prune`].
pub(super) const UNUSED_FOR: Duration = Duration::from_secs(14 * 24 * 3600);

/// Removes this cache's files (databases and leftover temporary files) that were not used for
/// `unused_for`: every rules change leaves its databases behind, and a cache directory shared
/// by several configurations keeps whatever any of them used recently. Returns how many files
/// went; errors (a file another process removed first, a read-only directory) are skipped.
pub(super) fn prune(dir: &Path, unused_for: Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("patternset-") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > unused_for);
        if old && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn decode(data: &[u8], key: &Key, n_patterns: usize) -> Result<Plan, String> {
    let mut r = Reader { buf: data };
    let short = || String::from("truncated");
    if r.take(MAGIC.len()).ok_or_else(short)? != MAGIC {
        return Err(String::from("not a pattern-set cache file"));
    }
    let sum = r.u64().ok_or_else(short)?;
    if checksum(r.buf) != sum {
        return Err(String::from("checksum mismatch"));
    }
    if r.bytes().ok_or_else(short)? != key.bytes.as_slice() {
        return Err(String::from(
            "compiled from other patterns or another libhs",
        ));
    }
    let n = r.u32().ok_or_else(short)? as usize;
    let mut entries = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let pattern = r.u32().ok_or_else(short)?;
        let confirm = r.u8().and_then(confirm_from).ok_or_else(short)?;
        if pattern as usize >= n_patterns {
            return Err(String::from("pattern id out of range"));
        }
        entries.push(HsEntry {
            pattern: PatternId(pattern),
            confirm,
        });
    }
    let n = r.u32().ok_or_else(short)? as usize;
    let mut pcre_only = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let p = r.u32().ok_or_else(short)?;
        if p as usize >= n_patterns {
            return Err(String::from("pattern id out of range"));
        }
        pcre_only.push(PatternId(p));
    }
    let db_bytes = usize::try_from(r.u64().ok_or_else(short)?).unwrap_or(0);
    let blob = r.bytes().ok_or_else(short)?;
    if !r.buf.is_empty() {
        return Err(String::from("trailing bytes"));
    }
    let db = if entries.is_empty() {
        if !blob.is_empty() {
            return Err(String::from("database without expressions"));
        }
        None
    } else {
        let db: BlockDatabase = blob
            .deserialize()
            .map_err(|e| format!("libhs refused the database: {e}"))?;
        // Scratch allocation validates the database against this libhs/CPU once more.
        db.alloc_scratch()
            .map_err(|e| format!("libhs refused the database: {e}"))?;
        Some(db)
    };
    Ok(Plan {
        db: db.map(std::sync::Arc::new),
        db_bytes,
        entries,
        pcre_only,
    })
}

/// Writes `set` as the cache file for `key` (temporary file + rename).
pub(super) fn store(dir: &Path, key: &Key, set: &PatternSet) -> io::Result<()> {
    let data = encode(key, set)?;
    fs::create_dir_all(dir)?;
    let path = key.file_in(dir);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, &data)?;
    fs::rename(&tmp, &path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

fn encode(key: &Key, set: &PatternSet) -> io::Result<Vec<u8>> {
    let blob: Vec<u8> = match &set.db {
        Some(db) => db
            .serialize()
            .map_err(|e| io::Error::other(format!("serialize: {e}")))?
            .to_vec(),
        None => Vec::new(),
    };
    let mut body = Vec::with_capacity(blob.len() + key.bytes.len() + 64);
    put_bytes(&mut body, &key.bytes);
    put_u32(
        &mut body,
        u32::try_from(set.entries.len()).unwrap_or(u32::MAX),
    );
    for e in &set.entries {
        put_u32(&mut body, e.pattern.0);
        body.push(confirm_code(e.confirm));
    }
    put_u32(
        &mut body,
        u32::try_from(set.pcre_only.len()).unwrap_or(u32::MAX),
    );
    for p in &set.pcre_only {
        put_u32(&mut body, p.0);
    }
    put_u64(&mut body, set.stats.db_bytes as u64);
    put_bytes(&mut body, &blob);
    let mut out = Vec::with_capacity(body.len() + 16);
    out.extend_from_slice(MAGIC);
    put_u64(&mut out, checksum(&body));
    out.extend_from_slice(&body);
    Ok(out)
}

/// The path a set with these patterns is cached at (tests corrupt it on purpose).
#[cfg(test)]
pub(super) fn path_for(dir: &Path, specs: &[Spec]) -> PathBuf {
    Key::new(specs).file_in(dir)
}

/// The file checksum, for tests that forge a file with a valid checksum.
#[cfg(test)]
pub(super) fn tests_checksum(data: &[u8]) -> u64 {
    checksum(data)
}
