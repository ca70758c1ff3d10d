//! `epilogue`: pull elementwise work into the kernel that produces its operand: a bias add
//! and GELU after a matvec, SwiGLU after gate/up, the expert's gate-probability scale and
//! skip select after down, and the next layer's residual-scale merge after o_proj / down.
//! Elementwise producers of side operands (the residual's `(r + b) * s`) come along when
//! nothing else reads them. The kernel then writes only what leaves it.

use super::{describe, is_elementwise_unit, kernel_of, producer};
use crate::pass::{Pass, PassLog};
use zaya_ir::{Graph, KernelRange, Op};

pub struct FuseEpilogue;

impl Pass for FuseEpilogue {
    fn name(&self) -> &'static str {
        "epilogue"
    }

    fn describe(&self) -> &'static str {
        "fuse elementwise consumers (bias, activations, SwiGLU, residual merge) into their producer kernel"
    }

    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph {
        let mut g = graph.clone();
        let mut refused: Vec<String> = Vec::new();
        'again: loop {
            let users = g.users();
            for anchor in g.kernel_ranges() {
                if !is_anchor(&g, &anchor) {
                    continue;
                }
                for candidate in consumers(&g, &anchor, &users) {
                    let Some(pulled) = absorbable(&g, &anchor, &candidate, &users) else {
                        continue;
                    };
                    let what = format!(
                        "{} into {}",
                        describe(&g, &candidate),
                        describe(&g, &anchor)
                    );
                    if refused.contains(&what) {
                        continue;
                    }
                    let mut members: Vec<usize> = (anchor.start..anchor.end).collect();
                    members.extend(candidate.start..candidate.end);
                    for p in &pulled {
                        members.extend(p.start..p.end);
                    }
                    let label = g.kernel_label(anchor.start).to_string();
                    match g.fuse(&members, &label) {
                        Ok(_) => {
                            log.note(format!("fused {what}"));
                            continue 'again;
                        }
                        Err(e) => {
                            log.skip(format!("{what}: {e}"));
                            refused.push(what);
                        }
                    }
                }
            }
            break;
        }
        g
    }
}

/// Kernels whose outputs an epilogue can ride on: matvecs and elementwise chains (e.g. the
/// embedding row lookup with the first residual merge).
fn is_anchor(g: &Graph, k: &KernelRange) -> bool {
    (k.start..k.end).any(|i| matches!(g.insts[i].op, Op::MatVec))
        || is_elementwise_unit(g, k)
        || is_row_lookup(g, k)
}

fn is_row_lookup(g: &Graph, k: &KernelRange) -> bool {
    (k.start..k.end).all(|i| {
        matches!(
            g.insts[i].op,
            Op::Dequant { .. } | Op::Unary { .. } | Op::Binary { .. } | Op::Const { .. }
        )
    })
}

/// Elementwise kernels reading an output of `anchor`.
fn consumers(g: &Graph, anchor: &KernelRange, users: &[Vec<usize>]) -> Vec<KernelRange> {
    let mut out: Vec<KernelRange> = Vec::new();
    for i in anchor.start..anchor.end {
        for o in &g.insts[i].outputs {
            for &u in &users[o.index()] {
                if u >= anchor.start && u < anchor.end {
                    continue;
                }
                let k = kernel_of(g, u);
                if is_elementwise_unit(g, &k) && !out.contains(&k) {
                    out.push(k);
                }
            }
        }
    }
    out
}

/// Epilogues stay within the builder scope of the kernel's main op (its matvec, else its
/// first computing op), so e.g. a router's index arithmetic is left for the router kernel.
fn same_scope(g: &Graph, a: &KernelRange, b: &KernelRange) -> bool {
    let main = |k: &KernelRange| {
        let computing =
            |i: &usize| !matches!(g.insts[*i].op, Op::Const { .. } | Op::Dequant { .. });
        let pick = (k.start..k.end)
            .find(|&i| matches!(g.insts[i].op, Op::MatVec))
            .or_else(|| (k.start..k.end).find(computing))
            .unwrap_or(k.start);
        g.insts[pick].scope
    };
    main(a) == main(b)
}

/// Whether `candidate` can join `anchor` row by row, and which side-operand producers come
/// with it. Each operand must be the anchor's, computed before the anchor, or produced by
/// an elementwise kernel read only by the candidate (pulled in). Shapes must match an
/// anchor operand or be a single element.
fn absorbable(
    g: &Graph,
    anchor: &KernelRange,
    candidate: &KernelRange,
    users: &[Vec<usize>],
) -> Option<Vec<KernelRange>> {
    if !same_scope(g, anchor, candidate) {
        return None;
    }
    let inside = |k: &KernelRange, p: usize| p >= k.start && p < k.end;
    let mut row_dims = None;
    let mut pulled: Vec<KernelRange> = Vec::new();
    for i in candidate.start..candidate.end {
        for &v in &g.insts[i].inputs {
            let Some(p) = producer(g, v) else { continue };
            if inside(candidate, p) {
                continue;
            }
            if inside(anchor, p) {
                row_dims = Some(g.ty(v).dims.clone());
                continue;
            }
            if p < anchor.start {
                continue;
            }
            // Produced between the anchor and the candidate: pull it if it is a private
            // elementwise side computation whose own operands are available.
            let side = kernel_of(g, p);
            let private = (side.start..side.end).all(|s| {
                g.insts[s].outputs.iter().all(|o| {
                    !g.is_output(*o)
                        && users[o.index()]
                            .iter()
                            .all(|&u| inside(candidate, u) || inside(&side, u))
                })
            });
            let ready = (side.start..side.end).all(|s| {
                g.insts[s]
                    .inputs
                    .iter()
                    .all(|&w| producer(g, w).is_none_or(|q| q < anchor.start || inside(&side, q)))
            });
            if !(is_elementwise_unit(g, &side) && private && ready && same_scope(g, anchor, &side))
            {
                return None;
            }
            if !pulled.contains(&side) {
                pulled.push(side);
            }
        }
    }
    let row = row_dims?;
    let fits = (candidate.start..candidate.end).all(|i| {
        g.insts[i].outputs.iter().all(|o| {
            let d = &g.ty(*o).dims;
            *d == row || d.len() == 1 && d[0] == zaya_ir::Dim::Const(1)
        })
    });
    fits.then_some(pulled)
}
