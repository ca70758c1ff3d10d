//! The execution plan: a *model* of one decode step on a [`Target`]. Kernels in order (one per
//! kernel group or lone instruction), each with the values it reads and writes (and where they
//! would live), the weights and states it touches, its launches and storage bindings under the
//! target's rules, and modeled bytes and FLOPs; plus per-token totals and a liveness-based
//! activation arena. It is plain data (serde), so tools and tests can read it without a device.
//!
//! What it is not: the program a backend executes. Backends lower the same grouped graph
//! themselves (the CPU interprets it, `zaya-wgpu` builds its own kernels and one buffer per
//! value); the launch and binding rules come from the backend's [`Target`], so the modeled
//! dispatch count is the one the wgpu backend records, but the arena is modeled only.

use crate::passes::{kernel_inputs, kernel_outputs};
use serde::{Deserialize, Serialize};
pub use zaya_ir::Target;
use zaya_ir::{DType, Graph, KernelRange, Op, ValueId};

/// Choices that change the modeled numbers, not the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// Tokens already in the KV cache when the modeled step runs (attention reads this many).
    pub context_tokens: u64,
    /// Session capacity the state arena is sized for.
    pub capacity: u64,
    /// The backend's rules (launches per argmax, binding budget, arena alignment).
    pub target: Target,
}

impl PlanOptions {
    /// The default context and capacity on `target`.
    pub fn on(target: Target) -> Self {
        PlanOptions {
            target,
            ..PlanOptions::default()
        }
    }
}

impl Default for PlanOptions {
    /// 1024 tokens in a 4096-token context on a target without limits (pass the backend's
    /// target for its launch counts: `zaya_wgpu::target`).
    fn default() -> Self {
        PlanOptions {
            context_tokens: 1024,
            capacity: 4096,
            target: Target::UNLIMITED,
        }
    }
}

/// Where a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arena {
    /// Graph inputs (the token id): written by the host each step.
    Input,
    /// Reused activation memory.
    Activation,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// Canonical value number (as in the text form).
    pub value: u32,
    pub name: Option<String>,
    pub dtype: DType,
    pub dims: Vec<u64>,
    pub arena: Arena,
    pub offset: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightUse {
    pub weight: u32,
    pub source: String,
    /// Only one slice of the leading axis is read (an embedding row, one expert).
    pub sliced: bool,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    pub workgroups: [u32; 3],
    pub workgroup_size: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kernel {
    pub index: u32,
    /// The template a backend lowers it with (`matvec`, `cca`, `router`, `head`, or the
    /// primitive op's name).
    pub label: String,
    /// Instructions `[start, end)` of the optimized graph.
    pub insts: [u32; 2],
    pub inputs: Vec<Binding>,
    pub outputs: Vec<Binding>,
    pub weights: Vec<WeightUse>,
    pub states_read: Vec<String>,
    pub states_written: Vec<String>,
    /// GPU launches this kernel needs (0 for views; 2 for a two-phase argmax).
    pub dispatches: u32,
    /// Storage buffers bound: the activation arena (one read-write binding), the state
    /// buffers it touches, and every part (codes, scales, biases) of every weight window.
    pub storage_bindings: u32,
    /// The bindings fit the target's budget. A kernel that does not is run by the wgpu backend
    /// as one kernel per instruction, which this plan does not model (it counts it as one).
    pub fits_target: bool,
    pub launch: Option<Launch>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub flops: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub kernels: u32,
    pub dispatches: u32,
    pub weight_bytes_read: u64,
    pub state_bytes_read: u64,
    pub state_bytes_written: u64,
    pub activation_bytes_read: u64,
    pub activation_bytes_written: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Weights touched once (one expert per MoE layer) plus the KV cache read.
    pub lower_bound_bytes: u64,
    /// `bytes_read / lower_bound_bytes`.
    pub ratio: f64,
    pub flops: u64,
    pub peak_activation_bytes: u64,
    /// The most storage buffers any kernel binds (compare with the adapter's
    /// `max_storage_buffers_per_shader_stage`).
    pub max_storage_bindings: u32,
    pub weight_arena_bytes: u64,
    pub state_arena_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub graph: String,
    pub strategy: String,
    pub options: PlanOptions,
    pub kernels: Vec<Kernel>,
    pub totals: Totals,
}

impl Plan {
    /// Lowers an (optimized) graph to a plan. The graph must be valid.
    pub fn build(graph: &Graph, strategy: &str, options: PlanOptions) -> Plan {
        let ranges = graph.kernel_ranges();
        let users = graph.users();
        let num = graph.canonical_numbering();
        let slots = allocate(graph, &ranges, &users, options.target.align);
        let binding = |v: ValueId| -> Binding {
            let ty = graph.ty(v);
            let (arena, offset) = slots.get(v);
            Binding {
                value: num.get(&v).copied().unwrap_or(u32::MAX),
                name: graph.values[v.index()].name.clone(),
                dtype: ty.dtype,
                dims: ty.dims.iter().map(|d| d.as_const().unwrap_or(0)).collect(),
                arena,
                offset,
                bytes: value_bytes(graph, v),
            }
        };
        let mut kernels = Vec::with_capacity(ranges.len());
        for (index, k) in ranges.iter().enumerate() {
            let inputs: Vec<Binding> = kernel_inputs(graph, k).into_iter().map(binding).collect();
            let outputs: Vec<Binding> = kernel_outputs(graph, k, &users)
                .into_iter()
                .map(binding)
                .collect();
            let weights = weight_uses(graph, k);
            let (states_read, states_written, state_read_bytes, state_write_bytes) =
                state_traffic(graph, k, &options);
            let view = is_view(graph, k);
            let activation_in: u64 = if view {
                0
            } else {
                inputs.iter().map(|b| b.bytes).sum()
            };
            let activation_out: u64 = if view {
                0
            } else {
                outputs.iter().map(|b| b.bytes).sum()
            };
            let weight_bytes: u64 = weights.iter().map(|w| w.bytes).sum();
            let dispatches = dispatches(graph, k, &options.target);
            let storage_bindings = storage_bindings(graph, &weights, &states_read, &states_written);
            kernels.push(Kernel {
                index: index as u32,
                label: graph.kernel_label(k.start).to_string(),
                insts: [k.start as u32, k.end as u32],
                inputs,
                outputs,
                weights,
                states_read,
                states_written,
                dispatches,
                storage_bindings,
                fits_target: storage_bindings <= options.target.max_storage_bindings,
                launch: (dispatches > 0).then(|| launch(graph, k)),
                bytes_read: activation_in + weight_bytes + state_read_bytes,
                bytes_written: activation_out + state_write_bytes,
                flops: (k.start..k.end).map(|i| flops(graph, i, &options)).sum(),
            });
        }
        let totals = totals(graph, &kernels, &slots, &options);
        Plan {
            graph: graph.name.clone(),
            strategy: strategy.to_string(),
            options,
            kernels,
            totals,
        }
    }

    /// The canonical text of the plan: one line per kernel, then the totals.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "plan {} strategy={} context={}",
            self.graph, self.strategy, self.options.context_tokens
        );
        for k in &self.kernels {
            let ins: Vec<String> = k.inputs.iter().map(|b| format!("%{}", b.value)).collect();
            let outs: Vec<String> = k
                .outputs
                .iter()
                .map(|b| format!("%{}@{}", b.value, b.offset))
                .collect();
            let ws: Vec<String> = k
                .weights
                .iter()
                .map(|w| format!("@{}{}", w.weight, if w.sliced { "[i]" } else { "" }))
                .collect();
            let _ = writeln!(
                s,
                "  k{:<4} {:<12} x{} insts {}..{} in [{}] w [{}] out [{}] read {} write {} flops {}",
                k.index,
                k.label,
                k.dispatches,
                k.insts[0],
                k.insts[1],
                ins.join(" "),
                ws.join(" "),
                outs.join(" "),
                k.bytes_read,
                k.bytes_written,
                k.flops
            );
        }
        let t = &self.totals;
        let _ = writeln!(
            s,
            "totals kernels={} dispatches={} read={} written={} weights={} lower_bound={} ratio={:.4} peak_activations={} max_bindings={} flops={}",
            t.kernels,
            t.dispatches,
            t.bytes_read,
            t.bytes_written,
            t.weight_bytes_read,
            t.lower_bound_bytes,
            t.ratio,
            t.peak_activation_bytes,
            t.max_storage_bindings,
            t.flops
        );
        s
    }
}

fn value_bytes(g: &Graph, v: ValueId) -> u64 {
    g.ty(v).bytes_with(|_| 0)
}

/// Kernels that only reinterpret memory (reshape) or supply parameters (consts, symbols).
fn is_view(g: &Graph, k: &KernelRange) -> bool {
    (k.start..k.end).all(|i| {
        matches!(
            g.insts[i].op,
            Op::Reshape { .. } | Op::Const { .. } | Op::Symbol { .. }
        )
    })
}

/// Launches of a kernel on `target`: one per [`phases`] phase that is not a view, one more
/// for an argmax over more than the target finishes in one launch and for an attention
/// (split-K partials, then their merge): WGSL has no global barrier.
fn dispatches(g: &Graph, k: &KernelRange, target: &Target) -> u32 {
    phases(g, k)
        .into_iter()
        .map(|p| {
            let p = KernelRange {
                group: k.group,
                start: p.start,
                end: p.end,
            };
            if is_view(g, &p) {
                return 0;
            }
            let extra = (p.start..p.end)
                .filter(|&i| match g.insts[i].op {
                    Op::Argmax => {
                        g.ty(g.insts[i].inputs[0]).numel().unwrap_or(0) > target.one_pass_argmax
                    }
                    Op::Attention { .. } => true,
                    _ => false,
                })
                .count() as u32;
            1 + extra
        })
        .sum()
}

/// Bytes a phase run by one workgroup may read before a wide op or a new phase is cut
/// (the lowest traffic worth spreading over the device).
pub const SERIAL_PHASE_BYTES: u64 = 256 * 1024;

/// The launches a backend without a global barrier runs a kernel in, in program order. A
/// group of serial ops (anything but a matvec chain: dequants, RMSNorms feeding only
/// matvecs as their vector, matvecs, elementwise ops, argmax) is cut around its *wide* ops so
/// they can spread over the device: each `attention`, each grouped `conv_step` (more than one
/// input channel per output) and each `matvec` whose weight exceeds
/// [`SERIAL_PHASE_BYTES`] gets a phase of its own, with the dequants just before it (a
/// matvec also keeps its RMSNorm prologue and a bias/activation epilogue, the fused matvec
/// shape, the norm only when it is the matvec's vector); the ops between run as serial phases, cut again where one would read more than
/// [`SERIAL_PHASE_BYTES`] of weights. Any other kernel is one phase. The wgpu lowering
/// lowers each phase as a kernel of its own, so the plan's launches are its launches.
pub fn phases(g: &Graph, k: &KernelRange) -> Vec<std::ops::Range<usize>> {
    // A matvec chain (what a fused matvec kernel takes: an RMSNorm only as a matvec's
    // vector, matvecs, a per-row epilogue, an argmax) is one launch; any other group is
    // serial ops.
    let users = |v: ValueId| {
        g.insts[k.start..k.end]
            .iter()
            .filter(move |u| u.inputs.contains(&v))
    };
    let chain = (k.start..k.end).all(|i| match g.insts[i].op {
        Op::Dequant { .. }
        | Op::Const { .. }
        | Op::Reshape { .. }
        | Op::Symbol { .. }
        | Op::Unary { .. }
        | Op::Binary { .. }
        | Op::Select
        | Op::Argmax
        | Op::MatVec => true,
        Op::RmsNorm { .. } => {
            let o = g.insts[i].outputs[0];
            users(o).all(|u| matches!(u.op, Op::MatVec) && u.inputs[1] == o)
        }
        _ => false,
    });
    let serial = k.group.is_some() && k.end - k.start > 1 && !chain;
    if !serial {
        #[allow(clippy::single_range_in_vec_init)] // one phase: the whole kernel
        return vec![k.start..k.end];
    }
    let weight_bytes = |i: usize| -> u64 {
        match g.insts[i].op {
            Op::Dequant { weight } => {
                let w = &g.weights[weight.index()];
                if g.insts[i].inputs.is_empty() {
                    w.stored_bytes()
                } else {
                    w.stored_bytes() / w.dims[0].max(1)
                }
            }
            _ => 0,
        }
    };
    let producer = |v: ValueId| g.producer(v).map(|p| p.index());
    // Bytes of the dequants feeding instruction i directly (its weight operands).
    let operand_bytes = |i: usize| -> u64 {
        g.insts[i]
            .inputs
            .iter()
            .filter_map(|&v| producer(v))
            .filter(|&p| p >= k.start && matches!(g.insts[p].op, Op::Dequant { .. }))
            .map(weight_bytes)
            .sum()
    };
    let wide = |i: usize| match g.insts[i].op {
        Op::Attention { .. } => true,
        Op::ConvStep { groups } => {
            let win = g.ty(g.insts[i].inputs[0]).numel().unwrap_or(0);
            let k_taps = g
                .ty(g.insts[i].inputs[0])
                .dims
                .last()
                .and_then(|d| d.as_const());
            let c_in = win / k_taps.unwrap_or(1).max(1);
            c_in / u64::from(groups.max(1)) > 1
        }
        Op::MatVec => operand_bytes(i) > SERIAL_PHASE_BYTES,
        _ => false,
    };
    // The start of a phase cut before instruction i: the dequants, consts (and a matvec's
    // RMSNorm of its vector) just before it move in with it while nothing between them and
    // i uses them, so a weight is read where it is used and never materialized.
    let pull = |i: usize, last: usize| {
        let mut start = i;
        while start > last {
            let j = start - 1;
            let pullable = match g.insts[j].op {
                Op::Dequant { .. } | Op::Const { .. } => true,
                Op::RmsNorm { .. } => {
                    matches!(g.insts[i].op, Op::MatVec)
                        && g.insts[i].inputs[1] == g.insts[j].outputs[0]
                }
                _ => false,
            };
            let used_between = g.insts[j]
                .outputs
                .iter()
                .any(|o| g.insts[j + 1..start].iter().any(|u| u.inputs.contains(o)));
            if !pullable || used_between {
                break;
            }
            start = j;
        }
        start
    };
    let mut cuts = vec![k.start];
    let mut i = k.start;
    let mut bytes = 0u64;
    while i < k.end {
        let last = *cuts.last().unwrap_or(&k.start);
        if wide(i) {
            let start = pull(i, last);
            if start > last {
                cuts.push(start);
            }
            let mut end = i + 1;
            if matches!(g.insts[i].op, Op::MatVec) {
                // Epilogue: a bias or activation right after, reading the phase's values.
                loop {
                    let take = |j: usize| {
                        j < k.end
                            && matches!(g.insts[j].op, Op::Unary { .. } | Op::Binary { .. })
                            && g.insts[j].inputs.iter().all(|&v| {
                                producer(v).is_none_or(|p| p < k.start || (start..j).contains(&p))
                            })
                    };
                    if take(end) {
                        end += 1;
                    } else if end + 1 < k.end
                        && matches!(g.insts[end].op, Op::Dequant { .. } | Op::Const { .. })
                        && take(end + 1)
                        && g.insts[end + 1].inputs.contains(&g.insts[end].outputs[0])
                    {
                        end += 2;
                    } else {
                        break;
                    }
                }
            }
            if end < k.end {
                cuts.push(end);
            }
            i = end;
            bytes = 0;
            continue;
        }
        // Weights are counted where they are read (dequants read on the fly).
        let b = operand_bytes(i);
        if bytes + b > SERIAL_PHASE_BYTES && i > last {
            let start = pull(i, last);
            if start > last {
                cuts.push(start);
            }
            bytes = (start..i).map(operand_bytes).sum();
        }
        bytes += b;
        i += 1;
    }
    cuts.dedup();
    cuts.push(k.end);
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

/// Storage buffers a kernel binds: the step buffer, each state, each stored part of each
/// weight (packed, scales, biases).
fn storage_bindings(g: &Graph, weights: &[WeightUse], read: &[String], written: &[String]) -> u32 {
    let parts = |w: &WeightUse| g.weights[w.weight as usize].format.stored_parts();
    let mut states: Vec<&String> = read.iter().chain(written).collect();
    states.sort();
    states.dedup();
    1 + states.len() as u32 + weights.iter().map(parts).sum::<u32>()
}

fn weight_uses(g: &Graph, k: &KernelRange) -> Vec<WeightUse> {
    let mut uses: Vec<WeightUse> = Vec::new();
    for i in k.start..k.end {
        let Op::Dequant { weight } = g.insts[i].op else {
            continue;
        };
        let w = &g.weights[weight.index()];
        let sliced = !g.insts[i].inputs.is_empty();
        let bytes = if sliced {
            w.stored_bytes() / w.dims[0].max(1)
        } else {
            w.stored_bytes()
        };
        if !uses
            .iter()
            .any(|u| u.weight == weight.0 && u.sliced == sliced)
        {
            uses.push(WeightUse {
                weight: weight.0,
                source: w.source.clone(),
                sliced,
                bytes,
            });
        }
    }
    uses
}

fn state_traffic(
    g: &Graph,
    k: &KernelRange,
    o: &PlanOptions,
) -> (Vec<String>, Vec<String>, u64, u64) {
    let (mut read, mut written, mut rb, mut wb) = (Vec::new(), Vec::new(), 0, 0);
    let bytes = |s: zaya_ir::StateId| g.states[s.index()].ty.bytes_with(|_| o.capacity);
    for i in k.start..k.end {
        let inst = &g.insts[i];
        match inst.op {
            Op::StateRead { state } => {
                rb += bytes(state);
                read.push(g.states[state.index()].name.clone());
            }
            Op::StateWrite { state } => {
                wb += bytes(state);
                written.push(g.states[state.index()].name.clone());
            }
            Op::CacheAppend { state } => {
                // Rows land in the cache's element type (f16 halves them).
                let elem = g.states[state.index()].ty.dtype.size() as u64;
                wb += numel(g, inst.inputs[0]) * elem;
                written.push(g.states[state.index()].name.clone());
            }
            Op::Attention {
                k_cache, v_cache, ..
            } => {
                for s in [k_cache, v_cache] {
                    let per_token = g.states[s.index()].ty.bytes_with(|_| 1);
                    rb += per_token * (o.context_tokens + 1);
                    read.push(g.states[s.index()].name.clone());
                }
            }
            _ => {}
        }
    }
    (read, written, rb, wb)
}

fn numel(g: &Graph, v: ValueId) -> u64 {
    g.ty(v).numel().unwrap_or(0)
}

/// The op's modeled FLOPs ([`zaya_ir::OpSpec::flops`]).
fn flops(g: &Graph, i: usize, o: &PlanOptions) -> u64 {
    let inst = &g.insts[i];
    let inputs: Vec<u64> = inst.inputs.iter().map(|&v| numel(g, v)).collect();
    let last = |v: ValueId| g.ty(v).last().unwrap_or(1);
    let input_last: Vec<u64> = inst.inputs.iter().map(|&v| last(v)).collect();
    (inst.op.spec().flops)(&zaya_ir::spec::Cost {
        inputs: &inputs,
        input_last: &input_last,
        output: inst.outputs.first().map_or(0, |&v| numel(g, v)),
        output_last: inst.outputs.first().map_or(1, |&v| last(v)),
        context_tokens: o.context_tokens,
    })
}

/// A backend-neutral launch: one workgroup per head for kernels with attention, 8 rows per
/// workgroup for matvecs (a fused router included: its down_proj spreads over the device),
/// 256 threads per workgroup of elementwise work; grids folded into two dimensions past
/// 65535 workgroups. No kernel label is special: labels are the model's.
fn launch(g: &Graph, k: &KernelRange) -> Launch {
    let rows: u64 = (k.start..k.end)
        .filter(|&i| matches!(g.insts[i].op, Op::MatVec))
        .map(|i| numel(g, g.insts[i].outputs[0]))
        .sum();
    let attention_heads = (k.start..k.end).find_map(|i| match g.insts[i].op {
        Op::Attention { .. } => Some(g.ty(g.insts[i].inputs[0]).dims[0].as_const().unwrap_or(1)),
        _ => None,
    });
    let (groups, size) = if let Some(heads) = attention_heads {
        (heads, 128)
    } else if rows > 0 {
        (rows.div_ceil(8), 256)
    } else {
        let n = (k.start..k.end)
            .flat_map(|i| g.insts[i].outputs.iter())
            .map(|&v| numel(g, v))
            .max()
            .unwrap_or(1);
        (n.div_ceil(256), 256)
    };
    let x = groups.min(65535);
    let y = groups.div_ceil(65535);
    Launch {
        workgroups: [x as u32, y as u32, 1],
        workgroup_size: size,
    }
}

/// Activation slots: offsets in one arena, reused once a value is dead.
struct Slots {
    offsets: Vec<Option<(Arena, u64)>>,
    peak: u64,
}

impl Slots {
    fn get(&self, v: ValueId) -> (Arena, u64) {
        self.offsets[v.index()].unwrap_or((Arena::Activation, u64::MAX))
    }
}

/// Liveness-based first-fit allocation over kernel order. A reshape aliases its input.
fn allocate(g: &Graph, ranges: &[KernelRange], users: &[Vec<usize>], align: u64) -> Slots {
    let mut kernel_of_inst = vec![0usize; g.insts.len()];
    for (k, r) in ranges.iter().enumerate() {
        kernel_of_inst[r.start..r.end].fill(k);
    }
    // Root value (through reshape aliases) of every value.
    let mut root: Vec<usize> = (0..g.values.len()).collect();
    for inst in &g.insts {
        if let Op::Reshape { .. } = inst.op {
            root[inst.outputs[0].index()] = root[inst.inputs[0].index()];
        }
    }
    let end = ranges.len();
    let mut live: Vec<Option<(usize, usize)>> = vec![None; g.values.len()];
    let mut offsets: Vec<Option<(Arena, u64)>> = vec![None; g.values.len()];
    for v in &g.inputs {
        offsets[v.index()] = Some((Arena::Input, 0));
    }
    for (k, r) in ranges.iter().enumerate() {
        for &v in &kernel_outputs(g, r, users) {
            let first = k;
            let mut last = users[v.index()]
                .iter()
                .map(|&u| kernel_of_inst[u])
                .max()
                .unwrap_or(k);
            if g.is_output(v) {
                last = end;
            }
            let rt = root[v.index()];
            let entry = live[rt].get_or_insert((first, last));
            entry.0 = entry.0.min(first);
            entry.1 = entry.1.max(last);
        }
    }
    // First fit, by start.
    let mut order: Vec<usize> = (0..g.values.len())
        .filter(|&v| live[v].is_some() && g.producer(ValueId::from_index(v)).is_some())
        .collect();
    order.sort_by_key(|&v| (live[v].map(|l| l.0), v));
    let mut placed: Vec<(u64, u64, usize)> = Vec::new(); // (offset, size, last kernel)
    let mut peak = 0;
    for v in order {
        let (first, last) = live[v].unwrap_or((0, 0));
        let size = value_bytes(g, ValueId::from_index(v))
            .max(4)
            .div_ceil(align)
            * align;
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .filter(|p| p.2 >= first)
            .map(|p| (p.0, p.1))
            .collect();
        busy.sort();
        let mut offset = 0;
        for (o, s) in busy {
            if offset + size <= o {
                break;
            }
            offset = offset.max(o + s);
        }
        placed.push((offset, size, last));
        peak = peak.max(offset + size);
        offsets[v] = Some((Arena::Activation, offset));
    }
    for v in 0..g.values.len() {
        if offsets[v].is_none() && root[v] != v {
            offsets[v] = offsets[root[v]];
        }
    }
    Slots { offsets, peak }
}

fn totals(g: &Graph, kernels: &[Kernel], slots: &Slots, o: &PlanOptions) -> Totals {
    let mut t = Totals {
        kernels: kernels.len() as u32,
        peak_activation_bytes: slots.peak,
        ..Default::default()
    };
    for k in kernels {
        t.dispatches += k.dispatches;
        t.max_storage_bindings = t.max_storage_bindings.max(k.storage_bindings);
        t.weight_bytes_read += k.weights.iter().map(|w| w.bytes).sum::<u64>();
        t.bytes_read += k.bytes_read;
        t.bytes_written += k.bytes_written;
        t.flops += k.flops;
    }
    // State traffic re-derived once (kept separate from activations in the totals).
    for r in g.kernel_ranges() {
        let (_, _, rb, wb) = state_traffic(g, &r, o);
        t.state_bytes_read += rb;
        t.state_bytes_written += wb;
    }
    t.activation_bytes_read = t.bytes_read - t.weight_bytes_read - t.state_bytes_read;
    t.activation_bytes_written = t.bytes_written - t.state_bytes_written;
    // Lower bound: every weight byte needed once, plus the KV cache read by attention.
    let mut seen: Vec<(u32, bool)> = Vec::new();
    for k in kernels {
        for w in &k.weights {
            if !seen.contains(&(w.weight, w.sliced)) {
                seen.push((w.weight, w.sliced));
                t.lower_bound_bytes += w.bytes;
            }
        }
    }
    for inst in &g.insts {
        if let Op::Attention {
            k_cache, v_cache, ..
        } = inst.op
        {
            for s in [k_cache, v_cache] {
                t.lower_bound_bytes +=
                    g.states[s.index()].ty.bytes_with(|_| 1) * (o.context_tokens + 1);
            }
        }
    }
    t.ratio = if t.lower_bound_bytes > 0 {
        t.bytes_read as f64 / t.lower_bound_bytes as f64
    } else {
        0.0
    };
    t.weight_arena_bytes = g.weight_bytes();
    t.state_arena_bytes = g
        .states
        .iter()
        .map(|s| s.ty.bytes_with(|_| o.capacity))
        .sum();
    t
}
