//! Where the CRS releases are (shared beside the checkout, or fetched), and the CRS 4.28 PL1 engine of the performance baseline
//! (`perf/baseline/crs4.conf.in`: base settings, the baseline overrides, the CRS setup and
//! rules). Used by the `it` tests and by the allocation test, its own binary, which includes
//! this file by path.

use std::path::{Path, PathBuf};

use spoa_waf::engine::Engine;

/// The CRS release `version` (`v3.3.4`, `v4.28.0`): `shared/crs/<version>` beside or above the
/// checkout, else `target/crs/<version>`, fetched once from the release's official archive and
/// checked against its pinned SHA-256 by `tests/crs/fetch.sh`. `Err` says why it is missing.
pub fn crs_dir(version: &str) -> Result<PathBuf, String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    // One fetch per version and process; the script serialises processes with a lock.
    static SEEN: Mutex<Option<HashMap<String, Result<PathBuf, String>>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashMap::new);
    if let Some(r) = seen.get(version) {
        return r.clone();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crs/fetch.sh");
    let r = match std::process::Command::new(&script).arg(version).output() {
        Ok(o) if o.status.success() => Ok(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(format!("{}: {e}", script.display())),
    };
    seen.insert(version.to_string(), r.clone());
    r
}

/// [`crs_dir`], or `None` after printing why `test` skips.
pub fn crs_or_skip(version: &str, test: &str) -> Option<PathBuf> {
    match crs_dir(version) {
        Ok(d) => Some(d),
        Err(why) => {
            // Straight to stderr: the test harness captures eprintln! of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: CRS {version} unavailable: {why}"
            );
            None
        }
    }
}

/// The CRS 4.28 PL1 engine; `tag` names the temporary configuration file and the test that
/// skips (with the reason printed) when CRS 4.28 cannot be had.
pub fn crs4_engine(tag: &str) -> Option<Engine> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crs = crs_or_skip("v4.28.0", tag)?;
    let conf = std::env::temp_dir().join(format!("spoa-waf-{tag}-{}.conf", std::process::id()));
    let text = format!(
        "Include {}\nInclude {}\nInclude {}\nInclude {}\n",
        repo.join("rules/modsecurity-base.conf").display(),
        repo.join("perf/baseline/overrides.conf").display(),
        crs.join("crs-setup.conf.example").display(),
        crs.join("rules/*.conf").display()
    );
    std::fs::write(&conf, text).unwrap();
    let engine = Engine::from_file(&conf).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&conf);
    Some(engine)
}

/// `shared/tools/<name>` beside or above the checkout (the reference tools of this workplace),
/// or `None` after printing why `test` skips: a fresh clone has no such directory.
#[allow(dead_code)] // the alloc binary includes this file and needs no tools
pub fn shared_tool_or_skip(name: &str, test: &str) -> Option<PathBuf> {
    let mut d = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = d.join("shared/tools").join(name);
        if c.is_dir() {
            return Some(c);
        }
        if !d.pop() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: no shared/tools/{name} beside or above the checkout"
            );
            return None;
        }
    }
}
