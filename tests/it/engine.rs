//! Engine tests: SecLang parsing of every shipped CRS file, and end-to-end verdicts.

use std::path::{Path, PathBuf};

use spoa_waf::seclang;

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

fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_crs_file_parses() {
    let shared = shared_dir();
    let mut files = Vec::new();
    for v in ["v3.3.4", "v4.28.0"] {
        files.extend(conf_files(&shared.join("crs").join(v).join("rules")));
        files.push(shared.join("crs").join(v).join("crs-setup.conf.example"));
    }
    let debian = Path::new("/usr/share/modsecurity-crs/rules");
    if debian.is_dir() {
        files.extend(conf_files(debian));
        files.push(PathBuf::from("/etc/modsecurity/crs/crs-setup.conf"));
    }
    let mut rules = 0;
    for f in &files {
        let cfg = seclang::parse_file(f).unwrap_or_else(|e| panic!("{e}"));
        rules += cfg
            .directives
            .iter()
            .filter(|d| matches!(d, seclang::Directive::Rule(_)))
            .count();
    }
    assert!(files.len() > 60, "{} files", files.len());
    assert!(rules > 2000, "{rules} rules");
}
