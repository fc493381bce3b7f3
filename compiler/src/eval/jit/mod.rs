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
mod helpers;

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
use crate::eval::interp::MAX_DEPTH;
use crate::eval::ops;
use crate::ir::{Arith, CmpKind, CmpOp, Ir, Kind, Layout, Math, Node, NodeId, Program, SlotRef};
use std::collections::HashMap;

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
    funcs: Vec<Entry>,
    batches: Vec<Batch>,
    /// Batch per interned key value (`u32::MAX`: none).
    by_key: Vec<u32>,
    always: Option<usize>,
    all: Option<usize>,
    /// Keyed batches include the always-candidates.
    merged: bool,
}

/// How many copies of always-candidate filters keyed batches may hold between them.
const MERGE_BUDGET: usize = 4096;

// SAFETY: after `finalize_definitions` the module's code and data pages are immutable and the
// module itself is only touched again by `Drop`, which has exclusive access. The function
// pointers are plain code addresses; the code reads only what each call passes it.
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
enum Shape<'p> {
    Single(&'p Program),
    Batch(&'p [u32]),
}

impl Compiled {
    /// Compiles every program, and the filter batches the index selects. Fails (and the caller
    /// falls back to the interpreter) when the host is not supported or Cranelift refuses a
    /// function.
    pub fn new(ir: &Ir, index: &RuleIndex) -> Result<Compiled, String> {
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
        let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
        let ptr = module.target_config().pointer_type();
        if ptr != types::I64 {
            return Err("the JIT needs a 64-bit target".to_string());
        }
        let mut ctx = module.make_context();
        let mut fctx = FunctionBuilderContext::new();
        let mut define = |module: &mut JITModule, shape: Shape| -> Result<_, String> {
            let mut sig = module.make_signature();
            sig.params.push(AbiParam::new(ptr));
            sig.returns.push(AbiParam::new(types::I64));
            let id = module
                .declare_anonymous_function(&sig)
                .map_err(|e| e.to_string())?;
            ctx.func.signature = sig;
            ctx.func.name = UserFuncName::user(0, id.as_u32());
            build(ir, shape, &mut ctx, &mut fctx, module.target_config())?;
            module
                .define_function(id, &mut ctx)
                .map_err(|e| format!("cannot compile: {e:?}"))?;
            module.clear_context(&mut ctx);
            Ok(id)
        };
        let mut ids = Vec::with_capacity(ir.programs.len());
        for p in &ir.programs {
            ids.push(define(&mut module, Shape::Single(p))?);
        }
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut by_key = vec![u32::MAX; ir.strings.len()];
        // Each key value's batch also holds the always-candidates, so an event costs one call;
        // past a budget of copies, they stay in their own batch.
        let keyed: Vec<(u32, &[u32])> = index.keyed_lists().collect();
        let merge = keyed.len() * index.always().len() <= MERGE_BUDGET;
        for (sym, progs) in keyed {
            if let Some(slot) = by_key.get_mut(sym as usize) {
                *slot = lists.len() as u32;
                let mut l = progs.to_vec();
                if merge {
                    l.extend_from_slice(index.always());
                    l.sort_unstable();
                    l.dedup();
                }
                lists.push(l);
            }
        }
        let merged = merge;
        let always = (!index.always().is_empty()).then(|| {
            lists.push(index.always().to_vec());
            lists.len() - 1
        });
        let filters: Vec<u32> = ir.filters().map(|(i, _)| i as u32).collect();
        let all = (!filters.is_empty()).then(|| {
            lists.push(filters);
            lists.len() - 1
        });
        let mut batch_ids = Vec::with_capacity(lists.len());
        for l in &lists {
            batch_ids.push(define(&mut module, Shape::Batch(l))?);
        }
        module.finalize_definitions().map_err(|e| e.to_string())?;
        let entry = |id| {
            let code = module.get_finalized_function(id);
            // SAFETY: every function was declared with the `Entry` signature (one pointer
            // argument, an i8 result, the platform's C calling convention).
            unsafe { std::mem::transmute::<*const u8, Entry>(code) }
        };
        let funcs = ids.into_iter().map(entry).collect();
        let batches = lists
            .into_iter()
            .zip(batch_ids)
            .map(|(progs, id)| Batch {
                progs,
                func: entry(id),
            })
            .collect();
        Ok(Compiled {
            module: Some(module),
            funcs,
            batches,
            by_key,
            always,
            all,
            merged,
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

    /// Runs program `p`. The caller checked `slots.len() == ir.layout.len()`.
    pub fn call(
        &self,
        ir: &Ir,
        p: usize,
        slots: &[SlotVal],
        elems: &[SlotVal],
        out: &mut f64,
    ) -> bool {
        debug_assert_eq!(slots.len(), ir.layout.len());
        let cx = Self::ctx(ir, slots, elems, out, std::ptr::null_mut());
        // SAFETY: the code was generated from `ir` for this layout, reads slots at verified
        // offsets of `slots` (whose length the caller checked) and elements within
        // `elems_len`, and writes only `out`.
        unsafe { (self.funcs[p])(&cx) != 0 }
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
        let batch = &self.batches[b];
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

    /// Filters that hold, through the index's batches (keyed, then always-candidates), sorted.
    pub fn matching(
        &self,
        ir: &Ir,
        key: Option<u32>,
        slots: &[SlotVal],
        elems: &[SlotVal],
        out: &mut Vec<u32>,
    ) {
        out.clear();
        if let Some(b) = key.and_then(|k| self.by_key.get(k as usize)).copied()
            && b != u32::MAX
        {
            self.run_batch(ir, b as usize, slots, elems, out);
            if self.merged {
                return;
            }
        }
        let keyed = out.len();
        if let Some(b) = self.always {
            self.run_batch(ir, b, slots, elems, out);
        }
        if keyed > 0 && out.len() > keyed {
            out.sort_unstable();
        }
    }

    /// Every filter that holds, in one batch.
    pub fn matching_all(&self, ir: &Ir, slots: &[SlotVal], elems: &[SlotVal], out: &mut Vec<u32>) {
        out.clear();
        if let Some(b) = self.all {
            self.run_batch(ir, b, slots, elems, out);
        }
    }
}

/// Generated code's view of one value.
#[derive(Clone, Copy)]
struct Num {
    v: Value,
    present: Value,
}

struct Gen<'i, 'b> {
    ir: &'i Ir,
    b: FunctionBuilder<'b>,
    ptr: types::Type,
    /// Frame base per quantifier depth, and its layout.
    frames: Vec<(Value, &'i Layout)>,
    elems: Value,
    elems_len: Value,
    ir_ptr: Value,
    /// Top-level slot fields loaded once in the entry block (so they dominate every use):
    /// `(slot, offset)` to value. Rules in a batch share them.
    preloaded: HashMap<(u32, i32), Value>,
}

fn build(
    ir: &Ir,
    shape: Shape,
    ctx: &mut Context,
    fctx: &mut FunctionBuilderContext,
    target: cranelift_codegen::isa::TargetFrontendConfig,
) -> Result<(), String> {
    let ptr = target.pointer_type();
    let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let cx = b.block_params(entry)[0];
    let flags = MemFlagsData::trusted();
    let slots = b.ins().load(ptr, flags, cx, 0);
    let elems = b.ins().load(ptr, flags, cx, 8);
    let elems_len = b.ins().load(types::I64, flags, cx, 16);
    let ir_ptr = b.ins().load(ptr, flags, cx, 24);
    let out = b.ins().load(ptr, flags, cx, 32);
    let hits = b.ins().load(ptr, flags, cx, 40);
    let mut g = Gen {
        ir,
        b,
        ptr,
        frames: vec![(slots, &ir.layout)],
        elems,
        elems_len,
        ir_ptr,
        preloaded: HashMap::new(),
    };
    let roots: Vec<NodeId> = match &shape {
        Shape::Single(p) => vec![p.root],
        Shape::Batch(progs) => progs
            .iter()
            .map(|p| ir.programs[*p as usize].root)
            .collect(),
    };
    g.preload(&roots);
    let ret = match shape {
        Shape::Single(p) if p.kind == Kind::Num => {
            let n = g.num(p.root)?;
            g.b.ins().store(flags, n.v, out, 0);
            g.b.ins().uextend(types::I64, n.present)
        }
        Shape::Single(p) => {
            let t = g.truth(p.root)?;
            g.b.ins().uextend(types::I64, t)
        }
        Shape::Batch(progs) => {
            // Branch-free append: write the id at position n, advance n when it holds. After
            // program j, n <= j + 1, so every write lands inside the room the caller reserved.
            let mut n = g.b.ins().iconst(types::I64, 0);
            for p in progs.iter() {
                let t = g.truth(ir.programs[*p as usize].root)?;
                let off = g.b.ins().imul_imm_s(n, 4);
                let at = g.b.ins().iadd(hits, off);
                let id = g.b.ins().iconst(types::I32, *p as i64);
                g.b.ins().store(flags, id, at, 0);
                let t64 = g.b.ins().uextend(types::I64, t);
                n = g.b.ins().iadd(n, t64);
            }
            n
        }
    };
    g.b.ins().return_(&[ret]);
    g.b.seal_all_blocks();
    g.b.finalize(target);
    Ok(())
}

fn cc(op: CmpOp) -> FloatCC {
    match op {
        CmpOp::Eq => FloatCC::Equal,
        CmpOp::Ne => FloatCC::NotEqual,
        CmpOp::Lt => FloatCC::LessThan,
        CmpOp::Le => FloatCC::LessThanOrEqual,
        CmpOp::Gt => FloatCC::GreaterThan,
        CmpOp::Ge => FloatCC::GreaterThanOrEqual,
    }
}

fn icc(op: CmpOp) -> IntCC {
    match op {
        CmpOp::Eq => IntCC::Equal,
        CmpOp::Ne => IntCC::NotEqual,
        CmpOp::Lt => IntCC::UnsignedLessThan,
        CmpOp::Le => IntCC::UnsignedLessThanOrEqual,
        CmpOp::Gt => IntCC::UnsignedGreaterThan,
        CmpOp::Ge => IntCC::UnsignedGreaterThanOrEqual,
    }
}

/// Sets larger than this are searched by a helper instead of a compare chain.
const INLINE_SET: usize = 8;

impl Gen<'_, '_> {
    fn i8(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I8, v)
    }

    /// The address of a slot, checked against its frame's layout.
    fn slot_addr(&mut self, r: SlotRef) -> Result<Value, String> {
        let (base, layout) = *self
            .frames
            .get(r.depth as usize)
            .ok_or_else(|| format!("slot depth {} outside any quantifier", r.depth))?;
        if r.id as usize >= layout.len() {
            return Err(format!("slot {} past its layout", r.id));
        }
        Ok(self.b.ins().iadd_imm_s(base, r.id as i64 * SLOT_SIZE))
    }

    /// Loads the tag, id and number of every top-level slot the roots read, in the entry
    /// block.
    fn preload(&mut self, roots: &[NodeId]) {
        let mut seen = std::collections::HashSet::new();
        let mut stack = roots.to_vec();
        let mut slots = std::collections::BTreeSet::new();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            let node = self.ir.node(n);
            match node {
                Node::Slot(r, _) | Node::Exists(r) | Node::InSyms { slot: r, .. }
                    if r.depth == 0 =>
                {
                    slots.insert(r.id);
                }
                _ => {}
            }
            stack.extend(node.children());
        }
        let base = self.frames[0].0;
        for id in slots {
            if id as usize >= self.ir.layout.len() {
                continue;
            }
            let at = id as i32 * SLOT_SIZE as i32;
            let flags = MemFlagsData::trusted();
            let tag = self.b.ins().load(types::I32, flags, base, at + OFF_TAG);
            let sym = self.b.ins().load(types::I32, flags, base, at + OFF_SYM);
            let num = self.b.ins().load(types::F64, flags, base, at + OFF_BITS);
            self.preloaded.insert((id, OFF_TAG), tag);
            self.preloaded.insert((id, OFF_SYM), sym);
            self.preloaded.insert((id, OFF_BITS), num);
        }
    }

    /// A field of a slot: preloaded for top-level slots, loaded here otherwise.
    fn field(&mut self, r: SlotRef, addr: Value, ty: types::Type, off: i32) -> Value {
        if r.depth == 0
            && let Some(v) = self.preloaded.get(&(r.id, off))
        {
            return *v;
        }
        self.b.ins().load(ty, MemFlagsData::trusted(), addr, off)
    }

    fn load_tag(&mut self, r: SlotRef, addr: Value) -> Value {
        self.field(r, addr, types::I32, OFF_TAG)
    }

    fn tag_is(&mut self, r: SlotRef, addr: Value, tag: u32) -> Value {
        let t = self.load_tag(r, addr);
        self.b.ins().icmp_imm_u(IntCC::Equal, t, tag as i64)
    }

    fn call(
        &mut self,
        f: *const u8,
        params: &[types::Type],
        ret: types::Type,
        args: &[Value],
    ) -> Value {
        let mut sig = Signature::new(self.b.func.signature.call_conv);
        sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
        sig.returns.push(AbiParam::new(ret));
        let sref = self.b.import_signature(sig);
        let callee = self.b.ins().iconst(self.ptr, f as i64);
        let inst = self.b.ins().call_indirect(sref, callee, args);
        self.b.inst_results(inst)[0]
    }

    fn num(&mut self, id: NodeId) -> Result<Num, String> {
        let one = self.i8(1);
        Ok(match self.ir.node(id).clone() {
            Node::Num(bits) => Num {
                v: self.b.ins().f64const(f64::from_bits(bits)),
                present: one,
            },
            Node::Slot(r, Kind::Num) => {
                let a = self.slot_addr(r)?;
                let present = self.tag_is(r, a, TAG_NUM);
                let v = self.field(r, a, types::F64, OFF_BITS);
                Num { v, present }
            }
            Node::Math(m, a) => {
                let x = self.num(a)?;
                let v = match m {
                    Math::Neg => self.b.ins().fneg(x.v),
                    Math::Abs => self.b.ins().fabs(x.v),
                    Math::Ln => self.call(ops::ln as *const u8, &[types::F64], types::F64, &[x.v]),
                    Math::Log10 => {
                        self.call(ops::log10 as *const u8, &[types::F64], types::F64, &[x.v])
                    }
                };
                Num {
                    v,
                    present: x.present,
                }
            }
            Node::Arith(op, a, c) => {
                let x = self.num(a)?;
                let y = self.num(c)?;
                let present = self.b.ins().band(x.present, y.present);
                let v = match op {
                    Arith::Add => self.b.ins().fadd(x.v, y.v),
                    Arith::Sub => self.b.ins().fsub(x.v, y.v),
                    Arith::Mul => self.b.ins().fmul(x.v, y.v),
                    Arith::Div => self.b.ins().fdiv(x.v, y.v),
                    Arith::Min | Arith::Max => {
                        let c = if op == Arith::Min {
                            FloatCC::LessThan
                        } else {
                            FloatCC::GreaterThan
                        };
                        let pick = self.b.ins().fcmp(c, x.v, y.v);
                        let sel = self.b.ins().select(pick, x.v, y.v);
                        let uno = self.b.ins().fcmp(FloatCC::Unordered, x.v, y.v);
                        let nan = self.b.ins().f64const(ops::CANONICAL_NAN);
                        self.b.ins().select(uno, nan, sel)
                    }
                    Arith::Round => self.call(
                        ops::round_to as *const u8,
                        &[types::F64, types::F64],
                        types::F64,
                        &[x.v, y.v],
                    ),
                };
                Num { v, present }
            }
            _ => {
                let z = self.b.ins().f64const(0.0);
                let zero = self.i8(0);
                Num {
                    v: z,
                    present: zero,
                }
            }
        })
    }

    /// A boolean operand: value and presence.
    fn boolean(&mut self, id: NodeId) -> Result<(Value, Value), String> {
        if let Node::Slot(r, Kind::Bool) = *self.ir.node(id) {
            let a = self.slot_addr(r)?;
            let present = self.tag_is(r, a, TAG_BOOL);
            let s = self.field(r, a, types::I32, OFF_SYM);
            let v = self.b.ins().icmp_imm_u(IntCC::NotEqual, s, 0);
            return Ok((v, present));
        }
        let t = self.truth(id)?;
        let one = self.i8(1);
        Ok((t, one))
    }

    /// A predicate's truth as an i8 0/1 (missing is 0).
    fn truth(&mut self, id: NodeId) -> Result<Value, String> {
        let node = self.ir.node(id).clone();
        Ok(match node {
            Node::Bool(b) => self.i8(b as i64),
            Node::Slot(_, Kind::Bool) => {
                let (v, p) = self.boolean(id)?;
                self.b.ins().band(v, p)
            }
            Node::Slot(..)
            | Node::Num(_)
            | Node::Str(_)
            | Node::Env(_)
            | Node::Math(..)
            | Node::Arith(..) => self.i8(0),
            Node::Exists(r) => {
                let a = self.slot_addr(r)?;
                let t = self.load_tag(r, a);
                self.b.ins().icmp_imm_u(IntCC::NotEqual, t, 0)
            }
            Node::Cmp(op, kind, a, c) => match kind {
                CmpKind::Num => {
                    let x = self.num(a)?;
                    let y = self.num(c)?;
                    let r = self.b.ins().fcmp(cc(op), x.v, y.v);
                    let p = self.b.ins().band(x.present, y.present);
                    self.b.ins().band(r, p)
                }
                CmpKind::Bool => {
                    let (x, px) = self.boolean(a)?;
                    let (y, py) = self.boolean(c)?;
                    let r = self.b.ins().icmp(icc(op), x, y);
                    let p = self.b.ins().band(px, py);
                    self.b.ins().band(r, p)
                }
                CmpKind::Sym => {
                    let (Node::Slot(r, _), Node::Str(sym)) =
                        (self.ir.node(a).clone(), self.ir.node(c).clone())
                    else {
                        return Ok(self.i8(0));
                    };
                    let addr = self.slot_addr(r)?;
                    if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                        let (i32t, ptr) = (types::I32, self.ptr);
                        let args = [
                            self.ir_ptr,
                            self.b.ins().iconst(i32t, op.code() as i64),
                            addr,
                            self.b.ins().iconst(i32t, sym as i64),
                        ];
                        return Ok(self.call(
                            helpers::cmp_const as *const u8,
                            &[ptr, i32t, ptr, i32t],
                            types::I8,
                            &args,
                        ));
                    }
                    let is_str = self.tag_is(r, addr, TAG_STR);
                    let s = self.field(r, addr, types::I32, OFF_SYM);
                    let hit = self.b.ins().icmp_imm_u(icc(op), s, sym as i64);
                    self.b.ins().band(is_str, hit)
                }
                CmpKind::Dyn => {
                    let (Node::Slot(ra, _), Node::Slot(rb, _)) =
                        (self.ir.node(a).clone(), self.ir.node(c).clone())
                    else {
                        return Ok(self.i8(0));
                    };
                    let pa = self.slot_addr(ra)?;
                    let pb = self.slot_addr(rb)?;
                    let opv = self.b.ins().iconst(types::I32, op.code() as i64);
                    let ptr = self.ptr;
                    self.call(
                        helpers::dyn_cmp as *const u8,
                        &[types::I32, ptr, ptr],
                        types::I8,
                        &[opv, pa, pb],
                    )
                }
            },
            Node::Not(a) => {
                let t = self.truth(a)?;
                self.b.ins().bxor_imm_u(t, 1)
            }
            Node::And(v) => self.junction(&v, true)?,
            Node::Or(v) => self.junction(&v, false)?,
            Node::InSyms { slot, set, negated } => {
                let addr = self.slot_addr(slot)?;
                let members = &self.ir.sets[set as usize];
                if members.len() <= INLINE_SET {
                    let is_str = self.tag_is(slot, addr, TAG_STR);
                    let s = self.field(slot, addr, types::I32, OFF_SYM);
                    let mut hit = self.i8(0);
                    for m in members.clone() {
                        let e = self.b.ins().icmp_imm_u(IntCC::Equal, s, m as i64);
                        hit = self.b.ins().bor(hit, e);
                    }
                    if negated {
                        hit = self.b.ins().bxor_imm_u(hit, 1);
                    }
                    self.b.ins().band(is_str, hit)
                } else {
                    let (i32t, ptr) = (types::I32, self.ptr);
                    let setv = self.b.ins().iconst(i32t, set as i64);
                    let neg = self.b.ins().iconst(i32t, negated as i64);
                    let irp = self.ir_ptr;
                    self.call(
                        helpers::in_syms as *const u8,
                        &[ptr, i32t, i32t, ptr],
                        types::I8,
                        &[irp, setv, neg, addr],
                    )
                }
            }
            Node::InNums {
                lhs,
                values,
                negated,
            } => {
                let x = self.num(lhs)?;
                let mut hit = self.i8(0);
                for bits in values {
                    let c = self.b.ins().f64const(f64::from_bits(bits));
                    let e = self.b.ins().fcmp(FloatCC::Equal, x.v, c);
                    hit = self.b.ins().bor(hit, e);
                }
                if negated {
                    hit = self.b.ins().bxor_imm_u(hit, 1);
                }
                self.b.ins().band(x.present, hit)
            }
            Node::Text {
                slot,
                test,
                negated,
                elem,
            } => {
                let addr = self.slot_addr(slot)?;
                let layout = self.frames[slot.depth as usize].1;
                let k = layout.elem_width(slot.id);
                let (i32t, ptr) = (types::I32, self.ptr);
                let args = [
                    self.ir_ptr,
                    self.b.ins().iconst(i32t, test as i64),
                    self.b.ins().iconst(i32t, negated as i64),
                    addr,
                    self.elems,
                    self.elems_len,
                    self.b
                        .ins()
                        .iconst(i32t, elem.map_or(u32::MAX, |e| e) as i64),
                    self.b.ins().iconst(i32t, k as i64),
                ];
                self.call(
                    helpers::text as *const u8,
                    &[ptr, i32t, i32t, ptr, ptr, types::I64, i32t, i32t],
                    types::I8,
                    &args,
                )
            }
            Node::TextField {
                op,
                nocase,
                negated,
                lhs,
                rhs,
            } => {
                let a = self.slot_addr(lhs)?;
                let c = self.slot_addr(rhs)?;
                let (i32t, ptr) = (types::I32, self.ptr);
                let args = [
                    self.b
                        .ins()
                        .iconst(i32t, helpers::text_field_code(op) as i64),
                    self.b.ins().iconst(i32t, nocase as i64),
                    self.b.ins().iconst(i32t, negated as i64),
                    a,
                    c,
                ];
                self.call(
                    helpers::text_field as *const u8,
                    &[i32t, i32t, i32t, ptr, ptr],
                    types::I8,
                    &args,
                )
            }
            Node::Cidr {
                slot,
                trie,
                negated,
            } => {
                let addr = self.slot_addr(slot)?;
                let (i32t, ptr) = (types::I32, self.ptr);
                let args = [
                    self.ir_ptr,
                    self.b.ins().iconst(i32t, trie as i64),
                    self.b.ins().iconst(i32t, negated as i64),
                    addr,
                ];
                self.call(
                    helpers::cidr as *const u8,
                    &[ptr, i32t, i32t, ptr],
                    types::I8,
                    &args,
                )
            }
            Node::Quant {
                all,
                slot,
                body,
                depth,
            } => self.quant(all, slot, body, depth as usize)?,
        })
    }

    /// Short-circuit `and`/`or`: each child branches to the end as soon as it decides.
    fn junction(&mut self, children: &[NodeId], and: bool) -> Result<Value, String> {
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I8);
        let decided = self.i8(if and { 0 } else { 1 });
        for (i, c) in children.iter().enumerate() {
            let t = self.truth(*c)?;
            if i + 1 == children.len() {
                self.b.ins().jump(done, &[BlockArg::Value(t)]);
                break;
            }
            let next = self.b.create_block();
            if and {
                self.b
                    .ins()
                    .brif(t, next, &[], done, &[BlockArg::Value(decided)]);
            } else {
                self.b
                    .ins()
                    .brif(t, done, &[BlockArg::Value(decided)], next, &[]);
            }
            self.b.switch_to_block(next);
        }
        if children.is_empty() {
            let v = self.i8(and as i64);
            self.b.ins().jump(done, &[BlockArg::Value(v)]);
        }
        self.b.switch_to_block(done);
        Ok(self.b.block_params(done)[0])
    }

    /// `any`/`all` over an array's elements, after checking the range lies in the arena.
    fn quant(
        &mut self,
        all: bool,
        slot: SlotRef,
        body: NodeId,
        depth: usize,
    ) -> Result<Value, String> {
        let layout = self
            .frames
            .get(slot.depth as usize)
            .map(|f| f.1)
            .ok_or("quantifier depth")?;
        let Some(elem) = layout
            .slots
            .get(slot.id as usize)
            .and_then(|s| s.elem.as_ref())
        else {
            return Ok(self.i8(0));
        };
        if depth >= MAX_DEPTH || depth == 0 || depth > self.frames.len() {
            return Ok(self.i8(0));
        }
        let k = elem.len() as i64;
        let addr = self.slot_addr(slot)?;
        let flags = MemFlagsData::trusted();
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I8);
        let check = self.b.create_block();
        let head = self.b.create_block();
        self.b.append_block_param(head, types::I64);
        let step = self.b.create_block();
        let zero = self.i8(0);
        let is_arr = self.tag_is(slot, addr, TAG_ARRAY);
        self.b
            .ins()
            .brif(is_arr, check, &[], done, &[BlockArg::Value(zero)]);

        // start + n * k <= elems_len, computed without overflow: n <= len - start first.
        self.b.switch_to_block(check);
        let start = self.b.ins().load(types::I64, flags, addr, OFF_BITS);
        let n32 = self.b.ins().load(types::I32, flags, addr, OFF_SYM);
        let n = self.b.ins().uextend(types::I64, n32);
        let start_ok = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, start, self.elems_len);
        let room = self.b.ins().isub(self.elems_len, start);
        let nk = self.b.ins().imul_imm_s(n, k);
        let fits = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, nk, room);
        let n_ok = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, n, room);
        let ok = self.b.ins().band(start_ok, fits);
        let ok = self.b.ins().band(ok, n_ok);
        let i0 = self.b.ins().iconst(types::I64, 0);
        self.b.ins().brif(
            ok,
            head,
            &[BlockArg::Value(i0)],
            done,
            &[BlockArg::Value(zero)],
        );

        // head(i): if i == n, the quantifier is decided by exhaustion.
        self.b.switch_to_block(head);
        let i = self.b.block_params(head)[0];
        let end = self.b.ins().icmp(IntCC::Equal, i, n);
        let exhausted = self.i8(all as i64);
        self.b
            .ins()
            .brif(end, done, &[BlockArg::Value(exhausted)], step, &[]);

        self.b.switch_to_block(step);
        let idx = self.b.ins().imul_imm_s(i, k);
        let idx = self.b.ins().iadd(idx, start);
        let off = self.b.ins().imul_imm_s(idx, SLOT_SIZE);
        let base = self.b.ins().iadd(self.elems, off);
        let saved = self.frames.clone();
        self.frames.truncate(depth);
        self.frames.push((base, elem));
        let t = self.truth(body);
        self.frames = saved;
        let t = t?;
        let next = self.b.ins().iadd_imm_s(i, 1);
        let decided = self.i8(if all { 0 } else { 1 });
        if all {
            self.b.ins().brif(
                t,
                head,
                &[BlockArg::Value(next)],
                done,
                &[BlockArg::Value(decided)],
            );
        } else {
            self.b.ins().brif(
                t,
                done,
                &[BlockArg::Value(decided)],
                head,
                &[BlockArg::Value(next)],
            );
        }
        self.b.switch_to_block(done);
        Ok(self.b.block_params(done)[0])
    }
}
