//! Heap allocations per request in the engine, counted by a global allocator (this file is its
//! own test binary, `[[test]] alloc`, so the counter sees nothing but this test).
//!
//! A warm shard must reuse its scan-cache buffers and Hyperscan scratch: a repeated typical GET
//! with CRS 4.28 PL1 allocates fewer times than the first one on a fresh scratch. The counts are
//! printed (`--nocapture`) for perf/runs; no figure is asserted beyond that reuse.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use spoa_waf::corpus::CorpusRequest;
use spoa_waf::engine::Engine;
use spoa_waf::inspect::Inspector;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY-free wrapper: every call is forwarded unchanged to the system allocator; only a
// counter is bumped. (`GlobalAlloc` is an unsafe trait, so this test opts out of the lint.)
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn shared_dir() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        if dir.join("shared").join("crs").is_dir() {
            return dir.join("shared");
        }
        assert!(dir.pop(), "no shared/crs above CARGO_MANIFEST_DIR");
    }
}

#[test]
fn warm_get_reuses_engine_buffers() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crs = shared_dir().join("crs").join("v4.28.0");
    let conf = std::env::temp_dir().join(format!("spoa-waf-alloc-{}.conf", std::process::id()));
    let text = format!(
        "Include {}\nInclude {}\nInclude {}\nInclude {}\n",
        repo.join("rules/modsecurity-base.conf").display(),
        repo.join("perf/baseline/overrides.conf").display(),
        crs.join("crs-setup.conf.example").display(),
        crs.join("rules/*.conf").display()
    );
    std::fs::write(&conf, text).unwrap();
    let engine = Engine::from_file(&conf).unwrap();
    let _ = std::fs::remove_file(&conf);
    let corpus = std::fs::read_to_string(repo.join("bench/corpus/get.jsonl")).unwrap();
    let line = corpus.lines().next().unwrap();
    let req = CorpusRequest::parse(line, 1).unwrap();
    let req = req.as_request();

    let mut scratch = engine.new_scratch();
    let count = |scratch: &mut _| {
        let before = ALLOCS.load(Ordering::Relaxed);
        let v = engine.inspect_request(scratch, &req);
        let n = ALLOCS.load(Ordering::Relaxed) - before;
        assert!(v.disruption.is_none(), "a benign GET passes");
        n
    };
    let first = count(&mut scratch);
    let mut warm = usize::MAX;
    for _ in 0..3 {
        warm = warm.min(count(&mut scratch));
    }
    println!("allocations per GET (CRS 4.28 PL1): first {first}, warm {warm}");
    assert!(
        warm < first,
        "a warm scratch reuses its buffers (first {first}, warm {warm})"
    );
}
