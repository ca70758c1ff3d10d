//! `cca`, `router`, `head`: fuse every builder scope with a given suffix into one kernel
//! (rewrite rules as data: the scope names are the only model knowledge here). Producers
//! outside the scope stay outside (the builder writes a scope's own decodes inside it;
//! `tests/filetests/router.zir`).

use crate::pass::{Pass, PassLog};
use zaya_ir::Graph;

pub struct FuseScopes {
    pub name: &'static str,
    pub describe: &'static str,
    /// Scopes named `suffix` or ending in `.suffix`.
    pub suffix: &'static str,
    /// Kernel label (the backend template).
    pub label: &'static str,
}

impl FuseScopes {
    fn matches(&self, scope: &str) -> bool {
        scope == self.suffix || scope.ends_with(&format!(".{}", self.suffix))
    }
}

impl Pass for FuseScopes {
    fn name(&self) -> &'static str {
        self.name
    }

    fn describe(&self) -> &'static str {
        self.describe
    }

    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph {
        let mut g = graph.clone();
        let names: Vec<String> = g
            .scopes
            .iter()
            .filter(|s| self.matches(s))
            .cloned()
            .collect();
        for name in names {
            let Some(scope) = g.scopes.iter().position(|s| *s == name) else {
                continue;
            };
            let members: Vec<usize> = (0..g.insts.len())
                .filter(|&i| g.insts[i].scope == Some(scope as u32))
                .collect();
            if members.is_empty() {
                continue;
            }
            // Kernels the scope shares with other scopes are not ours to merge.
            let foreign = members.iter().any(|&i| {
                g.insts[i].group.is_some_and(|grp| {
                    g.insts.iter().any(|o| {
                        o.group == Some(grp) && o.scope.is_some() && o.scope != Some(scope as u32)
                    })
                })
            });
            if foreign {
                log.skip(format!("{name}: shares a kernel with another scope"));
                continue;
            }
            let count = members.len();
            match g.fuse(&members, self.label) {
                Ok(grp) => {
                    let size = g.insts.iter().filter(|i| i.group == Some(grp)).count();
                    log.note(format!("fused scope {name} ({count} instructions, {size} with their kernels) into one {} kernel", self.label));
                }
                Err(e) => log.skip(format!("{name}: {e}")),
            }
        }
        g
    }
}
