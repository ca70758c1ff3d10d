//! The validator: every pass output goes through it. It re-infers every type, checks that
//! values are defined once before use, and that tables and outputs are consistent.

use crate::graph::{Graph, GraphError, ValueDef};
use crate::op::infer;
use crate::{InstId, TensorType, WeightFormat};
use std::collections::HashSet;

impl Graph {
    pub fn validate(&self) -> Result<(), GraphError> {
        let structure = |msg: String| Err(GraphError::Structure(msg));
        for (i, w) in self.weights.iter().enumerate() {
            if w.dims.is_empty() || w.dims.contains(&0) {
                return structure(format!(
                    "weight @{i} \"{}\" has an empty shape {:?}",
                    w.source, w.dims
                ));
            }
            if let WeightFormat::Affine { group_size, .. } | WeightFormat::Mxfp4 { group_size } =
                w.format
            {
                if group_size == 0 || w.cols() % group_size as u64 != 0 {
                    return structure(format!(
                        "weight @{i} \"{}\": {} columns are not a multiple of group size {group_size}",
                        w.source,
                        w.cols()
                    ));
                }
            }
            if let WeightFormat::Affine { bits, .. } = w.format {
                if bits != 4 && bits != 8 {
                    return structure(format!(
                        "weight @{i} \"{}\": unsupported {bits}-bit affine",
                        w.source
                    ));
                }
            }
        }
        let mut defined = vec![false; self.values.len()];
        for (n, v) in self.inputs.iter().enumerate() {
            if v.index() >= self.values.len() {
                return structure(format!("input {n} is {v}, which does not exist"));
            }
            if self.values[v.index()].def != ValueDef::Input(n as u32) {
                return structure(format!("input {n} ({v}) is not recorded as input {n}"));
            }
            defined[v.index()] = true;
        }
        for (i, inst) in self.insts.iter().enumerate() {
            let id = InstId::from_index(i);
            let err = |msg: String| GraphError::Op {
                inst: id,
                op: inst.op.mnemonic(),
                msg,
            };
            for v in &inst.inputs {
                if v.index() >= self.values.len() || !defined[v.index()] {
                    return Err(err(format!("uses {v} before it is defined")));
                }
            }
            let tys: Vec<&TensorType> = inst
                .inputs
                .iter()
                .map(|v| &self.values[v.index()].ty)
                .collect();
            let declared = inst
                .outputs
                .first()
                .map(|o| self.values[o.index()].ty.clone());
            let want = infer(&inst.op, &tys, declared.as_ref(), self).map_err(err)?;
            if want.len() != inst.outputs.len() {
                return Err(err(format!(
                    "has {} outputs, its op defines {}",
                    inst.outputs.len(),
                    want.len()
                )));
            }
            for (k, (o, ty)) in inst.outputs.iter().zip(&want).enumerate() {
                if o.index() >= self.values.len() {
                    return Err(err(format!("output {o} does not exist")));
                }
                if defined[o.index()] {
                    return Err(err(format!("redefines {o}")));
                }
                let val = &self.values[o.index()];
                if val.def != ValueDef::Inst(id, k as u32) {
                    return Err(err(format!("output {o} is not recorded as defined here")));
                }
                if &val.ty != ty {
                    return Err(err(format!(
                        "output {o} is recorded as {:?}, inferred {:?}",
                        val.ty, ty
                    )));
                }
                defined[o.index()] = true;
            }
        }
        let mut seen_groups = HashSet::new();
        for k in self.kernel_ranges() {
            if let Some(g) = k.group {
                if g.index() >= self.groups.len() {
                    return structure(format!(
                        "instruction {} is in group {g}, which does not exist",
                        k.start
                    ));
                }
                if !seen_groups.insert(g) {
                    return structure(format!(
                        "group {g} ({}) is not contiguous in program order",
                        self.groups[g.index()].label
                    ));
                }
            }
        }
        let mut names = HashSet::new();
        for (name, v) in &self.outputs {
            if !names.insert(name) {
                return structure(format!("output name \"{name}\" appears twice"));
            }
            if v.index() >= self.values.len() || !defined[v.index()] {
                return structure(format!("output \"{name}\" refers to undefined {v}"));
            }
        }
        Ok(())
    }
}
