//! Whole-graph facts that every executor needs, computed in one place.

use crate::{Graph, Op};

/// For each value: a `dequant` output read only as the weight operand of matvecs. Executors
/// keep such weights packed and decode them inside the matvec.
pub fn matvec_only_weights(g: &Graph) -> Vec<bool> {
    let mut ok = vec![false; g.values.len()];
    for inst in &g.insts {
        if let Op::Dequant { .. } = inst.op {
            ok[inst.outputs[0].index()] = true;
        }
    }
    for inst in &g.insts {
        for (k, v) in inst.inputs.iter().enumerate() {
            if !(matches!(inst.op, Op::MatVec) && k == 0) {
                ok[v.index()] = false;
            }
        }
    }
    for (_, v) in &g.outputs {
        ok[v.index()] = false;
    }
    ok
}

/// For each value: it never changes between steps (constants, un-indexed weight decodes, and
/// whatever is computed from those alone), so executors compute it once per session.
pub fn step_invariant_values(g: &Graph) -> Vec<bool> {
    let mut invariant = vec![false; g.values.len()];
    for inst in &g.insts {
        let this = match inst.op {
            Op::Const { .. } => true,
            Op::Dequant { .. } => inst.inputs.is_empty(),
            ref op if op.spec().step_varying || op.has_side_effect() => false,
            _ => !inst.inputs.is_empty() && inst.inputs.iter().all(|v| invariant[v.index()]),
        };
        for o in &inst.outputs {
            invariant[o.index()] = this;
        }
    }
    invariant
}
