//! Structural helpers for passes: dead-code elimination and compaction to canonical ids.

use crate::graph::{Graph, Inst, Value, ValueDef};
use crate::{InstId, ValueId};

impl Graph {
    /// Removes instructions whose outputs are never used and that have no side effect.
    /// Returns how many were removed.
    pub fn eliminate_dead_code(&mut self) -> usize {
        let mut live = vec![false; self.values.len()];
        for (_, v) in &self.outputs {
            live[v.index()] = true;
        }
        let mut keep = vec![false; self.insts.len()];
        for (i, inst) in self.insts.iter().enumerate().rev() {
            let needed = inst.op.has_side_effect() || inst.outputs.iter().any(|o| live[o.index()]);
            if needed {
                keep[i] = true;
                for v in &inst.inputs {
                    live[v.index()] = true;
                }
            }
        }
        let before = self.insts.len();
        let insts = std::mem::take(&mut self.insts);
        self.insts = insts
            .into_iter()
            .zip(keep)
            .filter_map(|(inst, k)| k.then_some(inst))
            .collect();
        let removed = before - self.insts.len();
        *self = self.compacted();
        removed
    }

    /// A copy with values renumbered in definition order and unused values dropped, so that
    /// ids are canonical after any rewrite.
    pub fn compacted(&self) -> Graph {
        let mut map: Vec<Option<ValueId>> = vec![None; self.values.len()];
        let mut values: Vec<Value> = Vec::with_capacity(self.values.len());
        let mut take = |old: ValueId, def: ValueDef, values: &mut Vec<Value>| -> ValueId {
            let id = ValueId::from_index(values.len());
            let mut v = self.values[old.index()].clone();
            v.def = def;
            values.push(v);
            map[old.index()] = Some(id);
            id
        };
        let inputs: Vec<ValueId> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(n, v)| take(*v, ValueDef::Input(n as u32), &mut values))
            .collect();
        let mut insts = Vec::with_capacity(self.insts.len());
        for (i, inst) in self.insts.iter().enumerate() {
            let outputs = inst
                .outputs
                .iter()
                .enumerate()
                .map(|(k, o)| {
                    take(
                        *o,
                        ValueDef::Inst(InstId::from_index(i), k as u32),
                        &mut values,
                    )
                })
                .collect();
            insts.push(Inst {
                op: inst.op.clone(),
                inputs: inst.inputs.clone(),
                outputs,
            });
        }
        let remap = |v: ValueId| map[v.index()].unwrap_or(ValueId(u32::MAX));
        for inst in &mut insts {
            for v in inst.inputs.iter_mut() {
                *v = remap(*v);
            }
        }
        Graph {
            name: self.name.clone(),
            symbols: self.symbols.clone(),
            weights: self.weights.clone(),
            states: self.states.clone(),
            values,
            inputs,
            insts,
            outputs: self
                .outputs
                .iter()
                .map(|(n, v)| (n.clone(), remap(*v)))
                .collect(),
        }
    }
}
