//! The fusion passes. Each works on *kernels* (a group, or a lone instruction) and calls
//! `Graph::fuse`, which keeps the program order valid or refuses.

mod dce;
mod dequant;
mod epilogue;
mod prologue;
mod scopes;
mod siblings;

pub use dce::DeadCode;
pub use dequant::FuseDequant;
pub use epilogue::FuseEpilogue;
pub use prologue::FuseNormPrologue;
pub use scopes::FuseScopes;
pub use siblings::FuseSiblings;

use zaya_ir::{Graph, KernelRange, Op, ValueDef, ValueId};

/// The kernel (range) containing instruction `i`.
pub(crate) fn kernel_of(g: &Graph, i: usize) -> KernelRange {
    match g.insts[i].group {
        None => KernelRange {
            group: None,
            start: i,
            end: i + 1,
        },
        Some(grp) => {
            let start = (0..=i)
                .rev()
                .take_while(|&k| g.insts[k].group == Some(grp))
                .last()
                .unwrap_or(i);
            let end = (i..g.insts.len())
                .take_while(|&k| g.insts[k].group == Some(grp))
                .last()
                .unwrap_or(i)
                + 1;
            KernelRange {
                group: Some(grp),
                start,
                end,
            }
        }
    }
}

/// The instruction index that defines `v`, if an instruction does.
pub(crate) fn producer(g: &Graph, v: ValueId) -> Option<usize> {
    match g.values[v.index()].def {
        ValueDef::Inst(i, _) => Some(i.index()),
        ValueDef::Input(_) => None,
    }
}

pub(crate) fn contains_matvec(g: &Graph, k: &KernelRange) -> bool {
    (k.start..k.end).any(|i| matches!(g.insts[i].op, Op::MatVec))
}

/// Ops that compute element by element (or supply per-element data) and so can ride along in
/// any kernel that produces or consumes their operands row by row.
pub(crate) fn is_elementwise_unit(g: &Graph, k: &KernelRange) -> bool {
    (k.start..k.end).all(|i| match &g.insts[i].op {
        Op::Unary { .. } | Op::Binary { .. } | Op::Select | Op::Const { .. } => true,
        Op::Dequant { .. } => g.insts[i].inputs.is_empty() || k.end - k.start > 1,
        _ => false,
    })
}

/// Values defined in `k` and read outside it (or graph outputs).
pub fn kernel_outputs(g: &Graph, k: &KernelRange, users: &[Vec<usize>]) -> Vec<ValueId> {
    let mut out = Vec::new();
    for i in k.start..k.end {
        for &o in &g.insts[i].outputs {
            if g.is_output(o) || users[o.index()].iter().any(|&u| u < k.start || u >= k.end) {
                out.push(o);
            }
        }
    }
    out
}

/// Values read in `k` but defined outside it.
pub fn kernel_inputs(g: &Graph, k: &KernelRange) -> Vec<ValueId> {
    let mut ins: Vec<ValueId> = Vec::new();
    for i in k.start..k.end {
        for &v in &g.insts[i].inputs {
            let inside = producer(g, v).is_some_and(|p| p >= k.start && p < k.end);
            if !inside && !ins.contains(&v) {
                ins.push(v);
            }
        }
    }
    ins
}

/// A short description of a kernel for logs: `matvec@12 (l0.q)`.
pub(crate) fn describe(g: &Graph, k: &KernelRange) -> String {
    let name = (k.start..k.end)
        .rev()
        .flat_map(|i| g.insts[i].outputs.iter())
        .find_map(|o| g.values[o.index()].name.clone());
    let label = g.kernel_label(k.start);
    match name {
        Some(n) => format!("{label}@{} ({n})", k.start),
        None => format!("{label}@{}", k.start),
    }
}
