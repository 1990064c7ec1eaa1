//! Where the shared CRS data is, and the CRS 4.28 PL1 engine of the performance baseline
//! (`perf/baseline/crs4.conf.in`: base settings, the baseline overrides, the CRS setup and
//! rules). Used by the `it` tests and by the allocation test, its own binary, which includes
//! this file by path.

use std::path::{Path, PathBuf};

use spoa_waf::engine::Engine;

/// `…/shared`, found by walking up from the crate root (works from worktrees too).
pub fn shared_dir() -> PathBuf {
    let mut d = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = d.join("shared");
        if c.join("crs").is_dir() {
            return c;
        }
        if !d.pop() {
            panic!(
                "no shared/crs directory above {}",
                env!("CARGO_MANIFEST_DIR")
            );
        }
    }
}

/// The CRS 4.28 PL1 engine; `tag` names the temporary configuration file.
pub fn crs4_engine(tag: &str) -> Engine {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crs = shared_dir().join("crs").join("v4.28.0");
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
    engine
}
