//! Fusion strategies: named, composable lists of passes. `dequant+epilogue` runs the passes
//! of both components in canonical order; `--passes a,b,c` runs exactly those, in order.

use crate::pass::{OptError, Pass, PassLog, run_passes};
use crate::passes::{
    DeadCode, FuseDequant, FuseEpilogue, FuseNormPrologue, FuseScopes, FuseSiblings,
};
use zaya_ir::Graph;

static DEQUANT: FuseDequant = FuseDequant;
static SIBLINGS: FuseSiblings = FuseSiblings;
static EPILOGUE: FuseEpilogue = FuseEpilogue;
static NORM_PROLOGUE: FuseNormPrologue = FuseNormPrologue;
static DCE: DeadCode = DeadCode;
static CCA: FuseScopes = FuseScopes {
    name: "cca",
    describe: "fuse each CCA block (convs, state update, q/k residual, L2 norm, RoPE, KV append, attention) into one kernel",
    suffix: "cca",
    label: "cca",
};
static ROUTER: FuseScopes = FuseScopes {
    name: "router",
    describe: "fuse each router (down_proj, EDA carry, norm, MLP, softmax, biased argmax, skip route) into one kernel",
    suffix: "router",
    label: "router",
};
static HEAD: FuseScopes = FuseScopes {
    name: "head",
    describe: "fuse the final norm, the tied lm_head and the greedy argmax into one kernel",
    suffix: "head",
    label: "head",
};

/// Every pass, in the canonical order strategies run them.
pub fn all_passes() -> [&'static dyn Pass; 8] {
    [
        &DEQUANT,
        &SIBLINGS,
        &EPILOGUE,
        &NORM_PROLOGUE,
        &CCA,
        &ROUTER,
        &HEAD,
        &DCE,
    ]
}

pub fn pass_by_name(name: &str) -> Result<&'static dyn Pass, OptError> {
    all_passes()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = all_passes().iter().map(|p| p.name()).collect();
            OptError::UnknownPass(name.to_string(), known.join(", "))
        })
}

/// Strategy components and the passes each contributes.
const COMPONENTS: &[(&str, &[&str])] = &[
    ("none", &[]),
    ("dequant", &["dequant"]),
    ("epilogue", &["siblings", "epilogue", "norm_prologue"]),
    ("cca", &["cca"]),
    ("router", &["router"]),
    ("head", &["head"]),
    (
        "all",
        &[
            "dequant",
            "siblings",
            "epilogue",
            "norm_prologue",
            "cca",
            "router",
            "head",
        ],
    ),
];

/// The named strategies users pick from (each a `+`-composition of components).
pub const STRATEGIES: &[&str] = &["none", "dequant", "dequant+epilogue", "cca", "all"];

/// A resolved strategy: a name and the passes it runs.
#[derive(Clone)]
pub struct Strategy {
    pub name: String,
    pub passes: Vec<&'static dyn Pass>,
}

impl std::fmt::Debug for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.passes.iter().map(|p| p.name()).collect();
        write!(f, "{} [{}]", self.name, names.join(", "))
    }
}

impl Strategy {
    /// Parses `a+b+...` from the components; passes run in canonical order, then `dce`.
    pub fn parse(spec: &str) -> Result<Strategy, OptError> {
        let mut wanted: Vec<&str> = Vec::new();
        for part in spec.split('+').map(str::trim) {
            let (_, passes) = COMPONENTS.iter().find(|(n, _)| *n == part).ok_or_else(|| {
                let known: Vec<&str> = COMPONENTS.iter().map(|(n, _)| *n).collect();
                OptError::UnknownStrategy(part.to_string(), known.join(", "))
            })?;
            wanted.extend(passes.iter());
        }
        let mut passes: Vec<&'static dyn Pass> = all_passes()
            .into_iter()
            .filter(|p| wanted.contains(&p.name()))
            .collect();
        passes.push(&DCE);
        Ok(Strategy {
            name: spec.to_string(),
            passes,
        })
    }

    /// An explicit pass list, run exactly in the given order.
    pub fn from_passes(list: &str) -> Result<Strategy, OptError> {
        let passes = list
            .split(',')
            .map(|n| pass_by_name(n.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Strategy {
            name: format!("passes:{list}"),
            passes,
        })
    }

    pub fn apply(&self, graph: &Graph) -> Result<(Graph, Vec<PassLog>), OptError> {
        run_passes(graph, &self.passes)
    }
}
