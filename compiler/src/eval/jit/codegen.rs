//! Code generation's machinery: the function builder with the frame's base pointers, slot
//! addresses and field loads (top-level fields preloaded once per function), numbers and
//! booleans with their presence bits, and the entry points of programs and batches.

use super::*;

/// Generated code's view of one value.
#[derive(Clone, Copy)]
pub(super) struct Num {
    pub(super) v: Value,
    pub(super) present: Value,
}

pub(super) struct Gen<'i, 'b> {
    pub(super) ir: &'i Ir,
    pub(super) b: FunctionBuilder<'b>,
    pub(super) ptr: types::Type,
    /// Frame base per quantifier depth, and its layout.
    pub(super) frames: Vec<(Value, &'i Layout)>,
    pub(super) elems: Value,
    pub(super) elems_len: Value,
    pub(super) ir_ptr: Value,
    /// Top-level slot fields loaded once in the entry block (so they dominate every use):
    /// `(slot, offset)` to value. Rules in a batch share them.
    pub(super) preloaded: HashMap<(u32, i32), Value>,
}

pub(super) fn build(
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

pub(super) fn cc(op: CmpOp) -> FloatCC {
    match op {
        CmpOp::Eq => FloatCC::Equal,
        CmpOp::Ne => FloatCC::NotEqual,
        CmpOp::Lt => FloatCC::LessThan,
        CmpOp::Le => FloatCC::LessThanOrEqual,
        CmpOp::Gt => FloatCC::GreaterThan,
        CmpOp::Ge => FloatCC::GreaterThanOrEqual,
    }
}

pub(super) fn icc(op: CmpOp) -> IntCC {
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
pub(super) const INLINE_SET: usize = 8;

impl Gen<'_, '_> {
    pub(super) fn i8(&mut self, v: i64) -> Value {
        self.b.ins().iconst(types::I8, v)
    }

    /// The address of a slot, checked against its frame's layout.
    pub(super) fn slot_addr(&mut self, r: SlotRef) -> Result<Value, String> {
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
    pub(super) fn preload(&mut self, roots: &[NodeId]) {
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
    pub(super) fn field(&mut self, r: SlotRef, addr: Value, ty: types::Type, off: i32) -> Value {
        if r.depth == 0
            && let Some(v) = self.preloaded.get(&(r.id, off))
        {
            return *v;
        }
        self.b.ins().load(ty, MemFlagsData::trusted(), addr, off)
    }

    pub(super) fn load_tag(&mut self, r: SlotRef, addr: Value) -> Value {
        self.field(r, addr, types::I32, OFF_TAG)
    }

    pub(super) fn tag_is(&mut self, r: SlotRef, addr: Value, tag: u32) -> Value {
        let t = self.load_tag(r, addr);
        self.b.ins().icmp_imm_u(IntCC::Equal, t, tag as i64)
    }

    pub(super) fn call(
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

    pub(super) fn num(&mut self, id: NodeId) -> Result<Num, String> {
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
    pub(super) fn boolean(&mut self, id: NodeId) -> Result<(Value, Value), String> {
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
}
