//! `norm_prologue`: an RMSNorm read only by matvec kernels is recomputed at the start of
//! each of them (a reduction over one vector is cheap next to reading a weight matrix),
//! so the normalized vector never goes through memory and the norm needs no launch.

use super::{contains_matvec, describe, kernel_of};
use crate::pass::{Pass, PassLog};
use crate::rewrite::{Match, Outcome, Pattern, Rewriter, Rule, rewrite};
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
        let rules = [
            // Several reader kernels: the last one gets its own copy, then the rule looks again.
            Rule::new(
                "norm_prologue.copy_per_reader",
                Pattern::any("rms_norm"),
                copy,
            )
            .when(|rw, m| reader_kernels(rw, m).is_some_and(|ks| ks.len() > 1)),
            // One reader kernel: the norm becomes its prologue.
            Rule::new("norm_prologue.into_reader", Pattern::any("rms_norm"), fold)
                .when(|rw, m| reader_kernels(rw, m).is_some_and(|ks| ks.len() == 1)),
        ];
        rewrite(graph, &rules, log)
    }
}

/// The kernels reading a norm that stands alone (not a result), if all of them are matvec
/// kernels.
fn reader_kernels(rw: &Rewriter, m: &Match) -> Option<Vec<KernelRange>> {
    let out = m.value();
    if !is_norm_unit(rw, &kernel_of(rw, m.root)) || rw.is_output(out) {
        return None;
    }
    let mut ks: Vec<KernelRange> = Vec::new();
    for u in rw.readers(out) {
        let k = kernel_of(rw, u);
        if !ks.contains(&k) {
            ks.push(k);
        }
    }
    (!ks.is_empty() && ks.iter().all(|k| contains_matvec(rw, k))).then_some(ks)
}

fn copy(rw: &mut Rewriter, m: &Match, log: &mut PassLog) -> Outcome {
    let (unit, out) = (kernel_of(rw, m.root), m.value());
    let Some(last) = reader_kernels(rw, m).and_then(|ks| ks.last().cloned()) else {
        return Outcome::Unchanged;
    };
    // The copy lands right after the unit, so every later instruction moves by its length.
    let map = rw.duplicate_range(unit.start, unit.end);
    let shift = unit.end - unit.start;
    if let Some(&(_, new_out)) = map.iter().find(|(old, _)| *old == out) {
        for i in last.start + shift..last.end + shift {
            rw.replace_input(i, out, new_out);
        }
    }
    log.note(format!(
        "copied {} for {}",
        describe(rw, &unit),
        describe(rw, &kernel_of(rw, last.start + shift))
    ));
    Outcome::resume(unit.start)
}

fn fold(rw: &mut Rewriter, m: &Match, log: &mut PassLog) -> Outcome {
    let unit = kernel_of(rw, m.root);
    let Some(reader) = reader_kernels(rw, m).and_then(|ks| ks.first().cloned()) else {
        return Outcome::Unchanged;
    };
    let what = format!("{} into {}", describe(rw, &unit), describe(rw, &reader));
    let members: Vec<usize> = (unit.start..unit.end)
        .chain(reader.start..reader.end)
        .collect();
    let label = rw.kernel_label(reader.start).to_string();
    match rw.fuse(&members, &label) {
        Ok(fused) => {
            log.note(format!("fused {what} as prologue"));
            Outcome::resume(unit.start.min(fused.first))
        }
        Err(e) => {
            // The walk may pass this norm again after a later rewrite: say it once.
            let line = format!("{what}: {e}");
            if !log.skipped.contains(&line) {
                log.skip(line);
            }
            Outcome::Unchanged
        }
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
