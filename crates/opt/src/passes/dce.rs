//! `dce`: remove instructions whose results nothing reads (and that write no state).

use crate::pass::{Pass, PassLog};
use zaya_ir::Graph;

pub struct DeadCode;

impl Pass for DeadCode {
    fn name(&self) -> &'static str {
        "dce"
    }

    fn describe(&self) -> &'static str {
        "remove instructions whose results are never read"
    }

    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph {
        let mut g = graph.clone();
        let removed = g.eliminate_dead_code();
        if removed > 0 {
            log.note(format!("removed {removed} dead instructions"));
        }
        g
    }
}
