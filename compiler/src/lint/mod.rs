//! Lints: warnings with codes. Expression and rule lints run inside the checker as it meets
//! the constructs (they need inferred types); whole-program lints run after it.

pub mod exprs;
pub mod routes;
pub mod rules;
pub mod suppress;
mod unused;

use crate::typeck::Checker;

/// Lints that need the whole program checked first (usage, duplicates).
pub fn program(ck: &mut Checker) {
    unused::check(ck);
    rules::duplicate_ids(ck);
}
