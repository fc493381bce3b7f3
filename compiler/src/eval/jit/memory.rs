//! The JIT's code memory, counted: every byte the modules ask for and give back passes
//! through here, so "a dropped rule set frees its code" is a fact tests can check exactly
//! (resident memory of a process is noise) and `--stats` can report.

use cranelift_jit::{BranchProtection, JITMemoryKind, JITMemoryProvider, SystemMemoryProvider};
use cranelift_module::ModuleResult;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of JIT code and data held by live modules, process-wide.
static LIVE: AtomicU64 = AtomicU64::new(0);

/// Bytes of JIT code and data held by live rule sets in this process.
pub fn live_code_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

/// The system provider, with what it holds counted.
pub struct Counted {
    inner: SystemMemoryProvider,
    held: u64,
}

impl Counted {
    pub fn new() -> Counted {
        Counted {
            inner: SystemMemoryProvider::new(),
            held: 0,
        }
    }
}

impl JITMemoryProvider for Counted {
    fn allocate(
        &mut self,
        size: usize,
        align: u64,
        kind: JITMemoryKind,
    ) -> std::io::Result<*mut u8> {
        let p = self.inner.allocate(size, align, kind)?;
        self.held += size as u64;
        LIVE.fetch_add(size as u64, Ordering::Relaxed);
        Ok(p)
    }

    unsafe fn free_memory(&mut self) {
        // SAFETY: the caller's promise (no pointer into this memory is used again) is passed
        // on unchanged.
        unsafe { self.inner.free_memory() };
        LIVE.fetch_sub(self.held, Ordering::Relaxed);
        self.held = 0;
    }

    fn finalize(&mut self, branch_protection: BranchProtection) -> ModuleResult<()> {
        self.inner.finalize(branch_protection)
    }
}
