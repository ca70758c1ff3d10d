//! `epilogue`: pull elementwise work into the kernel that produces its operand: a bias add
//! and GELU after a matvec, SwiGLU after gate/up, the expert's gate-probability scale and
//! skip select after down, and the next layer's residual-scale merge after o_proj / down.
//! Elementwise producers of side operands (the residual's `(r + b) * s`) come along when
//! nothing else reads them. The kernel then writes only what leaves it.

use super::{describe, is_elementwise_unit, kernel_of, producer};
use crate::pass::{Pass, PassLog};
use crate::rewrite::{Outcome, Pattern, Rewriter, Rule, rewrite};
use std::cell::RefCell;
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
        // Fusions `Graph::fuse` refused: not tried again while the kernels are where they were.
        let refused: RefCell<Vec<String>> = RefCell::new(Vec::new());
        let rule = Rule::new(
            "epilogue.into_producer",
            Pattern::Inst(|g, i| kernel_of(g, i).start == i && is_anchor(g, &kernel_of(g, i))),
            |rw, m, log| {
                let anchor = kernel_of(rw, m.root);
                for candidate in consumers(rw, &anchor) {
                    let Some(pulled) = absorbable(rw, &anchor, &candidate) else {
                        continue;
                    };
                    let what = format!(
                        "{} into {}",
                        describe(rw, &candidate),
                        describe(rw, &anchor)
                    );
                    if refused.borrow().contains(&what) {
                        continue;
                    }
                    let mut members: Vec<usize> = (anchor.start..anchor.end).collect();
                    members.extend(candidate.start..candidate.end);
                    for p in &pulled {
                        members.extend(p.start..p.end);
                    }
                    let label = rw.kernel_label(anchor.start).to_string();
                    match rw.fuse(&members, &label) {
                        Ok(fused) => {
                            log.note(format!("fused {what}"));
                            let end = fused.first + fused.moved.len();
                            return Outcome::Changed {
                                from: fused.first,
                                revisit: producers_before(rw, fused.first, end),
                            };
                        }
                        Err(e) => {
                            log.skip(format!("{what}: {e}"));
                            refused.borrow_mut().push(what);
                        }
                    }
                }
                Outcome::Unchanged
            },
        );
        rewrite(graph, &[rule], log)
    }
}

/// The earlier kernels (before `first`) whose epilogue choices a fusion of `first..end` may
/// have changed: those producing inputs of the moved instructions, or of the kernels that
/// read what they compute (a consumer of theirs may now be a different kernel).
fn producers_before(rw: &Rewriter, first: usize, end: usize) -> Vec<usize> {
    let mut readers: Vec<usize> = (first..end).collect();
    for i in first..end {
        for &o in &rw.insts[i].outputs {
            for r in rw.reader_positions(o).filter(|&r| r >= end) {
                let k = kernel_of(rw, r);
                readers.extend(k.start..k.end);
            }
        }
    }
    let mut out: Vec<usize> = Vec::new();
    for i in readers {
        for &v in &rw.insts[i].inputs {
            if let Some(p) = producer(rw, v).filter(|&p| p < first) {
                out.push(kernel_of(rw, p).start);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
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
fn consumers(g: &Rewriter, anchor: &KernelRange) -> Vec<KernelRange> {
    let mut out: Vec<KernelRange> = Vec::new();
    for i in anchor.start..anchor.end {
        for o in &g.insts[i].outputs {
            for u in g.readers(*o) {
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
    g: &Rewriter,
    anchor: &KernelRange,
    candidate: &KernelRange,
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
                        && g.reader_positions(*o)
                            .all(|u| inside(candidate, u) || inside(&side, u))
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
