//! `difffuzz`: the long mode of the differential fuzzer (`--requests N --seed S`), for nightly
//! runs. Prints a summary per CRS and writes every disagreement (with its minimised
//! reproduction) as JSON lines to `--out`. Exit status 1 when a disagreement is not listed as
//! deliberate.

use std::path::PathBuf;

use spoa_waf_difffuzz::{build_modsec_ref, find_shared, finding_json, fuzz, Crs, Options, Setup};

fn usage() -> ! {
    eprintln!(
        "usage: difffuzz [--requests N] [--seed S] [--crs 3,4] [--batch N] [--minimise K] \
         [--spoa-waf PATH] [--modsec-ref PATH] [--out DIR] [--work DIR (kept)]"
    );
    std::process::exit(2)
}

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut o = Options {
        seed: 1,
        requests: 10_000,
        crs: vec![Crs::V4, Crs::V3],
        batch: 5_000,
        minimise: 20,
        verbose: true,
    };
    let mut spoa_waf = repo.join("target/release/spoa-waf");
    let mut modsec_ref = None;
    let mut out = None;
    let mut work_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--requests" => o.requests = val().parse().unwrap_or_else(|_| usage()),
            "--seed" => o.seed = val().parse().unwrap_or_else(|_| usage()),
            "--batch" => o.batch = val().parse().unwrap_or_else(|_| usage()),
            "--minimise" => o.minimise = val().parse().unwrap_or_else(|_| usage()),
            "--crs" => {
                o.crs = val()
                    .split(',')
                    .map(|c| match c {
                        "3" => Crs::V3,
                        "4" => Crs::V4,
                        _ => usage(),
                    })
                    .collect()
            }
            "--spoa-waf" => spoa_waf = val().into(),
            "--modsec-ref" => modsec_ref = Some(PathBuf::from(val())),
            "--out" => out = Some(PathBuf::from(val())),
            "--work" => work_dir = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    let Some(shared) = find_shared(&repo) else {
        eprintln!(
            "difffuzz: shared/crs/v4.28.0 not found above {}",
            repo.display()
        );
        std::process::exit(2)
    };
    let keep = work_dir.is_some();
    let work = work_dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("difffuzz-{}", std::process::id())));
    let modsec_ref = match modsec_ref {
        Some(p) => p,
        None => match build_modsec_ref(&shared, &repo.join("target/difffuzz/modsec-ref")) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("difffuzz: {e}");
                std::process::exit(2)
            }
        },
    };
    let s = Setup {
        repo,
        shared,
        spoa_waf,
        modsec_ref,
        work: work.clone(),
    };
    let t0 = std::time::Instant::now();
    let report = match fuzz(&s, &o) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("difffuzz: {e}");
            std::process::exit(2)
        }
    };
    if !keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    let secs = t0.elapsed().as_secs_f64();
    for (crs, t) in &report.tallies {
        let pct = |n: u64| 100.0 * n as f64 / t.requests.max(1) as f64;
        println!(
            "{}: seed {} requests {} | same status {} ({:.3} %) | same rule ids {} ({:.3} %) | same score {} ({:.3} %) | libmodsecurity3 blocks {}, logs an attack rule on {}",
            crs.name(), o.seed, t.requests, t.same_status, pct(t.same_status), t.same_ids,
            pct(t.same_ids), t.same_score, pct(t.same_score), t.blocked_ref, t.attacks_ref
        );
    }
    let unexplained = report.unexplained().count();
    let open = report.open().count();
    println!(
        "disagreements: {} ({} deliberate, {open} known open, {unexplained} not listed); {secs:.0} s",
        report.findings.len(),
        report.findings.len() - unexplained - open
    );
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for f in &report.findings {
        let k = match &f.explained {
            Some(ds) => ds.iter().map(|d| d.name).collect::<Vec<_>>().join("+"),
            None => format!(
                "NOT LISTED {} spoa-waf-only {:?} libmodsecurity-only {:?}",
                f.crs.name(),
                f.signature.only_spoa_waf,
                f.signature.only_libmodsecurity
            ),
        };
        *by.entry(k).or_default() += 1;
    }
    for (k, n) in &by {
        println!("  {n:6}  {k}");
    }
    let lines: Vec<String> = report.findings.iter().map(finding_json).collect();
    match out {
        Some(dir) => {
            let _ = std::fs::create_dir_all(&dir);
            let p = dir.join(format!("findings-seed{}-{}.jsonl", o.seed, o.requests));
            let mut text = lines.join("\n");
            text.push('\n');
            if let Err(e) = std::fs::write(&p, text) {
                eprintln!("difffuzz: {}: {e}", p.display());
            }
        }
        None => report
            .findings
            .iter()
            .zip(&lines)
            .filter(|(f, _)| f.explained.is_none())
            .take(20)
            .for_each(|(_, l)| println!("{l}")),
    }
    std::process::exit(i32::from(unexplained > 0))
}
