//! A thin, owned wrapper over the PCRE2 C library (8-bit code units, byte mode).
//!
//! Owns: compiling a pattern with libmodsecurity3's `@rx` flags (`DOTALL | MULTILINE`, no UTF),
//! JIT-compiling it, and matching with a bounded match limit so catastrophic backtracking ends as
//! "no match" (counted) instead of a hang. Per-thread state (match data, match context, JIT stack)
//! lives in [`PcreScratch`]; compiled [`Code`] is immutable and shared between threads, as PCRE2
//! documents it may be. Refuses: UTF mode, partial matching, substitution.
//! Every `unsafe` block states its invariant in a `// SAFETY:` comment; the tests at the bottom
//! exercise each of them.

use std::ffi::c_void;
use std::ptr::{self, NonNull};

use pcre2_sys as ffi;

/// PCRE2's own default (10,000,000) lets one pathological value burn tens of milliseconds; this
/// is a tenth of it, still far above what any CRS pattern needs on realistic values.
pub const DEFAULT_MATCH_LIMIT: u32 = 1_000_000;

/// Largest JIT stack a scratch may grow to. PCRE2's 32 KiB default stack is too small for some
/// long CRS alternations; 1 MiB is reserved lazily by the library.
const JIT_STACK_MAX: usize = 1 << 20;

/// Capture slots a scratch's match data holds: TX:0 ... TX:9, as ModSecurity's `capture`.
pub const CAPTURE_SLOTS: usize = 10;

/// A compiled PCRE2 pattern (plus its JIT code when JIT compilation succeeded).
#[derive(Debug)]
pub struct Code {
    ptr: NonNull<ffi::pcre2_code_8>,
    jit: bool,
    /// Match (and depth) limit applied to every match of this pattern.
    limit: u32,
}

// SAFETY: a compiled pcre2_code is immutable after pcre2_jit_compile (done in `Code::new`, before
// the value can be shared); PCRE2 documents that one compiled pattern may be used by several
// threads at once as long as each thread brings its own match data (our `PcreScratch`).
unsafe impl Send for Code {}
// SAFETY: see `Send` above; `&Code` only ever reads the compiled pattern.
unsafe impl Sync for Code {}

impl Drop for Code {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from pcre2_compile_8 and is freed exactly once, here.
        unsafe { ffi::pcre2_code_free_8(self.ptr.as_ptr()) }
    }
}

/// Why a pattern did not compile: PCRE2's message and the offset in the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
    pub offset: usize,
}

fn error_message(code: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer pointer and its length describe `buf` exactly; PCRE2 writes at most
    // `buf.len()` code units including the terminating NUL and returns the length or < 0.
    let n = unsafe { ffi::pcre2_get_error_message_8(code, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return format!("PCRE2 error {code}");
    }
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

impl Code {
    /// Compiles `pattern` with `DOTALL | MULTILINE` in byte mode and JIT-compiles it when the
    /// library supports JIT (falling back to the interpreter otherwise). Every match of it stops
    /// after `match_limit` backtracking steps.
    pub fn new(pattern: &str, match_limit: u32) -> Result<Self, CompileError> {
        let mut err: i32 = 0;
        let mut off: usize = 0;
        let options = ffi::PCRE2_DOTALL | ffi::PCRE2_MULTILINE;
        // SAFETY: pattern pointer/length describe a live byte slice (PCRE2 does not need a NUL
        // terminator when the length is given); err/off point to live locals; a null compile
        // context selects the defaults.
        let raw = unsafe {
            ffi::pcre2_compile_8(
                pattern.as_ptr(),
                pattern.len(),
                options,
                &mut err,
                &mut off,
                ptr::null_mut(),
            )
        };
        let Some(ptr) = NonNull::new(raw) else {
            return Err(CompileError {
                message: error_message(err),
                offset: off,
            });
        };
        // SAFETY: `ptr` is a valid compiled pattern not yet shared with anyone; JIT compilation
        // mutates it in place. A failure leaves the pattern usable by the interpreter.
        let jit = unsafe { ffi::pcre2_jit_compile_8(ptr.as_ptr(), ffi::PCRE2_JIT_COMPLETE) } == 0;
        Ok(Code {
            ptr,
            jit,
            limit: match_limit,
        })
    }

    /// Whether the pattern runs as JIT code.
    pub fn is_jit(&self) -> bool {
        self.jit
    }

    /// Number of capturing groups in the pattern.
    pub fn capture_count(&self) -> u32 {
        let mut n: u32 = 0;
        // SAFETY: PCRE2_INFO_CAPTURECOUNT writes one uint32_t to the given pointer.
        let rc = unsafe {
            ffi::pcre2_pattern_info_8(
                self.ptr.as_ptr(),
                ffi::PCRE2_INFO_CAPTURECOUNT,
                (&mut n as *mut u32).cast::<c_void>(),
            )
        };
        if rc == 0 {
            n
        } else {
            0
        }
    }

    /// Runs one match from offset 0. `Ok(true)` = matched (ovector filled in `scratch`),
    /// `Ok(false)` = no match, `Err(())` = a resource limit stopped the match (the caller
    /// treats it as no match and counts it).
    fn run(&self, scratch: &mut PcreScratch, hay: &[u8]) -> Result<bool, ()> {
        scratch.set_limit(self.limit);
        // SAFETY: code, subject (pointer + length of a live slice), match data and match context
        // are all valid for the duration of the call; the match data and context belong to this
        // scratch, which `&mut` makes exclusive to this thread. An empty slice has a dangling but
        // non-null pointer, which PCRE2 never dereferences for a zero length.
        let rc = unsafe {
            ffi::pcre2_match_8(
                self.ptr.as_ptr(),
                hay.as_ptr(),
                hay.len(),
                0,
                0,
                scratch.data.as_ptr(),
                scratch.ctx.as_ptr(),
            )
        };
        if rc >= 0 {
            Ok(true)
        } else if rc == ffi::PCRE2_ERROR_NOMATCH {
            Ok(false)
        } else {
            // MATCHLIMIT, DEPTHLIMIT, HEAPLIMIT, JIT_STACKLIMIT, NOMEMORY: all mean "gave up".
            Err(())
        }
    }

    /// True if the pattern matches somewhere in `hay`. A resource-limit stop is "no match" and
    /// increments `scratch.limit_hits`.
    pub fn is_match(&self, scratch: &mut PcreScratch, hay: &[u8]) -> bool {
        match self.run(scratch, hay) {
            Ok(m) => m,
            Err(()) => {
                scratch.limit_hits += 1;
                false
            }
        }
    }

    /// Like [`Code::is_match`], and on a match copies the spans of groups 0..=9 into `caps`
    /// (`None` for groups that did not participate or do not exist).
    pub fn captures(
        &self,
        scratch: &mut PcreScratch,
        hay: &[u8],
        caps: &mut [Option<(usize, usize)>; CAPTURE_SLOTS],
    ) -> bool {
        *caps = [None; CAPTURE_SLOTS];
        if !self.is_match(scratch, hay) {
            return false;
        }
        // SAFETY: the match data was created with CAPTURE_SLOTS pairs, so the ovector pointer is
        // valid for 2 * CAPTURE_SLOTS usize values until the next match on this match data.
        let ov = unsafe {
            let p = ffi::pcre2_get_ovector_pointer_8(scratch.data.as_ptr());
            std::slice::from_raw_parts(p, 2 * CAPTURE_SLOTS)
        };
        // Pairs past the pattern's own groups are never written by PCRE2 (they hold whatever
        // the match data had), so only the whole match and the pattern's groups are read.
        let used = (self.capture_count() as usize + 1).min(CAPTURE_SLOTS);
        for (i, slot) in caps.iter_mut().enumerate().take(used) {
            let (s, e) = (ov[2 * i], ov[2 * i + 1]);
            // PCRE2_UNSET (usize::MAX) marks an unset group; guard bounds anyway.
            if s != usize::MAX && e != usize::MAX && s <= e && e <= hay.len() {
                *slot = Some((s, e));
            }
        }
        true
    }
}

/// Per-thread PCRE2 state: match data (10 capture pairs), a match context carrying the match
/// limit and a private JIT stack, and a counter of matches abandoned at a limit.
#[derive(Debug)]
pub struct PcreScratch {
    data: NonNull<ffi::pcre2_match_data_8>,
    ctx: NonNull<ffi::pcre2_match_context_8>,
    jit_stack: Option<NonNull<ffi::pcre2_jit_stack_8>>,
    /// The limit the match context currently carries.
    limit: u32,
    /// Matches stopped by the match limit (or another PCRE2 resource limit).
    pub limit_hits: u64,
}

// SAFETY: the scratch owns its match data, context and JIT stack outright (no aliasing); moving
// it to another thread moves that ownership. It is not Sync: matching needs `&mut`.
unsafe impl Send for PcreScratch {}

impl PcreScratch {
    /// Allocates match data, a match context, and a JIT stack.
    ///
    /// # Panics
    /// Only when the C allocator fails (out of memory), like any Rust allocation.
    pub fn new() -> Self {
        let slots = u32::try_from(CAPTURE_SLOTS).unwrap_or(10);
        // SAFETY: plain constructors; a null general context selects malloc/free.
        let (data, ctx, stack) = unsafe {
            (
                ffi::pcre2_match_data_create_8(slots, ptr::null_mut()),
                ffi::pcre2_match_context_create_8(ptr::null_mut()),
                ffi::pcre2_jit_stack_create_8(32 * 1024, JIT_STACK_MAX, ptr::null_mut()),
            )
        };
        let (Some(data), Some(ctx)) = (NonNull::new(data), NonNull::new(ctx)) else {
            panic!("PCRE2 match data allocation failed (out of memory)");
        };
        let jit_stack = NonNull::new(stack);
        // SAFETY: ctx is a live match context we own; the JIT stack (when allocated) outlives the
        // context's use because both are freed together in Drop, stack last.
        unsafe {
            if let Some(s) = jit_stack {
                ffi::pcre2_jit_stack_assign_8(ctx.as_ptr(), None, s.as_ptr().cast::<c_void>());
            }
        }
        let mut s = PcreScratch {
            data,
            ctx,
            jit_stack,
            limit: 0,
            limit_hits: 0,
        };
        s.set_limit(DEFAULT_MATCH_LIMIT);
        s
    }

    /// Points the match context at `limit` (a no-op when it already is).
    fn set_limit(&mut self, limit: u32) {
        if self.limit == limit {
            return;
        }
        // SAFETY: ctx is a live match context owned by this scratch; setters only store a value.
        unsafe {
            ffi::pcre2_set_match_limit_8(self.ctx.as_ptr(), limit);
            // The depth limit bounds the interpreter's backtracking memory the same way.
            ffi::pcre2_set_depth_limit_8(self.ctx.as_ptr(), limit);
        }
        self.limit = limit;
    }
}

impl Default for PcreScratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PcreScratch {
    fn drop(&mut self) {
        // SAFETY: each pointer was allocated in `new`, is owned only by this value, and is freed
        // exactly once; the context goes before the JIT stack it references.
        unsafe {
            ffi::pcre2_match_data_free_8(self.data.as_ptr());
            ffi::pcre2_match_context_free_8(self.ctx.as_ptr());
            if let Some(s) = self.jit_stack {
                ffi::pcre2_jit_stack_free_8(s.as_ptr());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, hay: &[u8]) -> bool {
        let code = Code::new(p, DEFAULT_MATCH_LIMIT).expect("compiles");
        let mut s = PcreScratch::new();
        code.is_match(&mut s, hay)
    }

    #[test]
    fn compile_error_reports_message_and_offset() {
        let e = Code::new("ab(c", DEFAULT_MATCH_LIMIT).expect_err("unbalanced");
        assert!(e.message.contains("missing"), "{}", e.message);
        assert_eq!(e.offset, 4);
        // Byte mode: code points above 0xff are rejected, as in libmodsecurity3.
        assert!(Code::new(r"\x{100}", DEFAULT_MATCH_LIMIT).is_err());
    }

    #[test]
    fn flags_are_dotall_multiline_bytes() {
        assert!(m("a.b", b"a\nb"), "DOTALL");
        assert!(m("^b$", b"a\nb\nc"), "MULTILINE");
        assert!(m(r"\x{bc}", b"x\xbcy"), "\\x{{bc}} is a byte");
        assert!(
            !m(r"^\x{bc}$", "\u{bc}".as_bytes()),
            "U+00BC is two bytes, not one"
        );
        assert!(m("(?i)abc", b"xABCx"));
        assert!(!m("abc", b"ABC"));
        // Invalid UTF-8 in the subject is fine in byte mode.
        assert!(m("\\xff\\xfe", b"\xff\xfe"));
        assert!(m("^$", b""));
    }

    #[test]
    fn jit_is_used_and_captures_are_reported() {
        let code = Code::new(r"(a+)(x)?(b+)", DEFAULT_MATCH_LIMIT).expect("compiles");
        assert!(code.is_jit(), "this libpcre2 has JIT");
        assert_eq!(code.capture_count(), 3);
        let mut s = PcreScratch::new();
        let mut caps = [None; CAPTURE_SLOTS];
        assert!(code.captures(&mut s, b"zzaabbb", &mut caps));
        assert_eq!(caps[0], Some((2, 7)));
        assert_eq!(caps[1], Some((2, 4)));
        assert_eq!(caps[2], None);
        assert_eq!(caps[3], Some((4, 7)));
        assert_eq!(caps[4], None);
        assert!(!code.captures(&mut s, b"zzz", &mut caps));
        assert_eq!(caps[0], None);
    }

    #[test]
    fn catastrophic_backtracking_stops_at_the_limit() {
        let code = Code::new(r"^(a+)+$", 10_000).expect("compiles");
        let mut s = PcreScratch::new();
        let mut hay = vec![b'a'; 40];
        hay.push(b'b');
        assert!(!code.is_match(&mut s, &hay));
        assert_eq!(s.limit_hits, 1);
        assert!(code.is_match(&mut s, b"aaaa"));
        assert_eq!(s.limit_hits, 1);
    }

    #[test]
    fn code_is_shared_across_threads_with_own_scratch() {
        let code = std::sync::Arc::new(Code::new("needle", DEFAULT_MATCH_LIMIT).expect("compiles"));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let code = code.clone();
                std::thread::spawn(move || {
                    let mut s = PcreScratch::new();
                    let hay = format!("{i} hay needle");
                    code.is_match(&mut s, hay.as_bytes())
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().expect("thread"));
        }
    }

    #[test]
    fn deep_alternation_needs_the_large_jit_stack() {
        // A long subject through a recursive-ish group exceeds PCRE2's 32 KiB default JIT stack.
        let code = Code::new(r"^(?:a|b)*c$", DEFAULT_MATCH_LIMIT).expect("compiles");
        let mut s = PcreScratch::new();
        let mut hay = vec![b'a'; 20_000];
        hay.push(b'c');
        assert!(code.is_match(&mut s, &hay));
        assert_eq!(s.limit_hits, 0);
    }
}
