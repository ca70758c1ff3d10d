//! The canonical text form. Values are renumbered in definition order, so two graphs that
//! differ only in how their tables were filled print the same: the text is diffable.

use crate::graph::{Graph, ValueDef};
use crate::op::Op;
use crate::shape::fmt_type;
use crate::spec::Operand;
use crate::{SymId, ValueId};
use std::collections::HashMap;
use std::fmt::{self, Write};

impl Graph {
    /// Canonical value numbering: inputs first, then outputs of instructions in order.
    pub fn canonical_numbering(&self) -> HashMap<ValueId, u32> {
        let mut map = HashMap::with_capacity(self.values.len());
        for v in &self.inputs {
            let n = map.len() as u32;
            map.insert(*v, n);
        }
        for inst in &self.insts {
            for v in &inst.outputs {
                let n = map.len() as u32;
                map.entry(*v).or_insert(n);
            }
        }
        map
    }

    fn sym_name(&self, s: SymId) -> String {
        self.symbols
            .get(s.index())
            .map(|s| s.name().to_string())
            .unwrap_or_else(|| format!("{s}"))
    }

    /// Writes the text form of the instructions only (`--layer` filters use this).
    pub fn write_inst(
        &self,
        f: &mut dyn Write,
        idx: usize,
        num: &HashMap<ValueId, u32>,
    ) -> fmt::Result {
        let inst = &self.insts[idx];
        let v = |id: &ValueId| match num.get(id) {
            Some(n) => format!("%{n}"),
            None => format!("%?{}", id.0),
        };
        f.write_str("  ")?;
        if !inst.outputs.is_empty() {
            for (i, o) in inst.outputs.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}: ", v(o))?;
                fmt_type(&self.values[o.index()].ty, f, &|s| self.sym_name(s))?;
            }
            f.write_str(" = ")?;
        }
        f.write_str(inst.op.mnemonic())?;
        self.write_attrs(f, &inst.op)?;
        let mut operands: Vec<String> = (inst.op.spec().operands)(&inst.op)
            .into_iter()
            .map(|o| match o {
                Operand::Weight(w) => format!("{w}"),
                Operand::State(s) => format!("{s}"),
            })
            .collect();
        operands.extend(inst.inputs.iter().map(v));
        if !operands.is_empty() {
            write!(f, " {}", operands.join(", "))?;
        }
        if let Some(s) = inst.scope {
            match self.scopes.get(s as usize) {
                Some(name) => write!(f, "  #{name}")?,
                None => write!(f, "  #?{s}")?,
            }
        }
        let names: Vec<&str> = inst
            .outputs
            .iter()
            .filter_map(|o| self.values[o.index()].name.as_deref())
            .collect();
        if !names.is_empty() {
            write!(f, "  ; {}", names.join(", "))?;
        }
        f.write_char('\n')
    }

    fn write_attrs(&self, f: &mut dyn Write, op: &Op) -> fmt::Result {
        (op.spec().attrs)(op, f, &|s| self.sym_name(s))
    }

    /// Writes the header: symbols, scope fusions, weights, states, inputs.
    pub fn write_header(&self, f: &mut dyn Write, num: &HashMap<ValueId, u32>) -> fmt::Result {
        for s in &self.symbols {
            writeln!(f, "  symbol {}", s.name())?;
        }
        for z in &self.fusions {
            writeln!(
                f,
                "  fusion {} scopes {:?} label {:?} {:?}",
                z.name, z.suffix, z.label, z.describe
            )?;
        }
        for (i, w) in self.weights.iter().enumerate() {
            writeln!(f, "  weight @{i} = {}{:?} {:?}", w.format, w.dims, w.source)?;
        }
        for (i, s) in self.states.iter().enumerate() {
            write!(f, "  state ${i} = ")?;
            fmt_type(&s.ty, f, &|s| self.sym_name(s))?;
            writeln!(f, " {:?}", s.name)?;
        }
        for v in &self.inputs {
            let val = &self.values[v.index()];
            write!(f, "  input %{}: ", num[v])?;
            fmt_type(&val.ty, f, &|s| self.sym_name(s))?;
            if let Some(n) = &val.name {
                write!(f, "  ; {n}")?;
            }
            f.write_char('\n')?;
        }
        Ok(())
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.canonical_numbering();
        writeln!(f, "graph {} {{", self.name)?;
        self.write_header(f, &num)?;
        for k in self.kernel_ranges() {
            match k.group {
                None => self.write_inst(f, k.start, &num)?,
                Some(g) => {
                    writeln!(f, "  kernel {g} {} {{", self.groups[g.index()].label)?;
                    for i in k.start..k.end {
                        f.write_str("  ")?;
                        self.write_inst(f, i, &num)?;
                    }
                    f.write_str("  }\n")?;
                }
            }
        }
        for (name, v) in &self.outputs {
            let n = num
                .get(v)
                .map(|n| format!("%{n}"))
                .unwrap_or_else(|| format!("%?{}", v.0));
            writeln!(f, "  output {name} = {n}")?;
        }
        f.write_str("}\n")
    }
}

/// Whether `v` is defined by an instruction (not a graph input).
pub fn is_inst_value(g: &Graph, v: ValueId) -> bool {
    matches!(g.values[v.index()].def, ValueDef::Inst(..))
}
