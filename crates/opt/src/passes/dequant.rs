//! `dequant`: fold every `dequant` into the kernel of the op that reads it, so the packed
//! weight is decoded inside that kernel (a matvec reads 4-bit words, not f32 rows) and no
//! dequantized weight is ever written to memory. A dequant read by several ops is
//! duplicated first: each kernel decodes what it needs.

use super::{describe, kernel_of};
use crate::pass::{Pass, PassLog};
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
        let mut g = graph.clone();
        loop {
            let users = g.users();
            let next = g.insts.iter().enumerate().find(|(_, inst)| {
                matches!(inst.op, Op::Dequant { .. })
                    && inst.group.is_none()
                    && !g.is_output(inst.outputs[0])
                    && !users[inst.outputs[0].index()].is_empty()
            });
            let Some((d, inst)) = next else { break };
            let out = inst.outputs[0];
            let readers = &users[out.index()];
            if readers.len() > 1 {
                // Give the last reader a private copy; the loop comes back for the rest.
                let reader = *readers.last().unwrap_or(&d);
                let copy = g.duplicate_inst(d);
                let new = g.insts[copy].outputs[0];
                g.replace_input(reader + 1, out, new);
                continue;
            }
            let reader = readers[0];
            let consumer = kernel_of(&g, reader);
            // A row lookup (an embedding row) names its kernel; otherwise the reader does.
            let label = match (
                g.insts[reader].group,
                g.insts[d].inputs.is_empty(),
                &g.insts[reader].op,
            ) {
                (None, false, op) if op.is_elementwise() => "lookup".to_string(),
                _ => g.kernel_label(reader).to_string(),
            };
            let what = format!(
                "fused dequant of @{} into {}",
                weight_of(&g, d),
                describe(&g, &consumer)
            );
            let mut members: Vec<usize> = (consumer.start..consumer.end).collect();
            members.push(d);
            match g.fuse(&members, &label) {
                Ok(_) => log.note(what),
                Err(e) => {
                    log.skip(format!("{what}: {e}"));
                    break;
                }
            }
        }
        g
    }
}

fn weight_of(g: &Graph, i: usize) -> u32 {
    match g.insts[i].op {
        Op::Dequant { weight } => weight.0,
        _ => u32::MAX,
    }
}
