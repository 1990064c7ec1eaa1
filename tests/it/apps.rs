//! Applications: coraza-spoa v0.7 YAML read unchanged, `app` selects the rule set, unknown
//! names and `check-request` use the default, equal directives share one compilation, and the
//! embedded-CRS names (`@coraza.conf-recommended`, `@crs-setup.conf.example`, `@owasp_crs/`)
//! resolve to CRS 4.28; live through Debian's HAProxy with `app=hdr(host)`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use spoa_waf::config::apps::Applications;
use spoa_waf::config::FileConfig;
use spoa_waf::server::{Server, ServerConfig};
use spoa_waf::spop::{self, MessageSpec, Metadata, TypedData};

use crate::haproxy::{haproxy_available, Haproxy, Mode};
use crate::util::*;

/// CRS 4.28 (shared or fetched), or `None` after printing why `test` skips.
fn crs_dir(test: &str) -> Option<std::path::PathBuf> {
    crate::crs4::crs_or_skip("v4.28.0", test)
}

/// A coraza-spoa v0.7 file as its users write it: CRS through the embedded names for two
/// hosts (equal directives), a one-rule application for a third; the default is `strict`.
fn yaml(bind: &str) -> String {
    format!(
        r#"bind: {bind}
log_level: info
log_file: /dev/stdout
log_format: console
default_application: strict
applications:
  - name: strict
    directives: |
      Include @coraza.conf-recommended
      Include @crs-setup.conf.example
      Include @owasp_crs/*.conf
      SecRuleEngine On
    response_check: false
    transaction_ttl_ms: 60000
    log_level: info
  - name: strict.example
    directives: |
      Include @coraza.conf-recommended
      Include @crs-setup.conf.example
      Include @owasp_crs/*.conf
      SecRuleEngine On
    transaction_ttl_ms: 60000
  - name: lenient.example
    directives: |
      Include @coraza.conf-recommended
      SecRuleEngine On
      SecRule ARGS "@contains forbidden" "id:10,phase:2,deny,status:403,log,msg:'lenient'"
"#
    )
}

fn coraza_req(out: &mut BytesMut, sid: u64, app: Option<&[u8]>, query: &[u8]) {
    let mut args: Vec<(&[u8], TypedData<'_>)> = vec![
        (b"id", TypedData::String(b"x")),
        (b"method", TypedData::String(b"GET")),
        (b"path", TypedData::String(b"/")),
        (b"query", TypedData::String(query)),
        (b"version", TypedData::String(b"1.1")),
        (
            b"headers",
            TypedData::String(b"host: t.example\r\nuser-agent: apps-test\r\naccept: */*\r\n\r\n"),
        ),
        (b"body", TypedData::Binary(b"")),
    ];
    if let Some(a) = app {
        args.insert(0, (b"app", TypedData::String(a)));
    }
    spop::encode_notify(
        out,
        Metadata {
            stream_id: sid,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"coraza-req",
            args: &args,
        }],
    );
}

fn check_request(out: &mut BytesMut, sid: u64, query: &[u8]) {
    let args: [(&[u8], TypedData<'_>); 8] = [
        (b"", TypedData::Null),
        (b"", TypedData::String(b"GET")),
        (b"", TypedData::String(b"/")),
        (b"", TypedData::String(query)),
        (b"", TypedData::String(b"1.1")),
        (
            b"",
            TypedData::Binary(
                b"\x04host\x09t.example\x0auser-agent\x09apps-test\x06accept\x03*/*\x00\x00",
            ),
        ),
        (b"", TypedData::Int64(0)),
        (b"", TypedData::Null),
    ];
    spop::encode_notify(
        out,
        Metadata {
            stream_id: sid,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
    );
}

/// The `action` (coraza) or `code` (classic) variable of one ACK.
fn verdict_of(c: &mut SpopClient, frame: BytesMut, var: &str) -> String {
    c.send(&frame);
    let f = c.read_frame().expect("ACK");
    ack_vars(&f.payload)
        .into_iter()
        .find(|(n, _)| n == var)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {var} in {:?}", ack_vars(&f.payload)))
}

#[test]
fn apps_select_rule_sets_and_share_equal_compilations() {
    let Some(crs) = crs_dir("apps_select_rule_sets_and_share_equal_compilations") else {
        return;
    };
    let dir = temp_dir("apps");
    let path = dir.join("coraza-spoa.yaml");
    std::fs::write(&path, yaml("127.0.0.1:0")).unwrap();
    let cfg = FileConfig::load(&path).unwrap();
    let apps = Applications::build(&cfg, &path, &crs.clone()).unwrap();
    assert_eq!(apps.apps().len(), 3);
    assert_eq!(
        apps.compilations(),
        2,
        "equal directives share one compilation"
    );
    assert_eq!(apps.default_app().name, "strict");
    let mut sc = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    sc.shards = 1;
    sc.cpus = None;
    let server = Server::start(sc, Arc::new(apps)).unwrap();
    let mut c = SpopClient::connect(server.local_addr());
    c.hello(16380);
    let req = |sid, app: Option<&[u8]>, q: &[u8]| {
        let mut b = BytesMut::new();
        coraza_req(&mut b, sid, app, q);
        b
    };
    let lfi = b"p=/etc/passwd";
    let word = b"q=forbidden";
    // CRS for the two strict names, the one rule for lenient.
    assert_eq!(
        verdict_of(&mut c, req(1, Some(b"strict.example"), lfi), "action"),
        "deny"
    );
    assert_eq!(
        verdict_of(&mut c, req(3, Some(b"strict.example"), word), "action"),
        "pass"
    );
    assert_eq!(
        verdict_of(&mut c, req(5, Some(b"lenient.example"), lfi), "action"),
        "pass"
    );
    assert_eq!(
        verdict_of(&mut c, req(7, Some(b"lenient.example"), word), "action"),
        "deny"
    );
    // Unknown and missing names fall back to the default (CRS).
    assert_eq!(
        verdict_of(&mut c, req(9, Some(b"nobody.example"), lfi), "action"),
        "deny"
    );
    assert_eq!(verdict_of(&mut c, req(11, None, lfi), "action"), "deny");
    // check-request uses the default.
    let mut b = BytesMut::new();
    check_request(&mut b, 13, lfi);
    assert_eq!(verdict_of(&mut c, b, "code"), "403");
    let mut b = BytesMut::new();
    check_request(&mut b, 15, word);
    assert_eq!(verdict_of(&mut c, b, "code"), "0");
    let s = server.shutdown();
    assert_eq!(s.counters.errors.iter().sum::<u64>(), 0, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_application_names_the_yaml_line() {
    let Some(crs) = crs_dir("a_broken_application_names_the_yaml_line") else {
        return;
    };
    let dir = temp_dir("apps-broken");
    let path = dir.join("c.yaml");
    let text = yaml("127.0.0.1:0").replace("msg:'lenient'", "msg:'lenient',no-such-action");
    std::fs::write(&path, &text).unwrap();
    let cfg = FileConfig::load(&path).unwrap();
    let err = Applications::build(&cfg, &path, &crs.clone()).unwrap_err();
    let line = text
        .lines()
        .position(|l| l.contains("no-such-action"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("c.yaml:{line}")) && err.contains("lenient.example"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// GET with a chosen Host header; the status code.
fn get_host(addr: SocketAddr, host: &str, target: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: apps-test\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {resp:?}"))
}

/// Starts the binary with `args`, collecting its log; returns once it logs "listening on".
pub fn start_binary(args: &[&std::ffi::OsStr]) -> (KillOnDrop, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start spoa-waf");
    let stderr = child.stderr.take().unwrap();
    let child = KillOnDrop(child);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let up = poll_until(Duration::from_secs(90), || {
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("listening on"))
            .then_some(())
    });
    assert!(
        up.is_some(),
        "agent did not start: {:?}",
        log.lock().unwrap()
    );
    (child, log)
}

#[test]
fn haproxy_selects_applications_by_host_header() {
    let Some(crs) = crs_dir("haproxy_selects_applications_by_host_header") else {
        return;
    };
    assert!(
        haproxy_available(),
        "/usr/sbin/haproxy missing: run tests/setup-debian.sh"
    );
    let dir = temp_dir("apps-live");
    let port = free_port();
    let path = dir.join("coraza-spoa.yaml");
    std::fs::write(&path, yaml(&format!("127.0.0.1:{port}"))).unwrap();
    let (_agent, log) = start_binary(&[
        "serve".as_ref(),
        "--config".as_ref(),
        path.as_os_str(),
        "--crs-dir".as_ref(),
        crs.clone().as_os_str(),
        "--shards".as_ref(),
        "1".as_ref(),
    ]);
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("3 application(s), 2 compilation(s)")),
        "{:?}",
        log.lock().unwrap()
    );
    let h = Haproxy::start(Mode::Coraza, ([127, 0, 0, 1], port).into());
    let lfi = "/?p=/etc/passwd";
    let word = "/?q=forbidden";
    assert_eq!(
        get_host(h.http, "strict.example", "/?q=hello"),
        200,
        "{:?}",
        h.log()
    );
    assert_eq!(get_host(h.http, "strict.example", lfi), 403);
    assert_eq!(get_host(h.http, "strict.example", word), 200);
    assert_eq!(get_host(h.http, "lenient.example", lfi), 200);
    assert_eq!(get_host(h.http, "lenient.example", word), 403);
    assert_eq!(
        get_host(h.http, "unknown.example", lfi),
        403,
        "default application"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn test_config_checks_a_yaml_file_before_a_reload() {
    let Some(crs) = crs_dir("test_config_checks_a_yaml_file_before_a_reload") else {
        return;
    };
    let dir = temp_dir("apps-test-config");
    let path = dir.join("c.yaml");
    let run = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
            .args(["test-config", "--config"])
            .arg(&path)
            .arg("--crs-dir")
            .arg(crs.clone())
            .output()
            .unwrap()
    };
    let good = run(&yaml("127.0.0.1:0"));
    let err = String::from_utf8_lossy(&good.stderr);
    assert!(good.status.success(), "{err}");
    assert!(err.contains("3 application(s), 2 compilation(s)"), "{err}");
    let text = yaml("127.0.0.1:0").replace("msg:'lenient'", "msg:'lenient',no-such-action");
    let bad = run(&text);
    let line = text
        .lines()
        .position(|l| l.contains("no-such-action"))
        .unwrap()
        + 1;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains(&format!("c.yaml:{line}")),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
