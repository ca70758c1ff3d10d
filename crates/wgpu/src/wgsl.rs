//! WGSL generation: a handful of templates in `shaders/` (elementwise, copy, reduce, row,
//! matvec, dequant, rope, conv_step, attention) plus weight-format snippets, instantiated
//! by text substitution of `{{NAME}}` holes. A [`Shader`] names one variant; its source
//! does not depend on shapes (those are per-dispatch parameters), so equal variants share
//! one pipeline.

use zaya_ir::{BinaryOp, DType, ReduceOp, UnaryOp, WeightFormat};

pub(crate) const COMMON: &str = include_str!("../../../shaders/common.wgsl");
const REDUCE_WG_TEMPLATE: &str = include_str!("../../../shaders/reduce_wg.wgsl");

/// The workgroup reductions with `WG` threads (a power of two).
pub(crate) fn reduce_wg(threads: u32) -> String {
    fill(REDUCE_WG_TEMPLATE, &[("WG", &threads.to_string())])
}
pub(crate) const ERF: &str = include_str!("../../../shaders/erf.wgsl");
const ELEMENTWISE: &str = include_str!("../../../shaders/elementwise.wgsl");
const COPY: &str = include_str!("../../../shaders/copy.wgsl");
const REDUCE_AXIS: &str = include_str!("../../../shaders/reduce_axis.wgsl");
const ROW: &str = include_str!("../../../shaders/row.wgsl");
pub(crate) const ROW_SOFTMAX: &str = include_str!("../../../shaders/row_softmax.wgsl");
pub(crate) const ROW_RMS_NORM: &str = include_str!("../../../shaders/row_rms_norm.wgsl");
pub(crate) const ROW_ARGMAX: &str = include_str!("../../../shaders/row_argmax.wgsl");
const GAMMA_AT: &str = "fn gamma_at(i: u32) -> f32 {\n    return bitcast<f32>(gamma[i]);\n}\n";
const MATVEC: &str = include_str!("../../../shaders/matvec.wgsl");
const DEQUANT: &str = include_str!("../../../shaders/dequant.wgsl");
const MATMUL: &str = include_str!("../../../shaders/matmul.wgsl");
/// Most tokens one `matmul` launch covers (its workgroup token list).
pub const MATMUL_MAX_TOKENS: u64 = 1024;
/// Workgroups of one `matmul` launch over `rows` output rows of `experts` weights with
/// `team` threads per row (64 / `team` rows per workgroup).
pub fn matmul_workgroups(experts: u64, rows: u64, team: u32) -> u32 {
    (experts * rows.div_ceil(64 / u64::from(team))) as u32
}
const W_AFFINE: &str = include_str!("../../../shaders/w_affine.wgsl");
const W_MXFP4: &str = include_str!("../../../shaders/w_mxfp4.wgsl");
const W_FLOAT: &str = include_str!("../../../shaders/w_float.wgsl");
const ROPE: &str = include_str!("../../../shaders/rope.wgsl");
const CONV_STEP: &str = include_str!("../../../shaders/conv_step.wgsl");
pub(crate) const CONV_STEP_TEAM: &str = include_str!("../../../shaders/conv_step_team.wgsl");
const ATTENTION_SPLIT: &str = include_str!("../../../shaders/attention_split.wgsl");
const ATTENTION_COMBINE: &str = include_str!("../../../shaders/attention_combine.wgsl");
/// Threads of a split-K attention workgroup (`attention_split.wgsl`); it holds up to four
/// output dims per thread.
pub const ATTENTION_SPLIT_WG: u32 = 64;
/// Threads of an attention-combine workgroup (`attention_combine.wgsl`).
pub const ATTENTION_COMBINE_WG: u32 = 32;
/// Keys per split-K chunk: a fixed size, so the chunks that hold keys grow with the position
/// and the launch covers the capacity (chunks past the position exit at once).
pub const ATTENTION_CHUNK: u64 = 64;
pub(crate) const ATTENTION_HEAD: &str = include_str!("../../../shaders/attention_head.wgsl");

/// Marks where a weight snippet's matvec-only part starts.
const MATVEC_ONLY: &str = "// matvec only";
/// Marks where a weight snippet's matmul-only part (`w_unit`) starts: the snippet's end.
const MATMUL_ONLY: &str = "// matmul only";

/// Words of per-dispatch parameters (the `Params` uniform block of `common.wgsl`).
pub const PARAM_WORDS: usize = 32;

/// The expression of an elementwise kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elementwise {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `cond != 0 ? a : b`.
    Select,
    /// u32 -> f32.
    ToF32,
    /// f32 -> u32, truncating toward zero and saturating at 0 like the CPU.
    ToU32,
}

impl Elementwise {
    pub fn arity(self) -> usize {
        match self {
            Elementwise::Binary(_) => 2,
            Elementwise::Select => 3,
            _ => 1,
        }
    }

    fn input_dtype(self) -> DType {
        match self {
            Elementwise::ToF32 => DType::U32,
            _ => DType::F32,
        }
    }

    /// The WGSL expression over inputs `a`, `b`, `c`.
    pub(crate) fn expr(self) -> &'static str {
        match self {
            Elementwise::Unary(op) => match op {
                UnaryOp::Neg => "-a",
                UnaryOp::Exp => "exp(a)",
                UnaryOp::Sqrt => "sqrt(a)",
                UnaryOp::Rsqrt => "1.0 / sqrt(a)",
                UnaryOp::Recip => "1.0 / a",
                UnaryOp::Square => "a * a",
                UnaryOp::Silu => "a / (1.0 + exp(-a))",
                UnaryOp::Gelu => "0.5 * a * (1.0 + erf_approx(a * 0.7071067811865476))",
            },
            Elementwise::Binary(op) => match op {
                BinaryOp::Add => "a + b",
                BinaryOp::Sub => "a - b",
                BinaryOp::Mul => "a * b",
                BinaryOp::Div => "a / b",
                BinaryOp::Max => "max(a, b)",
                BinaryOp::Min => "min(a, b)",
                BinaryOp::Eq => "select(0.0, 1.0, a == b)",
            },
            Elementwise::Select => "select(c, b, a != 0.0)",
            Elementwise::ToF32 => "f32(a)",
            Elementwise::ToU32 => "u32(max(a, 0.0))",
        }
    }

    fn output_is_u32(self) -> bool {
        matches!(self, Elementwise::ToU32)
    }
}

/// How a copy kernel uses its index operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyIndex {
    None,
    /// `idx[k]` (u32) selects the source position along the middle axis.
    Gather,
    /// `idx[0]` (a u32 position) selects the destination row (KV-cache append). `f16`: the
    /// cache holds f16 pairs, one per word, and every index counts pairs (each element packs
    /// two source floats).
    Position {
        f16: bool,
    },
}

/// Row kernels (one workgroup per row of the last axis).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowOp {
    Softmax,
    RmsNorm,
    Argmax,
}

/// A kernel whose source was generated from a group's body (fused matvec, region, argmax
/// reduction, sampler). Shapes are baked into the source, so identical layers still share
/// one pipeline (the source is the identity).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GeneratedShader {
    pub label: String,
    pub source: String,
    /// Whether each storage binding (binding k + 1) is writable: pipelines of generated
    /// kernels get an explicit layout, so a binding the body happens not to use still fits.
    pub writable: Vec<bool>,
    /// For a fused matvec: its shape and variant (what `tune` varies).
    pub matvec: Option<crate::variant::MatVecPoint>,
}

/// One shader variant. Everything that changes the source is here; shapes are not (except
/// in generated kernels, whose source is their identity).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    /// Generated from a fused group's body (see `fused`).
    Generated(std::sync::Arc<GeneratedShader>),
    Elementwise(Elementwise),
    Copy(CopyIndex),
    Reduce(ReduceOp),
    Row(RowOp),
    /// `y = W x`, W read in its stored format (`Float { F32 }` also covers an f32 value);
    /// `indexed`: W is one slice of a stacked weight chosen by a u32 on the GPU. With a
    /// packed format this is the fused dequant + matvec (kernel kind QMatVec).
    MatVec {
        format: WeightFormat,
        indexed: bool,
    },
    Dequant {
        format: WeightFormat,
        indexed: bool,
    },
    /// `Y = X W^T` over a chunk of tokens (prefill), W in its stored format; `indexed`: each
    /// token's slice of a stacked weight (its expert) chosen by a u32 per token on the GPU;
    /// `team` threads per output row (one of [`crate::variant::MATMUL_TEAMS`]).
    MatMul {
        format: WeightFormat,
        indexed: bool,
        team: u32,
    },
    Rope,
    ConvStep,
    /// Split-K decode attention, pass 1: per-(head, chunk) partial max, sum and output;
    /// `f16`: the caches hold f16 pairs (`--kv-dtype f16`).
    AttentionSplit {
        f16: bool,
    },
    /// Split-K decode attention, pass 2: the chunks' partials merged per output element.
    AttentionCombine,
}

/// One storage binding of a kernel (binding 0 is always the params uniform).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    pub name: &'static str,
    pub elem: &'static str,
    pub writable: bool,
}

const fn read(name: &'static str) -> Binding {
    Binding {
        name,
        elem: "u32",
        writable: false,
    }
}

const fn write(name: &'static str) -> Binding {
    Binding {
        name,
        elem: "u32",
        writable: true,
    }
}

/// Whether a weight format has separate scale and bias tensors.
pub fn weight_parts(format: WeightFormat) -> (bool, bool) {
    match format {
        WeightFormat::Affine { .. } => (true, true),
        WeightFormat::Mxfp4 { .. } => (true, false),
        WeightFormat::Float { .. } => (false, false),
    }
}

/// Why a weight format cannot be read by the templates, if it cannot.
pub fn check_format(format: WeightFormat) -> Result<(), String> {
    match format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => {
            if !matches!(bits, 4 | 8) {
                return Err(format!("affine {bits}-bit codes (4 or 8 are supported)"));
            }
            if group_size == 0 || group_size % (32 / bits as u32) != 0 {
                return Err(format!(
                    "group size {group_size} is not a multiple of the {} codes in a word",
                    32 / bits
                ));
            }
            if !scale_dtype.is_float() {
                return Err(format!("affine scales in {scale_dtype}"));
            }
            Ok(())
        }
        WeightFormat::Mxfp4 { group_size } if group_size == 0 || group_size % 8 != 0 => Err(
            format!("mxfp4 group size {group_size} is not a multiple of 8"),
        ),
        WeightFormat::Mxfp4 { .. } => Ok(()),
        WeightFormat::Float { dtype } if dtype.is_float() => Ok(()),
        WeightFormat::Float { dtype } => Err(format!("float weights stored as {dtype}")),
    }
}

/// WGSL expression reading element `idx` of a float array in `dtype` stored in `buf:
/// array<u32>`: 16-bit floats are unpacked from their word (no SHADER_F16 needed).
pub fn float_load(dtype: DType, buf: &str, idx: &str) -> String {
    match dtype {
        DType::F16 => format!("unpack2x16float({buf}[({idx}) >> 1u])[({idx}) & 1u]"),
        DType::BF16 => format!(
            "bitcast<f32>((({buf}[({idx}) >> 1u] >> ((({idx}) & 1u) * 16u)) & 0xffffu) << 16u)"
        ),
        _ => format!("bitcast<f32>({buf}[{idx}])"),
    }
}

/// WGSL expression of the word holding two f32 expressions as an f16 pair (`lo` in the low
/// half), the layout [`float_load`] reads back.
pub fn f16_pair_word(lo: &str, hi: &str) -> String {
    format!("pack2x16float(vec2<f32>({lo}, {hi}))")
}

impl Shader {
    /// A short name for labels, dumps and profiles.
    pub fn label(&self) -> String {
        match self {
            Shader::Generated(g) => g.label.clone(),
            Shader::Elementwise(e) => match e {
                Elementwise::Unary(op) => format!("{op:?}").to_lowercase(),
                Elementwise::Binary(op) => format!("{op:?}").to_lowercase(),
                Elementwise::Select => "select".into(),
                Elementwise::ToF32 => "to_f32".into(),
                Elementwise::ToU32 => "to_u32".into(),
            },
            Shader::Copy(CopyIndex::None) => "copy".into(),
            Shader::Copy(CopyIndex::Gather) => "gather".into(),
            Shader::Copy(CopyIndex::Position { f16: false }) => "cache_append".into(),
            Shader::Copy(CopyIndex::Position { f16: true }) => "cache_append_f16".into(),
            Shader::Reduce(op) => format!("reduce_{op:?}").to_lowercase(),
            Shader::Row(op) => format!("{op:?}").to_lowercase(),
            Shader::MatVec { format, indexed } => {
                format!(
                    "matvec_{}{}",
                    format.tag(),
                    if *indexed { "_idx" } else { "" }
                )
            }
            Shader::Dequant { format, indexed } => {
                format!(
                    "dequant_{}{}",
                    format.tag(),
                    if *indexed { "_idx" } else { "" }
                )
            }
            Shader::MatMul {
                format,
                indexed,
                team,
            } => {
                format!(
                    "matmul_{}{}_t{team}",
                    format.tag(),
                    if *indexed { "_idx" } else { "" }
                )
            }
            Shader::Rope => "rope".into(),
            Shader::ConvStep => "conv_step".into(),
            Shader::AttentionSplit { f16: false } => "attention_split".into(),
            Shader::AttentionSplit { f16: true } => "attention_split_f16".into(),
            Shader::AttentionCombine => "attention_combine".into(),
        }
    }

    /// The storage bindings, in binding order from 1.
    pub fn bindings(&self) -> Vec<Binding> {
        const INPUTS: [&str; 3] = ["in0", "in1", "in2"];
        match self {
            // Generated kernels declare their own bindings (see `fused::Binder`).
            Shader::Generated(_) => vec![],
            Shader::Elementwise(e) => {
                let mut b: Vec<Binding> = INPUTS[..e.arity()].iter().map(|n| read(n)).collect();
                b.push(write("dst"));
                b
            }
            Shader::Copy(CopyIndex::None) => vec![read("src_buf"), write("dst_buf")],
            Shader::Copy(_) => vec![read("src_buf"), read("idx"), write("dst_buf")],
            Shader::Reduce(_) => vec![read("src"), write("dst")],
            Shader::Row(RowOp::RmsNorm) => vec![read("src"), read("gamma"), write("dst")],
            Shader::Row(_) => vec![read("src"), write("dst")],
            Shader::MatVec { format, indexed }
            | Shader::MatMul {
                format, indexed, ..
            } => {
                let mut b = weight_bindings(*format, *indexed);
                b.extend([read("x"), write("y")]);
                b
            }
            Shader::Dequant { format, indexed } => {
                let mut b = weight_bindings(*format, *indexed);
                b.push(write("dst"));
                b
            }
            Shader::Rope => vec![read("src"), read("pos"), read("inv_freq"), write("dst")],
            Shader::ConvStep => vec![read("window"), read("weight"), read("bias"), write("dst")],
            Shader::AttentionSplit { .. } => vec![
                read("q"),
                read("pos"),
                read("k_cache"),
                read("v_cache"),
                Binding {
                    name: "part",
                    elem: "f32",
                    writable: true,
                },
            ],
            Shader::AttentionCombine => vec![
                read("pos"),
                Binding {
                    name: "part",
                    elem: "f32",
                    writable: false,
                },
                write("dst"),
            ],
        }
    }

    /// The complete WGSL module (entry point `main`).
    pub fn wgsl(&self) -> String {
        if let Shader::Generated(g) = self {
            return g.source.clone();
        }
        let bindings = binding_decls(&self.bindings());
        let body = match self {
            Shader::Generated(_) => unreachable!("returned above"),
            Shader::Elementwise(e) => elementwise(*e, &bindings),
            Shader::Copy(index) => {
                let snippet = match index {
                    CopyIndex::None => "",
                    CopyIndex::Gather => {
                        "    let ix = idx[k];\n    if (ix >= p(9u)) {\n        return;\n    }\n    src = p(3u) + o * p(4u) + ix * p(5u) + i;"
                    }
                    CopyIndex::Position { .. } => {
                        "    let ps = idx[0];\n    if (ps + o * p(11u) >= p(9u)) {\n        return;\n    }\n    dst = dst + ps * p(10u);"
                    }
                };
                let store = match index {
                    CopyIndex::Position { f16: true } => format!(
                        "    dst_buf[dst] = {};",
                        f16_pair_word(
                            "bitcast<f32>(src_buf[2u * src])",
                            "bitcast<f32>(src_buf[2u * src + 1u])"
                        )
                    ),
                    _ => "    dst_buf[dst] = src_buf[src];".into(),
                };
                fill(
                    COPY,
                    &[
                        ("BINDINGS", &bindings),
                        ("INDEX", snippet),
                        ("STORE", &store),
                    ],
                )
            }
            Shader::Reduce(op) => {
                let (init, combine, finish) = match op {
                    ReduceOp::Sum => ("0.0", "acc + v", "acc"),
                    ReduceOp::Mean => ("0.0", "acc + v", "acc / f32(n)"),
                    ReduceOp::Max => ("neg_inf()", "max(acc, v)", "acc"),
                };
                fill(
                    REDUCE_AXIS,
                    &[
                        ("BINDINGS", &bindings),
                        ("INIT", init),
                        ("COMBINE", combine),
                        ("FINISH", finish),
                    ],
                )
            }
            Shader::Row(op) => {
                let body = match op {
                    RowOp::Softmax => ROW_SOFTMAX,
                    RowOp::RmsNorm => ROW_RMS_NORM,
                    RowOp::Argmax => ROW_ARGMAX,
                };
                format!(
                    "{}\n{}",
                    reduce_wg(64),
                    fill(
                        ROW,
                        &[
                            ("BINDINGS", &bindings),
                            ("BODY", body),
                            ("GAMMA", if *op == RowOp::RmsNorm { GAMMA_AT } else { "" }),
                        ]
                    )
                )
            }
            Shader::MatVec { format, indexed } => format!(
                "{}\n{}",
                reduce_wg(64),
                weight_template(MATVEC, *format, *indexed, &bindings)
            ),
            Shader::Dequant { format, indexed } => {
                weight_template(DEQUANT, *format, *indexed, &bindings)
            }
            Shader::MatMul {
                format,
                indexed,
                team,
            } => fill(
                &weight_template(MATMUL, *format, *indexed, &bindings),
                &[("TEAM", &team.to_string())],
            ),
            Shader::Rope => fill(ROPE, &[("BINDINGS", &bindings)]),
            Shader::ConvStep => fill(CONV_STEP, &[("BINDINGS", &bindings)]),
            Shader::AttentionSplit { f16 } => {
                let dtype = if *f16 { DType::F16 } else { DType::F32 };
                let cache_at = format!(
                    "fn k_at(i: u32) -> f32 {{\n    return {};\n}}\n\nfn v_at(i: u32) -> f32 {{\n    return {};\n}}",
                    float_load(dtype, "k_cache", "i"),
                    float_load(dtype, "v_cache", "i")
                );
                format!(
                    "{}\n{}",
                    reduce_wg(ATTENTION_SPLIT_WG),
                    fill(
                        ATTENTION_SPLIT,
                        &[("BINDINGS", &bindings), ("CACHE_AT", &cache_at)]
                    )
                )
            }
            Shader::AttentionCombine => fill(ATTENTION_COMBINE, &[("BINDINGS", &bindings)]),
        };
        format!("{COMMON}\n{body}")
    }
}

/// An f32 activation used as a matvec weight is read like a stored f32 weight.
pub const F32_FORMAT: WeightFormat = WeightFormat::Float { dtype: DType::F32 };

fn weight_bindings(format: WeightFormat, indexed: bool) -> Vec<Binding> {
    let (scales, biases) = weight_parts(format);
    let mut b = vec![read("w_packed")];
    if scales {
        b.push(read("w_scales"));
    }
    if biases {
        b.push(read("w_biases"));
    }
    if indexed {
        b.push(read("idx"));
    }
    b
}

fn binding_decls(bindings: &[Binding]) -> String {
    bindings
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let access = if b.writable { "read_write" } else { "read" };
            format!(
                "@group(0) @binding({}) var<storage, {access}> {}: array<{}>;\n",
                i + 1,
                b.name,
                b.elem
            )
        })
        .collect()
}

fn elementwise(e: Elementwise, bindings: &str) -> String {
    let names = ["a", "b", "c"];
    let loads: String = (0..e.arity())
        .map(|k| {
            let at = format!("in{k}[offset_of(at, {k}u)]");
            let value = match e.input_dtype() {
                DType::U32 => at,
                _ => format!("bitcast<f32>({at})"),
            };
            format!("    let {} = {value};\n", names[k])
        })
        .collect();
    let store = if e.output_is_u32() {
        e.expr().to_string()
    } else {
        format!("bitcast<u32>({})", e.expr())
    };
    let helpers = if matches!(e, Elementwise::Unary(UnaryOp::Gelu)) {
        ERF
    } else {
        ""
    };
    fill(
        ELEMENTWISE,
        &[
            ("BINDINGS", bindings),
            ("HELPERS", helpers),
            ("LOADS", loads.trim_end()),
            ("STORE", &store),
        ],
    )
}

/// The weight-format snippet (`w_elem`, and `w_chunk_dot` after the `// matvec only` marker)
/// with its format holes filled; generated kernels rename its identifiers per weight. The
/// matmul's `w_unit` is left out (see [`weight_template`]).
pub(crate) fn weight_snippet(format: WeightFormat) -> String {
    let full = full_weight_snippet(format);
    match full.find(MATMUL_ONLY) {
        Some(at) => format!("{}\n", full[..at].trim_end()),
        None => full,
    }
}

/// The whole snippet, the matmul-only tail included.
fn full_weight_snippet(format: WeightFormat) -> String {
    match format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => fill(
            W_AFFINE,
            &[
                ("BITS", &bits.to_string()),
                ("GROUP", &group_size.to_string()),
                ("SCALE_AT_I", &float_load(scale_dtype, "w_scales", "i")),
                ("BIAS_AT_I", &float_load(scale_dtype, "w_biases", "i")),
            ],
        ),
        WeightFormat::Mxfp4 { group_size } => fill(W_MXFP4, &[("GROUP", &group_size.to_string())]),
        WeightFormat::Float { dtype } => fill(
            W_FLOAT,
            &[("ELEM_AT_I", &float_load(dtype, "w_packed", "i"))],
        ),
    }
}

/// Marks where a weight snippet's matvec-only part starts.
pub(crate) const MATVEC_ONLY_MARK: &str = MATVEC_ONLY;

/// Matvec, matmul and dequant: the template with the weight-format snippet and the weight
/// row of output row `o` filled in (indexed: row `o % rows per index` of the slice chosen by
/// `idx[o / rows per index]`, so one index per token of a chunk; decode has one).
fn weight_template(template: &str, format: WeightFormat, indexed: bool, bindings: &str) -> String {
    let matmul = template == MATMUL;
    let full = full_weight_snippet(format);
    let (matvec_at, matmul_at) = (
        full.find(MATVEC_ONLY).unwrap_or(full.len()),
        full.find(MATMUL_ONLY).unwrap_or(full.len()),
    );
    // The element part, plus the matvec's chunk dot or the matmul's word decode.
    let snippet = if template == MATVEC {
        format!("{}\n", full[..matmul_at].trim_end())
    } else if matmul {
        format!("{}{}", &full[..matvec_at], &full[matmul_at..])
    } else {
        full[..matvec_at].to_string()
    };
    let row = match (indexed, matmul) {
        (false, _) => "o",
        (true, false) => "min(idx[o / p(5u)], p(6u) - 1u) * p(5u) + o % p(5u)",
        (true, true) => "e * p(5u) + o",
    };
    let routed = if indexed {
        "min(idx[t], p(6u) - 1u) == e"
    } else {
        "true"
    };
    fill(
        template,
        &[
            ("BINDINGS", bindings),
            ("WEIGHT", &snippet),
            ("WEIGHT_ROW", row),
            ("ROUTED", routed),
        ],
    )
}

/// Replaces every `{{KEY}}` hole. Templates and keys are ours, so a hole left open is a bug
/// that the shader tests catch (naga rejects the `{{`).
pub(crate) fn fill(template: &str, holes: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (key, value) in holes {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// Every shader variant the backend can emit for the formats in `formats` (all
/// unary/binary ops, copies, reductions, row ops, and matvec/dequant per format).
pub fn all_variants(formats: &[WeightFormat]) -> Vec<Shader> {
    use BinaryOp as B;
    use UnaryOp as U;
    let mut v: Vec<Shader> = [
        U::Neg,
        U::Exp,
        U::Sqrt,
        U::Rsqrt,
        U::Recip,
        U::Square,
        U::Silu,
        U::Gelu,
    ]
    .into_iter()
    .map(|op| Shader::Elementwise(Elementwise::Unary(op)))
    .collect();
    v.extend(
        [B::Add, B::Sub, B::Mul, B::Div, B::Max, B::Min, B::Eq]
            .into_iter()
            .map(|op| Shader::Elementwise(Elementwise::Binary(op))),
    );
    v.extend(
        [Elementwise::Select, Elementwise::ToF32, Elementwise::ToU32].map(Shader::Elementwise),
    );
    v.extend(
        [
            CopyIndex::None,
            CopyIndex::Gather,
            CopyIndex::Position { f16: false },
            CopyIndex::Position { f16: true },
        ]
        .map(Shader::Copy),
    );
    v.extend([ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max].map(Shader::Reduce));
    v.extend([RowOp::Softmax, RowOp::RmsNorm, RowOp::Argmax].map(Shader::Row));
    v.extend([
        Shader::Rope,
        Shader::ConvStep,
        Shader::AttentionSplit { f16: false },
        Shader::AttentionSplit { f16: true },
        Shader::AttentionCombine,
    ]);
    for &format in formats.iter().chain(&[F32_FORMAT]) {
        for indexed in [false, true] {
            v.push(Shader::MatVec { format, indexed });
            v.push(Shader::Dequant { format, indexed });
            for team in crate::variant::MATMUL_TEAMS {
                v.push(Shader::MatMul {
                    format,
                    indexed,
                    team,
                });
            }
        }
    }
    v.dedup();
    v
}

/// The weight formats the templates are tested with: affine 4/8-bit with f16/bf16/f32
/// scales, MXFP4, and f16/bf16/f32 floats.
pub fn test_formats() -> Vec<WeightFormat> {
    let mut f = vec![];
    for bits in [4u8, 8] {
        for scale_dtype in [DType::F16, DType::BF16, DType::F32] {
            f.push(WeightFormat::Affine {
                bits,
                group_size: 32,
                scale_dtype,
            });
        }
    }
    f.push(WeightFormat::Affine {
        bits: 4,
        group_size: 64,
        scale_dtype: DType::F16,
    });
    f.push(WeightFormat::Mxfp4 { group_size: 32 });
    for dtype in [DType::F16, DType::BF16, DType::F32] {
        f.push(WeightFormat::Float { dtype });
    }
    f
}
