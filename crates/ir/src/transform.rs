//! Structural helpers for passes: dead-code elimination and compaction to canonical ids.

use crate::graph::{Graph, Inst, Value, ValueDef};
use crate::{GroupId, InstId, ValueId};

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
        // Groups are renumbered in order of first appearance; empty ones vanish.
        let mut group_map: Vec<Option<GroupId>> = vec![None; self.groups.len()];
        let mut groups = Vec::new();
        for (i, inst) in self.insts.iter().enumerate() {
            let group = inst.group.map(|g| {
                *group_map[g.index()].get_or_insert_with(|| {
                    groups.push(self.groups[g.index()].clone());
                    GroupId::from_index(groups.len() - 1)
                })
            });
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
                group,
                scope: inst.scope,
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
            groups,
            scopes: self.scopes.clone(),
            fusions: self.fusions.clone(),
            current_scope: None,
        }
    }
}

/// What [`Graph::fuse_reordering`] did: the new group, and the instructions it moved:
/// position `first + k` now holds the instruction that was at `moved[k]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fused {
    pub group: GroupId,
    pub first: usize,
    pub moved: Vec<usize>,
}

/// Surgery used by fusion passes. Each call leaves the graph valid and canonical.
impl Graph {
    /// For every value, the instructions that read it (in program order, repeats kept once).
    pub fn users(&self) -> Vec<Vec<usize>> {
        let mut users = vec![Vec::new(); self.values.len()];
        for (i, inst) in self.insts.iter().enumerate() {
            for v in &inst.inputs {
                let list: &mut Vec<usize> = &mut users[v.index()];
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        users
    }

    /// Whether `v` is a graph output.
    pub fn is_output(&self, v: ValueId) -> bool {
        self.outputs.iter().any(|(_, o)| *o == v)
    }

    /// Copies instruction `inst` (fresh output values, same group) right after it and
    /// returns the copy's index. Used to give each consumer a private cheap producer
    /// (a dequant, a const) so that it can be fused into that consumer's kernel.
    pub fn duplicate_inst(&mut self, inst: usize) -> usize {
        let mut copy = self.insts[inst].clone();
        for (k, o) in copy.outputs.iter_mut().enumerate() {
            let mut v = self.values[o.index()].clone();
            v.def = ValueDef::Inst(InstId::from_index(inst + 1), k as u32);
            self.values.push(v);
            *o = ValueId::from_index(self.values.len() - 1);
        }
        self.insts.insert(inst + 1, copy);
        self.refresh_span(inst + 1, self.insts.len());
        inst + 1
    }

    /// Makes instruction `inst` read `new` wherever it read `old`.
    pub fn replace_input(&mut self, inst: usize, old: ValueId, new: ValueId) {
        for v in self.insts[inst].inputs.iter_mut() {
            if *v == old {
                *v = new;
            }
        }
    }

    /// Recomputes every `ValueDef` from program order (after moving instructions).
    fn refresh_defs(&mut self) {
        self.refresh_span(0, self.insts.len());
    }

    /// Recomputes the `ValueDef`s of the instructions at `start..end`.
    fn refresh_span(&mut self, start: usize, end: usize) {
        for (i, inst) in self.insts.iter().enumerate().take(end).skip(start) {
            for (k, o) in inst.outputs.iter().enumerate() {
                self.values[o.index()].def = ValueDef::Inst(InstId::from_index(i), k as u32);
            }
        }
    }

    /// Fuses `members` (instruction indices; whole groups are pulled in with any member)
    /// into one new group labelled `label`, moving instructions so the group is contiguous:
    /// what the members need goes before it, everything else in the span after it. Fails,
    /// leaving the graph untouched, when a member needs something that needs another member.
    pub fn fuse(&mut self, members: &[usize], label: &str) -> Result<crate::GroupId, String> {
        self.fuse_reordering(members, label).map(|f| f.group)
    }

    /// [`Graph::fuse`], reporting how the instructions moved (rewriters that index
    /// instructions by position follow the move instead of rescanning the graph).
    pub fn fuse_reordering(&mut self, members: &[usize], label: &str) -> Result<Fused, String> {
        let mut is_member = vec![false; self.insts.len()];
        for &m in members {
            is_member[m] = true;
        }
        // Pull in the rest of every group a member belongs to.
        let touched: Vec<crate::GroupId> = members
            .iter()
            .filter_map(|&m| self.insts[m].group)
            .collect();
        for (i, inst) in self.insts.iter().enumerate() {
            if inst.group.is_some_and(|g| touched.contains(&g)) {
                is_member[i] = true;
            }
        }
        let first = is_member
            .iter()
            .position(|&m| m)
            .ok_or("no members to fuse")?;
        let last = is_member.iter().rposition(|&m| m).unwrap_or(first);
        let deps = self.span_dependencies(first, last);

        // `needed`: non-members in the span that a member depends on, transitively.
        let mut needed = vec![false; last + 1 - first];
        for j in (first..=last).rev() {
            if is_member[j] || needed[j - first] {
                for &d in &deps[j - first] {
                    if !is_member[d] {
                        needed[d - first] = true;
                    }
                }
            }
        }
        // Keep non-member groups whole on one side.
        loop {
            let mut changed = false;
            for j in first..=last {
                if needed[j - first] {
                    if let Some(g) = self.insts[j].group {
                        for k in first..=last {
                            if self.insts[k].group == Some(g) && !needed[k - first] {
                                needed[k - first] = true;
                                changed = true;
                                for &d in &deps[k - first] {
                                    if !is_member[d] {
                                        needed[d - first] = true;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        for j in first..=last {
            if needed[j - first] {
                if let Some(&m) = deps[j - first].iter().find(|&&d| is_member[d]) {
                    return Err(format!(
                        "cannot fuse: instruction {j} ({}) is needed by the kernel but reads instruction {m} ({}) of it",
                        self.insts[j].op.mnemonic(),
                        self.insts[m].op.mnemonic()
                    ));
                }
            }
        }
        let group = self.add_group(label);
        let span: Vec<Inst> = self.insts.drain(first..=last).collect();
        let (mut before, mut inside, mut after) = (Vec::new(), Vec::new(), Vec::new());
        for (k, mut inst) in span.into_iter().enumerate() {
            let j = first + k;
            if is_member[j] {
                inst.group = Some(group);
                inside.push((j, inst));
            } else if needed[k] {
                before.push((j, inst));
            } else {
                after.push((j, inst));
            }
        }
        let tail = self.insts.split_off(first);
        let mut moved = Vec::with_capacity(last + 1 - first);
        for (j, inst) in before.into_iter().chain(inside).chain(after) {
            moved.push(j);
            self.insts.push(inst);
        }
        self.insts.extend(tail);
        self.refresh_span(first, last + 1);
        Ok(Fused {
            group,
            first,
            moved,
        })
    }

    /// For each instruction in `first..=last`, the instructions in the span it depends on
    /// (data, and state order between effects on one state).
    fn span_dependencies(&self, first: usize, last: usize) -> Vec<Vec<usize>> {
        use crate::op::Effect;
        let mut deps = vec![Vec::new(); last + 1 - first];
        let mut effects: Vec<(usize, Effect)> = Vec::new();
        for j in first..=last {
            let inst = &self.insts[j];
            let d = &mut deps[j - first];
            for v in &inst.inputs {
                if let ValueDef::Inst(p, _) = self.values[v.index()].def {
                    if p.index() >= first && p.index() < j {
                        d.push(p.index());
                    }
                }
            }
            for e in inst.op.effects() {
                let (s, writes) = match e {
                    Effect::Reads(s) => (s, false),
                    Effect::Writes(s) => (s, true),
                };
                for &(k, other) in &effects {
                    let conflict = match other {
                        Effect::Reads(o) => writes && o == s,
                        Effect::Writes(o) => o == s,
                    };
                    if conflict {
                        d.push(k);
                    }
                }
            }
            for e in inst.op.effects() {
                effects.push((j, e));
            }
        }
        deps
    }
}

impl Graph {
    /// Copies instructions `start..end` right after `end - 1` with fresh values (a grouped
    /// range becomes a new group with the same label); inputs produced inside the range are
    /// rewired to the copies. Returns old -> new value pairs for the range's outputs.
    pub fn duplicate_range(&mut self, start: usize, end: usize) -> Vec<(ValueId, ValueId)> {
        let mut map: Vec<(ValueId, ValueId)> = Vec::new();
        let mut copies = Vec::with_capacity(end - start);
        let group = self.insts[start].group.map(|g| {
            let label = self.groups[g.index()].label.clone();
            self.add_group(label)
        });
        for i in start..end {
            let mut copy = self.insts[i].clone();
            copy.group = group;
            for v in copy.inputs.iter_mut() {
                if let Some((_, new)) = map.iter().find(|(old, _)| old == v) {
                    *v = *new;
                }
            }
            for o in copy.outputs.iter_mut() {
                let v = self.values[o.index()].clone();
                self.values.push(v);
                let new = ValueId::from_index(self.values.len() - 1);
                map.push((*o, new));
                *o = new;
            }
            copies.push(copy);
        }
        let tail = self.insts.split_off(end);
        self.insts.extend(copies);
        self.insts.extend(tail);
        self.refresh_defs();
        map
    }
}
