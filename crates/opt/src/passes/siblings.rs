//! `siblings`: merge matvec kernels that read the same input vector (q, k and both value
//! halves; an expert's gate and up), so the input is read once and one launch does all.

use super::{contains_matvec, describe, producer};
use crate::pass::{Pass, PassLog};
use std::collections::{HashMap, HashSet};
use zaya_ir::{Graph, KernelRange, Op, ValueId, WeightId};

pub struct FuseSiblings;

/// What a matvec kernel multiplies: the external vector (or the external input and gain of
/// the RMSNorm prologue that produces it), and the expert index if any.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum RowInput {
    Value(ValueId),
    Norm(ValueId, Option<WeightId>),
}

fn row_inputs(g: &Graph, k: &KernelRange) -> Vec<(RowInput, Option<ValueId>)> {
    let inside = |v: ValueId| producer(g, v).filter(|&p| p >= k.start && p < k.end);
    let mut keys = Vec::new();
    for i in k.start..k.end {
        if !matches!(g.insts[i].op, Op::MatVec) {
            continue;
        }
        let x = g.insts[i].inputs[1];
        let input = match inside(x) {
            None => RowInput::Value(x),
            Some(p) if matches!(g.insts[p].op, Op::RmsNorm { .. }) => {
                let gamma = inside(g.insts[p].inputs[1]).and_then(|d| match g.insts[d].op {
                    Op::Dequant { weight } => Some(weight),
                    _ => None,
                });
                RowInput::Norm(g.insts[p].inputs[0], gamma)
            }
            Some(_) => continue,
        };
        let expert = inside(g.insts[i].inputs[0]).and_then(|d| g.insts[d].inputs.first().copied());
        let key = (input, expert);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

impl Pass for FuseSiblings {
    fn name(&self) -> &'static str {
        "siblings"
    }

    fn describe(&self) -> &'static str {
        "merge matvec kernels that read the same input (q/k/v projections, expert gate/up)"
    }

    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph {
        let mut g = graph.clone();
        let mut refused: HashSet<(String, String)> = HashSet::new();
        'again: loop {
            let kernels: Vec<KernelRange> = g
                .kernel_ranges()
                .into_iter()
                .filter(|k| contains_matvec(&g, k))
                .collect();
            let keys: Vec<_> = kernels.iter().map(|k| row_inputs(&g, k)).collect();
            // Kernels with one row input, by that input, in program order: the pairs below are
            // visited in the order of a scan over all later kernels, without comparing each.
            let mut same: HashMap<&(RowInput, Option<ValueId>), Vec<usize>> = HashMap::new();
            for (i, key) in keys.iter().enumerate() {
                if let [only] = key.as_slice() {
                    same.entry(only).or_default().push(i);
                }
            }
            for a in 0..kernels.len() {
                let [only] = keys[a].as_slice() else {
                    continue;
                };
                for &b in same[only].iter().filter(|&&b| b > a) {
                    let (da, db) = (describe(&g, &kernels[a]), describe(&g, &kernels[b]));
                    if refused.contains(&(da.clone(), db.clone())) {
                        continue;
                    }
                    let members: Vec<usize> = (kernels[a].start..kernels[a].end)
                        .chain(kernels[b].start..kernels[b].end)
                        .collect();
                    match g.fuse(&members, "matvec") {
                        Ok(_) => {
                            log.note(format!("merged {db} into {da}: same input"));
                            continue 'again;
                        }
                        Err(e) => {
                            log.skip(format!("{da} + {db}: {e}"));
                            refused.insert((da, db));
                        }
                    }
                }
            }
            break;
        }
        g
    }
}
