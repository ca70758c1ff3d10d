//! `dequant`: fold every `dequant` into the kernel of the op that reads it, so the packed
//! weight is decoded inside that kernel (a matvec reads 4-bit words, not f32 rows) and no
//! dequantized weight is ever written to memory. A dequant read by several ops is
//! duplicated first: each kernel decodes what it needs.

use super::{describe, kernel_of};
use crate::pass::{Pass, PassLog};
use crate::rewrite::{Outcome, Pattern, Rewriter, Rule, rewrite};
use zaya_ir::{Graph, Op};

pub struct FuseDequant;

impl Pass for FuseDequant {
    fn name(&self) -> &'static str {
        "dequant"
    }

    fn describe(&self) -> &'static str {
        "fold each dequant into the kernel that reads the weight (no dequantized weight in memory)"
    }

    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph {
        // A loose decode that something reads (and that is not itself a result).
        let loose = |rw: &Rewriter, d: usize| {
            let out = rw.insts[d].outputs[0];
            rw.insts[d].group.is_none() && !rw.is_output(out) && rw.is_read(out)
        };
        let rules = [
            // Several readers: the last one gets a private copy, then the rule looks again.
            Rule::new(
                "dequant.copy_per_reader",
                Pattern::any("dequant"),
                |rw, m, _| {
                    let out = m.value();
                    let Some(&reader) = rw.readers(out).last() else {
                        return Outcome::Unchanged;
                    };
                    let copy = rw.duplicate_inst(m.root);
                    let new = rw.insts[copy].outputs[0];
                    rw.replace_input(reader + 1, out, new);
                    Outcome::resume(m.root)
                },
            )
            .when(move |rw, m| loose(rw, m.root) && rw.readers(m.value()).len() > 1),
            // One reader: join its kernel.
            Rule::new("dequant.into_reader", Pattern::any("dequant"), fold)
                .when(move |rw, m| loose(rw, m.root)),
        ];
        rewrite(graph, &rules, log)
    }
}

fn fold(rw: &mut Rewriter, m: &crate::rewrite::Match, log: &mut PassLog) -> Outcome {
    let d = m.root;
    let reader = rw.readers(m.value())[0];
    let consumer = kernel_of(rw, reader);
    // A row lookup (an embedding row) names its kernel; otherwise the reader does.
    let label = match (
        rw.insts[reader].group,
        rw.insts[d].inputs.is_empty(),
        &rw.insts[reader].op,
    ) {
        (None, false, op) if op.is_elementwise() => "lookup".to_string(),
        _ => rw.kernel_label(reader).to_string(),
    };
    let what = format!(
        "fused dequant of @{} into {}",
        weight_of(rw, d),
        describe(rw, &consumer)
    );
    let mut members: Vec<usize> = (consumer.start..consumer.end).collect();
    members.push(d);
    match rw.fuse(&members, &label) {
        Ok(fused) => {
            log.note(what);
            Outcome::resume(fused.first)
        }
        Err(e) => {
            log.skip(format!("{what}: {e}"));
            Outcome::Stop
        }
    }
}

fn weight_of(g: &Graph, i: usize) -> u32 {
    match g.insts[i].op {
        Op::Dequant { weight } => weight.0,
        _ => u32::MAX,
    }
}
