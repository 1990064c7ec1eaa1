//! `--watch`: reload when a watched file or directory changes.
//!
//! Owns the polling watcher thread. A path is fingerprinted by what a reload would read: for a
//! file, the metadata of its target (following symlinks: device, inode, size, mtime); for a
//! directory, the sorted names of its entries with the same metadata of each entry's target.
//! Kubernetes updates a ConfigMap volume by pointing its `..data` symlink at a new directory:
//! the names stay, the targets' inodes change, so watching the directory catches the swap
//! that watching a file's inode would miss. A change is acted on once it has been stable for
//! one interval (an editor writing in several steps triggers one reload).
//!
//! Why polling and not inotify: no new dependency, no `unsafe`, symlink swaps and replaced
//! directories need no re-arming, and one `stat` per entry per second costs nothing next to a
//! shard. Refuses: recursion into subdirectories (CRS's own tree is not a config volume).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ReloadHandle, Trigger};
use crate::server::log::{log, Level};

/// Default polling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The state of one watched path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Print {
    Missing,
    File(Meta),
    Dir(Vec<(std::ffi::OsString, Option<Meta>)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_ns: i64,
}

fn meta(p: &Path) -> Option<Meta> {
    let m = std::fs::metadata(p).ok()?;
    Some(Meta {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: m.mtime(),
        mtime_ns: m.mtime_nsec(),
    })
}

fn print(p: &Path) -> Print {
    match std::fs::metadata(p) {
        Err(_) => Print::Missing,
        Ok(m) if m.is_dir() => {
            let mut entries: Vec<_> = std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| (e.file_name(), meta(&e.path())))
                        .collect()
                })
                .unwrap_or_default();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Print::Dir(entries)
        }
        Ok(_) => Print::File(meta(p).unwrap_or(Meta {
            dev: 0,
            ino: 0,
            len: 0,
            mtime: 0,
            mtime_ns: 0,
        })),
    }
}

/// Fingerprints of a set of paths, compared between polls.
#[derive(Debug)]
pub struct Watched {
    paths: Vec<PathBuf>,
    last: Vec<Print>,
}

impl Watched {
    /// Starts watching `paths` (their state now is the baseline).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let last = paths.iter().map(|p| print(p)).collect();
        Watched { paths, last }
    }

    /// Whether anything changed since the last call (or since [`Watched::new`]).
    pub fn changed(&mut self) -> bool {
        let now: Vec<Print> = self.paths.iter().map(|p| print(p)).collect();
        let changed = now != self.last;
        self.last = now;
        changed
    }
}

/// Starts the watcher thread: polls `paths` every `interval` and triggers a reload once a
/// change has been stable for one interval.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(paths: Vec<PathBuf>, interval: Duration, handle: ReloadHandle) -> std::io::Result<()> {
    for p in &paths {
        log!(Level::Info, "watching {} for changes", p.display());
    }
    let mut w = Watched::new(paths);
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            let mut pending = false;
            loop {
                std::thread::sleep(interval);
                if w.changed() {
                    pending = true;
                } else if pending {
                    pending = false;
                    handle.trigger(Trigger::Watch);
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Watched;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "spoa-waf-watch-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_configmap_symlink_swap_is_a_change_of_the_directory() {
        // The kubelet's layout: rules.conf -> ..data/rules.conf, ..data -> ..2026_v1.
        let d = tmp("cm");
        std::fs::create_dir(d.join("..v1")).unwrap();
        std::fs::write(d.join("..v1/rules.conf"), "SecRuleEngine On\n").unwrap();
        symlink("..v1", d.join("..data")).unwrap();
        symlink("..data/rules.conf", d.join("rules.conf")).unwrap();
        let mut w = Watched::new(vec![d.clone()]);
        assert!(!w.changed());
        // Same size, same names: only the target's inode differs.
        std::fs::create_dir(d.join("..v2")).unwrap();
        std::fs::write(d.join("..v2/rules.conf"), "SecRuleEngine Of\n").unwrap();
        symlink("..v2", d.join("..tmp")).unwrap();
        std::fs::rename(d.join("..tmp"), d.join("..data")).unwrap();
        std::fs::remove_dir_all(d.join("..v1")).unwrap();
        assert!(w.changed());
        assert!(!w.changed());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn file_rewrites_and_removal_are_changes() {
        let d = tmp("file");
        let f = d.join("a.conf");
        std::fs::write(&f, "x").unwrap();
        let mut w = Watched::new(vec![f.clone()]);
        assert!(!w.changed());
        std::fs::write(&f, "xy").unwrap();
        assert!(w.changed());
        std::fs::remove_file(&f).unwrap();
        assert!(w.changed());
        assert!(!w.changed());
        let _ = std::fs::remove_dir_all(&d);
    }
}
