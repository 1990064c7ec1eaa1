//! Engine tests: SecLang parsing of every shipped CRS file, and end-to-end verdicts.

use std::path::{Path, PathBuf};

use spoa_waf::seclang;

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
    let mut files = Vec::new();
    for v in ["v3.3.4", "v4.28.0"] {
        let Some(crs) = crate::crs4::crs_or_skip(v, "every_crs_file_parses") else {
            return;
        };
        files.extend(conf_files(&crs.join("rules")));
        files.push(crs.join("crs-setup.conf.example"));
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

mod blocking {
    use std::path::Path;

    use spoa_waf::corpus::CorpusRequest;
    use spoa_waf::engine::Engine;
    use spoa_waf::inspect::{DisruptiveAction, Inspector};

    fn debian_engine() -> Option<Engine> {
        if !Path::new("/usr/share/modsecurity-crs/rules").is_dir() {
            eprintln!("Debian modsecurity-crs is not installed; skipping");
            return None;
        }
        let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/spoa-waf.conf");
        Some(Engine::from_file(&conf).unwrap_or_else(|e| panic!("{e}")))
    }

    fn req(line: &str) -> CorpusRequest {
        CorpusRequest::parse(line, 1).unwrap()
    }

    /// PL1 blocking mode, the project's default configuration (Debian CRS 3.3.4).
    #[test]
    fn etc_passwd_is_denied_with_930120() {
        let Some(engine) = debian_engine() else {
            return;
        };
        let mut scratch = engine.new_scratch();
        let r = req(
            r#"{"name":"lfi","uri":"/?p=/etc/passwd","headers":[["Host","echo.domain"],["User-Agent","curl/8.0"],["Accept","*/*"]]}"#,
        );
        let v = engine.inspect_request(&mut scratch, &r.as_request());
        let d = v.disruption.as_ref().expect("blocked");
        assert_eq!(
            (d.action, d.status, d.phase),
            (DisruptiveAction::Deny, 403, 2)
        );
        assert_eq!(d.rule_id, 949110);
        assert!(
            v.logged_rule_ids.contains(&930120),
            "{:?}",
            v.logged_rule_ids
        );
        assert!(v.anomaly_score >= 5);
        let line = v
            .log_lines
            .iter()
            .find(|l| l.contains("[id \"930120\"]"))
            .unwrap();
        assert!(line.starts_with("ModSecurity: Warning. Matched "), "{line}");
        assert!(line.contains("ARGS:p"), "{line}");
        let deny = v
            .log_lines
            .iter()
            .find(|l| l.contains("[id \"949110\"]"))
            .unwrap();
        assert!(
            deny.starts_with("ModSecurity: Access denied with code 403 (phase 2)."),
            "{deny}"
        );
    }

    #[test]
    fn ordinary_browser_and_api_requests_pass() {
        let Some(engine) = debian_engine() else {
            return;
        };
        let mut scratch = engine.new_scratch();
        let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let cases = [
            format!(r#"{{"name":"home","uri":"/","headers":[["Host","shop.example"],["User-Agent","{ua}"],["Accept","text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],["Accept-Language","en-US,en;q=0.5"],["Accept-Encoding","gzip, deflate, br"],["Connection","keep-alive"],["Cookie","session=abc123; theme=dark"]]}}"#),
            format!(r#"{{"name":"search","uri":"/search?q=red+shoes&page=2&sort=price_asc","headers":[["Host","shop.example"],["User-Agent","{ua}"],["Accept","text/html"],["Referer","https://shop.example/"]]}}"#),
            format!(r#"{{"name":"asset","uri":"/static/app.3f9a1c.js","headers":[["Host","shop.example"],["User-Agent","{ua}"],["Accept","*/*"]]}}"#),
            format!(r#"{{"name":"login","method":"POST","uri":"/login","headers":[["Host","shop.example"],["User-Agent","{ua}"],["Accept","text/html"],["Content-Type","application/x-www-form-urlencoded"],["Content-Length","37"]],"body":"username=alice&password=correct-horse"}}"#),
            r#"{"name":"api-get","uri":"/api/v1/orders/1234?fields=id,total","headers":[["Host","api.example"],["User-Agent","okhttp/4.12.0"],["Accept","application/json"],["Authorization","Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"]]}"#.to_string(),
            r#"{"name":"api-post","method":"POST","uri":"/api/v1/orders","headers":[["Host","api.example"],["User-Agent","python-requests/2.31"],["Accept","application/json"],["Content-Type","application/json"],["Content-Length","52"]],"body":"{\"item\":\"sku-42\",\"qty\":2,\"note\":\"leave at door\"}"}"#.to_string(),
            r#"{"name":"h2","uri":"/healthz","version":"2","headers":[["host","api.example"],["user-agent","kube-probe/1.29"],["accept","*/*"]]}"#.to_string(),
        ];
        for c in &cases {
            let r = req(c);
            let v = engine.inspect_request(&mut scratch, &r.as_request());
            assert!(
                v.disruption.is_none() && v.logged_rule_ids.is_empty(),
                "{}: {:?} {:?}",
                r.name,
                v.disruption,
                v.log_lines
            );
        }
    }

    /// DetectionOnly logs the deny but never disrupts.
    #[test]
    fn detection_only_never_disrupts() {
        let dir = std::env::temp_dir().join(format!("spoa-waf-do-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("t.conf");
        std::fs::write(
            &conf,
            "SecRuleEngine DetectionOnly\n\
             SecRule ARGS \"@contains evil\" \"id:10,phase:1,deny,status:403,msg:'evil arg'\"\n",
        )
        .unwrap();
        let engine = Engine::from_file(&conf).unwrap();
        let mut scratch = engine.new_scratch();
        let r = req(r#"{"name":"x","uri":"/?a=evil"}"#);
        let v = engine.inspect_request(&mut scratch, &r.as_request());
        assert!(v.disruption.is_none());
        assert_eq!(v.logged_rule_ids, vec![10]);
        assert!(v.log_lines[0].starts_with("ModSecurity: Warning."));
        std::fs::remove_dir_all(&dir).ok();
    }
}

mod semantics {
    use std::path::Path;

    use spoa_waf::corpus::CorpusRequest;
    use spoa_waf::engine::Engine;
    use spoa_waf::inspect::{Inspector, Verdict};

    fn run(engine: &Engine, uri: &str) -> Verdict {
        let line = format!(r#"{{"name":"t","uri":{uri:?},"headers":[["Host","h"]]}}"#);
        let r = CorpusRequest::parse(&line, 1).unwrap();
        let mut scratch = engine.new_scratch();
        engine.inspect_request(&mut scratch, &r.as_request())
    }

    fn engine() -> Engine {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules/semantics.conf");
        Engine::from_file(&p).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn seclang_semantics() {
        let e = engine();
        // (query, ids that must log, ids that must not)
        let cases: &[(&str, &[u32], &[u32])] = &[
            ("/?a=attack1&b=attack2", &[101], &[]),
            ("/?a=attack1", &[], &[101]),
            ("/?upper=ATTACK", &[110], &[111]),
            ("/?pair=ab%3Dab", &[120], &[]),
            ("/?pair=ab%3Dcd", &[], &[120]),
            ("/?skip=yes", &[132], &[131]),
            ("/?skip=no", &[131, 132], &[]),
            ("/?rm=ids", &[], &[141]),
            ("/?rm=target&other=target", &[144], &[]),
            ("/?rm=target", &[], &[144]),
            ("/?safe=evil", &[], &[150]),
            ("/?x=evil", &[150], &[]),
            ("/?a=1&b=2&c=3&d=4&e=5", &[151], &[]),
            ("/?a=1&b=2", &[], &[151]),
            ("/?upd=x", &[], &[170]),
            ("/?mm=A", &[180], &[]),
        ];
        for (uri, want, never) in cases {
            let v = run(&e, uri);
            for id in *want {
                assert!(
                    v.logged_rule_ids.contains(id),
                    "{uri}: {id} missing from {:?}",
                    v.logged_rule_ids
                );
            }
            for id in *never {
                assert!(
                    !v.logged_rule_ids.contains(id),
                    "{uri}: {id} in {:?}",
                    v.logged_rule_ids
                );
            }
        }
        let v = run(&e, "/?blockme=1");
        let d = v.disruption.expect("block → default deny");
        assert_eq!((d.status, d.rule_id, d.phase), (418, 160, 2));
    }

    #[test]
    fn errors_name_file_line_and_rule() {
        let dir = std::env::temp_dir().join(format!("spoa-waf-err-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("bad.conf");
        std::fs::write(
            &conf,
            "SecRuleEngine On\n\nSecRule ARGS \"@rx (\" \"id:9,pass\"\n",
        )
        .unwrap();
        let e = Engine::from_file(&conf).unwrap_err().to_string();
        assert!(e.contains("bad.conf:3: rule 9:"), "{e}");
        std::fs::write(&conf, "SecRule ARGS \"@rx a\" \"id:9,frobnicate\"\n").unwrap();
        let e = Engine::from_file(&conf).unwrap_err().to_string();
        assert!(e.contains("bad.conf:1") && e.contains("frobnicate"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// Random request bytes through the full default configuration: never a panic.
#[test]
fn random_requests_never_panic() {
    use spoa_waf::engine::Engine;
    use spoa_waf::inspect::{HeaderBlock, HttpRequest, Inspector};
    if !Path::new("/usr/share/modsecurity-crs/rules").is_dir() {
        return;
    }
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/spoa-waf.conf");
    let engine = Engine::from_file(&conf).unwrap_or_else(|e| panic!("{e}"));
    let mut scratch = engine.new_scratch();
    let alphabet: &[u8] = b"%=&;?/\\.'\"<>{}[]:,-+ \r\n\x00\xff\xc3aZ09";
    let cts: &[&str] = &[
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=XyZ",
        "application/json",
        "application/xml",
        "text/plain",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    for _ in 0..300 {
        let mut rnd = |max: usize| -> Vec<u8> {
            let len = next(max);
            (0..len).map(|_| alphabet[next(alphabet.len())]).collect()
        };
        let path = rnd(40);
        let query = rnd(60);
        let body = rnd(200);
        let hname = rnd(10);
        let hval = rnd(30);
        let ct = cts[(body.len() + query.len()) % cts.len()];
        let mut hdrs = Vec::new();
        for (n, v) in [
            (b"host".as_slice(), b"h".as_slice()),
            (b"content-type", ct.as_bytes()),
            (b"cookie", hval.as_slice()),
            (hname.as_slice(), hval.as_slice()),
        ] {
            spoa_waf::spop::varint::encode(n.len() as u64, &mut hdrs);
            hdrs.extend_from_slice(n);
            spoa_waf::spop::varint::encode(v.len() as u64, &mut hdrs);
            hdrs.extend_from_slice(v);
        }
        hdrs.extend_from_slice(&[0, 0]);
        let req = HttpRequest {
            unique_id: None,
            method: b"POST",
            path: &path,
            query: Some(&query),
            version: b"1.1",
            headers: HeaderBlock::Binary(&hdrs),
            body: &body,
            body_size: None,
            client: None,
            server: None,
        };
        let _ = engine.inspect_request(&mut scratch, &req);
    }
}

/// `inspect_response` (coraza-res) sees CRS's phase-1 settings: a plain page passes, a PHP
/// source leak is logged (953100-series) and, above the outbound threshold, denied.
#[test]
fn responses_are_inspected_with_crs_settings() {
    use spoa_waf::engine::Engine;
    use spoa_waf::inspect::{HeaderBlock, HttpResponse, Inspector};
    if !Path::new("/usr/share/modsecurity-crs/rules").is_dir() {
        return;
    }
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/spoa-waf.conf");
    let engine = Engine::from_file(&conf).unwrap_or_else(|e| panic!("{e}"));
    let mut scratch = engine.new_scratch();
    let hdrs = spoa_waf::corpus::encode_hdrs_bin(&[("Content-Type".into(), "text/html".into())]);
    let res = |body: &'static [u8]| HttpResponse {
        unique_id: Some(b"r1"),
        status: 200,
        version: b"1.1",
        headers: HeaderBlock::Binary(&hdrs),
        body,
    };
    let ok = engine.inspect_response(
        &mut scratch,
        &res(b"<html><body>Hello, shoppers!</body></html>"),
    );
    assert!(
        ok.logged_rule_ids.is_empty() && ok.disruption.is_none(),
        "{:?}",
        ok.log_lines
    );
    let leak = engine.inspect_response(&mut scratch, &res(b"<?php echo $secret; ?>"));
    assert!(
        leak.logged_rule_ids
            .iter()
            .any(|id| (953000..954000).contains(id)),
        "{:?}",
        leak.logged_rule_ids
    );
}
