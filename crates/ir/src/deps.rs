//! The dependency view of a graph as a petgraph `DiGraph` over instructions: data edges
//! (producer -> consumer) and state edges that keep reads and writes of one state in
//! program order. Used for DOT export, scheduling checks and liveness.

use crate::InstId;
use crate::graph::{Graph, ValueDef};
use crate::op::Effect;
use petgraph::graph::{DiGraph, NodeIndex};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dep {
    /// The consumer reads a value the producer defines.
    Data(crate::ValueId),
    /// Both touch one state; the edge keeps program order.
    State(crate::StateId),
}

/// Builds the dependency graph; node `i` is instruction `i`.
pub fn dependency_graph(g: &Graph) -> DiGraph<InstId, Dep> {
    let mut dg = DiGraph::with_capacity(g.insts.len(), g.insts.len() * 2);
    for i in 0..g.insts.len() {
        dg.add_node(InstId::from_index(i));
    }
    let mut last_write: Vec<Option<usize>> = vec![None; g.states.len()];
    let mut reads_since_write: Vec<Vec<usize>> = vec![Vec::new(); g.states.len()];
    for (i, inst) in g.insts.iter().enumerate() {
        for v in &inst.inputs {
            if let ValueDef::Inst(p, _) = g.values[v.index()].def {
                dg.add_edge(NodeIndex::new(p.index()), NodeIndex::new(i), Dep::Data(*v));
            }
        }
        for e in inst.op.effects() {
            match e {
                Effect::Reads(s) => {
                    if let Some(w) = last_write[s.index()] {
                        dg.add_edge(NodeIndex::new(w), NodeIndex::new(i), Dep::State(s));
                    }
                    reads_since_write[s.index()].push(i);
                }
                Effect::Writes(s) => {
                    for r in reads_since_write[s.index()].drain(..) {
                        if r != i {
                            dg.add_edge(NodeIndex::new(r), NodeIndex::new(i), Dep::State(s));
                        }
                    }
                    if let Some(w) = last_write[s.index()] {
                        dg.add_edge(NodeIndex::new(w), NodeIndex::new(i), Dep::State(s));
                    }
                    last_write[s.index()] = Some(i);
                }
            }
        }
    }
    dg
}

/// Graphviz DOT of the dependency graph, one node per instruction.
pub fn to_dot(g: &Graph) -> String {
    use std::fmt::Write;
    let dg = dependency_graph(g);
    let num = g.canonical_numbering();
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", g.name);
    let _ = writeln!(
        out,
        "  node [shape=box, fontname=\"monospace\", fontsize=10];"
    );
    for (i, inst) in g.insts.iter().enumerate() {
        let mut label = String::new();
        let _ = g.write_inst(&mut label, i, &num);
        let label = label.trim().replace('\\', "\\\\").replace('"', "\\\"");
        let color = if inst.op.has_side_effect() {
            ", color=firebrick"
        } else {
            ""
        };
        let _ = writeln!(out, "  i{i} [label=\"{label}\"{color}];");
    }
    for e in dg.raw_edges() {
        let style = match e.weight {
            Dep::Data(_) => "",
            Dep::State(_) => " [style=dashed]",
        };
        let _ = writeln!(
            out,
            "  i{} -> i{}{style};",
            e.source().index(),
            e.target().index()
        );
    }
    for (name, v) in &g.outputs {
        if let ValueDef::Inst(p, _) = g.values[v.index()].def {
            let _ = writeln!(out, "  \"out:{name}\" [shape=ellipse];");
            let _ = writeln!(out, "  i{} -> \"out:{name}\";", p.index());
        }
    }
    out.push_str("}\n");
    out
}
