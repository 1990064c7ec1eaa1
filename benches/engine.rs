//! End-to-end engine benchmark: loads a SecLang configuration (start-up time, cold or warm
//! Hyperscan cache depending on the cache directory), then runs request corpora through
//! `Engine::inspect_request` on this thread and reports requests/s (wall clock) and CPU ns per
//! request from `/proc/thread-self/schedstat`, which stays honest on a loaded machine.
//! It also prints a digest of the verdicts (blocked count, logged ids), so two builds can be
//! checked for identical decisions. Records figures; asserts none.
//!
//! `cargo bench --bench engine -- RULES.conf CORPUS.jsonl... [--repeat N] [--threads N]`
//!
//! `--threads N` (N ≥ 2) instead runs the first corpus on N threads pinned to CPUs 0..N, all
//! sharing the one `Engine` (as shards do) with a scratch each, and reports the aggregate
//! requests/s against one thread alone: the engine's scaling across cores, without SPOP.

use std::time::Instant;

use spoa_waf::corpus::CorpusRequest;
use spoa_waf::engine::Engine;
use spoa_waf::inspect::Inspector;

/// CPU time this thread has run, in ns (0 where schedstat is unavailable).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut repeat = 5usize;
    if let Some(p) = args.iter().position(|a| a == "--repeat") {
        repeat = args
            .get(p + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(repeat);
        args.drain(p..(p + 2).min(args.len()));
    }
    let mut threads = 1usize;
    if let Some(p) = args.iter().position(|a| a == "--threads") {
        threads = args.get(p + 1).and_then(|s| s.parse().ok()).unwrap_or(1);
        args.drain(p..(p + 2).min(args.len()));
    }
    let Some((rules, corpora)) = args.split_first() else {
        eprintln!("usage: engine RULES.conf CORPUS.jsonl... [--repeat N]");
        return;
    };
    let (w0, c0) = (Instant::now(), thread_cpu_ns());
    let engine = match Engine::from_file(std::path::Path::new(rules)) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("engine: {e}");
            return;
        }
    };
    println!(
        "load {rules}: {:.1} ms wall, {:.1} ms cpu",
        w0.elapsed().as_secs_f64() * 1e3,
        (thread_cpu_ns() - c0) as f64 / 1e6
    );
    if threads > 1 {
        if let Some(path) = corpora.first() {
            scaling(&engine, path, repeat, threads);
        }
        return;
    }
    let mut scratch = engine.new_scratch();
    for path in corpora {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let corpus = match CorpusRequest::parse_all(&text) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let reqs: Vec<_> = corpus.iter().map(CorpusRequest::as_request).collect();
        // Warm-up pass, which also yields the verdict digest.
        let mut blocked = 0usize;
        let mut ids = 0usize;
        let mut digest: u64 = 0xcbf2_9ce4_8422_2325;
        for r in &reqs {
            let v = engine.inspect_request(&mut scratch, r);
            blocked += usize::from(v.disruption.is_some());
            ids += v.logged_rule_ids.len();
            for id in v.logged_rule_ids.iter().chain(std::iter::once(&0)) {
                digest = (digest ^ u64::from(*id)).wrapping_mul(0x0100_0000_01b3);
            }
            digest = (digest ^ v.anomaly_score as u64).wrapping_mul(0x0100_0000_01b3);
        }
        let s0 = scratch.scan_stats();
        let (w, c) = (Instant::now(), thread_cpu_ns());
        for _ in 0..repeat {
            for r in &reqs {
                std::hint::black_box(engine.inspect_request(&mut scratch, r));
            }
        }
        let n = (reqs.len() * repeat) as f64;
        let s1 = scratch.scan_stats();
        let per = |a: u64, b: u64| (a - b) as f64 / n;
        println!(
            "  per request: {:.0} lookups, {:.0} distinct outputs, {:.0} transformation steps, \
             {:.0} scans ({:.0} memo hits, {:.0} Hyperscan), \
             {:.0} Hyperscan reports, {:.0} PCRE2 runs",
            per(s1.lookups, s0.lookups),
            per(s1.outputs, s0.outputs),
            per(s1.steps, s0.steps),
            per(s1.scans, s0.scans),
            per(s1.memo_hits, s0.memo_hits),
            per(s1.memo_misses, s0.memo_misses),
            per(s1.hs_reports, s0.hs_reports),
            per(s1.pcre_runs, s0.pcre_runs),
        );
        let wall = w.elapsed().as_secs_f64();
        let cpu = (thread_cpu_ns() - c) as f64;
        println!(
            "{path}: {} req x {repeat}: {:.0} req/s wall, {:.1} us cpu/req ({:.0} req/s cpu), \
             blocked {blocked}, logged ids {ids}, digest {digest:016x}",
            reqs.len(),
            n / wall,
            cpu / n / 1e3,
            n / (cpu / 1e9),
        );
    }
}

/// Aggregate requests/s of `threads` pinned threads sharing `engine`, against one thread.
fn scaling(engine: &Engine, path: &str, repeat: usize, threads: usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let corpus = match CorpusRequest::parse_all(&text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{path}: {e}");
            return;
        }
    };
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    // Requests/s over the timed section (after every thread's warm-up pass).
    let run = |n: usize| -> f64 {
        let start = std::sync::Barrier::new(n);
        let done: Vec<(usize, f64)> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..n)
                .map(|t| {
                    let (corpus, start, cores) = (&corpus, &start, &cores);
                    sc.spawn(move || {
                        if let Some(c) = cores.get(t % cores.len().max(1)) {
                            core_affinity::set_for_current(*c);
                        }
                        let reqs: Vec<_> = corpus.iter().map(CorpusRequest::as_request).collect();
                        let mut scratch = engine.new_scratch();
                        for r in &reqs {
                            std::hint::black_box(engine.inspect_request(&mut scratch, r));
                        }
                        start.wait();
                        let w = Instant::now();
                        for _ in 0..repeat {
                            for r in &reqs {
                                std::hint::black_box(engine.inspect_request(&mut scratch, r));
                            }
                        }
                        (reqs.len() * repeat, w.elapsed().as_secs_f64())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or((0, 0.0)))
                .collect()
        });
        let total: usize = done.iter().map(|d| d.0).sum();
        let slowest = done.iter().map(|d| d.1).fold(0.0, f64::max);
        total as f64 / slowest.max(1e-9)
    };
    let one = run(1);
    let many = run(threads);
    println!(
        "{path}: 1 thread {one:.0} req/s, {threads} threads {many:.0} req/s: {:.2}x",
        many / one
    );
}
