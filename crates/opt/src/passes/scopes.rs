//! A scope fusion the graph declares (`Graph::fusions`, e.g. ZAYA's `cca`, `router`,
//! `head`): every builder scope with its suffix becomes one kernel. The optimizer holds no
//! model names: the builder hands them over as data. Producers outside the scope stay
//! outside (the builder writes a scope's own decodes inside it; `tests/filetests/router.zir`).

use crate::pass::{Pass, PassLog};
use zaya_ir::{Graph, ScopeFusion};

pub struct FuseScopes(pub ScopeFusion);

impl FuseScopes {
    /// Scopes named `suffix` or ending in `.suffix`.
    fn matches(&self, scope: &str) -> bool {
        scope == self.0.suffix || scope.ends_with(&format!(".{}", self.0.suffix))
    }
}

impl Pass for FuseScopes {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn describe(&self) -> &str {
        &self.0.describe
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
            match g.fuse(&members, &self.0.label) {
                Ok(grp) => {
                    let size = g.insts.iter().filter(|i| i.group == Some(grp)).count();
                    log.note(format!("fused scope {name} ({count} instructions, {size} with their kernels) into one {} kernel", self.0.label));
                }
                Err(e) => log.skip(format!("{name}: {e}")),
            }
        }
        g
    }
}
