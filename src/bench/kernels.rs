//! Kernel benchmarks (`zaya-graph bench --kernels`): each kind of fused kernel of the decode
//! graph, alone, at the model's real shapes, as GB/s and as a fraction of copy bandwidth.
//!
//! Each case is *cut out of the real decode graph* rather than rebuilt by hand: the graph is
//! optimized with the strategy that produces the kernel (`dequant` for a plain packed matvec,
//! `all` for the CCA block or the router), the plan kernel is found by its label and weights,
//! and its instructions become a standalone graph whose inputs are the values the kernel reads
//! from outside ([`extract_kernel`]). So the benchmarked kernel is exactly the one a decode step
//! runs, with the same weights (bound from the same bundle), formats and shapes.

use super::Device;
use super::stats::TimeStats;
use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;
use zaya_ir::exec::Input;
use zaya_ir::{DType, Graph, Op, ValueId, WeightId};
use zaya_model::Bundle;
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_opt::{Plan, PlanOptions, Strategy};
use zaya_wgpu::tune::OwnedInput;

/// One kernel to benchmark: which strategy makes it and how to recognise it in the plan.
pub struct KernelCase {
    pub name: &'static str,
    /// For chart labels.
    pub short: &'static str,
    pub strategy: &'static str,
    /// The plan kernel's label.
    pub label: &'static str,
    /// A substring of one of the kernel's weight sources.
    pub weight: &'static str,
}

/// The kernel kinds of a ZAYA decode step (the first layer pair's instance of each).
pub const CASES: &[KernelCase] = &[
    KernelCase {
        name: "expert down_proj (4-bit, indexed expert)",
        short: "down 4b",
        strategy: "dequant",
        label: "matvec",
        weight: "switch_mlp.down_proj",
    },
    KernelCase {
        name: "expert gate+up (4-bit) + SwiGLU + norm prologue",
        short: "gate/up",
        strategy: "all",
        label: "matvec",
        weight: "gate_proj",
    },
    KernelCase {
        name: "packed q/k/v (4-bit) + RMSNorm prologue",
        short: "qkv",
        strategy: "all",
        label: "matvec",
        weight: "linear_q",
    },
    KernelCase {
        name: "o_proj (4-bit)",
        short: "o_proj",
        strategy: "dequant",
        label: "matvec",
        weight: "o_proj",
    },
    KernelCase {
        name: "o_proj (4-bit) + residual merge epilogue",
        short: "o_proj+ep",
        strategy: "dequant+epilogue",
        label: "matvec",
        weight: "o_proj",
    },
    KernelCase {
        name: "lm_head (8-bit embedding, tied)",
        short: "lm_head",
        strategy: "dequant",
        label: "matvec",
        weight: "embed_tokens",
    },
    KernelCase {
        name: "head: final norm + lm_head + argmax",
        short: "head",
        strategy: "all",
        label: "head",
        weight: "embed_tokens",
    },
    KernelCase {
        name: "CCA block (convs, attention)",
        short: "cca",
        strategy: "all",
        label: "cca",
        weight: "conv_qk",
    },
    KernelCase {
        name: "router (MLP, EDA, top-1)",
        short: "router",
        strategy: "all",
        label: "router",
        weight: "router",
    },
];

/// The measurement of one case.
#[derive(Clone, Debug, Serialize)]
pub struct KernelResult {
    pub name: String,
    pub short: String,
    pub strategy: String,
    /// `k<index> <label> [<scope>]` in that strategy's plan.
    pub kernel: String,
    /// `source (format) rows x cols` of each weight read.
    pub weights: Vec<String>,
    /// Input and output value shapes.
    pub shape: String,
    /// Modeled bytes read + written by one run.
    pub bytes: u64,
    pub flops: u64,
    pub recorded_dispatches: Option<usize>,
    pub time: Option<TimeStats>,
    pub gb_per_s: Option<f64>,
    pub fraction_of_copy: Option<f64>,
    /// Why it could not be measured.
    pub error: Option<String>,
}

/// Copies instructions `start..end` of `g` (one kernel) into a graph of their own: values read
/// from outside become inputs, values read after the range (or graph outputs) become outputs;
/// symbols and states are kept, only the weights read are kept (renumbered).
pub fn extract_kernel(g: &Graph, start: usize, end: usize, label: &str) -> anyhow::Result<Graph> {
    anyhow::ensure!(
        start < end && end <= g.insts.len(),
        "instruction range {start}..{end} is not in the graph"
    );
    let mut k = Graph::new(format!("{}.{label}", g.name));
    k.symbols = g.symbols.clone();
    k.states = g.states.clone();
    let group = k.add_group(label);
    let mut weights: HashMap<WeightId, WeightId> = HashMap::new();
    let mut values: HashMap<ValueId, ValueId> = HashMap::new();
    for i in start..end {
        let inst = &g.insts[i];
        let mut op = inst.op.clone();
        if let Op::Dequant { weight } = &mut op {
            let w = &g.weights[weight.index()];
            *weight = *weights
                .entry(*weight)
                .or_insert_with(|| k.add_weight(w.source.clone(), w.format, &w.dims));
        }
        let mut inputs = Vec::with_capacity(inst.inputs.len());
        for v in &inst.inputs {
            let mapped = match values.get(v) {
                Some(m) => *m,
                None => {
                    let name = g.value(*v).name.clone().unwrap_or_else(|| format!("in{v}"));
                    let m = k.add_input(g.ty(*v).clone(), name);
                    values.insert(*v, m);
                    m
                }
            };
            inputs.push(mapped);
        }
        let declared = matches!(op, Op::Const { .. }).then(|| g.ty(inst.outputs[0]).clone());
        let outs = k
            .push(op, &inputs, declared)
            .with_context(|| format!("copying instruction {i}"))?;
        for (o, n) in inst.outputs.iter().zip(outs) {
            if let Some(name) = &g.value(*o).name {
                k.name_value(n, name.clone());
            }
            values.insert(*o, n);
        }
        if let Some(last) = k.insts.last_mut() {
            last.group = Some(group);
        }
    }
    let users = g.users();
    for i in start..end {
        for (n, o) in g.insts[i].outputs.iter().enumerate() {
            let read_later = users[o.index()].iter().any(|&u| u >= end);
            if read_later || g.is_output(*o) {
                let name = g
                    .outputs
                    .iter()
                    .find(|(_, v)| v == o)
                    .map(|(name, _)| name.clone())
                    .unwrap_or_else(|| format!("i{i}.{n}"));
                k.add_output(name, values[o]);
            }
        }
    }
    k.validate()?;
    Ok(k)
}

/// Runs every case of [`CASES`] on `device` with the bundle's weights.
pub fn run_kernels(
    bundle: &Arc<Bundle>,
    device: &Device,
    warmup: usize,
    iterations: usize,
    copy_gb_per_s: f64,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<KernelResult>> {
    let base = build_decode_graph_with(&bundle.config, bundle.as_ref(), GraphOptions::default())
        .context("cannot build the decode graph")?;
    let mut optimized: HashMap<&str, (Graph, Plan)> = HashMap::new();
    let mut results = vec![];
    for case in CASES {
        if !optimized.contains_key(case.strategy) {
            let strategy = Strategy::parse(case.strategy, &base.fusions)?;
            let (g, _) = strategy.apply(&base)?;
            let plan = Plan::build(&g, &strategy.name, PlanOptions::on(device.target()));
            optimized.insert(case.strategy, (g, plan));
        }
        let (graph, plan) = &optimized[case.strategy];
        let Some(pk) = plan.kernels.iter().find(|k| {
            k.label == case.label && k.weights.iter().any(|w| w.source.contains(case.weight))
        }) else {
            results.push(KernelResult {
                name: case.name.into(),
                short: case.short.into(),
                strategy: case.strategy.into(),
                kernel: "-".into(),
                weights: vec![],
                shape: "-".into(),
                bytes: 0,
                flops: 0,
                recorded_dispatches: None,
                time: None,
                gb_per_s: None,
                fraction_of_copy: None,
                error: Some(format!(
                    "no `{}` kernel reading `{}` under {}",
                    case.label, case.weight, case.strategy
                )),
            });
            continue;
        };
        let [start, end] = [pk.insts[0] as usize, pk.insts[1] as usize];
        let shape = format!(
            "[{}] -> [{}]",
            pk.inputs
                .iter()
                .map(|b| format!("{:?}", b.dims))
                .collect::<Vec<_>>()
                .join(" "),
            pk.outputs
                .iter()
                .map(|b| format!("{:?}", b.dims))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let weights = pk
            .weights
            .iter()
            .filter(|w| w.bytes > 4096)
            .map(|w| {
                let decl = &graph.weights[w.weight as usize];
                format!("{} ({}) {:?}", w.source, decl.format.tag(), decl.dims)
            })
            .collect();
        let bytes = pk.bytes_read + pk.bytes_written;
        let mut result = KernelResult {
            name: case.name.into(),
            short: case.short.into(),
            strategy: case.strategy.into(),
            kernel: format!("k{} {}", pk.index, super::kernel_name(graph, start, end)),
            weights,
            shape,
            bytes,
            flops: pk.flops,
            recorded_dispatches: None,
            time: None,
            gb_per_s: None,
            fraction_of_copy: None,
            error: None,
        };
        let measured = extract_kernel(graph, start, end, &pk.label)
            .and_then(|k| time_kernel(bundle, device, k, warmup, iterations));
        match measured {
            Ok((samples, dispatches)) => {
                result.recorded_dispatches = dispatches;
                result.time = TimeStats::of(&samples);
                if let Some(t) = &result.time {
                    let gbs = bytes as f64 / t.median_s / 1e9;
                    result.gb_per_s = Some(gbs);
                    result.fraction_of_copy = Some(gbs / copy_gb_per_s);
                }
                log(&format!(
                    "kernel {}: {}",
                    case.name,
                    result
                        .gb_per_s
                        .map_or("-".into(), |g| format!("{g:.2} GB/s"))
                ));
            }
            Err(e) => {
                log(&format!("kernel {}: {e:#}", case.name));
                result.error = Some(format!("{e:#}"));
            }
        }
        results.push(result);
    }
    Ok(results)
}

/// Deterministic small inputs of a kernel graph (f32 in [-1, 1); u32 indices 0, so an
/// expert index is always in range). Shared with `tune`, which times the same kernels.
pub fn inputs_of(g: &Graph) -> anyhow::Result<Vec<OwnedInput>> {
    g.inputs
        .iter()
        .map(|&v| {
            let ty = g.ty(v);
            let n = ty.numel().context("a kernel input has no static shape")? as usize;
            Ok(match ty.dtype {
                DType::U32 => OwnedInput::U32(vec![0; n]),
                _ => OwnedInput::F32((0..n).map(|i| ((i as f32) * 0.618).sin()).collect()),
            })
        })
        .collect()
}

/// The borrowed form a session steps with.
pub fn feed(inputs: &[OwnedInput]) -> Vec<Input<'_>> {
    inputs
        .iter()
        .map(|i| match i {
            OwnedInput::U32(v) => Input::U32(v),
            OwnedInput::F32(v) => Input::F32(v),
        })
        .collect()
}

/// Runs the kernel graph `warmup + iterations` times, each to completion; returns the timed
/// seconds and the dispatches the backend recorded per run.
fn time_kernel(
    bundle: &Arc<Bundle>,
    device: &Device,
    graph: Graph,
    warmup: usize,
    iterations: usize,
) -> anyhow::Result<(Vec<f64>, Option<usize>)> {
    let inputs = inputs_of(&graph)?;
    let runs = warmup + iterations;
    let mut samples = Vec::with_capacity(iterations);
    let executor = device.bind(bundle, graph)?;
    let mut session = Arc::clone(&executor).session(runs + 1)?;
    let feed = feed(&inputs);
    for run in 0..runs {
        let t = Instant::now();
        session.step(&feed, &[])?;
        session.finish()?;
        if run >= warmup {
            samples.push(t.elapsed().as_secs_f64());
        }
    }
    Ok((samples, session.dispatches_per_step()))
}

/// The kernel table (markdown).
pub fn markdown(results: &[KernelResult], copy_gb_per_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### kernels (alone, at the model's shapes; copy bandwidth {copy_gb_per_s:.2} GB/s)"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| kernel | strategy | plan kernel | weights | bytes | recorded dispatches | µs median [p10, p90] | GB/s | % of copy |"
    );
    let _ = writeln!(out, "|---|---|---|---|---:|---:|---:|---:|---:|");
    for r in results {
        let time = r.time.as_ref().map_or_else(
            || {
                r.error
                    .clone()
                    .map_or("-".into(), |e| format!("ERROR: {e}"))
            },
            |t| {
                format!(
                    "{:.1} [{:.1}, {:.1}]",
                    t.median_s * 1e6,
                    t.p10_s * 1e6,
                    t.p90_s * 1e6
                )
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.strategy,
            r.kernel,
            r.weights.join("<br>"),
            super::report::bytes(r.bytes),
            r.recorded_dispatches
                .map_or_else(|| "-".into(), |d| d.to_string()),
            time,
            r.gb_per_s.map_or_else(|| "-".into(), |g| format!("{g:.2}")),
            r.fraction_of_copy
                .map_or_else(|| "-".into(), |f| format!("{:.1}%", f * 100.0)),
        );
    }
    out
}
