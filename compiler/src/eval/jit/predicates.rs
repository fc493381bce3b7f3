//! Predicates as generated code: comparisons, membership, string and CIDR tests through the
//! shared helpers, short-circuit `and`/`or`, and quantifiers that check an array's range
//! before reading its elements.

use super::codegen::{INLINE_SET, cc, icc};
use super::*;
use cranelift_codegen::ir::Block;

impl Gen<'_, '_> {
    /// A predicate's truth as an i8 0/1 (missing is 0).
    pub(super) fn truth(&mut self, id: NodeId) -> Result<Value, String> {
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
            Node::Cmp(op, kind, a, c) => self.compare(op, kind, a, c)?,
            Node::Not(a) => {
                let t = self.truth(a)?;
                self.b.ins().bxor_imm_u(t, 1)
            }
            Node::And(v) => self.junction(&v, true)?,
            Node::Or(v) => self.junction(&v, false)?,
            Node::InSyms { slot, set, negated } => self.in_syms(slot, set, negated)?,
            Node::InNums {
                lhs,
                values,
                negated,
            } => self.in_nums(lhs, &values, negated)?,
            Node::Text {
                slot,
                test,
                negated,
                elem,
            } => self.text(slot, test, negated, elem)?,
            Node::TextField { .. } => self.text_field(&node)?,
            Node::Cidr {
                slot,
                trie,
                negated,
            } => self.cidr(slot, trie, negated)?,
            Node::InList {
                slot,
                list,
                test,
                negated,
                elem,
            } => self.in_list(slot, list, test, negated, elem)?,
            Node::Quant {
                all,
                slot,
                body,
                depth,
            } => self.quant(all, slot, body, depth as usize)?,
        })
    }

    /// A comparison, as its kind compiles: IEEE numbers, booleans, an interned string (inline
    /// for `==`/`!=`, a helper for orderings), two dynamic slots (a helper).
    fn compare(&mut self, op: CmpOp, kind: CmpKind, a: NodeId, c: NodeId) -> Result<Value, String> {
        Ok(match kind {
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
        })
    }

    /// A string slot's interned id in a set: compares inline for small sets.
    fn in_syms(&mut self, slot: SlotRef, set: u32, negated: bool) -> Result<Value, String> {
        let addr = self.slot_addr(slot)?;
        let members = &self.ir.sets[set as usize];
        Ok(if members.len() <= INLINE_SET {
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
        })
    }

    /// A slot against a list read from a file: always through the helper, which reads the
    /// list's current contents.
    fn in_list(
        &mut self,
        slot: SlotRef,
        list: u32,
        test: u32,
        negated: bool,
        elem: Option<u32>,
    ) -> Result<Value, String> {
        let (i32t, ptr) = (types::I32, self.ptr);
        let [addr, elems, len, own, k] = self.element_args(slot, elem)?;
        let args = [
            self.ir_ptr,
            self.b.ins().iconst(i32t, list as i64),
            self.b.ins().iconst(i32t, test as i64),
            self.b.ins().iconst(i32t, negated as i64),
            addr,
            elems,
            len,
            own,
            k,
        ];
        Ok(self.call(
            helpers::in_list as *const u8,
            &[ptr, i32t, i32t, i32t, ptr, ptr, types::I64, i32t, i32t],
            types::I8,
            &args,
        ))
    }

    /// What a helper testing a slot's string or array elements takes after its own
    /// arguments: the slot's address, the element arena and its length, the element's own
    /// slot (`u32::MAX` for none) and the element width.
    fn element_args(&mut self, slot: SlotRef, elem: Option<u32>) -> Result<[Value; 5], String> {
        let addr = self.slot_addr(slot)?;
        let k = self.frames[slot.depth as usize].1.elem_width(slot.id);
        let i32t = types::I32;
        Ok([
            addr,
            self.elems,
            self.elems_len,
            self.b
                .ins()
                .iconst(i32t, elem.map_or(u32::MAX, |e| e) as i64),
            self.b.ins().iconst(i32t, k as i64),
        ])
    }

    /// A number among constants (IEEE equality, unrolled).
    fn in_nums(&mut self, lhs: NodeId, values: &[u64], negated: bool) -> Result<Value, String> {
        let x = self.num(lhs)?;
        let mut hit = self.i8(0);
        for &bits in values {
            let c = self.b.ins().f64const(f64::from_bits(bits));
            let e = self.b.ins().fcmp(FloatCC::Equal, x.v, c);
            hit = self.b.ins().bor(hit, e);
        }
        if negated {
            hit = self.b.ins().bxor_imm_u(hit, 1);
        }
        Ok(self.b.ins().band(x.present, hit))
    }

    /// A compiled string operator, through the helper both engines share.
    fn text(
        &mut self,
        slot: SlotRef,
        test: u32,
        negated: bool,
        elem: Option<u32>,
    ) -> Result<Value, String> {
        let (i32t, ptr) = (types::I32, self.ptr);
        let [addr, elems, len, own, k] = self.element_args(slot, elem)?;
        let args = [
            self.ir_ptr,
            self.b.ins().iconst(i32t, test as i64),
            self.b.ins().iconst(i32t, negated as i64),
            addr,
            elems,
            len,
            own,
            k,
        ];
        Ok(self.call(
            helpers::text as *const u8,
            &[ptr, i32t, i32t, ptr, ptr, types::I64, i32t, i32t],
            types::I8,
            &args,
        ))
    }

    /// A string operator whose pattern is another field.
    fn text_field(&mut self, node: &Node) -> Result<Value, String> {
        let Node::TextField {
            op,
            nocase,
            negated,
            lhs,
            rhs,
        } = *node
        else {
            return Ok(self.i8(0));
        };
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
        Ok(self.call(
            helpers::text_field as *const u8,
            &[i32t, i32t, i32t, ptr, ptr],
            types::I8,
            &args,
        ))
    }

    /// An address in a CIDR trie.
    fn cidr(&mut self, slot: SlotRef, trie: u32, negated: bool) -> Result<Value, String> {
        let addr = self.slot_addr(slot)?;
        let (i32t, ptr) = (types::I32, self.ptr);
        let args = [
            self.ir_ptr,
            self.b.ins().iconst(i32t, trie as i64),
            self.b.ins().iconst(i32t, negated as i64),
            addr,
        ];
        Ok(self.call(
            helpers::cidr as *const u8,
            &[ptr, i32t, i32t, ptr],
            types::I8,
            &args,
        ))
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

    /// In block `check`: an array's first element index and count, then a branch to `head`
    /// (with 0) when its `n * k` slots lie in the arena, else to `done` with `zero`.
    fn array_range(
        &mut self,
        addr: Value,
        k: i64,
        head: Block,
        done: Block,
        zero: Value,
    ) -> (Value, Value) {
        let flags = MemFlagsData::trusted();
        // start + n * k <= elems_len, computed without overflow: n <= len - start first.
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
        (start, n)
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

        self.b.switch_to_block(check);
        let (start, n) = self.array_range(addr, k, head, done, zero);

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
