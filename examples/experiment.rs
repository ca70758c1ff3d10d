//! A graph experiment end to end, from outside the crates: a custom fusion pass, its plan
//! against `all` (no device needed), and a benchmark of `all` against `all` + the pass through
//! the bench's correctness gate and interleaved timing, on whatever backend is present.
//!
//!     cargo run --release --example experiment -- [BUNDLE_DIR|-] [auto|cpu|wgpu]
//!
//! Without a bundle (or with `-`) it benchmarks a 2-layer ZAYA1-8B-width random model, on the
//! best device (`auto`) unless told otherwise. See
//! docs/EXPERIMENTS.md for what a pass may do and what backends do with its groups.

use std::sync::Arc;
use zaya_graph::bench::{self, BenchOptions, PlanFigures, model::ModelSpec};
use zaya_graph::engine::Backend;
use zaya_graph::ir::Graph;
use zaya_graph::model::graph::{GraphOptions, build_decode_graph};
use zaya_graph::model::{Bundle, Config};
use zaya_graph::opt::{Pass, PassLog, PlanOptions};

/// The idea under test: run each layer's o_proj inside its attention (CCA) kernel, saving
/// one launch per layer and the attention output's round trip through memory.
pub struct OProjIntoAttention;

impl Pass for OProjIntoAttention {
    fn name(&self) -> &str {
        "o_proj_into_cca"
    }

    fn describe(&self) -> &str {
        "pull the matvec kernel that reads a CCA kernel's output into that kernel"
    }

    fn run(&self, graph: &Graph, log: &mut PassLog) -> Graph {
        let mut g = graph.clone();
        // Fusing moves instructions, so look for the next pair afresh after each one.
        let mut from = 0;
        loop {
            let kernels = g.kernel_ranges();
            let Some(pair) = kernels.windows(2).find(|k| {
                let (cca, next) = (&k[0], &k[1]);
                cca.start >= from
                    && g.kernel_label(cca.start) == "cca"
                    && g.kernel_label(next.start) == "matvec"
                    && g.insts[next.start..next.end].iter().any(|i| {
                        i.inputs.iter().any(|v| {
                            g.producer(*v)
                                .is_some_and(|p| (cca.start..cca.end).contains(&p.index()))
                        })
                    })
            }) else {
                return g;
            };
            let (start, end) = (pair[0].start, pair[1].end);
            from = pair[0].end;
            let members: Vec<usize> = (start..end).collect();
            match g.fuse(&members, "cca") {
                Ok(_) => log.note(format!("fused the matvec after the cca kernel at {start}")),
                Err(e) => log.skip(format!("cca kernel at {start}: {e}")),
            }
        }
    }
}

/// The plan figures of each strategy, then the benchmark; returns the bench's markdown table.
pub fn experiment(
    model: Option<std::path::PathBuf>,
    backend: Backend,
    tokens: usize,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<String> {
    let all = zaya_graph::engine::parse_strategy("all")?;
    let mine = all.clone().then(Arc::new(OProjIntoAttention));

    // 1. What the plan says, without running anything.
    let config = match &model {
        Some(dir) => Bundle::open(dir)?.config.clone(),
        None => Config::zaya1_8b(),
    };
    let graph = build_decode_graph(&config, GraphOptions::default())?;
    for s in [&all, &mine] {
        let f: PlanFigures = bench::plan_figures(&graph, s, PlanOptions::default())?;
        log(&format!(
            "plan {:<22} {:>4} kernels {:>4} dispatches {:>10} bytes read/token",
            s.name, f.kernels, f.dispatches, f.bytes_read
        ));
    }

    // 2. The benchmark: both checked against the unfused graph, then timed interleaved.
    let options = BenchOptions {
        model: ModelSpec {
            layers: model.is_none().then_some(2),
            vocab: model.is_none().then_some(4096),
            model,
            ..ModelSpec::default()
        },
        strategies: vec![zaya_graph::engine::parse_strategy("none")?, all, mine],
        backend,
        tokens,
        ..BenchOptions::default()
    };
    let report = bench::run(&options, log)?;
    anyhow::ensure!(
        report.all_ok(),
        "a strategy failed its check or could not run"
    );
    Ok(bench::report::markdown(&report))
}

#[allow(dead_code)] // the test includes this file for `experiment` alone
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args.next().filter(|m| m != "-").map(Into::into);
    let backend = match args.next().as_deref() {
        None | Some("auto") => Backend::Auto,
        Some("cpu") => Backend::Cpu,
        Some("wgpu") => Backend::Wgpu,
        Some(other) => anyhow::bail!("backend `{other}`: auto, cpu or wgpu"),
    };
    let table = experiment(model, backend, 16, &mut |line| eprintln!("{line}"))?;
    print!("{table}");
    Ok(())
}
