//! Response inspection that continues the request's transaction: response rules see TX
//! variables and `ctl` decisions of phases 1–2, a transaction started before a reload
//! finishes on its rules, CRS 4's RESPONSE-95x data-leakage rules block on response bodies,
//! unknown and expired ids are inspected alone and counted, and a flood of requests without
//! responses stays within the store's bound.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use spoa_waf::config::apps::{Applications, Store};
use spoa_waf::config::FileConfig;
use spoa_waf::engine::Engine;
use spoa_waf::server::{Server, ServerConfig};
use spoa_waf::spop::{self, FrameType, MessageSpec, Metadata, TypedData};

use crate::util::*;

fn notify(out: &mut BytesMut, sid: u64, name: &[u8], args: &[(&[u8], TypedData<'_>)]) {
    spop::encode_notify(
        out,
        Metadata {
            stream_id: sid,
            frame_id: 1,
        },
        &[MessageSpec { name, args }],
    );
}

/// Sends one coraza message and returns its ACK's variables.
fn ask(c: &mut SpopClient, name: &[u8], args: &[(&[u8], TypedData<'_>)]) -> Vec<(String, String)> {
    let mut b = BytesMut::new();
    notify(&mut b, 1, name, args);
    c.send(&b);
    let f = c.read_frame().expect("ACK");
    assert_eq!(f.ftype, FrameType::Ack);
    ack_vars(&f.payload)
}

fn get<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn req(c: &mut SpopClient, app: &[u8], id: &[u8], query: &[u8]) -> Vec<(String, String)> {
    ask(
        c,
        b"coraza-req",
        &[
            (b"app", TypedData::String(app)),
            (b"id", TypedData::String(id)),
            (b"method", TypedData::String(b"GET")),
            (b"path", TypedData::String(b"/page")),
            (b"query", TypedData::String(query)),
            (b"version", TypedData::String(b"1.1")),
            (
                b"headers",
                TypedData::String(
                    b"host: r.example\r\nuser-agent: response-test\r\naccept: */*\r\n\r\n",
                ),
            ),
            (b"body", TypedData::Binary(b"")),
        ],
    )
}

fn res(c: &mut SpopClient, app: &[u8], id: &[u8], body: &[u8]) -> Vec<(String, String)> {
    ask(
        c,
        b"coraza-res",
        &[
            (b"app", TypedData::String(app)),
            (b"id", TypedData::String(id)),
            (b"version", TypedData::String(b"1.1")),
            (b"status", TypedData::Int64(200)),
            (
                b"headers",
                TypedData::String(b"content-type: text/html\r\ncontent-length: 10\r\n\r\n"),
            ),
            (b"body", TypedData::Binary(body)),
        ],
    )
}

/// Phase 1 sets `tx.admin`; phase 2 may remove the response rule with `ctl`; phase 3 denies
/// admin responses.
const RULES: &str = "SecRuleEngine On
SecResponseBodyAccess On
SecRule ARGS:user \"@streq admin\" \"id:1,phase:1,pass,nolog,setvar:tx.admin=1\"
SecRule ARGS:quiet \"@streq 1\" \"id:2,phase:2,pass,nolog,ctl:ruleRemoveById=10\"
SecRule TX:admin \"@eq 1\" \"id:10,phase:3,deny,status:403,log,msg:'admin response'\"
";

fn engine(dir: &std::path::Path, name: &str, text: &str) -> Engine {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    Engine::from_file(&p).unwrap()
}

fn one_shard() -> ServerConfig {
    let mut sc = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    sc.shards = 2;
    sc.cpus = None;
    sc
}

#[test]
fn response_rules_see_the_requests_tx_and_ctl_across_connections_and_reloads() {
    let dir = temp_dir("response");
    let store = Arc::new(Store::new(1024));
    let app = |e| {
        Arc::new(
            Applications::single(e, true, Duration::from_millis(400)).with_store(store.clone()),
        )
    };
    let (server, swap) =
        Server::start_swappable(one_shard(), app(engine(&dir, "a.conf", RULES))).unwrap();
    // Requests and responses on different connections, as HAProxy may send them.
    let mut q = SpopClient::connect(server.local_addr());
    q.hello(16380);
    let mut r = SpopClient::connect(server.local_addr());
    r.hello(16380);
    let d = b"default";
    assert_eq!(
        get(&req(&mut q, d, b"r1", b"user=admin"), "action"),
        Some("pass")
    );
    assert_eq!(
        get(&req(&mut q, d, b"r2", b"user=bob"), "action"),
        Some("pass")
    );
    assert_eq!(
        get(&req(&mut q, d, b"r3", b"user=admin&quiet=1"), "action"),
        Some("pass")
    );
    let v = res(&mut r, d, b"r1", b"<p>hi</p>");
    assert_eq!(
        (get(&v, "action"), get(&v, "ruleid")),
        (Some("deny"), Some("10")),
        "{v:?}"
    );
    assert_eq!(
        get(&res(&mut r, d, b"r2", b"<p>hi</p>"), "action"),
        Some("pass")
    );
    assert_eq!(
        get(&res(&mut r, d, b"r3", b"<p>hi</p>"), "action"),
        Some("pass"),
        "ctl:ruleRemoveById of phase 2 holds in phase 3"
    );
    // Taken once: the same id again, and an id never seen, are inspected alone (no TX).
    assert_eq!(get(&res(&mut r, d, b"r1", b"x"), "action"), Some("pass"));
    assert_eq!(get(&res(&mut r, d, b"nope", b"x"), "action"), Some("pass"));
    assert_eq!(store.stats().unknown, 2);
    assert_eq!(store.stats().joined, 3);

    // In flight across a reload: r4 started on rules with id 10, finishes on them; r5 starts
    // on the new rules, which lack it.
    assert_eq!(
        get(&req(&mut q, d, b"r4", b"user=admin"), "action"),
        Some("pass")
    );
    let without_10 = RULES.replace("id:10,phase:3,deny", "id:10,phase:3,pass");
    assert_eq!(
        swap.install(
            app(engine(&dir, "b.conf", &without_10)),
            Duration::from_secs(10)
        ),
        2
    );
    assert_eq!(
        get(&req(&mut q, d, b"r5", b"user=admin"), "action"),
        Some("pass")
    );
    assert_eq!(get(&res(&mut r, d, b"r4", b"x"), "action"), Some("deny"));
    assert_eq!(get(&res(&mut r, d, b"r5", b"x"), "action"), Some("pass"));

    // Expired: kept 400 ms, answered later, inspected alone.
    let mut with_10 = app(engine(&dir, "c.conf", RULES));
    assert_eq!(swap.install(with_10.clone(), Duration::from_secs(10)), 2);
    assert_eq!(
        get(&req(&mut q, d, b"r6", b"user=admin"), "action"),
        Some("pass")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(&res(&mut r, d, b"r6", b"x"), "action"), Some("pass"));
    assert_eq!(store.stats().expired, 1);
    assert!(Arc::get_mut(&mut with_10).is_none());
    let s = server.shutdown();
    assert_eq!(s.counters.errors.iter().sum::<u64>(), 0, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flood_of_requests_without_responses_stays_bounded() {
    let dir = temp_dir("response-flood");
    let store = Arc::new(Store::new(256));
    let apps = Applications::single(engine(&dir, "a.conf", RULES), true, Duration::from_secs(60))
        .with_store(store.clone());
    let server = Server::start(one_shard(), Arc::new(apps)).unwrap();
    let mut c = SpopClient::connect(server.local_addr());
    c.hello(16380);
    let n = 5000u64;
    let ids: Vec<String> = (0..n).map(|i| format!("flood-{i}")).collect();
    for chunk in ids.chunks(100) {
        let mut b = BytesMut::new();
        for (i, id) in chunk.iter().enumerate() {
            let args: [(&[u8], TypedData<'_>); 6] = [
                (b"app", TypedData::String(b"default")),
                (b"id", TypedData::String(id.as_bytes())),
                (b"method", TypedData::String(b"GET")),
                (b"path", TypedData::String(b"/")),
                (b"query", TypedData::String(b"user=admin")),
                (b"version", TypedData::String(b"1.1")),
            ];
            notify(&mut b, i as u64 + 1, b"coraza-req", &args);
        }
        c.send(&b);
        for _ in chunk {
            assert_eq!(c.read_frame().expect("ACK").ftype, FrameType::Ack);
        }
    }
    let st = store.stats();
    assert_eq!(st.kept, n);
    assert!(
        store.len() <= store.capacity(),
        "{} > {}",
        store.len(),
        store.capacity()
    );
    assert_eq!(st.evicted, n - store.len() as u64);
    // The newest are still joinable; the oldest were evicted.
    let mut r = SpopClient::connect(server.local_addr());
    r.hello(16380);
    assert_eq!(
        get(&res(&mut r, b"default", b"flood-4999", b"x"), "action"),
        Some("deny")
    );
    assert_eq!(
        get(&res(&mut r, b"default", b"flood-0", b"x"), "action"),
        Some("pass")
    );
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crs_data_leakage_rules_block_response_bodies() {
    let test = "crs_data_leakage_rules_block_response_bodies";
    let Some(crs) = crate::crs4::crs_or_skip("v4.28.0", test) else {
        return;
    };
    let dir = temp_dir("response-crs");
    let path = dir.join("c.yaml");
    std::fs::write(
        &path,
        "default_application: site\napplications:\n  - name: site\n    directives: |\n      Include @coraza.conf-recommended\n      Include @crs-setup.conf.example\n      Include @owasp_crs/*.conf\n      SecRuleEngine On\n    response_check: true\n    transaction_ttl_ms: 60000\n",
    )
    .unwrap();
    let cfg = FileConfig::load(&path).unwrap();
    let apps = Applications::build(&cfg, &path, &crs).unwrap();
    let store = apps.store().clone();
    let server = Server::start(one_shard(), Arc::new(apps)).unwrap();
    let mut c = SpopClient::connect(server.local_addr());
    c.hello(16380);
    let site = b"site";
    let sql_error = b"<html><body>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</body></html>";
    let php = b"<html><?php echo $secret; ?></html>";
    for (id, body, want) in [
        (
            &b"c1"[..],
            &b"<html><body>welcome</body></html>"[..],
            "pass",
        ),
        (b"c2", sql_error, "deny"),
        (b"c3", php, "deny"),
    ] {
        assert_eq!(
            get(&req(&mut c, site, id, b"q=hello"), "action"),
            Some("pass")
        );
        let v = res(&mut c, site, id, body);
        assert_eq!(
            get(&v, "action"),
            Some(want),
            "{}: {v:?}",
            String::from_utf8_lossy(body)
        );
        if want == "deny" {
            // RESPONSE-959's outbound blocking evaluation, after a 95x leakage rule scored.
            assert_eq!(get(&v, "ruleid"), Some("959100"), "{v:?}");
            assert!(get(&v, "anomaly_score").unwrap_or("0") != "0", "{v:?}");
        }
    }
    assert_eq!(store.stats().joined, 3);
    let s = server.shutdown();
    assert_eq!(s.counters.errors.iter().sum::<u64>(), 0, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}
