//! Loading configurations: what libmodsecurity3 refuses is refused here too, with file:line,
//! and configuration bytes quoted in an error never reach the terminal raw.

use std::process::Command;

use spoa_waf::engine::Engine;

use crate::crs4::crs_or_skip;
use crate::util::*;

/// `spoa-waf test-config` on `rules`: (success, stderr).
fn test_config(rules: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
        .arg("test-config")
        .arg("--rules")
        .arg(rules)
        .output()
        .expect("run spoa-waf test-config");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_duplicated_rule_id_is_refused_with_both_places() {
    let dir = temp_dir("dup-id");
    let inc = dir.join("first.conf");
    std::fs::write(&inc, "SecRule ARGS \"@rx a\" \"id:7,phase:1,pass\"\n").unwrap();
    let main = dir.join("main.conf");
    std::fs::write(
        &main,
        format!(
            "SecRuleEngine On\nInclude {}\n# a comment\nSecAction \"id:7,phase:2,pass\"\n",
            inc.display()
        ),
    )
    .unwrap();
    let err = Engine::from_file(&main).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:4: rule 7: Rule id: 7 is duplicated (first defined at {}:1)",
            main.display(),
            inc.display()
        )
    );
    // A chain's links carry no id of their own: not a duplicate.
    std::fs::write(
        &main,
        "SecRule ARGS \"@rx a\" \"id:8,phase:1,pass,chain\"\nSecRule ARGS \"@rx b\" \"t:none\"\n\
         SecRule ARGS \"@rx c\" \"id:9,phase:1,pass\"\n",
    )
    .unwrap();
    Engine::from_file(&main).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crs_and_default_rules_have_no_duplicated_ids() {
    let crs3 = Engine::from_file(&repo_root().join("rules/spoa-waf.conf"));
    assert!(crs3.is_ok(), "rules/spoa-waf.conf: {}", crs3.unwrap_err());
    let dir = temp_dir("crs-ids");
    let conf = dir.join("crs4.conf");
    let Some(crs) = crs_or_skip("v4.28.0", "crs_and_default_rules_have_no_duplicated_ids") else {
        return;
    };
    std::fs::write(
        &conf,
        format!(
            "Include {}\nInclude {}\nInclude {}\n",
            repo_root().join("rules/modsecurity-base.conf").display(),
            crs.join("crs-setup.conf.example").display(),
            crs.join("rules/*.conf").display()
        ),
    )
    .unwrap();
    let crs4 = Engine::from_file(&conf);
    assert!(crs4.is_ok(), "CRS 4.28: {}", crs4.unwrap_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_garbage_in_a_config_error_is_printed_escaped() {
    let dir = temp_dir("garbage");
    let conf = dir.join("garbage.conf");
    std::fs::write(
        &conf,
        b"SecRuleEngine On\n\x01\x1b[31mEvil\xff\xfe \"x\"\n".as_slice(),
    )
    .unwrap();
    let (ok, err) = test_config(&conf);
    assert!(!ok);
    assert!(
        err.contains(":2: unknown directive \\u{1}\\u{1b}[31mEvil\\u{fffd}\\u{fffd}"),
        "{err:?}"
    );
    assert!(
        !err.bytes().any(|b| b == 0x1b || b == 0x01) && !err.contains('\u{fffd}'),
        "raw bytes in {err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
