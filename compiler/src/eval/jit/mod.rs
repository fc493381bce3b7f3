//! The Cranelift JIT: each program becomes one native function over the frame ABI in [`abi`].
//!
//! Generated code reads slots only at offsets checked against the layout at compile time
//! (frames are checked to have the layout's length before every call) and reads array elements
//! only after checking the range against the arena's length. It never traps: missing values,
//! NaN and division by zero follow the same branches and IEEE instructions the interpreter's
//! definitions use. Strings, CIDRs and large sets go through the `extern "C"` helpers, which
//! call the very functions the interpreter calls.
//!
//! All of Vigil's `unsafe` lives in this module.
#![allow(unsafe_code)]

pub mod abi;
mod codegen;
mod helpers;
mod memory;
mod predicates;

pub use memory::live_code_bytes;

use codegen::{Gen, build};

use crate::eval::value::{SlotVal, TAG_ARRAY, TAG_BOOL, TAG_NUM, TAG_STR};
use abi::{OFF_BITS, OFF_SYM, OFF_TAG, SLOT_SIZE};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, InstBuilder, MemFlagsData, Signature, Value, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, ir::UserFuncName};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Module, default_libcall_names};

use crate::eval::index::RuleIndex;
use crate::eval::interp::{self, MAX_DEPTH};
use crate::eval::ops;
use crate::ir::{
    Arith, CmpKind, CmpOp, Ir, Kind, Layout, Math, Node, NodeId, Program, Role, SlotRef,
};
use std::collections::HashMap;
use std::sync::OnceLock;

/// What a compiled function receives: the frame, the arena, the IR (for helpers), where a
/// numeric result goes, and (for batches) where to append the ids of the programs that hold.
#[repr(C)]
pub struct CallCtx<'f, 'a> {
    pub slots: *const SlotVal<'a>,
    pub elems: *const SlotVal<'a>,
    pub elems_len: u64,
    pub ir: *const Ir,
    pub out: *mut f64,
    pub hits: *mut u32,
    _frame: std::marker::PhantomData<&'f [SlotVal<'a>]>,
}

/// A program returns its truth (or, for a number, whether it is present) as 0/1; a batch
/// returns how many ids it appended.
type Entry = unsafe extern "C" fn(*const CallCtx) -> u64;

/// One native function evaluating several filters in a row (no call per rule), appending the
/// ids of those that hold.
struct Batch {
    progs: Vec<u32>,
    func: Entry,
}

/// Native code for every program of a rule set, and for the batches the rule index selects.
/// Dropping it frees the code memory (a hot reload replaces the rule set and must not leak).
pub struct Compiled {
    module: Option<JITModule>,
    /// Per program, its function; `None` for filters, which run in batches (see `singles`).
    funcs: Vec<Option<Entry>>,
    batches: Vec<Batch>,
    /// Batch per interned key value (`u32::MAX`: none).
    by_key: Vec<u32>,
    always: Option<usize>,
    /// Keyed batches include the always-candidates.
    merged: bool,
    /// The baseline's batch, compiled on first use into a module of its own (`None`: it could
    /// not be, and filters run one by one): only `vigil eval --no-index`, tests and benchmarks
    /// use it, and compiling it with the rest took a third of every rule set's compile time.
    baseline: OnceLock<Option<Baseline>>,
    /// Each filter's own function, compiled on the first call of one into a module of its
    /// own (`None`: it could not be, and the interpreter runs them). Events reach filters
    /// through batches: only tests and the baseline's fallback run a filter alone, and
    /// compiling every filter twice took half of a rule set's compile time.
    singles: OnceLock<Option<Singles>>,
}

struct Baseline {
    module: JITModule,
    batch: Batch,
}

struct Singles {
    module: JITModule,
    /// Per program: a filter's function.
    funcs: Vec<Option<Entry>>,
}

/// How many copies of always-candidate filters keyed batches may hold between them.
const MERGE_BUDGET: usize = 512;

// SAFETY: after `finalize_definitions` the module's code and data pages are immutable and the
// module itself is only touched again by `Drop`, which has exclusive access; the baseline's
// and the filters' modules likewise, once their `OnceLock` is set (each is built inside its
// lock, before any pointer into it is read). The function pointers are plain code addresses; the code reads only what
// each call passes it.
unsafe impl Send for Compiled {}
// SAFETY: as above: calls share nothing mutable (each call has its own stack and frame).
unsafe impl Sync for Compiled {}

impl Drop for Compiled {
    fn drop(&mut self) {
        self.funcs.clear();
        self.batches.clear();
        if let Some(m) = self.module.take() {
            // SAFETY: no function pointer into this module survives: `funcs` and `batches` were
            // cleared above and pointers are never handed out of `Compiled`.
            unsafe { m.free_memory() };
        }
        if let Some(Some(b)) = self.baseline.take() {
            let Baseline { module, batch } = b;
            drop(batch);
            // SAFETY: as above: the batch, the only pointer into this module, is gone.
            unsafe { module.free_memory() };
        }
        if let Some(Some(f)) = self.singles.take() {
            let Singles { module, funcs } = f;
            drop(funcs);
            // SAFETY: as above: `funcs`, the only pointers into this module, are gone.
            unsafe { module.free_memory() };
        }
    }
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Compiled({} functions, {} batches)",
            self.funcs.len(),
            self.batches.len()
        )
    }
}

/// What one generated function computes.
#[derive(Clone, Copy)]
enum Shape<'p> {
    Single(&'p Program),
    Batch(&'p [u32]),
}

impl Compiled {
    /// Compiles every program but the filters, and the filter batches the index selects.
    /// Fails (and the caller falls back to the interpreter) when the host is not supported or
    /// Cranelift refuses a function.
    pub fn new(ir: &Ir, index: &RuleIndex) -> Result<Compiled, String> {
        let BatchLists {
            lists,
            by_key,
            always,
            merged,
        } = batch_lists(ir, index);
        let own = |p: &Program| p.role != Role::Filter;
        let singles = ir.programs.iter().filter(|p| own(p)).count();
        let shapes: Vec<Shape> = (ir.programs.iter().filter(|p| own(p)).map(Shape::Single))
            .chain(lists.iter().map(|l| Shape::Batch(l)))
            .collect();
        let (module, mut compiled) = compile(ir, &shapes)?;
        let batch_funcs = compiled.split_off(singles);
        let mut compiled = compiled.into_iter();
        let funcs = (ir.programs.iter())
            .map(|p| own(p).then(|| compiled.next()).flatten())
            .collect();
        let batches = lists
            .into_iter()
            .zip(batch_funcs)
            .map(|(progs, func)| Batch { progs, func })
            .collect();
        Ok(Compiled {
            module: Some(module),
            funcs,
            batches,
            by_key,
            always,
            merged,
            baseline: OnceLock::new(),
            singles: OnceLock::new(),
        })
    }

    fn ctx<'f, 'a>(
        ir: &Ir,
        slots: &'f [SlotVal<'a>],
        elems: &'f [SlotVal<'a>],
        out: *mut f64,
        hits: *mut u32,
    ) -> CallCtx<'f, 'a> {
        CallCtx {
            slots: slots.as_ptr(),
            elems: elems.as_ptr(),
            elems_len: elems.len() as u64,
            ir,
            out,
            hits,
            _frame: std::marker::PhantomData,
        }
    }

    /// Runs program `p` (`ir` must be the one this was compiled from); `None` when it has
    /// no native code (a filter whose module could not be compiled): the caller interprets
    /// it. The caller checked `slots.len() == ir.layout.len()`.
    pub fn call(
        &self,
        ir: &Ir,
        p: usize,
        slots: &[SlotVal],
        elems: &[SlotVal],
        out: &mut f64,
    ) -> Option<bool> {
        debug_assert_eq!(slots.len(), ir.layout.len());
        let f = match self.funcs.get(p)? {
            Some(f) => *f,
            None => self.single(ir, p)?,
        };
        let cx = Self::ctx(ir, slots, elems, out, std::ptr::null_mut());
        // SAFETY: the code was generated from `ir` for this layout, reads slots at verified
        // offsets of `slots` (whose length the caller checked) and elements within
        // `elems_len`, and writes only `out`.
        Some(unsafe { f(&cx) != 0 })
    }

    /// Filter `p`'s own function, every filter's compiled on the first call.
    fn single(&self, ir: &Ir, p: usize) -> Option<Entry> {
        let singles = self.singles.get_or_init(|| {
            let filters: Vec<usize> = ir.filters().map(|(i, _)| i).collect();
            let shapes: Vec<Shape> = (filters.iter())
                .map(|&i| Shape::Single(&ir.programs[i]))
                .collect();
            let (module, compiled) = compile(ir, &shapes).ok()?;
            let mut funcs = vec![None; ir.programs.len()];
            for (i, f) in filters.into_iter().zip(compiled) {
                funcs[i] = Some(f);
            }
            Some(Singles { module, funcs })
        });
        *singles.as_ref()?.funcs.get(p)?
    }

    /// Runs batch `b`, appending the programs that hold to `out`.
    fn run_batch(
        &self,
        ir: &Ir,
        b: usize,
        slots: &[SlotVal],
        elems: &[SlotVal],
        out: &mut Vec<u32>,
    ) {
        self.run(ir, &self.batches[b], slots, elems, out);
    }

    /// Runs `batch`, appending the programs that hold to `out`.
    fn run(
        &self,
        ir: &Ir,
        batch: &Batch,
        slots: &[SlotVal],
        elems: &[SlotVal],
        out: &mut Vec<u32>,
    ) {
        out.reserve(batch.progs.len());
        let mut num = 0.0;
        let start = out.len();
        // SAFETY: `reserve` made room for `progs.len()` ids past `start`.
        let dst = unsafe { out.as_mut_ptr().add(start) };
        let cx = Self::ctx(ir, slots, elems, &mut num, dst);
        // SAFETY: as in `call`. The batch writes program ids only at positions below the
        // number of programs evaluated so far (at most `progs.len()`, the room reserved), and
        // returns how many it kept, all written.
        let n = unsafe { (batch.func)(&cx) } as usize;
        let n = n.min(batch.progs.len());
        // SAFETY: the first `n` positions past `start` were written with ids (see above).
        unsafe { out.set_len(start + n) };
    }

    /// Filters that hold, through the index's batches (those of the event's key values, then
    /// the always-candidates), sorted.
    pub fn matching(
        &self,
        ir: &Ir,
        keys: &[u32],
        slots: &[SlotVal],
        elems: &[SlotVal],
        out: &mut Vec<u32>,
    ) {
        out.clear();
        let mut ran = 0;
        for &k in keys {
            if let Some(b) = self.by_key.get(k as usize).copied()
                && b != u32::MAX
            {
                self.run_batch(ir, b as usize, slots, elems, out);
                ran += 1;
            }
        }
        let keyed = out.len();
        if !(self.merged && ran > 0)
            && let Some(b) = self.always
        {
            self.run_batch(ir, b, slots, elems, out);
        }
        // Several key values (an array key) can reach a filter twice (merged batches carry
        // the always-candidates).
        if ran > 1 {
            out.sort_unstable();
            out.dedup();
        } else if keyed > 0 && out.len() > keyed {
            out.sort_unstable();
        }
    }

    /// Every filter that holds: in one batch, compiled on the first call (`ir` must be the one
    /// this was compiled from); one by one if that batch could not be compiled.
    pub fn matching_all(&self, ir: &Ir, slots: &[SlotVal], elems: &[SlotVal], out: &mut Vec<u32>) {
        out.clear();
        let baseline = self.baseline.get_or_init(|| {
            let progs: Vec<u32> = ir.filters().map(|(i, _)| i as u32).collect();
            let (module, mut funcs) = compile(ir, &[Shape::Batch(&progs)]).ok()?;
            let func = funcs.pop()?;
            Some(Baseline {
                module,
                batch: Batch { progs, func },
            })
        });
        match baseline {
            Some(b) => self.run(ir, &b.batch, slots, elems, out),
            None => {
                let mut num = 0.0;
                for (p, prog) in ir.filters() {
                    let holds = self
                        .call(ir, p, slots, elems, &mut num)
                        .unwrap_or_else(|| interp::eval_bool(ir, prog.root, slots, elems));
                    if holds {
                        out.push(p as u32);
                    }
                }
            }
        }
    }
}

/// `shapes` compiled into a new module: the module, and each shape's entry in order.
fn compile(ir: &Ir, shapes: &[Shape]) -> Result<(JITModule, Vec<Entry>), String> {
    let mut module = jit_module()?;
    let ptr = module.target_config().pointer_type();
    if ptr != types::I64 {
        return Err("the JIT needs a 64-bit target".to_string());
    }
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut ids = Vec::with_capacity(shapes.len());
    for shape in shapes {
        let mut sig = module.make_signature();
        sig.params.push(AbiParam::new(ptr));
        sig.returns.push(AbiParam::new(types::I64));
        let id = module
            .declare_anonymous_function(&sig)
            .map_err(|e| e.to_string())?;
        ctx.func.signature = sig;
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        build(ir, *shape, &mut ctx, &mut fctx, module.target_config())?;
        module
            .define_function(id, &mut ctx)
            .map_err(|e| format!("cannot compile: {e:?}"))?;
        module.clear_context(&mut ctx);
        ids.push(id);
    }
    module.finalize_definitions().map_err(|e| e.to_string())?;
    let entries = ids
        .into_iter()
        .map(|id| {
            let code = module.get_finalized_function(id);
            // SAFETY: every function was declared with the `Entry` signature (one pointer
            // argument, an i64 result, the platform's C calling convention).
            unsafe { std::mem::transmute::<*const u8, Entry>(code) }
        })
        .collect();
    Ok((module, entries))
}

/// A JIT module for this machine (the verifier on in debug builds and with
/// `VIGIL_JIT_VERIFY`).
fn jit_module() -> Result<JITModule, String> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v).map_err(|e| format!("cranelift flag {k}: {e}"))
    };
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "opt_level", "speed")?;
    let verify = cfg!(debug_assertions) || std::env::var_os("VIGIL_JIT_VERIFY").is_some();
    set(
        &mut flags,
        "enable_verifier",
        if verify { "true" } else { "false" },
    )?;
    let isa = cranelift_native::builder()
        .map_err(|e| format!("this machine is not supported by the JIT: {e}"))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| format!("cannot set up the JIT: {e}"))?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    builder.memory_provider(Box::new(memory::Counted::new()));
    Ok(JITModule::new(builder))
}

/// Which filters each batch evaluates: one per key value of the rule index, and the
/// always-candidates.
struct BatchLists {
    lists: Vec<Vec<u32>>,
    /// Interned key value -> its batch (`u32::MAX`: none).
    by_key: Vec<u32>,
    always: Option<usize>,
    /// The always-candidates are merged into every key's batch.
    merged: bool,
}

fn batch_lists(ir: &Ir, index: &RuleIndex) -> BatchLists {
    let mut lists: Vec<Vec<u32>> = Vec::new();
    let mut by_key = vec![u32::MAX; ir.strings.len()];
    // Each key value's batch also holds the always-candidates, so an event costs one call;
    // past a budget of copies, they stay in their own batch.
    let keyed: Vec<(u32, &[u32])> = index.keyed_lists().collect();
    let merged = keyed.len() * index.always().len() <= MERGE_BUDGET;
    for (sym, progs) in keyed {
        if let Some(slot) = by_key.get_mut(sym as usize) {
            *slot = lists.len() as u32;
            let mut l = progs.to_vec();
            if merged {
                l.extend_from_slice(index.always());
                l.sort_unstable();
                l.dedup();
            }
            lists.push(l);
        }
    }
    let always = (!index.always().is_empty()).then(|| {
        lists.push(index.always().to_vec());
        lists.len() - 1
    });
    BatchLists {
        lists,
        by_key,
        always,
        merged,
    }
}
