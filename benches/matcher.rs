//! Micro-benchmark of the matcher on the real CRS `@rx` sets (v3.3.4 and v4.28.0): PCRE2
//! compile, Hyperscan classification + compile, database size, cache store/load (the restart
//! path of issue #4), and scan throughput on typical short request values and on attack values.
//! Plain `fn main` timing loops (`harness = false`); run with `cargo bench --bench matcher`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use spoa_waf::matcher::{PatternSet, PatternSetBuilder};

#[path = "../tests/it/crs_rx.rs"]
mod crs_rx;

fn patterns(version: &str) -> Vec<String> {
    let dir = crs_rx::crs_root().join(version).join("rules");
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for f in crs_rx::conf_files(&dir) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for p in crs_rx::rx_patterns(&text) {
            if seen.insert(p.clone()) {
                out.push(p);
            }
        }
    }
    out
}

fn builder(pats: &[String]) -> PatternSetBuilder {
    let mut b = PatternSetBuilder::new();
    for p in pats {
        if let Err(e) = b.add_regex(p) {
            eprintln!("skipped: {e}");
        }
    }
    b
}

const TYPICAL: &[&[u8]] = &[
    b"1",
    b"en-US,en;q=0.9",
    b"gzip, deflate, br",
    b"keep-alive",
    b"/index.php",
    b"application/x-www-form-urlencoded",
    b"session=4f2a9c1e77b04d3a",
    b"john.doe@example.com",
    b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    b"The quick brown fox jumps over the lazy dog",
    b"2024-05-01",
];

const ATTACKS: &[&[u8]] = &[
    b"1' or '1'='1",
    b"<script>alert(document.cookie)</script>",
    b"; cat /etc/passwd",
    b"../../../../etc/shadow",
    b"${jndi:ldap://x.example/a}",
    b"1 union all select username,password from users--",
];

/// One realistic GET's scanned values (headers, cookie, query arguments and their names), as the
/// engine hands them to a set. Shared by every request of a client population.
const REQUEST: &[&[u8]] = &[
    b"www.example.com",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    b"en-US,en;q=0.9",
    b"gzip, deflate, br",
    b"keep-alive",
    b"https://www.example.com/shop/index.php",
    b"max-age=0",
    b"document",
    b"navigate",
    b"same-origin",
    b"?1",
    b"1",
    b"_ga",
    b"lang",
    b"en",
    b"q",
    b"page",
    b"2",
    b"sort",
    b"price_asc",
    b"/shop/search.php",
];

/// Scans `values` round-robin for about `budget` with the memo on or off; returns (scans/s,
/// ns/scan, matches/scan).
fn throughput(set: &PatternSet, values: &[&[u8]], budget: Duration) -> (f64, f64, f64) {
    throughput_memo(set, values, budget, false)
}

fn throughput_memo(
    set: &PatternSet,
    values: &[&[u8]],
    budget: Duration,
    memo: bool,
) -> (f64, f64, f64) {
    let mut s = set.new_scratch();
    s.set_memo(memo);
    let mut out = Vec::new();
    for v in values {
        set.scan(&mut s, v, &mut out);
    }
    let c = s.counters();
    let per = |x: u64| x as f64 / c.scans.max(1) as f64;
    println!(
        "  per scan: {:.2} Hyperscan reports, {:.2} PCRE2 runs ({:.2} rejected)",
        per(c.hs_hits),
        per(c.pcre_runs),
        per(c.pcre_rejects)
    );
    let mut s = set.new_scratch();
    s.set_memo(memo);
    let mut out = Vec::new();
    let mut n = 0u64;
    let mut hits = 0u64;
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    while start.elapsed() < budget {
        for v in values {
            set.scan(&mut s, black_box(v), &mut out);
            hits += out.len() as u64;
        }
        n += values.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    // The machine is shared: CPU time of this thread is the steadier figure.
    let cpu = thread_cpu_ns().saturating_sub(cpu0) as f64;
    println!(
        "  CPU time: {:.0} ns/scan ({:.0} scans per CPU-second)",
        cpu / n as f64,
        n as f64 * 1e9 / cpu.max(1.0)
    );
    (
        n as f64 / secs,
        secs * 1e9 / n as f64,
        hits as f64 / n as f64,
    )
}

/// Requests of `REQUEST` where `unique` values per request (a session cookie, a search term)
/// are new each time, the rest repeat: ns per request (CPU time) and the memo hit rate.
fn request_cost(set: &PatternSet, unique: usize, budget: Duration) -> (f64, f64) {
    let mut s = set.new_scratch();
    let mut out = Vec::new();
    let mut n = 0u64;
    let mut fresh = Vec::with_capacity(64);
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    while start.elapsed() < budget {
        for v in REQUEST {
            set.scan(&mut s, black_box(v), &mut out);
        }
        for u in 0..unique {
            fresh.clear();
            fresh.extend_from_slice(format!("_ga=GA1.2.{n}.{u}").as_bytes());
            set.scan(&mut s, black_box(&fresh), &mut out);
        }
        n += 1;
    }
    let cpu = thread_cpu_ns().saturating_sub(cpu0) as f64;
    let c = s.counters();
    let rate = c.memo_hits as f64 / (c.memo_hits + c.memo_misses).max(1) as f64;
    (cpu / n.max(1) as f64, rate)
}

fn main() {
    let cache = std::env::temp_dir().join(format!("spoa-waf-matcher-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    println!("libhs {}", hyperscan_version());
    // `cargo bench --bench matcher -- v4.28.0` runs one version; cargo adds `--bench` itself.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a.starts_with('v'))
        .collect();
    for version in ["v3.3.4", "v4.28.0"] {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == version) {
            continue;
        }
        let pats = patterns(version);
        let bytes: usize = pats.iter().map(String::len).sum();
        // MATCHER_BENCH_WARM=<dir>: skip the cold builds (minutes for v4 on a loaded machine)
        // and measure scans only, from a persistent cache.
        if let Some(dir) = std::env::var_os("MATCHER_BENCH_WARM") {
            let set = builder(&pats)
                .build_cached(Some(std::path::Path::new(&dir)))
                .expect("build");
            println!(
                "\n## CRS {version}: {} patterns ({:?} in {:?})",
                pats.len(),
                set.stats().cache,
                set.stats().build_time
            );
            scan_figures(&set);
            continue;
        }
        let t = Instant::now();
        let b = builder(&pats);
        let pcre_compile = t.elapsed();
        let set = b.build().expect("build");
        let st = set.stats().clone();
        println!(
            "\n## CRS {version}: {} unique @rx patterns, {bytes} bytes of pattern text",
            pats.len()
        );
        println!("PCRE2 compile+JIT of all patterns: {pcre_compile:?}");
        println!(
            "Hyperscan: {} expressions ({} prefilter), {} PCRE2-only; classify {:?} + compile {:?} = build {:?}; DB {} bytes ({:.1} MiB)",
            st.hs_expressions,
            st.prefiltered,
            st.pcre_only,
            st.classify_time,
            st.hs_compile_time,
            st.build_time,
            st.db_bytes,
            st.db_bytes as f64 / (1 << 20) as f64
        );
        let stored = builder(&pats).build_cached(Some(&cache)).expect("store");
        println!(
            "cold build_cached (compile + store): {:?} ({:?})",
            stored.stats().build_time,
            stored.stats().cache
        );
        let t = Instant::now();
        let loaded = builder(&pats).build_cached(Some(&cache)).expect("load");
        let restart = t.elapsed();
        println!(
            "warm restart (PCRE2 compile + cache load): {restart:?}, of which cache load {:?} ({:?})",
            loaded.stats().build_time,
            loaded.stats().cache
        );
        scan_figures(&loaded);
        println!("slowest patterns under plain PCRE2, typical values:");
        slowest(&pats, TYPICAL, 5);
    }
    let _ = std::fs::remove_dir_all(&cache);
}

fn scan_figures(loaded: &PatternSet) {
    {
        let budget = Duration::from_millis(1500);
        for (name, vals) in [("typical", TYPICAL), ("attack", ATTACKS)] {
            let avg = vals.iter().map(|v| v.len()).sum::<usize>() / vals.len();
            let (rate, ns, m) = throughput(loaded, vals, budget);
            println!("scan {name} values (avg {avg} B): {rate:.0} scans/s, {ns:.0} ns/scan, {m:.2} matches/scan");
        }
        let nl: Vec<Vec<u8>> = TYPICAL.iter().map(|v| [v, &b"\n"[..]].concat()).collect();
        let nl_refs: Vec<&[u8]> = nl.iter().map(Vec::as_slice).collect();
        let (rate, ns, m) = throughput(loaded, &nl_refs, budget);
        println!("scan typical values + trailing newline (all regex hits confirmed): {rate:.0} scans/s, {ns:.0} ns/scan, {m:.2} matches/scan");
        let kb: Vec<u8> = b"lorem ipsum dolor sit amet, "
            .iter()
            .cycle()
            .take(1024)
            .copied()
            .collect();
        let (rate, ns, _) = throughput(loaded, &[&kb], budget);
        println!(
            "scan 1 KiB text: {rate:.0} scans/s, {ns:.0} ns/scan ({:.0} MB/s)",
            1024.0 * rate / 1e6
        );
        let (rate, ns, m) = throughput_memo(loaded, REQUEST, budget, true);
        println!("scan a repeated request's {} values, memo on: {rate:.0} scans/s, {ns:.0} ns/scan, {m:.2} matches/scan", REQUEST.len());
        let (rate, ns, _) = throughput(loaded, REQUEST, budget);
        println!("same values, memo off: {rate:.0} scans/s, {ns:.0} ns/scan");
        for unique in [0, 2, 6] {
            let (ns, hit) = request_cost(loaded, unique, budget);
            println!(
                "request of {} repeated + {unique} fresh values: {ns:.0} ns CPU per request, memo hit rate {:.0} %",
                REQUEST.len(),
                hit * 100.0
            );
        }
    }
}

/// The patterns PCRE2 spends most time on for `values` (each run alone), slowest first.
fn slowest(pats: &[String], values: &[&[u8]], n: usize) {
    let mut v: Vec<(Duration, &String)> = pats
        .iter()
        .filter_map(|p| {
            let re = spoa_waf::matcher::Regex::new(p).ok()?;
            let t = Instant::now();
            for _ in 0..20 {
                for v in values {
                    black_box(re.is_match(black_box(v)));
                }
            }
            Some((t.elapsed() / (20 * values.len() as u32), p))
        })
        .collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (d, p) in v.into_iter().take(n) {
        println!(
            "  {d:>10?} per value  {}",
            p.chars().take(90).collect::<String>()
        );
    }
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/stat` utime + stime, in
/// 10 ms ticks: fine over a 1.5 s budget), 0 elsewhere.
fn thread_cpu_ns() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0;
    };
    let Some(after) = stat.rfind(')').and_then(|i| stat.get(i + 1..)) else {
        return 0;
    };
    let f: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<u64>() * 10_000_000
}

fn hyperscan_version() -> String {
    hyperscan::version_str().to_string_lossy().into_owned()
}
