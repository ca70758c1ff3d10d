//! `norm_prologue`: an RMSNorm read only by matvec kernels is recomputed at the start of
//! each of them (a reduction over one vector is cheap next to reading a weight matrix),
//! so the normalized vector never goes through memory and the norm needs no launch.

use super::{contains_matvec, describe, kernel_of};
use crate::pass::{Pass, PassLog};
use crate::rewrite::Rewriter;
use zaya_ir::{Graph, KernelRange, Op};

pub struct FuseNormPrologue;

impl Pass for FuseNormPrologue {
    fn name(&self) -> &'static str {
        "norm_prologue"
    }

    fn describe(&self) -> &'static str {
        "recompute an RMSNorm at the start of every matvec kernel that reads it"
    }

    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph {
        // The Rewriter keeps every value's readers up to date across the copies and fusions,
        // so a rescan after a rewrite does not recompute `Graph::users` (which dominated).
        let mut g = Rewriter::new(graph.clone());
        let mut refused: Vec<String> = Vec::new();
        'again: loop {
            for n in 0..g.insts.len() {
                // Look at the op before anything else: most instructions are not norms, and
                // this scan runs again after every rewrite.
                if !matches!(g.insts[n].op, Op::RmsNorm { .. }) {
                    continue;
                }
                let norm_out = g.insts[n].outputs[0];
                let unit = kernel_of(&g, n);
                if !is_norm_unit(&g, &unit) || g.is_output(norm_out) {
                    continue;
                }
                let readers: Vec<KernelRange> = {
                    let mut ks: Vec<KernelRange> = Vec::new();
                    for u in g.readers(norm_out) {
                        let k = kernel_of(&g, u);
                        if !ks.contains(&k) {
                            ks.push(k);
                        }
                    }
                    ks
                };
                if readers.is_empty() || !readers.iter().all(|k| contains_matvec(&g, k)) {
                    continue;
                }
                let what = format!("{} into {}", describe(&g, &unit), describe(&g, &readers[0]));
                if refused.contains(&what) {
                    continue;
                }
                if readers.len() > 1 {
                    // Give the last reader kernel its own copy of the norm.
                    let last = readers[readers.len() - 1].clone();
                    let map = g.duplicate_range(unit.start, unit.end);
                    let shift = unit.end - unit.start;
                    let new_out = map
                        .iter()
                        .find(|(old, _)| *old == norm_out)
                        .map(|(_, new)| *new);
                    if let Some(new_out) = new_out {
                        for i in last.start + shift..last.end + shift {
                            g.replace_input(i, norm_out, new_out);
                        }
                    }
                    log.note(format!(
                        "copied {} for {}",
                        describe(&g, &unit),
                        describe(&g, &kernel_of(&g, last.start + shift))
                    ));
                    continue 'again;
                }
                let members: Vec<usize> = (unit.start..unit.end)
                    .chain(readers[0].start..readers[0].end)
                    .collect();
                let label = g.kernel_label(readers[0].start).to_string();
                match g.fuse(&members, &label) {
                    Ok(_) => {
                        log.note(format!("fused {what} as prologue"));
                        continue 'again;
                    }
                    Err(e) => {
                        log.skip(format!("{what}: {e}"));
                        refused.push(what);
                    }
                }
            }
            break;
        }
        g.into_graph()
    }
}

/// An RMSNorm kernel on its own: the norm plus the decoding of its gain.
fn is_norm_unit(g: &Graph, k: &KernelRange) -> bool {
    (k.start..k.end).all(|i| {
        matches!(
            g.insts[i].op,
            Op::RmsNorm { .. } | Op::Dequant { .. } | Op::Const { .. }
        )
    })
}
