//! The three homes of the agent, tested with their real tools: the systemd unit
//! (`systemd-analyze verify` and `security --offline=yes`, and the real binary under the unit's
//! system-call filter), the Kubernetes seccomp profile (loaded for real around the binary, with
//! and without its io_uring additions), the Debian package (built with `cargo deb`, installed
//! with apt where root), and `$NOTIFY_SOCKET` readiness. Each test that needs a tool this
//! machine lacks says so and returns.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use spoa_waf::spop::{self, FrameType, MessageSpec, Metadata, TypedData};

use crate::util::*;

const PYTHON: &str = "/usr/bin/python3";

/// Straight to stderr: the test harness captures eprintln! of passing tests.
fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn python_seccomp() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import seccomp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn unit_text() -> String {
    std::fs::read_to_string(repo_root().join("systemd/spoa-waf.service")).unwrap()
}

/// The values of `key=` in the unit, in order.
fn unit_values(key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit_text()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

/// The unit with its binary paths pointed at the binary under test (verify checks they exist).
fn unit_for_this_build(dir: &Path) -> PathBuf {
    let path = dir.join("spoa-waf.service");
    let text = unit_text().replace("/usr/bin/spoa-waf", env!("CARGO_BIN_EXE_spoa-waf"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn systemd_unit_verifies_clean() {
    if !has("systemd-analyze") {
        return skip("systemd_unit_verifies_clean", "systemd-analyze absent");
    }
    let dir = temp_dir("unit-verify");
    let unit = unit_for_this_build(&dir);
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn systemd_unit_exposure_is_at_most_2() {
    if !has("systemd-analyze") {
        return skip(
            "systemd_unit_exposure_is_at_most_2",
            "systemd-analyze absent",
        );
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(repo_root().join("systemd/spoa-waf.service"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            let rest = l
                .split("Overall exposure level for spoa-waf.service:")
                .nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no exposure level in {text}"));
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{text}");
    for key in [
        "Type",
        "NotifyAccess",
        "ExecReload",
        "ProtectProc",
        "DynamicUser",
    ] {
        assert!(!unit_values(key).is_empty(), "{key}= missing");
    }
    assert_eq!(unit_values("Type"), ["notify"]);
    assert_eq!(unit_values("CapabilityBoundingSet"), [""]);
}

/// A child agent whose stderr is collected; killed on drop.
struct Agent {
    _child: KillOnDrop,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

/// Spawns `cmd` (which ends in `serve … --listen 127.0.0.1:PORT`) and waits for "listening on".
fn spawn_agent(mut cmd: Command, port: u16) -> Result<Agent, (Option<i32>, Vec<String>)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn agent");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let up = poll_until(Duration::from_secs(120), || {
        if log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("listening on"))
        {
            return Some(true);
        }
        child.try_wait().ok().flatten().map(|_| false)
    });
    if up != Some(true) {
        let status = child.wait().ok().and_then(|s| s.code());
        let _ = reader.join();
        let lines = log.lock().unwrap().clone();
        return Err((status, lines));
    }
    Ok(Agent {
        _child: KillOnDrop(child),
        addr: ([127, 0, 0, 1], port).into(),
        log,
    })
}

fn serve_args(cmd: &mut Command, bin: &str, rules: &Path, port: u16) {
    cmd.arg(bin)
        .args(["serve", "--shards", "1", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--rules")
        .arg(rules);
}

/// One classic `check-request` NOTIFY; returns `txn.modsec.code` from the ACK.
fn check_request_code(addr: SocketAddr, query: &[u8]) -> i64 {
    let mut c = SpopClient::connect(addr);
    c.hello(16380);
    let args: [(&[u8], TypedData<'_>); 8] = [
        (b"", TypedData::Null),
        (b"", TypedData::String(b"GET")),
        (b"", TypedData::String(b"/")),
        (b"", TypedData::String(query)),
        (b"", TypedData::String(b"1.1")),
        (b"", TypedData::Binary(b"\x04host\x0bexample.com\x00\x00")),
        (b"", TypedData::Int64(0)),
        (b"", TypedData::Null),
    ];
    let mut b = BytesMut::new();
    spop::encode_notify(
        &mut b,
        Metadata {
            stream_id: 1,
            frame_id: 1,
        },
        &[MessageSpec {
            name: b"check-request",
            args: &args,
        }],
    );
    c.send(&b);
    let ack = c.read_frame().expect("ACK");
    assert_eq!(ack.ftype, FrameType::Ack, "{ack:?}");
    let vars = ack_vars(&ack.payload);
    let code = vars
        .iter()
        .find(|(n, _)| n == "code")
        .unwrap_or_else(|| panic!("no code in {vars:?}"));
    code.1.parse().unwrap()
}

/// The agent answers a benign NOTIFY with 0 and the seed LFI request with 403.
fn assert_serves(agent: &Agent) {
    assert_eq!(check_request_code(agent.addr, b"q=hello"), 0);
    assert_eq!(
        check_request_code(agent.addr, b"p=/etc/passwd"),
        403,
        "{:?}",
        agent.log.lock().unwrap()
    );
}

fn seccomp_exec() -> String {
    repo_root()
        .join("tests/deploy/seccomp-exec.py")
        .display()
        .to_string()
}

/// The unit's `SystemCallFilter=` lines as one systemd filter spec.
fn unit_syscall_filter() -> String {
    unit_values("SystemCallFilter").join(" ")
}

#[test]
fn agent_under_the_units_syscall_filter_serves_crs() {
    let name = "agent_under_the_units_syscall_filter_serves_crs";
    if !has("systemd-analyze") {
        return skip(
            name,
            "systemd-analyze absent (it expands the @system-service group)",
        );
    }
    if !python_seccomp() {
        return skip(name, "python3-seccomp missing: run tests/setup-debian.sh");
    }
    let filter = unit_syscall_filter();
    assert!(filter.contains("@system-service"), "{filter}");
    let errno = unit_values("SystemCallErrorNumber");
    let port = free_port();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(seccomp_exec()).args(["--systemd", &filter]);
    if let Some(e) = errno.first() {
        cmd.args(["--errno", e]);
    }
    if unit_values("MemoryDenyWriteExecute") == ["yes"] {
        cmd.arg("--mdwe");
    }
    cmd.arg("--");
    // Debian's CRS, as the unit runs it (PCRE2 JIT is refused under MemoryDenyWriteExecute=
    // and PCRE2 interprets: the verdicts are the same).
    serve_args(
        &mut cmd,
        env!("CARGO_BIN_EXE_spoa-waf"),
        &repo_root().join("rules/spoa-waf.conf"),
        port,
    );
    let agent = spawn_agent(cmd, port)
        .unwrap_or_else(|(s, log)| panic!("agent exited {s:?} under {filter}: {log:?}"));
    assert_serves(&agent);
}

fn profile() -> PathBuf {
    repo_root().join("deploy/kubernetes/seccomp/spoa-waf.json")
}

#[test]
fn agent_under_the_kubernetes_seccomp_profile_serves_notify() {
    let name = "agent_under_the_kubernetes_seccomp_profile_serves_notify";
    if !python_seccomp() {
        return skip(name, "python3-seccomp missing: run tests/setup-debian.sh");
    }
    let port = free_port();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(seccomp_exec())
        .arg("--oci")
        .arg(profile())
        .arg("--");
    serve_args(
        &mut cmd,
        env!("CARGO_BIN_EXE_spoa-waf"),
        &repo_root().join("tests/data/rules/seed.conf"),
        port,
    );
    let agent = spawn_agent(cmd, port)
        .unwrap_or_else(|(s, log)| panic!("agent exited {s:?} under the profile: {log:?}"));
    assert_serves(&agent);
}

#[test]
fn without_the_io_uring_additions_the_agent_names_cause_and_fix() {
    let name = "without_the_io_uring_additions_the_agent_names_cause_and_fix";
    if !python_seccomp() {
        return skip(name, "python3-seccomp missing: run tests/setup-debian.sh");
    }
    let port = free_port();
    let mut cmd = Command::new(PYTHON);
    cmd.arg(seccomp_exec()).arg("--oci").arg(profile());
    for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        cmd.args(["--drop", call]);
    }
    cmd.arg("--");
    serve_args(
        &mut cmd,
        env!("CARGO_BIN_EXE_spoa-waf"),
        &repo_root().join("tests/data/rules/seed.conf"),
        port,
    );
    let Err((status, log)) = spawn_agent(cmd, port) else {
        panic!("the agent started without io_uring in its seccomp profile");
    };
    assert_eq!(status, Some(1), "{log:?}");
    let text = log.join("\n");
    assert!(!text.contains("panicked"), "{text}");
    for needle in [
        "io_uring_setup failed",
        "seccomp",
        "Localhost",
        "deploy/kubernetes/seccomp/spoa-waf.json",
        "never Unconfined",
    ] {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
}

#[test]
fn the_real_binary_notifies_ready_once_it_listens() {
    let dir = temp_dir("notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spoa-waf"));
    cmd.env("NOTIFY_SOCKET", &sock_path)
        .args(["serve", "--shards", "2", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--rules")
        .arg(repo_root().join("tests/data/rules/seed.conf"));
    let agent = spawn_agent(cmd, port).unwrap_or_else(|(s, log)| panic!("{s:?} {log:?}"));
    let mut buf = [0u8; 1024];
    let n = sock.recv(&mut buf).expect("a notification");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(msg.contains("READY=1"), "{msg:?}");
    assert!(
        msg.contains("STATUS=serving ") && msg.contains("seed.conf") && msg.contains("2 shard(s)"),
        "{msg:?}"
    );
    // READY=1 means listening: the NOTIFY is answered at once.
    assert_serves(&agent);
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cargo deb` for the profile this test binary was built with; the package path.
fn build_deb(out: &Path) -> Result<PathBuf, String> {
    let bin = Path::new(env!("CARGO_BIN_EXE_spoa-waf"));
    let profile = match bin
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        Some("debug") => "dev".to_string(),
        Some(p) => p.to_string(),
        None => return Err(format!("cannot tell the profile of {}", bin.display())),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .current_dir(repo_root())
        .args(["deb", "--no-build", "--strip", "--profile", &profile, "-o"])
        .arg(out)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    std::fs::read_dir(out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| "no .deb written".into())
}

fn deb_contents(deb: &Path) -> String {
    let o = Command::new("dpkg-deb")
        .arg("-c")
        .arg(deb)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn cargo_deb_available() -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .args(["deb", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn debian_package_installs_and_the_installed_agent_answers() {
    let name = "debian_package_installs_and_the_installed_agent_answers";
    if !cargo_deb_available() {
        return skip(
            name,
            "cargo-deb absent (`cargo install cargo-deb --locked`, ~2 min; \
             SPOA_WAF_SETUP_DEB=1 tests/setup-debian.sh installs it)",
        );
    }
    let dir = temp_dir("deb");
    let deb = build_deb(&dir).unwrap_or_else(|e| panic!("cargo deb: {e}"));
    let files = deb_contents(&deb);
    for f in [
        "./usr/bin/spoa-waf",
        "./usr/lib/systemd/system/spoa-waf.service",
        "./etc/spoa-waf/spoa-waf.conf",
        "./etc/spoa-waf/modsecurity-base.conf",
        "./usr/share/doc/spoa-waf/examples/crs4.conf",
    ] {
        assert!(files.contains(f), "{f} not in the package:\n{files}");
    }
    let control = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends")
        .output()
        .unwrap();
    let depends = String::from_utf8_lossy(&control.stdout);
    for d in ["libhyperscan5", "modsecurity-crs"] {
        assert!(depends.contains(d), "Depends: {depends}");
    }
    // pcre2-sys links PCRE2 statically when it builds its own copy; the package needs
    // libpcre2-8-0 only when the binary links it dynamically.
    let ldd = Command::new("ldd")
        .arg(repo_root().join("target/release/spoa-waf"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if ldd.contains("libpcre2-8") {
        assert!(depends.contains("libpcre2-8-0"), "Depends: {depends}");
    }
    if has("lintian") {
        // Findings are printed, not failed on: the accepted ones are listed in deploy/debian.
        let l = Command::new("lintian").arg(&deb).output().unwrap();
        eprintln!("lintian:\n{}", String::from_utf8_lossy(&l.stdout));
        let errors: Vec<_> = String::from_utf8_lossy(&l.stdout)
            .lines()
            .filter(|l| l.starts_with("E:"))
            .map(str::to_string)
            .collect();
        assert!(errors.is_empty(), "lintian errors: {errors:?}");
    }
    let root = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&root.stdout).trim() != "0" || !has("apt-get") {
        let _ = std::fs::remove_dir_all(&dir);
        return skip(
            name,
            "not root: the package was built and checked, not installed",
        );
    }
    let was_installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "spoa-waf"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"));
    let o = Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        // Wait for dpkg's lock rather than fail when another install runs on the machine.
        .args(["-o", "DPkg::Lock::Timeout=120", "install", "-y", "-q"])
        .arg("--no-install-recommends")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "apt-get install: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The installed binary with the installed configuration (Debian's CRS), as the unprivileged
    // user the unit would use, with its own cache directory.
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let _ = Command::new("chown").arg("nobody").arg(&cache).status();
    let port = free_port();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--no-new-privs",
    ])
    .arg("env")
    .arg(format!("SPOA_WAF_CACHE_DIR={}", cache.display()));
    serve_args(
        &mut cmd,
        "/usr/bin/spoa-waf",
        Path::new("/etc/spoa-waf/spoa-waf.conf"),
        port,
    );
    let result = spawn_agent(cmd, port).map(|agent| {
        assert_serves(&agent);
        let logged = poll_until(Duration::from_secs(10), || {
            agent
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("930120"))
                .then_some(())
        });
        assert!(logged.is_some(), "{:?}", agent.log.lock().unwrap());
    });
    if !was_installed {
        let _ = Command::new("dpkg")
            .args(["--purge", "spoa-waf"])
            .stdout(Stdio::null())
            .status();
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Err((s, log)) = result {
        panic!("the installed agent exited {s:?}: {log:?}");
    }
}

fn kube_dir() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

/// The manifests the kustomization lists (every YAML file beside it).
fn manifests() -> Vec<PathBuf> {
    let k: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(kube_dir().join("kustomization.yaml")).unwrap(),
    )
    .unwrap();
    let listed: Vec<PathBuf> = k["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| kube_dir().join(r.as_str().unwrap()))
        .collect();
    let mut on_disk: Vec<PathBuf> = std::fs::read_dir(kube_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("kustomization.yaml")
        })
        .collect();
    on_disk.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted, on_disk,
        "the kustomization must list every manifest"
    );
    listed
}

fn kubernetes_validate() -> Option<PathBuf> {
    let local = repo_root().join("target/tools/kubernetes-validate/bin/kubernetes-validate");
    if local.exists() {
        return Some(local);
    }
    has("kubernetes-validate").then(|| PathBuf::from("kubernetes-validate"))
}

#[test]
fn kubernetes_manifests_validate_offline_against_1_30_and_later() {
    let name = "kubernetes_manifests_validate_offline_against_1_30_and_later";
    let files = manifests();
    let Some(kv) = kubernetes_validate() else {
        return skip(
            name,
            "kubernetes-validate absent: run tests/setup-debian.sh (PyPI)",
        );
    };
    for version in ["1.30.0", "1.33.0", "1.37.0"] {
        let o = Command::new(&kv)
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .unwrap();
        let out =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "Kubernetes {version}:\n{out}");
        assert_eq!(
            out.matches(" passed for resource ").count(),
            files.len(),
            "{out}"
        );
        assert!(!out.contains("WARN") && !out.contains("ERROR"), "{out}");
    }
}

#[test]
fn the_daemonset_is_host_network_pinned_and_never_unconfined() {
    let text = std::fs::read_to_string(kube_dir().join("daemonset.yaml")).unwrap();
    let ds: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
    assert!(pod["nodeSelector"].is_mapping() && pod["tolerations"].is_sequence());
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "Localhost"
    );
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["localhostProfile"],
        "spoa-waf.json"
    );
    assert!(!text.contains("Unconfined"));
    let containers = pod["containers"].as_sequence().unwrap();
    for c in containers
        .iter()
        .chain(pod["initContainers"].as_sequence().unwrap())
    {
        // Guaranteed QoS (and exclusive cores under the static CPU manager): requests = limits.
        assert_eq!(
            c["resources"]["requests"], c["resources"]["limits"],
            "{:?}",
            c["name"]
        );
    }
    let agent = &containers[0];
    let port = &agent["ports"][0];
    assert_eq!(
        (port["name"].as_str(), port["hostPort"].as_u64()),
        (Some("spop"), Some(12345))
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        assert!(agent[probe].is_mapping(), "{probe}");
    }
    let sidecar = containers
        .iter()
        .find(|c| c["name"] == "audit-log")
        .expect("audit-log sidecar");
    let cmd = serde_yaml::to_string(&sidecar["args"]).unwrap();
    assert!(
        cmd.contains("tail -n+1 -f /var/log/modsec_audit.log"),
        "{cmd}"
    );
    let vols = serde_yaml::to_string(&pod["volumes"]).unwrap();
    assert!(
        vols.contains("hostPath") && vols.contains("/var/cache/spoa-waf"),
        "{vols}"
    );
    assert!(
        vols.contains("configMap") && vols.contains("emptyDir"),
        "{vols}"
    );
}

/// The rules ConfigMap loads: its files written out, the image's paths pointed at this checkout.
#[test]
fn the_rules_configmap_loads() {
    let cm: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(kube_dir().join("rules-configmap.yaml")).unwrap(),
    )
    .unwrap();
    let dir = temp_dir("k8s-rules");
    for (k, v) in cm["data"].as_mapping().unwrap() {
        let text = v
            .as_str()
            .unwrap()
            .replace("/etc/spoa-waf/rules/", &format!("{}/", dir.display()))
            .replace(
                "/etc/spoa-waf/modsecurity-base.conf",
                &repo_root()
                    .join("rules/modsecurity-base.conf")
                    .display()
                    .to_string(),
            );
        std::fs::write(dir.join(k.as_str().unwrap()), text).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_spoa-waf"))
        .arg("test-config")
        .arg("--rules")
        .arg(dir.join("spoa-waf.conf"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
