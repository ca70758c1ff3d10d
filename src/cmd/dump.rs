//! `zaya-graph dump`: show the decode graph or the execution plan of a strategy, as
//! canonical text (diffable), DOT or JSON, with a per-strategy summary table.

use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use zaya_graph::engine::STRATEGIES;
use zaya_ir::Graph;
use zaya_model::graph::{GraphOptions, build_decode_graph};
use zaya_model::{Config, KvDtype, SkipMode};
use zaya_opt::{Plan, PlanOptions, Strategy};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Dot,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// The (optimized) IR graph; fused kernels appear as `kernel` blocks.
    Graph,
    /// The execution plan: kernels, bindings, bytes, FLOPs, totals.
    Plan,
    /// The wgpu lowering (device-free, portable limits): kernels, dispatches, workgroups x
    /// threads, bytes read, bindings, and every refused fusion with its reason.
    Lowering,
    /// The generated WGSL of the wgpu lowering's shaders (all, or `--kernel K`'s).
    Wgsl,
}

#[derive(clap::Args)]
pub struct DumpArgs {
    /// A bundle directory whose config.json to use.
    #[arg(long, conflicts_with = "config")]
    pub model: Option<PathBuf>,
    /// A config.json file (default: the embedded ZAYA1-8B config; no weights needed).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Fusion strategy (`none`, `dequant`, `dequant+epilogue`, `cca`, `all`, or a `+`-composition).
    #[arg(long, default_value = "all", conflicts_with = "passes")]
    pub strategy: String,
    /// An explicit, ordered pass list instead of a strategy (e.g. `dequant,siblings,dce`).
    #[arg(long, value_delimiter = ',')]
    pub passes: Option<Vec<String>>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[arg(long, value_enum, default_value_t = Stage::Plan)]
    pub stage: Stage,
    /// Only the part of original layer N (text form).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Print the summary table of every named strategy instead of a dump.
    #[arg(long)]
    pub summary: bool,
    /// Print a unified diff between the text forms of two strategies.
    #[arg(long, num_args = 2, value_names = ["STRATEGY_A", "STRATEGY_B"])]
    pub diff: Option<Vec<String>>,
    /// Print each pass's log (what it rewrote) to stderr.
    #[arg(long)]
    pub log: bool,
    /// With `--stage wgsl`: only the shaders of kernel K (`k12`, a kernel label such as
    /// `cca.1`, or a shader label such as `attention_split`).
    #[arg(long, value_name = "K")]
    pub kernel: Option<String>,
    /// Context length at which KV-cache traffic is modeled (and the KV capacity the
    /// `lowering`/`wgsl` stages lower for).
    #[arg(long, default_value_t = 1024)]
    pub context: u64,
    /// Print the modeled decode cost on this device instead (`m1` .. `m4-max`, `m3-ultra`,
    /// `h200`; see docs/BENCHMARKS.md): each kernel's bytes over the bandwidth, scaled by
    /// the share of the device its workgroups occupy, plus launches, at --context. A model,
    /// not a measurement.
    #[arg(long, value_name = "NAME")]
    pub device: Option<String>,
    #[arg(long, default_value_t = SkipMode::Zero)]
    pub mod_skip: SkipMode,
    /// Element type of the KV cache: `f16` halves its memory and the bytes attention reads
    /// per token (docs/BENCHMARKS.md has its deviation from the goldens).
    #[arg(long, value_name = "T", default_value_t = KvDtype::F32)]
    pub kv_dtype: KvDtype,
    /// Dump the prefill graph over a chunk of N tokens instead of the decode graph (the
    /// plan is modeled, as for decode; only the CPU runs prefill graphs today).
    #[arg(long, value_name = "N")]
    pub prefill: Option<usize>,
}

pub fn run(args: DumpArgs) -> anyhow::Result<ExitCode> {
    let config = match (&args.model, &args.config) {
        (Some(dir), _) => Config::from_dir(dir)?,
        (None, Some(file)) => Config::from_file(file)?,
        (None, None) => Config::zaya1_8b(),
    };
    let opts = GraphOptions {
        skip: args.mod_skip,
        kv_cache: args.kv_dtype,
    };
    let graph = match args.prefill {
        None => build_decode_graph(&config, opts)?,
        Some(0) => anyhow::bail!("--prefill: a chunk holds at least 1 token"),
        Some(tokens) => zaya_model::graph::build_prefill_graph(
            &config,
            opts,
            zaya_model::graph::PrefillOptions {
                tokens,
                all_logits: false,
            },
        )?,
    };
    // The plan modeled on the wgpu backend's rules (device-free: its portable limits).
    let options = PlanOptions {
        context_tokens: args.context,
        ..PlanOptions::on(zaya_wgpu::portable_target())
    };
    if args.summary {
        print!("{}", summary(&graph, options)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(pair) = &args.diff {
        let a = render(&graph, &pick(&pair[0], None)?, &args, options)?;
        let b = render(&graph, &pick(&pair[1], None)?, &args, options)?;
        let diff = similar::TextDiff::from_lines(&a, &b);
        print!(
            "{}",
            diff.unified_diff()
                .context_radius(2)
                .header(&pair[0], &pair[1])
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.kernel.is_some() && args.stage != Stage::Wgsl {
        bail!("--kernel selects shaders of --stage wgsl");
    }
    let strategy = pick(&args.strategy, args.passes.as_deref())?;
    if let Some(name) = &args.device {
        let device = zaya_graph::cost_model::profile(name)?;
        print!(
            "{}",
            modeled(&graph, &strategy, device, args.context.max(1))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&graph, &strategy, &args, options)?);
    Ok(ExitCode::SUCCESS)
}

/// `--device`: the wgpu lowering of `strategy` costed on `device` at `context` tokens.
fn modeled(
    graph: &Graph,
    strategy: &Strategy,
    device: &zaya_graph::cost_model::DeviceProfile,
    context: u64,
) -> anyhow::Result<String> {
    use std::fmt::Write;
    use zaya_graph::cost_model::{KernelWork, model};
    let (optimized, _) = strategy.apply(graph)?;
    let lowered = zaya_wgpu::report::lower_declared(
        &optimized,
        &zaya_wgpu::report::portable_limits(),
        context,
    )?;
    // One row per kernel: its dispatches' bytes, workgroups and launches summed.
    let mut work: Vec<KernelWork> = vec![];
    let mut last = None;
    for d in lowered.dispatches(&optimized) {
        if last != Some(d.kernel) {
            let k = &lowered.plan.kernels[d.kernel];
            work.push(KernelWork {
                name: format!("k{} {}", d.kernel, k.label),
                bytes: 0,
                workgroups: 0,
                dispatches: 0,
            });
            last = Some(d.kernel);
        }
        let k = work.last_mut().expect("pushed above");
        k.bytes += d.read_bytes;
        k.workgroups = k.workgroups.max(d.workgroups as u64);
        k.dispatches += 1;
    }
    let t = model(device, &work);
    let mut out = String::new();
    writeln!(
        out,
        "# MODELED (not measured) decode step of strategy `{}` on {} at context {context}",
        strategy.name, device.name
    )?;
    writeln!(
        out,
        "# {:.0} GB/s, {} cores x {} workgroups to saturate, {} us per launch; source: {}",
        device.bandwidth_gbs,
        device.cores,
        device.workgroups_per_core,
        device.launch_us,
        device.source
    )?;
    let launches: u32 = work.iter().map(|k| k.dispatches).sum();
    writeln!(
        out,
        "token: {:.3} ms ({:.1} tok/s), {} read, {launches} launches ({:.3} ms of launches), \
         {:.1} % of bandwidth",
        t.micros / 1e3,
        t.tokens_per_second(),
        zaya_wgpu::report::human(t.bytes),
        launches as f64 * device.launch_us / 1e3,
        100.0 * t.bandwidth_share()
    )?;
    writeln!(
        out,
        "\n| kernel | launches | workgroups | read | occupancy | modeled us |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    for (k, w) in t.kernels.iter().zip(&work) {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {:.2} |",
            k.name,
            w.dispatches,
            k.workgroups,
            zaya_wgpu::report::human(k.bytes),
            k.occupancy,
            k.micros
        )?;
    }
    Ok(out)
}

/// `--strategy` or `--passes`, over the scope fusions the model declares.
fn pick(strategy: &str, passes: Option<&[String]>) -> anyhow::Result<Strategy> {
    let fusions = zaya_model::graph::scope_fusions();
    Ok(match passes {
        Some(list) => Strategy::from_passes(&list.join(","), &fusions).context("--passes")?,
        None => Strategy::parse(strategy, &fusions).context("--strategy")?,
    })
}

fn render(
    graph: &Graph,
    strategy: &Strategy,
    args: &DumpArgs,
    options: PlanOptions,
) -> anyhow::Result<String> {
    let (optimized, logs) = strategy.apply(graph)?;
    if args.log {
        for log in &logs {
            eprintln!(
                "pass {}: {} rewrites, {} skipped, kernels {} -> {}",
                log.pass,
                log.rewrites.len(),
                log.skipped.len(),
                log.kernels_before,
                log.kernels_after
            );
            for line in log.rewrites.iter().chain(&log.skipped) {
                eprintln!("  {line}");
            }
        }
    }
    Ok(match (args.stage, args.format) {
        (Stage::Graph, Format::Text) => match args.layer {
            Some(n) => layer_text(&optimized, n)?,
            None => optimized.to_string(),
        },
        (Stage::Graph, Format::Dot) => zaya_ir::deps::to_dot(&optimized),
        (Stage::Graph, Format::Json) => serde_json::to_string_pretty(&optimized)? + "\n",
        (Stage::Lowering | Stage::Wgsl, Format::Text) => {
            let lowered = zaya_wgpu::report::lower_declared(
                &optimized,
                &zaya_wgpu::report::portable_limits(),
                args.context.max(1),
            )?;
            if args.stage == Stage::Lowering {
                lowered.text(&optimized)
            } else {
                let shaders = lowered.wgsl(args.kernel.as_deref());
                if shaders.is_empty() {
                    bail!(
                        "--kernel {}: no kernel or shader of that name (see --stage lowering)",
                        args.kernel.as_deref().unwrap_or("")
                    );
                }
                shaders
                    .iter()
                    .map(|(label, src)| format!("// ==== {label}\n{src}"))
                    .collect()
            }
        }
        (Stage::Lowering | Stage::Wgsl, _) => {
            bail!("--stage lowering and --stage wgsl print text only (no --format)")
        }
        (Stage::Plan, format) => {
            let plan = Plan::build(&optimized, &strategy.name, options);
            match format {
                Format::Text => match args.layer {
                    Some(n) => plan_layer_text(&optimized, &plan, n)?,
                    None => plan.to_text(),
                },
                Format::Json => serde_json::to_string_pretty(&plan)? + "\n",
                Format::Dot => plan_dot(&plan),
            }
        }
    })
}

/// The layer each instruction belongs to: the last `model.layers.N.` weight or `lN.` value
/// name seen in program order (the builder emits layers contiguously).
fn inst_layers(g: &Graph) -> Vec<Option<usize>> {
    let mut current = None;
    g.insts
        .iter()
        .map(|inst| {
            let from_weight = match inst.op {
                zaya_ir::Op::Dequant { weight } => {
                    layer_of_source(&g.weights[weight.index()].source)
                }
                _ => None,
            };
            let from_name = inst
                .outputs
                .iter()
                .find_map(|o| g.values[o.index()].name.as_deref().and_then(layer_of_value));
            if let Some(l) = from_name.or(from_weight) {
                current = Some(l);
            }
            current
        })
        .collect()
}

fn layer_of_source(s: &str) -> Option<usize> {
    s.strip_prefix("model.layers.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

fn layer_of_value(s: &str) -> Option<usize> {
    s.strip_prefix('l')?.split('.').next()?.parse().ok()
}

fn layer_text(g: &Graph, n: usize) -> anyhow::Result<String> {
    let layers = inst_layers(g);
    if !layers.contains(&Some(n)) {
        bail!("--layer {n}: the graph has no layer {n}");
    }
    let num = g.canonical_numbering();
    let mut out = format!("graph {} layer {n} {{\n", g.name);
    for (i, l) in layers.iter().enumerate() {
        if *l == Some(n) {
            let label = match g.insts[i].group {
                Some(k) => format!("[{k} {}] ", g.groups[k.index()].label),
                None => String::new(),
            };
            out.push_str(&label);
            g.write_inst(&mut out, i, &num)?;
        }
    }
    out.push_str("}\n");
    Ok(out)
}

fn plan_layer_text(g: &Graph, plan: &Plan, n: usize) -> anyhow::Result<String> {
    let layers = inst_layers(g);
    let text = plan.to_text();
    let mut out = String::new();
    let mut any = false;
    for (k, line) in plan.kernels.iter().zip(text.lines().skip(1)) {
        if layers[k.insts[0] as usize] == Some(n) {
            any = true;
            writeln!(out, "{line}")?;
        }
    }
    if !any {
        bail!("--layer {n}: the plan has no kernel of layer {n}");
    }
    Ok(out)
}

fn plan_dot(plan: &Plan) -> String {
    let mut s = format!(
        "digraph \"{} {}\" {{\n  node [shape=box, fontname=\"monospace\"];\n",
        plan.graph, plan.strategy
    );
    let mut producer = std::collections::HashMap::new();
    for k in &plan.kernels {
        let _ = writeln!(
            s,
            "  k{} [label=\"k{} {} x{}\\nread {} B\"];",
            k.index, k.index, k.label, k.dispatches, k.bytes_read
        );
        for i in &k.inputs {
            if let Some(p) = producer.get(&i.value) {
                let _ = writeln!(s, "  k{p} -> k{};", k.index);
            }
        }
        for o in &k.outputs {
            producer.insert(o.value, k.index);
        }
    }
    s.push_str("}\n");
    s
}

/// The per-strategy summary: dispatches, bytes per token, ratio to the lower bound, peak
/// activation memory.
pub fn summary(graph: &Graph, options: PlanOptions) -> anyhow::Result<String> {
    let mut s = String::new();
    writeln!(
        s,
        "| strategy | dispatches/token | bytes read/token | lower bound | ratio | peak activations |"
    )?;
    writeln!(s, "|---|---:|---:|---:|---:|---:|")?;
    for name in STRATEGIES {
        let (optimized, _) = Strategy::parse(name, &graph.fusions)?.apply(graph)?;
        let t = Plan::build(&optimized, name, options).totals;
        writeln!(
            s,
            "| {name} | {} | {} | {} | {:.3} | {} |",
            t.dispatches, t.bytes_read, t.lower_bound_bytes, t.ratio, t.peak_activation_bytes
        )?;
    }
    Ok(s)
}
