//! Fusion strategies: named, composable lists of passes. `dequant+epilogue` runs the passes
//! of both components in canonical order; `--passes a,b,c` runs exactly those, in order.

use crate::pass::{OptError, Pass, PassLog, run_passes};
use crate::passes::{
    DeadCode, FuseDequant, FuseEpilogue, FuseNormPrologue, FuseScopes, FuseSiblings,
};
use std::sync::Arc;
use zaya_ir::{Graph, ScopeFusion};

/// The dead-code pass every parsed strategy ends with.
const DCE: &str = "dce";

/// Every pass for a graph declaring `fusions` (`Graph::fusions`), in the canonical order
/// strategies run them: the generic passes, then one scope fusion per declaration in the
/// declared order, then `dce`.
pub fn all_passes(fusions: &[ScopeFusion]) -> Vec<Arc<dyn Pass>> {
    let mut passes: Vec<Arc<dyn Pass>> = vec![
        Arc::new(FuseDequant),
        Arc::new(FuseSiblings),
        Arc::new(FuseEpilogue),
        Arc::new(FuseNormPrologue),
    ];
    passes.extend(
        fusions
            .iter()
            .map(|z| Arc::new(FuseScopes(z.clone())) as Arc<dyn Pass>),
    );
    passes.push(Arc::new(DeadCode));
    passes
}

/// The pass called `name`: a built-in one, or one of `fusions`.
pub fn pass_by_name(name: &str, fusions: &[ScopeFusion]) -> Result<Arc<dyn Pass>, OptError> {
    let all = all_passes(fusions);
    match all.iter().find(|p| p.name() == name) {
        Some(p) => Ok(Arc::clone(p)),
        None => {
            let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
            Err(OptError::UnknownPass(name.to_string(), known.join(", ")))
        }
    }
}

/// The generic strategy components and the passes each contributes. Every scope fusion a
/// graph declares is a component of its own name too, and `all` takes them all.
const COMPONENTS: &[(&str, &[&str])] = &[
    ("none", &[]),
    ("dequant", &["dequant"]),
    ("epilogue", &["siblings", "epilogue", "norm_prologue"]),
    ("all", &["dequant", "siblings", "epilogue", "norm_prologue"]),
];

/// A strategy: a name and the passes it runs, in order. Built-in and user passes mix freely:
/// `Strategy::parse("all")?.then(Arc::new(MyPass)).named("all+mine")`.
#[derive(Clone)]
pub struct Strategy {
    pub name: String,
    pub passes: Vec<Arc<dyn Pass>>,
}

impl std::fmt::Debug for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.passes.iter().map(|p| p.name()).collect();
        write!(f, "{} [{}]", self.name, names.join(", "))
    }
}

impl Strategy {
    /// Parses `a+b+...` from the generic components and the scope fusions `fusions` (a
    /// graph's [`Graph::fusions`]; the model's builder declares them); passes run in
    /// canonical order, then `dce`.
    pub fn parse(spec: &str, fusions: &[ScopeFusion]) -> Result<Strategy, OptError> {
        let mut wanted: Vec<&str> = Vec::new();
        for part in spec.split('+').map(str::trim) {
            if let Some((_, passes)) = COMPONENTS.iter().find(|(n, _)| *n == part) {
                wanted.extend(passes.iter());
                if part == "all" {
                    wanted.extend(fusions.iter().map(|z| z.name.as_str()));
                }
            } else if let Some(z) = fusions.iter().find(|z| z.name == part) {
                wanted.push(&z.name);
            } else {
                let known: Vec<&str> = COMPONENTS
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(fusions.iter().map(|z| z.name.as_str()))
                    .collect();
                return Err(OptError::UnknownStrategy(
                    part.to_string(),
                    known.join(", "),
                ));
            }
        }
        let passes: Vec<Arc<dyn Pass>> = all_passes(fusions)
            .into_iter()
            .filter(|p| wanted.contains(&p.name()) || p.name() == DCE)
            .collect();
        // `dce` comes last in the canonical order, so it runs after everything it cleans up.
        debug_assert_eq!(passes.last().map(|p| p.name()), Some(DCE));
        Ok(Strategy {
            name: spec.to_string(),
            passes,
        })
    }

    /// An explicit pass list, run exactly in the given order (built-in passes and the
    /// scope fusions `fusions`).
    pub fn from_passes(list: &str, fusions: &[ScopeFusion]) -> Result<Strategy, OptError> {
        let passes = list
            .split(',')
            .map(|n| pass_by_name(n.trim(), fusions))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Strategy {
            name: format!("passes:{list}"),
            passes,
        })
    }

    /// A strategy of exactly these passes, under `name`.
    pub fn new(name: impl Into<String>, passes: Vec<Arc<dyn Pass>>) -> Strategy {
        Strategy {
            name: name.into(),
            passes,
        }
    }

    /// The same passes under another name (the bench and reports key on it).
    pub fn named(mut self, name: impl Into<String>) -> Strategy {
        self.name = name.into();
        self
    }

    /// Runs `pass` after this strategy's passes, but before its final `dce`, so whatever
    /// the new pass leaves dead is still removed. The name becomes `name+pass`.
    pub fn then(mut self, pass: Arc<dyn Pass>) -> Strategy {
        self.name = format!("{}+{}", self.name, pass.name());
        let at = match self.passes.last() {
            Some(p) if p.name() == DCE => self.passes.len() - 1,
            _ => self.passes.len(),
        };
        self.passes.insert(at, pass);
        self
    }

    /// Runs `pass` in place of the pass called `name` (e.g. a different router grouping).
    pub fn replacing(mut self, name: &str, pass: Arc<dyn Pass>) -> Result<Strategy, OptError> {
        let at = self.position(name)?;
        self.name = format!("{}[{name}->{}]", self.name, pass.name());
        self.passes[at] = pass;
        Ok(self)
    }

    /// Drops the pass called `name`.
    pub fn without(mut self, name: &str) -> Result<Strategy, OptError> {
        let at = self.position(name)?;
        self.name = format!("{}-{name}", self.name);
        self.passes.remove(at);
        Ok(self)
    }

    fn position(&self, name: &str) -> Result<usize, OptError> {
        self.passes
            .iter()
            .position(|p| p.name() == name)
            .ok_or_else(|| {
                let here: Vec<&str> = self.passes.iter().map(|p| p.name()).collect();
                OptError::UnknownPass(name.to_string(), here.join(", "))
            })
    }

    /// The names of the passes, in order.
    pub fn pass_names(&self) -> Vec<&str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    pub fn apply(&self, graph: &Graph) -> Result<(Graph, Vec<PassLog>), OptError> {
        let passes: Vec<&dyn Pass> = self.passes.iter().map(|p| p.as_ref()).collect();
        run_passes(graph, &passes)
    }
}
