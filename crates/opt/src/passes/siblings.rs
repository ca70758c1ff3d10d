//! `siblings`: merge matvec kernels that read the same input vector (q, k and both value
//! halves; an expert's gate and up), so the input is read once and one launch does all.

use super::{describe, kernel_of, producer};
use crate::pass::{Pass, PassLog};
use crate::rewrite::{Match, Outcome, Pattern, Rewriter, Rule, rewrite};
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
        // Rooted at a kernel's first matvec, so each kernel is looked at once per change.
        let rules = [
            Rule::new("siblings.merge_same_input", Pattern::any("matvec"), merge).when(|rw, m| {
                let k = kernel_of(rw, m.root);
                (k.start..m.root).all(|i| !matches!(rw.insts[i].op, Op::MatVec))
                    && row_inputs(rw, &k).len() == 1
            }),
        ];
        rewrite(graph, &rules, log)
    }
}

/// Merges the first later kernel with the same single row input into this one.
fn merge(rw: &mut Rewriter, m: &Match, log: &mut PassLog) -> Outcome {
    let a = kernel_of(rw, m.root);
    let Ok([key]) = <[_; 1]>::try_from(row_inputs(rw, &a)) else {
        return Outcome::Unchanged;
    };
    // Every sibling reads the same external vector (through its own prologue, maybe).
    let anchor = match key.0 {
        RowInput::Value(x) | RowInput::Norm(x, _) => x,
    };
    let mut later: Vec<KernelRange> = Vec::new();
    for u in rw.readers(anchor) {
        let k = kernel_of(rw, u);
        if k.start > a.start && !later.contains(&k) && row_inputs(rw, &k) == [key.clone()] {
            later.push(k);
        }
    }
    later.sort_by_key(|k| k.start);
    for b in later {
        let (da, db) = (describe(rw, &a), describe(rw, &b));
        let members: Vec<usize> = (a.start..a.end).chain(b.start..b.end).collect();
        match rw.fuse(&members, "matvec") {
            Ok(fused) => {
                log.note(format!("merged {db} into {da}: same input"));
                return Outcome::resume(a.start.min(fused.first));
            }
            Err(e) => {
                // The walk may come back here after a later merge: say it once.
                let line = format!("{da} + {db}: {e}");
                if !log.skipped.contains(&line) {
                    log.skip(line);
                }
            }
        }
    }
    Outcome::Unchanged
}
