//! Entity ids: plain `u32` indices into the graph's tables (cranelift style), printed with a
//! sigil so the text form says what kind of entity each one is.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! entity {
    ($(#[$doc:meta])* $name:ident, $sigil:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
            pub fn from_index(index: usize) -> Self {
                Self(u32::try_from(index).expect("entity table exceeds u32::MAX entries"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($sigil, "{}"), self.0)
            }
        }
    };
}

entity!(
    /// An SSA tensor value (`%3`).
    ValueId, "%"
);
entity!(
    /// A weight of the model (`@3`): typed, possibly quantized, read-only data.
    WeightId, "@"
);
entity!(
    /// A persistent state tensor that survives across decode steps (`$3`).
    StateId, "$"
);
entity!(
    /// An instruction (`i3`), in program order.
    InstId, "i"
);
entity!(
    /// A symbol bound at run time (`ctx`, `pos`).
    SymId, "s"
);
entity!(
    /// A kernel group (`k3`): instructions the optimizer fused into one kernel.
    GroupId, "k"
);
