//! Evaluation: compile a rule set once, evaluate its programs many times, with either engine.
//!
//! [`RuleSet`] owns the IR, the rule index and (with [`Engine::Jit`]) the native code. It is
//! `Send + Sync`: threads share one rule set and each brings its own [`Frame`] (the only
//! per-evaluation state), so evaluation allocates nothing.

pub mod explain;
pub mod frame;
pub mod index;
pub mod interp;
pub mod jit;
pub mod ops;
pub mod threshold;
pub mod value;

use crate::ir::{self, Ir, Kind};

pub use frame::Frame;
pub use index::RuleIndex;
pub use interp::MAX_DEPTH;
pub use value::SlotVal;

/// Which engine runs the programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The reference interpreter.
    Interp,
    /// Native code from Cranelift; falls back to the interpreter where it cannot compile.
    #[default]
    Jit,
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "interp" => Ok(Engine::Interp),
            "jit" => Ok(Engine::Jit),
            _ => Err(format!("unknown engine `{s}`: use interp or jit")),
        }
    }
}

/// A compiled rule set. Its Debug form shows counts only: once loaded, its tables hold the
/// values of the secrets its rules compare with.
pub struct RuleSet {
    ir: Ir,
    index: RuleIndex,
    jit: Option<jit::Compiled>,
    /// Why the JIT was not used, when it was asked for and could not be.
    pub fallback: Option<String>,
}

impl RuleSet {
    /// Compiles an IR whose secrets stay unset (empty strings); see [`RuleSet::load`].
    pub fn new(ir: Ir, engine: Engine) -> RuleSet {
        RuleSet::load(ir, engine, &|_| None)
    }

    /// Compiles an IR, first giving each `env("NAME")` its value from `secrets` (the caller's
    /// environment: the compiler never reads it itself).
    pub fn load(mut ir: Ir, engine: Engine, secrets: &dyn Fn(&str) -> Option<String>) -> RuleSet {
        ir.resolve_secrets(secrets);
        let index = RuleIndex::build(&ir);
        let (jit, fallback) = match engine {
            Engine::Interp => (None, None),
            Engine::Jit => match jit::Compiled::new(&ir, &index) {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            },
        };
        RuleSet {
            ir,
            index,
            jit,
            fallback,
        }
    }

    pub fn ir(&self) -> &Ir {
        &self.ir
    }
    pub fn index(&self) -> &RuleIndex {
        &self.index
    }
    /// The engine actually running.
    pub fn engine(&self) -> Engine {
        if self.jit.is_some() {
            Engine::Jit
        } else {
            Engine::Interp
        }
    }

    /// A frame for this rule set.
    pub fn frame<'a>(&self) -> Frame<'a> {
        Frame::new(&self.ir)
    }

    /// Runs program `p` (an index into [`Ir::programs`]): a predicate's truth, or whether a
    /// numeric program has a value (written to `out`, NaN canonical).
    fn run(&self, p: usize, frame: &Frame, out: &mut f64) -> bool {
        let prog = &self.ir.programs[p];
        if frame.slots.len() != self.ir.layout.len() {
            // A frame from another rule set: nothing it holds means anything here.
            return false;
        }
        let native =
            (self.jit.as_ref()).and_then(|j| j.call(&self.ir, p, &frame.slots, &frame.elems, out));
        match native {
            Some(r) => {
                *out = ops::canonical(*out);
                r
            }
            None if prog.kind == Kind::Num => {
                match interp::eval_num(&self.ir, prog.root, &frame.slots, &frame.elems) {
                    Some(v) => {
                        *out = v;
                        true
                    }
                    None => false,
                }
            }
            None => interp::eval_bool(&self.ir, prog.root, &frame.slots, &frame.elems),
        }
    }

    /// Whether predicate `p` holds for the frame.
    pub fn eval_bool(&self, p: usize, frame: &Frame) -> bool {
        let mut out = 0.0;
        self.run(p, frame, &mut out)
    }

    /// The value of numeric program `p`, `None` when missing.
    pub fn eval_num(&self, p: usize, frame: &Frame) -> Option<f64> {
        let mut out = 0.0;
        self.run(p, frame, &mut out).then_some(out)
    }

    /// Event filters that hold for the frame, found through the rule index, into `out` (in
    /// program order).
    pub fn matching(&self, frame: &Frame, scratch: &mut Scratch, out: &mut Vec<u32>) {
        out.clear();
        if frame.slots.len() != self.ir.layout.len() {
            return;
        }
        self.index
            .keys_of(&frame.slots, &frame.elems, &mut scratch.keys);
        if let Some(j) = &self.jit {
            j.matching(&self.ir, &scratch.keys, &frame.slots, &frame.elems, out);
            return;
        }
        self.index
            .candidates(&scratch.keys, &frame.slots, &mut scratch.candidates);
        for &p in scratch.candidates.iter() {
            if self.eval_bool(p as usize, frame) {
                out.push(p);
            }
        }
    }

    /// Event filters that hold, evaluating every filter (no index): the baseline the index is
    /// measured and tested against.
    pub fn matching_all(&self, frame: &Frame, out: &mut Vec<u32>) {
        out.clear();
        if frame.slots.len() != self.ir.layout.len() {
            return;
        }
        if let Some(j) = &self.jit {
            j.matching_all(&self.ir, &frame.slots, &frame.elems, out);
            return;
        }
        for (i, p) in self.ir.programs.iter().enumerate() {
            if p.role == ir::Role::Filter && self.eval_bool(i, frame) {
                out.push(i as u32);
            }
        }
    }
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("programs", &self.ir.programs.len())
            .field("rules", &self.ir.rules.len())
            .field("engine", &self.engine())
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

/// Per-thread buffers for [`RuleSet::matching`], reused so matching allocates nothing once
/// warm.
#[derive(Debug, Default)]
pub struct Scratch {
    candidates: Vec<u32>,
    /// The event's key values (several for an array key).
    keys: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn rule_sets_are_shareable() {
        assert_send_sync::<RuleSet>();
    }
}
