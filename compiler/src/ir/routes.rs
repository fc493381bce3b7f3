//! The notification route tree is shared vocabulary (routing runs in crates that never link
//! the compiler): see `vigil_vocab::route`.

pub use vigil_vocab::route::*;
