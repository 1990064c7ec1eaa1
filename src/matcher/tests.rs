//! Unit tests of the pattern set: placement, exactness of each path, the cache.

use super::*;

fn scan_all(set: &PatternSet, value: &[u8]) -> Vec<PatternId> {
    let mut s = set.new_scratch();
    let mut out = Vec::new();
    set.scan(&mut s, value, &mut out);
    out
}

fn ids(v: &[u32]) -> Vec<PatternId> {
    v.iter().map(|&i| PatternId(i)).collect()
}

#[test]
fn regexes_phrases_and_literals_share_one_set() {
    let mut b = PatternSetBuilder::new();
    let r = b.add_regex(r"(?i)union\s+select").expect("rx");
    let p = b
        .add_phrases(&[b"passwd".to_vec(), b"/etc/shadow".to_vec(), Vec::new()])
        .expect("pm");
    let c = b
        .add_literal(b"..", LiteralKind::Contains)
        .expect("contains");
    let bw = b
        .add_literal(b"GET", LiteralKind::BeginsWith)
        .expect("begins");
    let ew = b.add_literal(b".php", LiteralKind::EndsWith).expect("ends");
    let eq = b.add_literal(b"POST", LiteralKind::Equals).expect("streq");
    let set = b.build().expect("build");
    assert_eq!(set.len(), 6);
    assert_eq!(set.stats().pcre_only, 0);
    assert_eq!(
        set.stats().hs_expressions,
        7,
        "two phrases, one regex, four literals"
    );
    assert_eq!(scan_all(&set, b"1 UNION  select 2"), vec![r]);
    assert_eq!(scan_all(&set, b"cat /ETC/Shadow"), vec![p]);
    assert_eq!(scan_all(&set, b"GET ../x.php"), vec![c, bw, ew]);
    assert_eq!(scan_all(&set, b"xGET x.phpx"), vec![]);
    assert_eq!(scan_all(&set, b"POST"), vec![eq]);
    assert_eq!(scan_all(&set, b"POSTx"), vec![]);
    assert_eq!(
        scan_all(&set, b"get"),
        vec![],
        "literals are case-sensitive"
    );
    assert_eq!(scan_all(&set, b"..passwd union select"), vec![r, p, c]);
}

#[test]
fn rejected_constructs_go_to_prefilter_or_pcre_only() {
    let mut b = PatternSetBuilder::new();
    let look = b.add_regex(r"foo(?!bar)").expect("lookahead");
    let backref = b.add_regex(r"(['\x22])x\1").expect("backref");
    let poss = b.add_regex(r"a++b").expect("possessive");
    // 920510's shape: an end anchor inside a repeated group; not even PREFILTER takes it.
    let embedded = b
        .add_regex(r"^(?:a(?:,|$)){1,3}$")
        .expect("embedded anchor");
    let set = b.build().expect("build");
    assert_eq!(set.stats().prefiltered, 3);
    assert_eq!(set.stats().pcre_only, 1);
    assert_eq!(
        scan_all(&set, b"foobar"),
        vec![],
        "prefilter hit refused by PCRE2"
    );
    assert_eq!(scan_all(&set, b"foobaz"), vec![look]);
    assert_eq!(scan_all(&set, b"'x'"), vec![backref]);
    assert_eq!(scan_all(&set, b"'x\""), vec![]);
    assert_eq!(scan_all(&set, b"aaab"), vec![poss]);
    assert_eq!(scan_all(&set, b"a,a"), vec![embedded]);
    assert_eq!(scan_all(&set, b"a,a,a,a"), vec![]);
}

#[test]
fn empty_values_are_answered_exactly() {
    let mut b = PatternSetBuilder::new();
    let empty = b.add_regex("^$").expect("rx");
    let opt = b.add_regex(r"^\d*$").expect("rx");
    let any = b.add_regex("x?").expect("needs ALLOWEMPTY");
    let _word = b.add_regex(r"\w").expect("rx");
    let _pm = b.add_phrases(&[b"a".to_vec()]).expect("pm");
    let contains_empty = b.add_literal(b"", LiteralKind::Contains).expect("lit");
    let eq_empty = b.add_literal(b"", LiteralKind::Equals).expect("lit");
    let _eq = b.add_literal(b"a", LiteralKind::Equals).expect("lit");
    let set = b.build().expect("build");
    assert_eq!(
        scan_all(&set, b""),
        vec![empty, opt, any, contains_empty, eq_empty]
    );
    // The always-matching ones still match non-empty values; `^$` does not.
    let got = scan_all(&set, b"b");
    assert!(
        got.contains(&any) && got.contains(&contains_empty),
        "{got:?}"
    );
    assert!(!got.contains(&empty) && !got.contains(&eq_empty), "{got:?}");
}

#[test]
fn hyperscan_alone_on_empty_buffers_agrees_with_crs_scope() {
    // crs-scope §9: HS 5.4 reports anchored empty-matching patterns on an empty buffer even
    // without ALLOWEMPTY. The set does not rely on it (empty values use a PCRE2 table), but a
    // libhs that changed this would be worth knowing about.
    let db: BlockDatabase = Pattern::with_flags("^$", base_flags())
        .expect("pattern")
        .build()
        .expect("compiles without ALLOWEMPTY");
    let s = db.alloc_scratch().expect("scratch");
    let mut n = 0;
    db.scan(b"", &s, |_, _, _, _| {
        n += 1;
        Matching::Continue
    })
    .expect("scan");
    assert_eq!(n, 1);
}

/// Number of Hyperscan reports of `expr` (base flags) alone on `hay`.
fn hs_alone(expr: &str, hay: &[u8]) -> usize {
    let db: BlockDatabase = Pattern::with_flags(expr, base_flags())
        .expect("pattern")
        .build()
        .expect("compiles");
    let s = db.alloc_scratch().expect("scratch");
    let mut n = 0;
    db.scan(hay, &s, |_, _, _, _| {
        n += 1;
        Matching::Continue
    })
    .expect("scan");
    n
}

#[test]
fn hyperscan_alone_agrees_with_pcre2_on_multiline_anchors() {
    // Measured, not assumed: libhs 5.4 with DOTALL|MULTILINE answers like PCRE2 on the anchor
    // corner cases (no `^` after a final newline, `$` before one, `\Z`/`\z`, empty lines).
    // The set still confirms regex hits on values holding `\n` (Confirm::IfNewline): it is cheap
    // insurance where the two engines' documented semantics are closest to diverging.
    let pats = [
        "^$", r"^\s*$", "^b", "a$", "^", "$", r"a\Z", r"a\z", "^a$", r"^\n", r"\n$", "^.*$",
        "^x?$", r"\A$", r"^\z",
    ];
    let hays: [&[u8]; 9] = [
        b"abc\n", b"a\n", b"\n", b"\n\n", b"a\nb", b"abc\n\n", b"a\n\nb", b"b\na", b"a\r\n",
    ];
    for p in pats {
        let re = Regex::new(p).expect("rx");
        for h in hays {
            assert_eq!(hs_alone(p, h) > 0, re.is_match(h), "{p:?} on {h:?}");
        }
    }
}

#[test]
fn multiline_anchors_around_a_trailing_newline_follow_pcre() {
    // PCRE2 MULTILINE: `^` does not match after a newline that ends the subject, `$` matches
    // before any newline. The set's answers (confirmed by PCRE2 on such values) must say so.
    let mut b = PatternSetBuilder::new();
    let p = b.add_regex("^$").expect("rx");
    let q = b.add_regex(r"^\s*$").expect("rx");
    let r = b.add_regex("^b").expect("rx");
    let set = b.build().expect("build");
    assert_eq!(
        scan_all(&set, b"abc\n"),
        vec![],
        "no `^` after the final newline"
    );
    assert_eq!(scan_all(&set, b"abc\n\n"), vec![p, q]);
    assert_eq!(scan_all(&set, b"a\nb"), vec![r]);
    assert_eq!(scan_all(&set, b"a\n"), vec![]);
    assert_eq!(scan_all(&set, b"a\n \nb"), vec![q, r]);
}

#[test]
fn high_bytes_are_bytes() {
    let mut b = PatternSetBuilder::new();
    let r = b.add_regex(r"\x{bc}[^\x{be}]").expect("rx");
    let p = b.add_phrases(&[b"\xffAb".to_vec()]).expect("pm");
    let set = b.build().expect("build");
    assert_eq!(scan_all(&set, b"x\xbcz"), vec![r]);
    assert_eq!(scan_all(&set, b"x\xbc\xbe"), vec![]);
    assert_eq!(scan_all(&set, b"\xffaB"), vec![p]);
    assert_eq!(
        scan_all(&set, "\u{bc}z".as_bytes()),
        vec![r],
        "UTF-8 of U+00BC ends in 0xbc"
    );
}

#[test]
fn invalid_regex_is_a_typed_error() {
    let mut b = PatternSetBuilder::new();
    let e = b.add_regex("a(b").expect_err("invalid");
    assert_eq!(e.pattern, "a(b");
    assert!(e.message.contains("offset 3"), "{}", e.message);
    assert!(e.to_string().contains("a(b"));
    assert!(b.is_empty(), "a failed add leaves no id behind");
}

#[test]
fn empty_set_scans_to_nothing() {
    let set = PatternSetBuilder::new().build().expect("build");
    assert!(set.is_empty());
    assert_eq!(scan_all(&set, b"anything"), vec![]);
    assert_eq!(scan_all(&set, b""), vec![]);
}

#[test]
fn match_limit_turns_backtracking_into_no_match_and_counts() {
    let mut b = PatternSetBuilder::new();
    b.set_match_limit(10_000);
    // The lookahead makes this a prefilter pattern; Hyperscan (lookahead dropped) says "maybe"
    // on a run of `a`s, and PCRE2 then tries every split of the run before giving up.
    let r = b.add_regex(r"^(?:a|aa)+(?=[bc])").expect("rx");
    let set = b.build().expect("build");
    assert_eq!(set.stats().prefiltered, 1);
    let mut s = set.new_scratch();
    let mut out = Vec::new();
    set.scan(&mut s, &b"a".repeat(40), &mut out);
    assert_eq!(out, vec![]);
    assert_eq!(s.match_limit_hits(), 1);
    set.scan(&mut s, b"aaac", &mut out);
    assert_eq!(out, vec![r]);
    assert_eq!(s.match_limit_hits(), 1);
}

#[test]
fn captures_through_the_set_and_standalone() {
    let mut b = PatternSetBuilder::new();
    let r = b.add_regex(r"(\d+)-(\d+)").expect("rx");
    let p = b.add_phrases(&[b"x".to_vec()]).expect("pm");
    let set = b.build().expect("build");
    let mut s = set.new_scratch();
    let mut caps = [None; CAPTURE_SLOTS];
    assert!(set.captures(&mut s, r, b"id 12-345", &mut caps));
    assert_eq!(&caps[..3], &[Some((3, 9)), Some((3, 5)), Some((6, 9))]);
    assert!(
        !set.captures(&mut s, p, b"x", &mut caps),
        "phrases have no captures"
    );

    let re = Regex::new(r"(?i)^(GET|POST) (/\S*)").expect("regex");
    assert_eq!(re.as_str(), r"(?i)^(GET|POST) (/\S*)");
    assert!(re.captures(b"get /a?b HTTP/1.1", &mut caps));
    assert_eq!(caps[1], Some((0, 3)));
    assert_eq!(caps[2], Some((4, 8)));
    assert!(re.is_match(b"x\nPOST /"));
    assert_eq!(re.capture_count(), 2);
    assert!(re.is_jit());
    assert!(!re.is_match(b"PUT /"));
    assert!(Regex::new("(").is_err());
}

#[test]
fn regex_limit_hits_are_counted_per_thread() {
    let re = Regex::with_match_limit(r"^(a|aa)+$", 5_000).expect("regex");
    let before = regex_limit_hits();
    let v = [b"a".repeat(60), b"b".to_vec()].concat();
    assert!(!re.is_match(&v));
    assert_eq!(regex_limit_hits(), before + 1);
}

#[test]
fn set_and_scratch_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<PatternSet>();
    assert_send::<SetScratch>();
    let mut b = PatternSetBuilder::new();
    let r = b.add_regex("needle").expect("rx");
    let set = std::sync::Arc::new(b.build().expect("build"));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let set = set.clone();
            std::thread::spawn(move || scan_all(&set, b"hay needle hay"))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), vec![r]);
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("spoa-waf-matcher-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn cache_builder() -> PatternSetBuilder {
    let mut b = PatternSetBuilder::new();
    b.add_regex(r"(?i)select.+from").expect("rx");
    b.add_regex(r"a++b").expect("prefilter");
    b.add_regex(r"^(?:a(?:,|$)){1,3}$").expect("pcre only");
    b.add_phrases(&[b"etc/passwd".to_vec()]).expect("pm");
    b.add_literal(b"x", LiteralKind::Equals).expect("lit");
    b
}

fn check_cache_set(set: &PatternSet) {
    assert_eq!(scan_all(set, b"SELECT a FROM b"), ids(&[0]));
    assert_eq!(scan_all(set, b"aab"), ids(&[1]));
    assert_eq!(scan_all(set, b"a,a"), ids(&[2]));
    assert_eq!(scan_all(set, b"/ETC/passwd"), ids(&[3]));
    assert_eq!(scan_all(set, b"x"), ids(&[4]));
    assert_eq!(set.stats().prefiltered, 1);
    assert_eq!(set.stats().pcre_only, 1);
}

#[test]
fn cache_round_trip_then_reuse() {
    let dir = tmpdir("roundtrip");
    let first = cache_builder().build_cached(Some(&dir)).expect("build");
    assert!(
        matches!(first.stats().cache, CacheUse::Stored { .. }),
        "{:?}",
        first.stats().cache
    );
    check_cache_set(&first);
    let second = cache_builder().build_cached(Some(&dir)).expect("load");
    assert_eq!(second.stats().cache, CacheUse::Loaded);
    assert_eq!(second.stats().db_bytes, first.stats().db_bytes);
    check_cache_set(&second);
    // Other patterns: another file, never the first set's database.
    let mut b = cache_builder();
    b.add_regex("zzz").expect("rx");
    let third = b.build_cached(Some(&dir)).expect("build");
    assert!(matches!(third.stats().cache, CacheUse::Stored { .. }));
    assert_eq!(scan_all(&third, b"zzz"), ids(&[5]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupt_or_mismatched_cache_rebuilds() {
    let dir = tmpdir("corrupt");
    let _ = cache_builder().build_cached(Some(&dir)).expect("build");
    let path = cache::path_for(&dir, &cache_builder().specs);
    let good = std::fs::read(&path).expect("cache file written");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let truncated = good[..good.len() / 3].to_vec();
    // A file whose checksum is right but whose database bytecode is garbage: libhs's own check
    // must refuse it.
    let mut forged = good.clone();
    let n = forged.len();
    for b in &mut forged[n - 400..n - 300] {
        *b = 0xa5;
    }
    let body_sum = cache::tests_checksum(&forged[16..]);
    forged[8..16].copy_from_slice(&body_sum.to_le_bytes());
    for (i, bad) in [flipped, truncated, forged, Vec::new(), b"SPWAFHS1".to_vec()]
        .into_iter()
        .enumerate()
    {
        std::fs::write(&path, &bad).expect("write");
        let set = cache_builder().build_cached(Some(&dir)).expect("rebuild");
        match &set.stats().cache {
            CacheUse::Stored { rebuilt } => assert!(!rebuilt.is_empty()),
            other => panic!("case {i}: expected a rebuild, got {other:?}"),
        }
        check_cache_set(&set);
        // The rebuild rewrote a good file.
        let again = cache_builder().build_cached(Some(&dir)).expect("load");
        assert_eq!(again.stats().cache, CacheUse::Loaded);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_cache_dir_still_builds() {
    let dir = tmpdir("unwritable");
    std::fs::write(&dir, b"a file, not a directory").expect("write");
    let set = cache_builder().build_cached(Some(&dir)).expect("build");
    assert!(matches!(set.stats().cache, CacheUse::StoreFailed(_)));
    check_cache_set(&set);
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn escape_literal_never_emits_metacharacters() {
    assert_eq!(escape_literal(b"a.b\0"), r"a\x2eb\x00");
    assert_eq!(escape_literal(b"\xff("), r"\xff\x28");
    let mut b = PatternSetBuilder::new();
    let p = b
        .add_literal(b"a.b*(\0", LiteralKind::Contains)
        .expect("lit");
    let set = b.build().expect("build");
    assert_eq!(scan_all(&set, b"xa.b*(\0y"), vec![p]);
    assert_eq!(scan_all(&set, b"xaxb*(\0y"), vec![]);
}

#[test]
fn parallel_placement_keeps_ids_in_order() {
    // Enough regexes to take the multi-threaded path, with rejected ones at varied positions.
    let mut b = PatternSetBuilder::new();
    let mut expect_prefilter = 0;
    for i in 0..40 {
        if i % 9 == 4 {
            b.add_regex(&format!("k{i}(?!z)")).expect("lookahead");
            expect_prefilter += 1;
        } else {
            b.add_regex(&format!("^k{i}$")).expect("rx");
        }
    }
    let set = b.build().expect("build");
    assert_eq!(set.stats().prefiltered, expect_prefilter);
    for i in 0..40u32 {
        assert_eq!(
            scan_all(&set, format!("k{i}").as_bytes()),
            vec![PatternId(i)]
        );
    }
    assert_eq!(scan_all(&set, b"k4z"), vec![]);
}

#[test]
fn memo_answers_repeats_exactly_and_counts() {
    let mut b = PatternSetBuilder::new();
    let r = b.add_regex(r"(?i)union\s+select").expect("rx");
    // A prefiltered pattern (backreference), so a miss really runs PCRE2.
    let bref = b.add_regex(r"(a+)b\1").expect("backref");
    let set = b.build().expect("build");
    let mut s = set.new_scratch();
    let mut out = Vec::new();
    let values: [&[u8]; 4] = [
        b"1 union select 2",
        b"aabaa",
        b"harmless",
        b"1 union select 2",
    ];
    let want = [vec![r], vec![bref], vec![], vec![r]];
    for round in 0..3 {
        for (v, w) in values.iter().zip(&want) {
            set.scan(&mut s, v, &mut out);
            assert_eq!(&out, w, "round {round} value {v:?}");
        }
    }
    let c = s.counters();
    assert_eq!(c.scans, 12);
    assert_eq!(c.memo_misses, 3, "three distinct values");
    assert_eq!(c.memo_hits, 9);
    // Off: every scan reaches the engines again, answers unchanged.
    s.set_memo(false);
    let runs = s.counters().pcre_runs;
    set.scan(&mut s, b"aabaa", &mut out);
    assert_eq!(out, vec![bref]);
    assert_eq!(s.counters().memo_hits, 9);
    assert!(s.counters().pcre_runs > runs);
}

#[test]
fn memo_never_answers_for_another_set() {
    let mut a = PatternSetBuilder::new();
    a.add_literal(b"x", LiteralKind::Contains).expect("a");
    let a = a.build().expect("build a");
    let mut b = PatternSetBuilder::new();
    b.add_literal(b"y", LiteralKind::Contains).expect("b0");
    b.add_literal(b"x", LiteralKind::Contains).expect("b1");
    let b = b.build().expect("build b");
    let mut s = a.new_scratch();
    // Literal-only sets skip the memo by default (a scan is cheaper); this test is about it.
    s.set_memo(true);
    let mut out = Vec::new();
    a.scan(&mut s, b"x", &mut out);
    a.scan(&mut s, b"x", &mut out);
    assert_eq!(out, ids(&[0]));
    assert_eq!(s.counters().memo_hits, 1);
    // b's scratch would be the right one; a's must not leak a's answer into b.
    let mut sb = b.new_scratch();
    b.scan(&mut sb, b"x", &mut out);
    assert_eq!(out, ids(&[1]));
}

#[test]
fn memo_skips_answers_shaped_by_the_match_limit() {
    let mut b = PatternSetBuilder::new();
    b.set_match_limit(10_000);
    // Prefiltered (lookahead); PCRE2 backtracks into the limit on a run of `a`s.
    b.add_regex(r"^(?:a|aa)+(?=[bc])").expect("rx");
    let set = b.build().expect("build");
    let mut s = set.new_scratch();
    let mut out = Vec::new();
    let v = b"a".repeat(40);
    set.scan(&mut s, &v, &mut out);
    set.scan(&mut s, &v, &mut out);
    assert!(out.is_empty());
    // The memo may hold the candidate, never the limit-shaped settlement: PCRE2 runs again.
    assert_eq!(s.counters().pcre_runs, 2);
    assert_eq!(s.counters().limit_hits, 2, "each repeat counted again");
}

fn placements_of(patterns: &[&str]) -> (PatternSet, Vec<Placement>) {
    let mut b = PatternSetBuilder::new();
    for p in patterns {
        b.add_regex(p).expect("rx");
    }
    let set = b.build().expect("build");
    (set, LAST_PLACEMENTS.with(|c| c.borrow().clone()))
}

#[test]
fn refusals_take_the_same_steps_as_trial_compiles() {
    // Each placement path once: exact, ALLOWEMPTY, prefilter (lookahead, end anchor inside),
    // PCRE2 only (920510's embedded end anchor), refused ones before, between and after.
    let patterns = [
        r"(?!z)k",
        "^abc$",
        "x?",
        r"^(?:a(?:,|$)){1,3}$",
        r"foo|bar",
        r"a$b",
        "(?i)select.*from",
    ];
    let (set, got) = placements_of(&patterns);
    let want: Vec<Placement> = patterns.iter().map(|p| classify(p)).collect();
    assert_eq!(got, want);
    assert!(set.stats().attempts > 1, "{:?}", set.stats());
    assert_eq!(
        got.get(2)
            .cloned()
            .flatten()
            .map(|(e, _)| e[0].1.contains(PatternFlags::ALLOWEMPTY)),
        Some(true)
    );
    assert_eq!(got.get(3), Some(&None));
}

/// Every `@rx` of CRS v3.3.4 and v4.28.0, one set per rule file: the placement found by
/// compile attempts equals the one trial compiles of each pattern alone give (pieces,
/// prefilters, flags), and the too-large command lists really are refused, split and
/// prefiltered on the way.
#[test]
fn crs_placement_equals_trial_compiles() {
    #[path = "../../tests/it/crs_rx.rs"]
    mod crs_rx;
    let Some(crs) = crs_rx::crs_root_or_skip("crs_placement_equals_trial_compiles") else {
        return;
    };
    let files: Vec<std::path::PathBuf> = ["v3.3.4/rules", "v4.28.0/rules"]
        .iter()
        .flat_map(|d| crs_rx::conf_files(&crs.join(d)))
        .collect();
    // (patterns, attempts, prefiltered, split) per file; files on two threads, as trial
    // compiles of the reference take seconds.
    let check = |f: &std::path::PathBuf| -> [usize; 4] {
        let text = std::fs::read_to_string(f).expect("read rules");
        let mut patterns = crs_rx::rx_patterns(&text);
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return [0; 4];
        }
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let (set, got) = placements_of(&refs);
        assert_eq!(got.len(), patterns.len());
        let mut split = 0;
        for (p, g) in patterns.iter().zip(&got) {
            let want = classify(p);
            assert_eq!(g, &want, "{}: {}", f.display(), &p[..p.len().min(100)]);
            split += usize::from(g.as_ref().is_some_and(|(e, _)| e.len() > 1));
        }
        let st = set.stats();
        [patterns.len(), st.attempts as usize, st.prefiltered, split]
    };
    let sums: Vec<[usize; 4]> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (files, check) = (&files, &check);
                sc.spawn(move || {
                    files
                        .iter()
                        .skip(t)
                        .step_by(2)
                        .map(check)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checker thread"))
            .collect()
    });
    let [total, attempts, prefiltered, split] = sums.iter().fold([0; 4], |mut a, r| {
        for (x, y) in a.iter_mut().zip(r) {
            *x += y;
        }
        a
    });
    assert!(total > 500, "{total}");
    assert!(attempts > 40, "refusals: {attempts} attempts");
    assert!(
        prefiltered > 0 && split > 0,
        "{prefiltered} prefiltered, {split} split"
    );
}

#[test]
fn build_all_keeps_order_and_copies_repeated_sets() {
    let make = |rx: &[&str], lit: &[u8]| {
        let mut b = PatternSetBuilder::new();
        for r in rx {
            b.add_regex(r).expect("rx");
        }
        b.add_literal(lit, LiteralKind::Contains).expect("lit");
        b
    };
    let builders = vec![
        make(&["^ab+c$", r"(?i)select\s+from"], b"zz"),
        make(&["x(?!y)"], b"q"),
        make(&["^ab+c$", r"(?i)select\s+from"], b"zz"),
        PatternSetBuilder::new(),
    ];
    let dir = tmpdir("build-all");
    let sets: Vec<PatternSet> = build_all(builders, Some(&dir))
        .into_iter()
        .map(|r| r.expect("build"))
        .collect();
    assert_eq!(sets.len(), 4);
    assert!(matches!(sets[0].stats().cache, CacheUse::Stored { .. }));
    assert_eq!(sets[2].stats().cache, CacheUse::Shared);
    assert_eq!(sets[1].stats().prefiltered, 1);
    for s in [&sets[0], &sets[2]] {
        assert_eq!(scan_all(s, b"abbbc"), ids(&[0]));
        assert_eq!(scan_all(s, b"SELECT  FROM zz"), ids(&[1, 2]));
    }
    assert_eq!(scan_all(&sets[1], b"xz"), ids(&[0]));
    assert_eq!(scan_all(&sets[1], b"xyq"), ids(&[1]));
    assert!(sets[3].is_empty());
    assert_eq!(scan_all(&sets[3], b"anything"), vec![]);
    // A second start-up loads every distinct set from the cache.
    let again = build_all(vec![make(&["x(?!y)"], b"q")], Some(&dir));
    let again = again.into_iter().next().expect("one").expect("build");
    assert_eq!(again.stats().cache, CacheUse::Loaded);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refusals_learned_by_one_set_are_not_paid_again_by_the_next() {
    let make = |extra: &str| {
        let mut b = PatternSetBuilder::new();
        for p in [r"k(?!z)", r"^(?:a(?:,|$)){1,3}$", "x?", extra] {
            b.add_regex(p).expect("rx");
        }
        b
    };
    let facts = Facts::default();
    let first = make("^one$").compile_fresh(&facts).expect("first");
    let first_placed = LAST_PLACEMENTS.with(|c| c.borrow().clone());
    let second = make("^two$").compile_fresh(&facts).expect("second");
    let second_placed = LAST_PLACEMENTS.with(|c| c.borrow().clone());
    assert!(first.stats().attempts > 1, "{:?}", first.stats());
    assert_eq!(second.stats().attempts, 1, "{:?}", second.stats());
    for (placed, last) in [(first_placed, "^one$"), (second_placed, "^two$")] {
        let want: Vec<Placement> = [r"k(?!z)", r"^(?:a(?:,|$)){1,3}$", "x?", last]
            .iter()
            .map(|p| classify(p))
            .collect();
        assert_eq!(placed, want);
    }
    for s in [&first, &second] {
        // `x?` matches every value.
        assert_eq!(scan_all(s, b"kz"), ids(&[2]));
        assert_eq!(scan_all(s, b"ka"), ids(&[0, 2]));
        assert_eq!(scan_all(s, b"a,a"), ids(&[1, 2]));
    }
}

#[test]
fn memo_is_on_where_it_pays() {
    // Literals only, a tiny database: scanning again is cheaper than remembering.
    let mut b = PatternSetBuilder::new();
    b.add_literal(b"x", LiteralKind::Contains).expect("lit");
    let set = b.build().expect("build");
    let mut s = set.new_scratch();
    let mut out = Vec::new();
    set.scan(&mut s, b"x", &mut out);
    set.scan(&mut s, b"x", &mut out);
    assert_eq!(out, ids(&[0]));
    assert_eq!(s.counters().memo_hits, 0);
    // A prefiltered regex (PCRE2 work per scan): remembered.
    let mut b = PatternSetBuilder::new();
    b.add_regex(r"^(?:a|aa)+(?=[bc])").expect("rx");
    let set = b.build().expect("build");
    assert!(set.stats().prefiltered > 0 || set.stats().pcre_only > 0);
    let mut s = set.new_scratch();
    set.scan(&mut s, b"aab", &mut out);
    set.scan(&mut s, b"aab", &mut out);
    assert_eq!(out, ids(&[0]));
    assert_eq!(s.counters().memo_hits, 1);
}

#[test]
fn prune_removes_only_files_unused_for_long() {
    let dir = std::env::temp_dir().join(format!("spoa-waf-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 24 * 3600);
    let old_db = dir.join("patternset-00000000000000aa.hsdb");
    let old_tmp = dir.join("patternset-00000000000000bb.tmp4242");
    let foreign = dir.join("notes.txt");
    for p in [&old_db, &old_tmp, &foreign] {
        std::fs::write(p, b"x").expect("write");
        let f = std::fs::File::options().append(true).open(p).expect("open");
        f.set_modified(month_ago).expect("set mtime");
    }
    // A set built now through the cache: its file is written (fresh) and must stay; loading it
    // again renews it.
    let _ = cache_builder().build_cached(Some(&dir)).expect("build");
    let used = cache::path_for(&dir, &cache_builder().specs);
    assert!(used.exists());
    let f = std::fs::File::options()
        .append(true)
        .open(&used)
        .expect("open");
    f.set_modified(month_ago).expect("age it");
    let set = cache_builder().build_cached(Some(&dir)).expect("load");
    assert_eq!(set.stats().cache, CacheUse::Loaded);
    assert_eq!(cache::prune(&dir, cache::UNUSED_FOR), 2);
    assert!(used.exists(), "a file just loaded is renewed and kept");
    assert!(!old_db.exists() && !old_tmp.exists());
    assert!(foreign.exists(), "files that are not ours are left alone");
    let _ = std::fs::remove_dir_all(&dir);
}
