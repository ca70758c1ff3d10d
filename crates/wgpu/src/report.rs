//! What a lowered plan runs, per dispatch: workgroups, threads, bindings and the bytes it
//! binds for reading; and the plan as text (`zaya-graph dump --stage lowering|wgsl`, `bench
//! --profile`). Device-free: [`lower_declared`] lowers a graph with its weights in their
//! declared formats under portable limits.

use crate::error::Result;
use crate::plan::{Dispatch, Kernel, KernelKind, LowerInput, Plan, Res, lower};
use crate::weights::{Window, part_row_bytes, plan_windows, rows_per_index};
use crate::wgsl::Shader;
use std::fmt::Write;
use zaya_ir::{Graph, Op, WeightFormat};

/// One dispatch of a plan, as reported.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchInfo {
    /// Index into `Plan::kernels`.
    pub kernel: usize,
    pub shader: String,
    pub workgroups: u32,
    pub threads: u32,
    pub bindings: usize,
    /// Bytes of the bindings it reads (a stacked weight read by index: one slice; a KV
    /// cache: its whole capacity, what attention reads at a full context).
    pub read_bytes: u64,
}

/// A graph lowered without a device: weights in their declared formats, windows and
/// bindings under `limits` (capped at the portable budget), KV capacity `ctx`.
pub fn lower_declared(graph: &Graph, limits: &wgpu::Limits, ctx: u64) -> Result<Lowered> {
    let formats: Vec<WeightFormat> = graph.weights.iter().map(|w| w.format).collect();
    let max = crate::weights::max_window_bytes(limits);
    let windows = graph
        .weights
        .iter()
        .map(|w| plan_windows(&w.source, w.format, &w.dims, max))
        .collect::<Result<Vec<_>>>()?;
    let (max_bindings, max_binding_bytes) = LowerInput::limits_of(limits);
    let plan = lower(
        graph,
        &LowerInput {
            formats: &formats,
            windows: &windows,
            ctx,
            max_bindings,
            max_binding_bytes,
            matvec: &crate::variant::MatVecTarget::default(),
        },
    )?;
    Ok(Lowered {
        plan,
        formats,
        windows,
        ctx,
    })
}

/// A plan with what it was lowered with.
pub struct Lowered {
    pub plan: Plan,
    pub formats: Vec<WeightFormat>,
    pub windows: Vec<Vec<Window>>,
    pub ctx: u64,
}

/// Limits of a device with Metal's buffer slots (the portable plan `dump` shows).
pub fn portable_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_storage_buffers_per_shader_stage: 31,
        ..wgpu::Limits::default()
    }
}

fn threads_of(shader: &Shader) -> u32 {
    let src = shader.wgsl();
    src.split("@workgroup_size(")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn writable(d: &Dispatch) -> Vec<bool> {
    match &d.shader {
        Shader::Generated(g) => g.writable.clone(),
        s => s.bindings().iter().map(|b| b.writable).collect(),
    }
}

impl Lowered {
    fn res_bytes(&self, g: &Graph, k: &Kernel, d: &Dispatch, r: Res) -> u64 {
        let p = &self.plan;
        match r {
            Res::Value(b) => p.buffers[b] * 4,
            Res::State(s) => p.state_words[s] * 4,
            Res::Weight {
                weight,
                part,
                window,
            } => {
                let w = &g.weights[weight];
                let row = part_row_bytes(self.formats[weight], w.cols())[part as usize];
                let indexed = k.insts.iter().any(|&i| {
                    matches!(g.insts[i].op, Op::Dequant { weight: ww } if ww.index() == weight)
                        && !g.insts[i].inputs.is_empty()
                });
                let rows = self.windows[weight][window].rows;
                let rows = if indexed {
                    rows_per_index(&w.dims).min(rows)
                } else {
                    rows
                };
                rows * row
            }
            Res::Step => 4 * g.symbols.len().max(1) as u64,
            Res::Table(t) => p.tables[t].len() as u64 * 4,
            // The scratch buffer is shared and sized for its largest user: count what this
            // dispatch reads of it.
            Res::Scratch => match &d.shader {
                Shader::AttentionCombine => {
                    let (nq, hd, nch) = (d.params[0], d.params[1], d.params[4]);
                    u64::from(nq) * u64::from(nch) * (u64::from(hd) + 2) * 4
                }
                // The partial (value, index) of every workgroup of the launch before it.
                Shader::Generated(gs) if gs.label == "argmax_partials" => {
                    let partials: u64 = k
                        .dispatches
                        .iter()
                        .filter(|o| !std::ptr::eq(*o, d))
                        .map(|o| u64::from(o.workgroups))
                        .sum();
                    partials * 8
                }
                _ => p.scratch_words * 4,
            },
        }
    }

    /// Every dispatch of a step (constant kernels excluded), in order.
    pub fn dispatches(&self, g: &Graph) -> Vec<DispatchInfo> {
        let mut out = vec![];
        for (ki, k) in self.plan.kernels.iter().enumerate() {
            if k.constant {
                continue;
            }
            for d in &k.dispatches {
                let w = writable(d);
                let read_bytes = d
                    .bindings
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| !w.get(*n).copied().unwrap_or(false))
                    .map(|(_, &r)| self.res_bytes(g, k, d, r))
                    .sum();
                out.push(DispatchInfo {
                    kernel: ki,
                    shader: d.shader.label(),
                    workgroups: d.workgroups,
                    threads: threads_of(&d.shader),
                    bindings: d.bindings.len(),
                    read_bytes,
                });
            }
        }
        out
    }

    /// The plan as text: kernels, their dispatches (shader, workgroups x threads, bytes
    /// read, bindings), totals, and every group that fell back to primitives with why.
    pub fn text(&self, g: &Graph) -> String {
        let p = &self.plan;
        let infos = self.dispatches(g);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "lowering ctx={}: {} kernels, {} dispatches/step, {} shaders",
            self.ctx,
            p.kernels.len(),
            p.dispatches_per_step(),
            p.shaders().len()
        );
        let mut at = 0;
        for (ki, k) in p.kernels.iter().enumerate() {
            let kind = match k.kind {
                KernelKind::Primitive => "primitive",
                KernelKind::QMatVec => "qmatvec",
                KernelKind::FusedMatVec => "fused_matvec",
                KernelKind::Region => "region",
            };
            let insts = match (k.insts.first(), k.insts.last()) {
                (Some(a), Some(b)) if a != b => format!("i{a}..=i{b}"),
                (Some(a), _) => format!("i{a}"),
                _ => String::new(),
            };
            let once = if k.constant { " once" } else { "" };
            let _ = writeln!(s, "k{ki} {} [{kind}{once}] {insts}", k.label);
            for d in &k.dispatches {
                let w = writable(d);
                let binds: Vec<String> = d
                    .bindings
                    .iter()
                    .enumerate()
                    .map(|(n, r)| {
                        let name = match *r {
                            Res::Value(b) => format!("v{b}"),
                            Res::State(st) => format!("${st}"),
                            Res::Weight {
                                weight,
                                part,
                                window,
                            } => format!("@{weight}.{part}/{window}"),
                            Res::Step => "step".into(),
                            Res::Table(t) => format!("table{t}"),
                            Res::Scratch => "scratch".into(),
                        };
                        let mode = if w.get(n).copied().unwrap_or(false) {
                            "rw"
                        } else {
                            "r"
                        };
                        format!("{name}:{mode}")
                    })
                    .collect();
                let (wg, threads, reads) = if k.constant {
                    (d.workgroups, threads_of(&d.shader), 0)
                } else {
                    let i = &infos[at];
                    at += 1;
                    (i.workgroups, i.threads, i.read_bytes)
                };
                let _ = writeln!(
                    s,
                    "  {} wg={wg}x{threads} reads={} [{}]",
                    d.shader.label(),
                    human(reads),
                    binds.join(" ")
                );
            }
        }
        if p.refused.is_empty() {
            let _ = writeln!(s, "refused fusions: none");
        } else {
            let _ = writeln!(s, "refused fusions:");
            for r in &p.refused {
                let _ = writeln!(
                    s,
                    "  {} i{}..i{}: {}",
                    r.label,
                    r.start,
                    r.end - 1,
                    r.reason
                );
            }
        }
        s
    }

    /// The WGSL of the plan's distinct shaders (label, source), in first-use order, those
    /// of kernel `only` when given (`k3`, a kernel label, or a shader label).
    pub fn wgsl(&self, only: Option<&str>) -> Vec<(String, String)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = vec![];
        for (ki, k) in self.plan.kernels.iter().enumerate() {
            for d in &k.dispatches {
                let label = d.shader.label();
                let wanted =
                    only.is_none_or(|o| o == format!("k{ki}") || o == k.label || o == label);
                if wanted && seen.insert(d.shader.clone()) {
                    out.push((label, d.shader.wgsl()));
                }
            }
        }
        out
    }
}

/// Bytes in B/KiB/MiB/GiB with one decimal.
pub fn human(b: u64) -> String {
    let f = b as f64;
    if b < 1024 {
        format!("{b} B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.1} KiB", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", f / 1024.0 / 1024.0)
    } else {
        format!("{:.1} GiB", f / 1024.0 / 1024.0 / 1024.0)
    }
}
