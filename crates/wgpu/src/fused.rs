//! Kernels generated from the optimizer's groups (`Inst::group`), so a fused group runs as
//! one launch instead of one per instruction.
//!
//! Two templates cover every group a strategy (or a custom pass) can make:
//!
//! - **Fused matvec** (`matvec` and `head` groups, and any group of the same shape): an
//!   optional RMSNorm prologue (recomputed by every workgroup; the normed vector is staged
//!   in workgroup memory when it fits), one or more matvecs reading their weights packed
//!   (affine 4/8-bit, MXFP4, f16/bf16/f32; an expert index read from a GPU buffer), and a
//!   per-row elementwise epilogue generated from the group's unary/binary/select/const/
//!   vector-weight ops (bias, SwiGLU, gate-prob scale, skip `select`, residual merge).
//!   Matvecs with the same row count form a class and compute the same row together, so an
//!   epilogue that combines them (SwiGLU) stays per row. The kernel text is the template
//!   `shaders/fused_matvec.wgsl.j2`; its parameters are a [`MatVecVariant`] picked by
//!   [`variant::choose`] (tuned per device by `zaya-graph tune`, see `tune`), and the
//!   workgroup counts come from [`Launch`]. An `argmax` over the result (the greedy head) is
//!   finished in the same launch up to [`ONE_PASS_ARGMAX`] rows, else reduced to
//!   per-workgroup partial maxima and finished by a one-workgroup launch: exactly the
//!   dispatch count of `zaya_opt::Plan`.
//! - **Region** (`cca`, `router`, `lookup`, anything else): one workgroup executes the
//!   group's body in program order, every op parallelized over the workgroup's threads,
//!   with a barrier after each; intermediates live in a scratch buffer, values used outside
//!   the group in their own buffers. Row ops and attention reuse the bodies of the
//!   primitive templates (`row_*.wgsl`, `attention_head.wgsl`) through renamed accessors.
//!
//! Weights with several windows are bound window by window in the same launch: in a fused
//! matvec each window is a launch class of its own workgroups; in a region a generated
//! accessor picks the window by row. A group that does not fit either template (an op the
//! matvec shape does not allow is simply a region; a region needing more storage bindings
//! than the device offers, or a weight operand that is not read through a dequant) is
//! refused here and lowered instruction by instruction, so a custom strategy never fails.
//!
//! Shapes, offsets and window bounds are baked into the source; buffers are bindings, so
//! identical layers produce identical sources and share one pipeline.

use crate::error::Result;
use crate::plan::{Dispatch, Kernel, KernelKind, Lowering, Res};
use crate::templates;
use crate::variant::{self, Capability, Launch, MatVecPoint, MatVecShape, MatVecVariant};
use crate::wgsl::{self, Elementwise, GeneratedShader, PARAM_WORDS, Shader};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use zaya_ir::{DType, KernelRange, Op, ReduceOp, ValueId, WeightFormat};

pub use crate::variant::ONE_PASS_ARGMAX;

/// Threads of a region workgroup.
const REGION_WG: u32 = 256;
/// Threads of the one workgroup that finishes a large argmax.
const ARGMAX_WG: u32 = 64;

/// Lowers group `range` to one fused kernel (two for a large argmax), or `None` when the
/// group fits neither template; nothing is left allocated in that case.
pub(crate) fn lower_group(
    l: &mut Lowering<'_>,
    range: &KernelRange,
) -> Result<Option<Vec<Kernel>>> {
    let label = l.g.kernel_label(range.start).to_string();
    if let Some(k) = Gen::new(l, range).try_matvec(&label)? {
        return Ok(Some(k));
    }
    let (region, why) = Gen::new(l, range).try_region(&label)?;
    if let Some(reason) = why {
        l.plan.refused.push(crate::plan::Refusal {
            label,
            start: range.start,
            end: range.end,
            reason,
        });
    }
    Ok(region.map(|k| vec![k]))
}

/// Storage buffers of one launch, deduplicated, in binding order (binding 0 is the params
/// uniform, so buffer k is binding k + 1 and named `b{k}`).
#[derive(Default)]
struct Binder {
    res: Vec<Res>,
    writable: Vec<bool>,
    /// WGSL element type of each binding's array.
    elems: Vec<&'static str>,
    /// A buffer was asked for as two element types: the kernel cannot be generated.
    conflict: bool,
}

impl Binder {
    fn bind(&mut self, r: Res, write: bool) -> String {
        self.bind_typed(r, write, "u32").unwrap_or_else(|| {
            self.conflict = true;
            String::new()
        })
    }

    /// Binds `r` as an array of `elem`; `None` when it is bound already as another type.
    fn bind_typed(&mut self, r: Res, write: bool, elem: &'static str) -> Option<String> {
        let k = match self.res.iter().position(|&x| x == r) {
            Some(k) if self.elems[k] != elem => return None,
            Some(k) => k,
            None => {
                self.res.push(r);
                self.writable.push(false);
                self.elems.push(elem);
                self.res.len() - 1
            }
        };
        self.writable[k] |= write;
        Some(format!("b{k}"))
    }

    fn decl_list(&self) -> Vec<BindingCtx> {
        (0..self.res.len())
            .map(|k| BindingCtx {
                binding: k + 1,
                name: format!("b{k}"),
                access: if self.writable[k] {
                    "read_write"
                } else {
                    "read"
                },
                elem: self.elems[k],
            })
            .collect()
    }

    fn decls(&self) -> String {
        self.decl_list()
            .iter()
            .map(|b| {
                format!(
                    "@group(0) @binding({}) var<storage, {}> {}: array<{}>;\n",
                    b.binding, b.access, b.name, b.elem
                )
            })
            .collect()
    }
}

/// Where a value's elements are, as WGSL expressions of a flat element index.
#[derive(Clone, Debug)]
enum Loc {
    /// 32-bit words of a bound buffer from word `off`.
    Buf { name: String, off: u64 },
    /// One f32 constant (its bits).
    Lit(u32),
    /// A symbol: word k of the step buffer (a u32).
    Sym { step: String, k: u32 },
    /// A weight read in its stored format by accessor `prefix`; `base` is the first global
    /// row (a WGSL expression: `0u`, or the expert index times the rows per index).
    Weight {
        prefix: String,
        cols: u64,
        base: String,
    },
    /// A per-row f32 local of a fused matvec (the index is implied).
    Local(String),
}

impl Loc {
    fn f(&self, idx: &str) -> String {
        match self {
            Loc::Buf { .. } => format!("bitcast<f32>({})", self.word(idx)),
            Loc::Lit(bits) => format!("bitcast<f32>({bits:#x}u)"),
            Loc::Sym { .. } => format!("bitcast<f32>({})", self.word(idx)),
            Loc::Weight { prefix, cols, base } => {
                format!("{prefix}_elem({base} + ({idx}) / {cols}u, ({idx}) % {cols}u)")
            }
            Loc::Local(name) => name.clone(),
        }
    }

    fn word(&self, idx: &str) -> String {
        match self {
            Loc::Buf { name, off: 0 } => format!("{name}[{idx}]"),
            Loc::Buf { name, off } => format!("{name}[{off}u + ({idx})]"),
            // A symbol is a u32[1]: its one word, whatever the index.
            Loc::Sym { step, k } => format!("{step}[{k}u]"),
            _ => format!("bitcast<u32>({})", self.f(idx)),
        }
    }

    /// A statement storing `word` at `idx` (only buffers can be written).
    fn store(&self, idx: &str, word: &str) -> Option<String> {
        match self {
            Loc::Buf { name, off: 0 } => Some(format!("{name}[{idx}] = {word};")),
            Loc::Buf { name, off } => Some(format!("{name}[{off}u + ({idx})] = {word};")),
            _ => None,
        }
    }
}

/// The generator state of one group.
struct Gen<'l, 'a> {
    l: &'l mut Lowering<'a>,
    start: usize,
    end: usize,
    b: Binder,
    helpers: String,
    loc: HashMap<ValueId, Loc>,
    /// Values given buffers here (released again if the group is refused).
    assigned: Vec<ValueId>,
    buffers_before: usize,
    consts_before: usize,
    accessors: usize,
    /// The instruction a region was generating when it gave up (`end`: after the body).
    stuck: Option<usize>,
}

impl<'l, 'a> Gen<'l, 'a> {
    fn new(l: &'l mut Lowering<'a>, range: &KernelRange) -> Self {
        let buffers_before = l.plan.buffers.len();
        let consts_before = l.plan.consts.len();
        Gen {
            l,
            start: range.start,
            end: range.end,
            b: Binder::default(),
            helpers: String::new(),
            loc: HashMap::new(),
            assigned: vec![],
            buffers_before,
            consts_before,
            accessors: 0,
            stuck: None,
        }
    }

    /// Undoes every allocation of a refused group.
    fn release(&mut self) {
        for v in self.assigned.drain(..) {
            self.l.plan.value_buffer[v.index()] = None;
        }
        self.l.plan.buffers.truncate(self.buffers_before);
        self.l.plan.consts.truncate(self.consts_before);
    }

    fn inside(&self, i: usize) -> bool {
        (self.start..self.end).contains(&i)
    }

    /// Used by an instruction outside the group or a graph output.
    fn escapes(&self, v: ValueId) -> bool {
        self.l.users[v.index()].iter().any(|&u| !self.inside(u))
            || self.l.g.outputs.iter().any(|(_, o)| *o == v)
    }

    fn dims(&self, v: ValueId) -> Vec<u64> {
        self.l.dims[v.index()].clone()
    }

    fn numel(&self, v: ValueId) -> u64 {
        self.l.dims[v.index()].iter().product::<u64>().max(1)
    }

    fn produced_inside(&self, v: ValueId) -> bool {
        self.l.g.producer(v).is_some_and(|p| self.inside(p.index()))
    }

    /// The location of an input value: its own (inside), or the buffer of a value from
    /// outside the group (bound read-only unless the group also writes it).
    fn input(&mut self, v: ValueId) -> Option<Loc> {
        if let Some(loc) = self.loc.get(&v) {
            return Some(loc.clone());
        }
        if self.produced_inside(v) {
            return None;
        }
        let b = self.l.plan.value_buffer[v.index()]?;
        let loc = Loc::Buf {
            name: self.b.bind(Res::Value(b), false),
            off: 0,
        };
        self.loc.insert(v, loc.clone());
        Some(loc)
    }

    /// A fresh buffer for a value that leaves the group.
    fn own_buffer(&mut self, v: ValueId) -> Loc {
        let b = self.l.new_buffer(v);
        self.assigned.push(v);
        Loc::Buf {
            name: self.b.bind(Res::Value(b), true),
            off: 0,
        }
    }

    /// Accessor functions `{prefix}_elem(row, col)` (and `{prefix}_dot(row, chunk)` with
    /// `x_fn` as the vector) over every window of weight `w`, bound in this launch.
    fn weight_accessor(&mut self, w: usize, x_fn: Option<&str>) -> (String, u64) {
        let prefix = format!("w{}", self.accessors);
        self.accessors += 1;
        let format = self.l.input.formats[w];
        let cols = self.l.g.weights[w].cols();
        let windows = self.l.input.windows[w].clone();
        let (scales, biases) = wgsl::weight_parts(format);
        let snippet = wgsl::weight_snippet(format);
        let snippet = match (x_fn, snippet.find(wgsl::MATVEC_ONLY_MARK)) {
            (None, Some(at)) => snippet[..at].to_string(),
            _ => snippet,
        };
        let mut elem = String::new();
        let mut dot = String::new();
        for (k, win) in windows.iter().enumerate() {
            let part = |p: u8, on: bool, b: &mut Binder| {
                if on {
                    b.bind(
                        Res::Weight {
                            weight: w,
                            part: p,
                            window: k,
                        },
                        false,
                    )
                } else {
                    "unused_part".to_string()
                }
            };
            let parts = [
                part(0, true, &mut self.b),
                part(1, scales, &mut self.b),
                part(2, biases, &mut self.b),
            ];
            let wp = format!("{prefix}k{k}");
            let renamed = rename_snippet(&snippet, &wp, &parts, x_fn.unwrap_or("unused_x"));
            let _ = write!(
                self.helpers,
                "fn {wp}_cols() -> u32 {{\n    return {cols}u;\n}}\n{renamed}\n"
            );
            let last = k + 1 == windows.len();
            let test = |call: String| {
                if last {
                    format!("    return {call};\n")
                } else {
                    format!(
                        "    if (g < {}u) {{\n        return {call};\n    }}\n",
                        win.row0 + win.rows
                    )
                }
            };
            elem += &test(format!("{wp}_elem(g - {}u, col)", win.row0));
            dot += &test(format!("{wp}_chunk_dot(g - {}u, c)", win.row0));
        }
        let _ = write!(
            self.helpers,
            "fn {prefix}_elem(g: u32, col: u32) -> f32 {{\n{elem}}}\n"
        );
        if x_fn.is_some() {
            let _ = write!(
                self.helpers,
                "fn {prefix}_dot(g: u32, c: u32) -> f32 {{\n{dot}}}\n"
            );
        }
        (prefix, cols / chunk_of(format))
    }

    /// The location of a dequant's elements (read on the fly through an accessor).
    fn dequant_loc(&mut self, i: usize, w: usize, x_fn: Option<&str>) -> Option<(Loc, u64)> {
        let inst = &self.l.g.insts[i];
        let decl = self.l.g.weights[w].dims.clone();
        let base = match inst.inputs.first().copied() {
            None => "0u".to_string(),
            Some(idx) => {
                let at = self.input(idx)?.word("0u");
                let bound = decl.first().copied().unwrap_or(1).max(1);
                let rpi = crate::weights::rows_per_index(&decl);
                format!("(min({at}, {}u) * {rpi}u)", bound - 1)
            }
        };
        let (prefix, chunks) = self.weight_accessor(w, x_fn);
        let cols = self.l.g.weights[w].cols();
        Some((Loc::Weight { prefix, cols, base }, chunks))
    }

    fn shader(&self, label: &str, wg: u32, body: &str) -> Shader {
        let source = format!(
            "{}\n{}\n{}\n{}\n{}\n@compute @workgroup_size({wg})\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,\n        @builtin(local_invocation_index) lid: u32) {{\n{body}}}\n",
            wgsl::COMMON,
            wgsl::reduce_wg(wg),
            wgsl::ERF,
            self.b.decls(),
            self.helpers
        );
        Shader::Generated(Arc::new(GeneratedShader {
            label: label.to_string(),
            source,
            writable: self.b.writable.clone(),
            matvec: None,
        }))
    }

    fn fits(&self) -> bool {
        !self.b.conflict && self.b.res.len() as u32 <= self.l.input.max_bindings
    }
}

/// Words per chunk of a weight row (what `w_chunk_dot` consumes).
fn chunk_of(format: WeightFormat) -> u64 {
    match format {
        WeightFormat::Affine { bits, .. } => 32 / bits as u64,
        WeightFormat::Mxfp4 { .. } => 8,
        WeightFormat::Float { .. } => 1,
    }
}

/// Renames a weight snippet's identifiers for one accessor: its bindings become the bound
/// buffers, its functions and constants get `prefix`, its vector reads call `x_fn`.
fn rename_snippet(snippet: &str, prefix: &str, parts: &[String; 3], x_fn: &str) -> String {
    snippet
        .replace("w_packed", &parts[0])
        .replace("w_scales", &parts[1])
        .replace("w_biases", &parts[2])
        .replace("e2m1(", "w_e2m1(")
        .replace("e8m0(", "w_e8m0(")
        .replace("W_", &format!("{}_", prefix.to_uppercase()))
        .replace("w_", &format!("{prefix}_"))
        .replace("xv(", &format!("{x_fn}("))
}

/// The flat input index of broadcast operand `inp` at output element `e` of shape `out`.
fn broadcast_index(out: &[u64], inp: &[u64], e: &str) -> String {
    let n_in: u64 = inp.iter().product();
    let n_out: u64 = out.iter().product();
    if n_in <= 1 {
        return "0u".into();
    }
    if n_in == n_out {
        return e.into();
    }
    let off = out.len().saturating_sub(inp.len());
    let (mut in_stride, mut out_stride) = (1u64, 1u64);
    let mut terms = vec![];
    for k in (0..out.len()).rev() {
        let od = out[k];
        let id = if k >= off { inp[k - off] } else { 1 };
        if id != 1 {
            terms.push(format!("((({e}) / {out_stride}u) % {od}u) * {in_stride}u"));
        }
        in_stride *= id;
        out_stride *= od;
    }
    if terms.is_empty() {
        "0u".into()
    } else {
        terms.join(" + ")
    }
}

/// Splits `dims` around `axis`: (outer, axis length, inner).
fn around(dims: &[u64], axis: usize) -> (u64, u64, u64) {
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims.get(axis).copied().unwrap_or(1), inner)
}

/// A loop of the workgroup's threads over `n` elements, index `e`.
fn par(n: u64, body: &str) -> String {
    format!("    for (var e = lid; e < {n}u; e = e + WG) {{\n{body}    }}\n")
}

/// Renames the accessor calls of a shared template body with suffix `k`.
fn suffixed(body: &str, names: &[&str], k: usize) -> String {
    let mut s = body.to_string();
    for n in names {
        s = s.replace(&format!("{n}("), &format!("{n}{k}("));
    }
    s
}

/// What a value is inside a fused matvec.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    /// Per-row value of class `c` (a local of the row's epilogue).
    Row(usize),
    /// Computed once per workgroup from scalars.
    Scalar,
}

/// The matvecs of one row class (same row count): (weight, first weight row, local name),
/// and the class's per-row epilogue.
struct ClassPlan {
    rows: u64,
    matvecs: Vec<(usize, String, String)>,
    epilogue: String,
}

/// What one thread reads per step of a row of a weight (see `fused_matvec.wgsl.j2`).
#[derive(Clone, Copy, Debug)]
struct Unit {
    /// Template name of the decoding: affine4, affine8, mxfp4, f32, f16, bf16.
    kind: &'static str,
    /// Words per unit.
    uw: u64,
    /// Elements per unit.
    ue: u64,
}

impl Unit {
    /// The unit of `format` for rows of `cols` elements; `None` when a row is not a whole
    /// number of units (such groups run unfused).
    fn of(format: WeightFormat, cols: u64) -> Option<Unit> {
        let unit = match format {
            WeightFormat::Affine {
                bits, group_size, ..
            } => {
                let g = group_size as u64;
                match bits {
                    4 => Unit {
                        kind: "affine4",
                        uw: g / 8,
                        ue: g,
                    },
                    8 => Unit {
                        kind: "affine8",
                        uw: g / 4,
                        ue: g,
                    },
                    _ => return None,
                }
            }
            WeightFormat::Mxfp4 { group_size } => Unit {
                kind: "mxfp4",
                uw: group_size as u64 / 8,
                ue: group_size as u64,
            },
            WeightFormat::Float { dtype } => {
                let (kind, per_word) = match dtype {
                    DType::F32 => ("f32", 1),
                    DType::F16 => ("f16", 2),
                    DType::BF16 => ("bf16", 2),
                    _ => return None,
                };
                if cols.is_multiple_of(4 * per_word) {
                    Unit {
                        kind,
                        uw: 4,
                        ue: 4 * per_word,
                    }
                } else {
                    Unit {
                        kind,
                        uw: 1,
                        ue: per_word,
                    }
                }
            }
        };
        (unit.ue > 0
            && cols.is_multiple_of(unit.ue)
            && (unit.ue % 8 == 0 || !unit.kind.starts_with("affine")))
        .then_some(unit)
    }
}

/// The context of `fused_matvec.wgsl.j2` (field meanings are in the template's header).
#[derive(Serialize)]
struct MatVecTemplate {
    header: String,
    bindings: Vec<BindingCtx>,
    helpers: String,
    v: MatVecVariant,
    parts: u64,
    h: u64,
    stage: bool,
    x_src: String,
    norm: Option<NormCtx>,
    mxfp4: bool,
    prelude: String,
    classes: Vec<ClassCtx>,
    argmax: Option<ArgmaxCtx>,
}

#[derive(Serialize)]
struct BindingCtx {
    binding: usize,
    name: String,
    access: &'static str,
    elem: &'static str,
}

#[derive(Serialize)]
struct NormCtx {
    gamma: String,
    eps_bits: String,
}

#[derive(Serialize)]
struct ClassCtx {
    wg_first: u64,
    wg_end: u64,
    rows: String,
    row0: String,
    loops: Vec<LoopCtx>,
    matvecs: Vec<MatVecCtx>,
    epilogue: String,
}

#[derive(Serialize)]
struct LoopCtx {
    units: u64,
    ue4: u64,
    swizzle: bool,
    sum: bool,
    matvecs: Vec<MatVecCtx>,
}

#[derive(Clone, Serialize)]
struct MatVecCtx {
    m: usize,
    out: String,
    kind: &'static str,
    packed: String,
    scale: String,
    bias: String,
    uw: u64,
    ue4: u64,
    vec: u32,
    base: String,
    units: u64,
}

#[derive(Serialize)]
struct ArgmaxCtx {
    value: String,
    /// The scratch buffer of per-workgroup (value, index) partials, or empty.
    partials: String,
    /// The final store, when one workgroup finishes the argmax.
    store: String,
}

impl Gen<'_, '_> {
    /// The fused matvec template; `None` when the group has another shape.
    fn try_matvec(mut self, label: &str) -> Result<Option<Vec<Kernel>>> {
        match self.matvec_body(label) {
            Some(kernels) if self.fits() => Ok(Some(kernels)),
            _ => {
                self.release();
                Ok(None)
            }
        }
    }

    fn matvec_body(&mut self, label: &str) -> Option<Vec<Kernel>> {
        let g = self.l.g;
        let (start, end) = (self.start, self.end);
        let (x_src, norm, weight_of) = self.matvec_shape()?;
        let cols = self.numel(x_src);
        // Classes (matvecs by row count), per-row locals and once-per-workgroup scalars.
        let mut classes: Vec<ClassPlan> = vec![];
        let mut role: HashMap<ValueId, Role> = HashMap::new();
        let mut weight_ref: HashMap<ValueId, (usize, String)> = HashMap::new();
        let mut prelude = String::new();
        let mut argmax: Option<(ValueId, ValueId)> = None;
        for i in start..end {
            let inst = &g.insts[i];
            let out = inst.outputs.first().copied();
            match &inst.op {
                Op::Dequant { weight } if weight_of.contains(&out?) => {
                    let base = self.index_base(i, weight.index())?;
                    weight_ref.insert(out?, (weight.index(), base));
                }
                Op::Dequant { weight } => {
                    // A vector weight of the epilogue, read element by element.
                    let out = out?;
                    if self.escapes(out) {
                        return None;
                    }
                    let (loc, _) = self.dequant_loc(i, weight.index(), None)?;
                    self.loc.insert(out, loc);
                }
                Op::RmsNorm { .. } => {}
                Op::Const { values } if values.len() == 1 => {
                    let out = out?;
                    if self.escapes(out) {
                        return None;
                    }
                    self.loc.insert(out, Loc::Lit(values[0].to_bits()));
                }
                Op::MatVec => {
                    let out = out?;
                    let rows = self.numel(out);
                    let c = match classes.iter().position(|c| c.rows == rows) {
                        Some(c) => c,
                        None => {
                            classes.push(ClassPlan {
                                rows,
                                matvecs: vec![],
                                epilogue: String::new(),
                            });
                            classes.len() - 1
                        }
                    };
                    let (w, base) = weight_ref.get(&inst.inputs[0])?.clone();
                    let name = format!("v{}", i - start);
                    classes[c].matvecs.push((w, base, name.clone()));
                    role.insert(out, Role::Row(c));
                    self.loc.insert(out, Loc::Local(name.clone()));
                    if self.escapes(out) {
                        let st = self
                            .own_buffer(out)
                            .store("r", &format!("bitcast<u32>({name})"))?;
                        let _ = writeln!(classes[c].epilogue, "{st}");
                    }
                }
                Op::Unary { .. } | Op::Binary { .. } | Op::Select => {
                    let out = out?;
                    let n = self.numel(out);
                    let class = self.epilogue_class(&inst.inputs, n, &role, &classes)?;
                    let idx = if class.is_some() { "r" } else { "0u" };
                    let name = match class {
                        Some(_) => format!("v{}", i - start),
                        None => format!("s{}", i - start),
                    };
                    let mut def = format!("var {name}: f32;\n{{\n");
                    for (k, &v) in inst.inputs.iter().enumerate() {
                        let vn = self.numel(v);
                        let at = if vn == 1 { "0u" } else { idx };
                        let _ = writeln!(
                            def,
                            "    let {} = {};",
                            ["a", "b", "c"][k],
                            self.operand_loc(v)?.f(at)
                        );
                    }
                    let _ = write!(
                        def,
                        "    {name} = {};\n}}\n",
                        elementwise_of(&inst.op)?.expr()
                    );
                    if self.escapes(out) {
                        let st = self
                            .own_buffer(out)
                            .store(idx, &format!("bitcast<u32>({name})"))?;
                        // Row code runs on one thread per row already.
                        match class {
                            Some(_) => {
                                let _ = writeln!(def, "{st}");
                            }
                            None => {
                                let _ = writeln!(def, "if (wg == 0u && lid == 0u) {{ {st} }}");
                            }
                        }
                    }
                    self.loc.insert(out, Loc::Local(name));
                    match class {
                        Some(c) => {
                            role.insert(out, Role::Row(c));
                            classes[c].epilogue += &def;
                        }
                        None => {
                            role.insert(out, Role::Scalar);
                            prelude += &indent(&def, 4);
                        }
                    }
                }
                Op::Argmax => {
                    let out = out?;
                    let v = inst.inputs[0];
                    if argmax.is_some() || !matches!(role.get(&v), Some(Role::Row(_))) {
                        return None;
                    }
                    argmax = Some((v, out));
                }
                _ => return None,
            }
        }
        if classes.is_empty() || (argmax.is_some() && classes.len() != 1) {
            return None;
        }
        // Units of every matvec; a weight bound in several windows is dispatched window by
        // window, so it must be the group's only matvec and not indexed.
        let mut units: Vec<Vec<Unit>> = vec![];
        for c in &classes {
            let mut u = vec![];
            for (w, _, _) in &c.matvecs {
                u.push(Unit::of(self.l.input.formats[*w], cols)?);
            }
            units.push(u);
        }
        let windowed: Vec<usize> = classes
            .iter()
            .flat_map(|c| &c.matvecs)
            .filter(|(w, _, _)| self.l.input.windows[*w].len() > 1)
            .map(|(w, _, _)| *w)
            .collect();
        let n_matvecs: usize = classes.iter().map(|c| c.matvecs.len()).sum();
        let windows = match windowed.first() {
            None => None,
            Some(&w) if n_matvecs == 1 && classes[0].matvecs[0].1 == "0u" => {
                Some((w, self.l.input.windows[w].clone()))
            }
            Some(_) => return None,
        };
        let total: u64 = classes.iter().map(|c| c.rows).sum();
        let shape = MatVecShape {
            class_rows: classes.iter().map(|c| c.rows).collect(),
            cols,
            formats: classes
                .iter()
                .flat_map(|c| &c.matvecs)
                .map(|(w, _, _)| self.l.input.formats[*w].tag())
                .collect(),
            norm: norm.is_some(),
            argmax: argmax.is_some(),
        };
        let cap = Capability {
            vec4: units.iter().flatten().all(|u| u.uw % 4 == 0),
            stage_words: if cols.is_multiple_of(4) { cols } else { 0 },
            max_class_matvecs: classes.iter().map(|c| c.matvecs.len() as u64).max()?,
            one_pass_argmax: argmax.is_some() && total <= ONE_PASS_ARGMAX && windows.is_none(),
        };
        let variant = variant::choose(self.l.input.matvec, &shape, &cap);
        // Bindings: the vector source and norm gain first (read by the prologue).
        let x_loc = self.input(x_src)?;
        let norm_ctx = match norm {
            Some((gamma, eps)) => Some(NormCtx {
                gamma: self.operand_loc(gamma)?.f("i"),
                eps_bits: format!("{:#x}", eps.to_bits()),
            }),
            None => None,
        };
        let elem = if variant.vec == 4 { "vec4<u32>" } else { "u32" };
        // Launch classes: the row classes, or the windows of the one windowed weight (each
        // window is bound separately and covers its own rows).
        let mut parts_of: Vec<(usize, u64, u64, usize)> = vec![]; // (class, rows, row0, window)
        for (c, class) in classes.iter().enumerate() {
            match &windows {
                None => parts_of.push((c, class.rows, 0, 0)),
                Some((_, wins)) => {
                    for (k, win) in wins.iter().enumerate() {
                        parts_of.push((c, win.rows, win.row0, k));
                    }
                }
            }
        }
        let launch_rows: Vec<u64> = parts_of.iter().map(|p| p.1).collect();
        let launch = Launch::of(&variant, &launch_rows);
        let mut class_ctx = vec![];
        for (lc, &(c, rows, row0, window)) in parts_of.iter().enumerate() {
            let class = &classes[c];
            let mut mvs = vec![];
            for (k, (w, base, out)) in class.matvecs.iter().enumerate() {
                let unit = units[c][k];
                let format = self.l.input.formats[*w];
                let part = |p: u8| Res::Weight {
                    weight: *w,
                    part: p,
                    window,
                };
                let packed = self.b.bind_typed(part(0), false, elem)?;
                let (scale, bias) = match format {
                    WeightFormat::Affine { scale_dtype, .. } => {
                        let s = self.b.bind(part(1), false);
                        let b = self.b.bind(part(2), false);
                        (
                            wgsl::float_load(scale_dtype, &s, "gi"),
                            wgsl::float_load(scale_dtype, &b, "gi"),
                        )
                    }
                    WeightFormat::Mxfp4 { .. } => {
                        let s = self.b.bind(part(1), false);
                        (
                            format!("e8m0(({s}[gi >> 2u] >> ((gi & 3u) * 8u)) & 0xffu)"),
                            String::new(),
                        )
                    }
                    WeightFormat::Float { .. } => (String::new(), String::new()),
                };
                mvs.push(MatVecCtx {
                    // Slot in the class's partial sums (names are local to the class).
                    m: k,
                    out: out.clone(),
                    kind: unit.kind,
                    packed,
                    scale,
                    bias,
                    uw: unit.uw,
                    ue4: if unit.ue.is_multiple_of(4) {
                        unit.ue / 4
                    } else {
                        0
                    },
                    vec: variant.vec,
                    base: base.clone(),
                    units: cols / unit.ue,
                });
            }
            // Matvecs with the same unit size share one loop over the vector.
            let mut loops: Vec<LoopCtx> = vec![];
            for mv in &mvs {
                match loops.iter_mut().find(|l| l.units == mv.units) {
                    Some(l) => l.matvecs.push(mv.clone()),
                    None => loops.push(LoopCtx {
                        units: mv.units,
                        ue4: mv.ue4,
                        swizzle: false,
                        sum: false,
                        matvecs: vec![mv.clone()],
                    }),
                }
            }
            for l in &mut loops {
                l.swizzle = l
                    .matvecs
                    .iter()
                    .any(|m| matches!(m.kind, "affine4" | "mxfp4"));
                l.sum = l.matvecs.iter().any(|m| m.kind.starts_with("affine"));
            }
            class_ctx.push(ClassCtx {
                wg_first: launch.class_wg[lc],
                wg_end: launch.class_wg[lc + 1],
                rows: format!("{rows}u"),
                row0: format!("{row0}u"),
                loops,
                matvecs: mvs,
                epilogue: indent(&class.epilogue, 16),
            });
        }
        let mut argmax_ctx = None;
        let mut second = None;
        if let Some((v, out)) = argmax {
            let out_loc = self.own_buffer(out);
            let value = self.loc.get(&v)?.f("r");
            if cap.one_pass_argmax {
                argmax_ctx = Some(ArgmaxCtx {
                    value,
                    partials: String::new(),
                    store: out_loc.store("0u", "select(bi, 0u, bi == 0xffffffffu)")?,
                });
            } else {
                let scratch = self.b.bind(Res::Scratch, true);
                self.l.plan.scratch_words = self.l.plan.scratch_words.max(2 * launch.workgroups());
                argmax_ctx = Some(ArgmaxCtx {
                    value,
                    partials: scratch,
                    store: String::new(),
                });
                second = Some(argmax_partials(
                    self.l.plan.value_buffer[out.index()]?,
                    launch.workgroups(),
                ));
            }
        }
        let ctx = MatVecTemplate {
            header: format!(
                "{}\n{}\n{}",
                wgsl::COMMON,
                wgsl::reduce_wg(variant.wg),
                wgsl::ERF
            ),
            bindings: self.b.decl_list(),
            helpers: self.helpers.clone(),
            v: variant,
            parts: cap.max_class_matvecs.max(1) * variant.rows_per_pass as u64,
            h: cols,
            stage: variant.stage_x,
            x_src: x_loc.f("i"),
            norm: norm_ctx,
            mxfp4: units.iter().flatten().any(|u| u.kind == "mxfp4"),
            prelude,
            classes: class_ctx,
            argmax: argmax_ctx,
        };
        let source = match templates::render(templates::FUSED_MATVEC, &ctx) {
            Ok(s) => s,
            Err(e) => {
                // A generator bug: say so and run the group unfused.
                eprintln!("zaya-wgpu: fused matvec `{label}` not generated: {e}");
                return None;
            }
        };
        let shader = Shader::Generated(Arc::new(GeneratedShader {
            label: format!("fused_{label}_{variant}"),
            source,
            writable: self.b.writable.clone(),
            matvec: Some(MatVecPoint {
                shape,
                cap,
                variant,
            }),
        }));
        let mut dispatches = vec![Dispatch {
            shader,
            params: [0; PARAM_WORDS],
            workgroups: launch.workgroups() as u32,
            bindings: self.b.res.clone(),
        }];
        dispatches.extend(second);
        Some(vec![Kernel {
            kind: KernelKind::FusedMatVec,
            label: label.to_string(),
            insts: (start..end).collect(),
            dispatches,
            constant: false,
        }])
    }

    /// The first weight row of a dequant (`0u`, or the expert index times the rows per
    /// index, the index clamped to the stack).
    fn index_base(&mut self, i: usize, w: usize) -> Option<String> {
        let inst = &self.l.g.insts[i];
        let decl = self.l.g.weights[w].dims.clone();
        Some(match inst.inputs.first().copied() {
            None => "0u".to_string(),
            Some(idx) => {
                let at = self.input(idx)?.word("0u");
                let bound = decl.first().copied().unwrap_or(1).max(1);
                let rpi = crate::weights::rows_per_index(&decl);
                format!("(min({at}, {}u) * {rpi}u)", bound - 1)
            }
        })
    }

    /// The vector all matvecs of the group read (external, or the RMSNorm of an external
    /// value), the norm, and the dequants that are matvec weights; `None` when the group
    /// does not have that shape.
    #[allow(clippy::type_complexity)]
    fn matvec_shape(&self) -> Option<(ValueId, Option<(ValueId, f32)>, Vec<ValueId>)> {
        let g = self.l.g;
        let mut x: Option<ValueId> = None;
        let mut norm: Option<(ValueId, ValueId, f32, ValueId)> = None;
        let mut weights: Vec<ValueId> = vec![];
        for i in self.start..self.end {
            let inst = &g.insts[i];
            match inst.op {
                Op::MatVec => {
                    let (w, v) = (inst.inputs[0], inst.inputs[1]);
                    if x.is_some_and(|x| x != v) {
                        return None;
                    }
                    x = Some(v);
                    let d = g.producer(w)?.index();
                    if !self.inside(d)
                        || self.escapes(w)
                        || !matches!(g.insts[d].op, Op::Dequant { .. })
                    {
                        return None;
                    }
                    weights.push(w);
                }
                Op::RmsNorm { eps } => {
                    if norm.is_some() || self.escapes(inst.outputs[0]) {
                        return None;
                    }
                    norm = Some((inst.inputs[0], inst.inputs[1], eps, inst.outputs[0]));
                }
                _ => {}
            }
        }
        let x = x?;
        for i in self.start..self.end {
            let inst = &g.insts[i];
            for (k, v) in inst.inputs.iter().enumerate() {
                let as_weight = matches!(inst.op, Op::MatVec) && k == 0;
                let as_vector = matches!(inst.op, Op::MatVec) && k == 1;
                if (weights.contains(v) && !as_weight)
                    || (norm.is_some_and(|n| n.3 == *v) && !as_vector)
                {
                    return None;
                }
            }
        }
        let (src, norm) = match norm {
            Some((nx, gamma, eps, out)) if out == x => (nx, Some((gamma, eps))),
            Some(_) => return None,
            None => (x, None),
        };
        if self.produced_inside(src) {
            return None;
        }
        Some((src, norm, weights))
    }

    /// The row class of an epilogue op with `n` elements: the class of its per-row
    /// operands, or the only class of that length; `Some(None)` for a scalar op.
    fn epilogue_class(
        &self,
        inputs: &[ValueId],
        n: u64,
        role: &HashMap<ValueId, Role>,
        classes: &[ClassPlan],
    ) -> Option<Option<usize>> {
        let mut class = None;
        for v in inputs {
            let vn = self.numel(*v);
            if vn != 1 && vn != n {
                return None;
            }
            if let Some(Role::Row(c)) = role.get(v) {
                if class.is_some_and(|d| d != *c) {
                    return None;
                }
                class = Some(*c);
            }
        }
        if class.is_none() && n != 1 {
            let same: Vec<usize> = (0..classes.len())
                .filter(|&c| classes[c].rows == n)
                .collect();
            if same.len() != 1 {
                return None;
            }
            class = Some(same[0]);
        }
        if class.is_some_and(|c| classes[c].rows != n) {
            return None;
        }
        Some(class)
    }

    /// The location of an operand that is not a per-row local: an input from outside, a
    /// constant, a vector weight.
    fn operand_loc(&mut self, v: ValueId) -> Option<Loc> {
        match self.loc.get(&v) {
            Some(loc) => Some(loc.clone()),
            None => self.input(v),
        }
    }
}

/// The elementwise expression of a unary/binary/select op.
fn elementwise_of(op: &Op) -> Option<Elementwise> {
    match op {
        Op::Unary { op } => Some(Elementwise::Unary(*op)),
        Op::Binary { op } => Some(Elementwise::Binary(*op)),
        Op::Select => Some(Elementwise::Select),
        _ => None,
    }
}

/// Indents every line of `code` by `n` spaces.
fn indent(code: &str, n: usize) -> String {
    code.lines().map(|l| format!("{:n$}{l}\n", "")).collect()
}

/// The second launch of a large argmax: one workgroup reduces the (value, index) partial
/// maxima of every workgroup of the first launch.
fn argmax_partials(out_buffer: usize, partials: u64) -> Dispatch {
    let mut b = Binder::default();
    let scratch = b.bind(Res::Scratch, false);
    let name = b.bind(Res::Value(out_buffer), true);
    let body = format!(
        "    var best = bitcast<f32>(0x7fc00000u);\n    var bi = 0xffffffffu;\n    for (var k = lid; k < {partials}u; k = k + WG) {{\n        let v = bitcast<f32>({scratch}[2u * k]);\n        let i = {scratch}[2u * k + 1u];\n        if (argmax_better(v, i, best, bi)) {{\n            best = v;\n            bi = i;\n        }}\n    }}\n    let r = wg_argmax(best, bi, lid);\n    if (lid == 0u) {{\n        {name}[0] = select(r, 0u, r == 0xffffffffu);\n    }}\n"
    );
    let source = format!(
        "{}\n{}\n{}\n@compute @workgroup_size({ARGMAX_WG})\nfn main(@builtin(local_invocation_index) lid: u32) {{\n{body}}}\n",
        wgsl::COMMON,
        wgsl::reduce_wg(ARGMAX_WG),
        b.decls()
    );
    Dispatch {
        shader: Shader::Generated(Arc::new(GeneratedShader {
            label: "argmax_partials".into(),
            source,
            writable: b.writable.clone(),
            matvec: None,
        })),
        params: [0; PARAM_WORDS],
        workgroups: 1,
        bindings: b.res,
    }
}

/// Accessor names of the row bodies (`row_*.wgsl`) and of `attention_head.wgsl`.
const ROW_ACCESSORS: [&str; 3] = ["src_at", "dst_set", "gamma_at"];
const ATTENTION_ACCESSORS: [&str; 8] = [
    "q_at",
    "pos_at",
    "kc_at",
    "vc_at",
    "sc_get",
    "sc_set",
    "out_set",
    "attention_head",
];

/// Functions of `shaders/conv_step_team.wgsl`, renamed per instruction (a region holds at
/// most one wide conv, so its workgroup array and constant keep their names).
const CONV_ACCESSORS: [&str; 5] = ["conv_wt", "conv_win", "conv_bias", "conv_out", "conv_team"];
/// Lanes per output channel in `shaders/conv_step_team.wgsl`.
const CONV_TEAM: u32 = 8;

impl Gen<'_, '_> {
    /// The region template; `None` when the group cannot be expressed (too many bindings, a
    /// value the template cannot place).
    /// Also returns why a refused group was refused (for `dump --stage lowering`).
    fn try_region(mut self, label: &str) -> Result<(Option<Kernel>, Option<String>)> {
        let body = self.region_body(label);
        let why = match &body {
            Some(_) if self.fits() => None,
            Some(_) if self.b.conflict => {
                Some("a buffer would be bound as two element types".into())
            }
            Some(_) => Some(format!(
                "needs {} storage bindings, the budget is {}",
                self.b.res.len(),
                self.l.input.max_bindings
            )),
            None => Some(match self.stuck {
                Some(i) if i < self.end => format!(
                    "i{i} `{}` has no region form here",
                    self.l.g.insts[i].op.mnemonic()
                ),
                _ => "its scratch words exceed the largest storage binding".to_string(),
            }),
        };
        if why.is_some() {
            self.release();
            return Ok((None, why));
        }
        Ok((body, None))
    }

    /// The location of a value this group defines: its own buffer when used outside, else
    /// a slice of the region's scratch words.
    fn out_loc(&mut self, v: ValueId, scratch: &str, next: &mut u64) -> Loc {
        if self.escapes(v) {
            return self.own_buffer(v);
        }
        let off = *next;
        *next += self.numel(v);
        Loc::Buf {
            name: scratch.to_string(),
            off,
        }
    }

    fn region_body(&mut self, label: &str) -> Option<Kernel> {
        let g = self.l.g;
        let scratch = self.b.bind(Res::Scratch, true);
        let mut next = 0u64;
        let mut attention_words = 0u64;
        // A phase that is one grouped conv_step (and the dequants, consts and views that
        // feed it, which emit no code) spreads over the device: teams of lanes per output.
        let mut workgroups = 1u32;
        let wide = (self.start..self.end)
            .find(|&i| matches!(g.insts[i].op, Op::ConvStep { .. }))
            .filter(|&c| {
                (self.start..self.end).all(|i| {
                    i == c
                        || matches!(
                            g.insts[i].op,
                            Op::Dequant { .. } | Op::Const { .. } | Op::Reshape { .. }
                        ) && g.insts[i].outputs.iter().all(|&o| !self.escapes(o))
                })
            });
        let mut body = String::new();
        for i in self.start..self.end {
            self.stuck = Some(i);
            let inst = &g.insts[i];
            // Names local to the group, so identical layers generate identical sources.
            let k = i - self.start;
            let out = inst.outputs.first().copied();
            let code = match &inst.op {
                // Prefill ops: not lowered (`plan::Lowering::new` refuses them first).
                Op::Conv { .. } | Op::Transpose => return None,
                Op::Const { values } => {
                    let v = out?;
                    if values.len() == 1 && !self.escapes(v) {
                        self.loc.insert(v, Loc::Lit(values[0].to_bits()));
                    } else {
                        let n = self.numel(v) as usize;
                        let data = if values.len() == 1 {
                            vec![values[0]; n]
                        } else {
                            values.clone()
                        };
                        let loc = self.own_buffer(v);
                        let b = self.l.plan.value_buffer[v.index()]?;
                        self.l.plan.consts.push((b, data));
                        self.loc.insert(v, loc);
                    }
                    continue;
                }
                Op::Symbol { sym } => {
                    let step = self.b.bind(Res::Step, false);
                    self.virtual_value(out?, Loc::Sym { step, k: sym.0 })?
                }
                Op::Dequant { weight } => {
                    let (loc, _) = self.dequant_loc(i, weight.index(), None)?;
                    self.virtual_value(out?, loc)?
                }
                Op::Reshape { .. } => {
                    let src = self.input(inst.inputs[0])?;
                    self.virtual_value(out?, src)?
                }
                Op::Unary { .. } | Op::Binary { .. } | Op::Select => {
                    let v = out?;
                    let e = elementwise_of(&inst.op)?;
                    let od = self.dims(v);
                    let mut lets = String::new();
                    for (k, &x) in inst.inputs.iter().enumerate() {
                        let at = broadcast_index(&od, &self.dims(x), "e");
                        let _ = writeln!(
                            lets,
                            "        let {} = {};",
                            ["a", "b", "c"][k],
                            self.input(x)?.f(&at)
                        );
                    }
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let st = dst.store("e", &format!("bitcast<u32>({})", e.expr()))?;
                    self.loc.insert(v, dst);
                    par(self.numel(v), &format!("{lets}        {st}\n"))
                }
                Op::Cast { to } => {
                    let (v, x) = (out?, inst.inputs[0]);
                    let src = self.input(x)?;
                    let word = match (g.ty(x).dtype, to) {
                        (DType::U32, DType::F32) => format!("bitcast<u32>(f32({}))", src.word("e")),
                        (DType::F32, DType::U32) => format!("u32(max({}, 0.0))", src.f("e")),
                        _ => src.word("e"),
                    };
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let st = dst.store("e", &word)?;
                    self.loc.insert(v, dst);
                    par(self.numel(v), &format!("        {st}\n"))
                }
                Op::Reduce { op, axis } => {
                    let (v, x) = (out?, inst.inputs[0]);
                    let (outer, n, inner) = around(&self.dims(x), *axis as usize);
                    let src = self.input(x)?;
                    let (init, combine, finish) = match op {
                        ReduceOp::Sum => ("0.0", "acc + x", "acc".to_string()),
                        ReduceOp::Mean => ("0.0", "acc + x", format!("acc / f32({n})")),
                        ReduceOp::Max => ("neg_inf()", "max(acc, x)", "acc".to_string()),
                    };
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let st = dst.store("e", &format!("bitcast<u32>({finish})"))?;
                    self.loc.insert(v, dst);
                    par(
                        outer * inner,
                        &format!(
                            "        let base = (e / {inner}u) * {n}u * {inner}u + e % {inner}u;\n        var acc = {init};\n        for (var k = 0u; k < {n}u; k = k + 1u) {{\n            let x = {};\n            acc = {combine};\n        }}\n        {st}\n",
                            src.f(&format!("base + k * {inner}u"))
                        ),
                    )
                }
                Op::Softmax | Op::Argmax | Op::RmsNorm { .. } => {
                    let (v, x) = (out?, inst.inputs[0]);
                    let xd = self.dims(x);
                    let n = *xd.last().unwrap_or(&1);
                    let rows = self.numel(x) / n.max(1);
                    let src = self.input(x)?;
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let _ = write!(
                        self.helpers,
                        "fn src_at{k}(i: u32) -> f32 {{\n    return {};\n}}\nfn dst_set{k}(i: u32, w: u32) {{\n    {}\n}}\n",
                        src.f("i"),
                        dst.store("i", "w")?
                    );
                    let template = match inst.op {
                        Op::Softmax => wgsl::ROW_SOFTMAX.to_string(),
                        Op::Argmax => wgsl::ROW_ARGMAX.to_string(),
                        Op::RmsNorm { eps } => {
                            let gamma = self.input(inst.inputs[1])?;
                            let _ = write!(
                                self.helpers,
                                "fn gamma_at{k}(i: u32) -> f32 {{\n    return {};\n}}\n",
                                gamma.f("i")
                            );
                            wgsl::ROW_RMS_NORM
                                .replace("pf(2u)", &format!("bitcast<f32>({:#x}u)", eps.to_bits()))
                        }
                        _ => return None,
                    };
                    self.loc.insert(v, dst);
                    let rows_body = suffixed(&template, &ROW_ACCESSORS, k);
                    format!(
                        "    for (var row = 0u; row < {rows}u; row = row + 1u) {{\n        let n = {n}u;\n        let base = row * n;\n{rows_body}    }}\n"
                    )
                }
                Op::Rope { rot_dims, theta } => {
                    let (v, x) = (out?, inst.inputs[0]);
                    let n = *self.dims(x).last().unwrap_or(&1);
                    let half = (*rot_dims / 2) as usize;
                    let table: Vec<String> = (0..half)
                        .map(|j| {
                            format!(
                                "{:#x}u",
                                ((1.0 / theta.powf((2 * j) as f64 / *rot_dims as f64)) as f32)
                                    .to_bits()
                            )
                        })
                        .collect();
                    let _ = writeln!(
                        self.helpers,
                        "var<private> inv_freq{k}: array<u32, {half}> = array<u32, {half}>({});",
                        table.join(", ")
                    );
                    let src = self.input(x)?;
                    // Token t of a chunk [T, rows, n] at pos + t, else every row at pos.
                    let xd = self.dims(x);
                    let per_token = self.numel(x) / if xd.len() == 3 { xd[0].max(1) } else { 1 };
                    let pos = format!(
                        "f32({} + e / {per_token}u)",
                        self.input(inst.inputs[1])?.word("0u")
                    );
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let keep = dst.store("e", &src.word("e"))?;
                    let rot = dst.store(
                        "e",
                        "bitcast<u32>(select(hi * c + lo * s, lo * c - hi * s, i < half))",
                    )?;
                    self.loc.insert(v, dst);
                    par(
                        self.numel(v),
                        &format!(
                            "        let row = e / {n}u;\n        let i = e % {n}u;\n        let half = {half}u;\n        if (i >= {rot_dims}u) {{\n            {keep}\n        }} else {{\n            let j = i % half;\n            let angle = reduce_angle({pos} * bitcast<f32>(inv_freq{k}[j]));\n            let c = cos(angle);\n            let s = sin(angle);\n            let lo = {};\n            let hi = {};\n            {rot}\n        }}\n",
                            src.f(&format!("row * {n}u + j")),
                            src.f(&format!("row * {n}u + j + half"))
                        ),
                    )
                }
                Op::Gather { axis } => {
                    let (v, x, ix) = (out?, inst.inputs[0], inst.inputs[1]);
                    let (_, n, inner) = around(&self.dims(x), *axis as usize);
                    let k = self.numel(ix);
                    let (src, idx) = (self.input(x)?, self.input(ix)?);
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let st = dst.store(
                        "e",
                        &src.word(&format!(
                            "o * {} + min({}, {}u) * {inner}u + i",
                            n * inner,
                            idx.word("kk"),
                            n - 1
                        )),
                    )?;
                    self.loc.insert(v, dst);
                    par(
                        self.numel(v),
                        &format!(
                            "        let i = e % {inner}u;\n        let kk = (e / {inner}u) % {k}u;\n        let o = e / ({inner}u * {k}u);\n        {st}\n"
                        ),
                    )
                }
                Op::Slice { axis, start, len } => {
                    let (v, x) = (out?, inst.inputs[0]);
                    let (_, n, inner) = around(&self.dims(x), *axis as usize);
                    let src = self.input(x)?;
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let st = dst.store(
                        "e",
                        &src.word(&format!("(e / ({len}u * {inner}u)) * {} + ({start}u + (e / {inner}u) % {len}u) * {inner}u + e % {inner}u", n * inner)),
                    )?;
                    self.loc.insert(v, dst);
                    par(self.numel(v), &format!("        {st}\n"))
                }
                Op::Concat { axis } => {
                    let v = out?;
                    let a = *axis as usize;
                    let (_, total, inner) = around(&self.dims(v), a);
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let mut code = String::new();
                    let mut at = 0;
                    for &x in &inst.inputs {
                        let n = self.dims(x)[a];
                        let src = self.input(x)?;
                        let st = dst.store(
                            &format!("(e / ({n}u * {inner}u)) * {} + ({at}u + (e / {inner}u) % {n}u) * {inner}u + e % {inner}u", total * inner),
                            &src.word("e"),
                        )?;
                        code += &par(self.numel(x), &format!("        {st}\n"));
                        at += n;
                    }
                    self.loc.insert(v, dst);
                    code
                }
                Op::ConvStep { groups } => {
                    let v = out?;
                    let win = self.dims(inst.inputs[0]);
                    let (c_in, k) = (win[0], win[1]);
                    let c_out = self.numel(v);
                    let in_per = c_in / *groups as u64;
                    let out_per = c_out / *groups as u64;
                    let (w, wt, bias) = (
                        self.input(inst.inputs[0])?,
                        self.input(inst.inputs[1])?,
                        self.input(inst.inputs[2])?,
                    );
                    let dst = self.out_loc(v, &scratch, &mut next);
                    if wide == Some(i) {
                        let _ = write!(
                            self.helpers,
                            "fn conv_wt{s}(i: u32) -> f32 {{\n    return {};\n}}\nfn conv_win{s}(i: u32) -> f32 {{\n    return {};\n}}\nfn conv_bias{s}(i: u32) -> f32 {{\n    return {};\n}}\nfn conv_out{s}(i: u32, w: u32) {{\n    {}\n}}\n{}\n",
                            wt.f("i"),
                            w.f("i"),
                            bias.f("i"),
                            dst.store("i", "w")?,
                            suffixed(wgsl::CONV_STEP_TEAM, &CONV_ACCESSORS, i - self.start),
                            s = i - self.start
                        );
                        self.loc.insert(v, dst);
                        workgroups = c_out.div_ceil(u64::from(REGION_WG / CONV_TEAM)) as u32;
                        format!(
                            "    conv_team{}(lid, wg_linear(wid, nwg), {c_out}u, {in_per}u, {out_per}u, {k}u);\n",
                            i - self.start
                        )
                    } else {
                        let st = dst.store("e", "bitcast<u32>(acc)")?;
                        self.loc.insert(v, dst);
                        par(
                            c_out,
                            &format!(
                                "        let grp = e / {out_per}u;\n        var acc = {};\n        for (var ci = 0u; ci < {in_per}u; ci = ci + 1u) {{\n            let ch = grp * {in_per}u + ci;\n            for (var t = 0u; t < {k}u; t = t + 1u) {{\n                acc = acc + {} * {};\n            }}\n        }}\n        {st}\n",
                                bias.f("e"),
                                wt.f(&format!("(e * {in_per}u + ci) * {k}u + t")),
                                w.f(&format!("ch * {k}u + t"))
                            ),
                        )
                    }
                }
                Op::StateRead { state } => {
                    let v = out?;
                    let name = self.b.bind(Res::State(state.index()), false);
                    let src = Loc::Buf { name, off: 0 };
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let st = dst.store("e", &src.word("e"))?;
                    self.loc.insert(v, dst);
                    par(self.numel(v), &format!("        {st}\n"))
                }
                Op::StateWrite { state } => {
                    let x = inst.inputs[0];
                    let src = self.input(x)?;
                    let name = self.b.bind(Res::State(state.index()), true);
                    let st = Loc::Buf { name, off: 0 }.store("e", &src.word("e"))?;
                    par(self.numel(x), &format!("        {st}\n"))
                }
                Op::CacheAppend { state } => {
                    let (x, p) = (inst.inputs[0], inst.inputs[1]);
                    let xd = self.dims(x);
                    let dim = xd[1];
                    let (src, pos) = (self.input(x)?, self.input(p)?.word("0u"));
                    // e counts the cache's words: an f16 cache packs two floats in each.
                    let f16 = g.states[state.index()].ty.dtype == DType::F16;
                    let (d, value) = if f16 {
                        if !dim.is_multiple_of(2) {
                            return None;
                        }
                        let word = wgsl::f16_pair_word(&src.f("2u * e"), &src.f("2u * e + 1u"));
                        (dim / 2, word)
                    } else {
                        (dim, src.word("e"))
                    };
                    let name = self.b.bind(Res::State(state.index()), true);
                    let st = Loc::Buf { name, off: 0 }.store(
                        &format!("(e / {d}u) * p(0u) * {d}u + ps * {d}u + e % {d}u"),
                        &value,
                    )?;
                    par(
                        self.numel(x) / (dim / d),
                        &format!(
                            "        let ps = {pos};\n        if (ps < p(0u)) {{\n            {st}\n        }}\n"
                        ),
                    )
                }
                Op::Attention {
                    k_cache,
                    v_cache,
                    scale,
                } => {
                    let v = out?;
                    let qd = self.dims(inst.inputs[0]);
                    let (nq, hd) = (qd[0], qd[1]);
                    let nkv = g.states[k_cache.index()].ty.dims[0].as_const()?;
                    let (q, pos) = (self.input(inst.inputs[0])?, self.input(inst.inputs[1])?);
                    let cache_dtype = g.states[k_cache.index()].ty.dtype;
                    let kc = self.b.bind(Res::State(k_cache.index()), false);
                    let vc = self.b.bind(Res::State(v_cache.index()), false);
                    let dst = self.out_loc(v, &scratch, &mut next);
                    attention_words = attention_words.max(nq);
                    let _ = write!(
                        self.helpers,
                        "fn q_at{k}(i: u32) -> f32 {{\n    return {};\n}}\nfn pos_at{k}() -> u32 {{\n    return {};\n}}\nfn kc_at{k}(i: u32) -> f32 {{\n    return {};\n}}\nfn vc_at{k}(i: u32) -> f32 {{\n    return {};\n}}\nfn sc_get{k}(i: u32) -> f32 {{\n    return bitcast<f32>({scratch}[ATTENTION_BASE + i]);\n}}\nfn sc_set{k}(i: u32, v: f32) {{\n    {scratch}[ATTENTION_BASE + i] = bitcast<u32>(v);\n}}\nfn out_set{k}(i: u32, w: u32) {{\n    {}\n}}\n{}\n",
                        q.f("i"),
                        pos.word("0u"),
                        wgsl::float_load(cache_dtype, &kc, "i"),
                        wgsl::float_load(cache_dtype, &vc, "i"),
                        dst.store("i", "w")?,
                        suffixed(wgsl::ATTENTION_HEAD, &ATTENTION_ACCESSORS, k)
                    );
                    self.loc.insert(v, dst);
                    format!(
                        "    for (var h = 0u; h < {nq}u; h = h + 1u) {{\n        attention_head{k}(h, lid, {nq}u, {nkv}u, {hd}u, p(0u), bitcast<f32>({:#x}u));\n    }}\n",
                        scale.to_bits()
                    )
                }
                Op::MatVec => {
                    let v = out?;
                    let (w, x) = (self.input(inst.inputs[0])?, self.input(inst.inputs[1])?);
                    let (rows, cols) = (self.numel(v), self.numel(inst.inputs[1]));
                    let dst = self.out_loc(v, &scratch, &mut next);
                    let st = dst.store("e", "bitcast<u32>(acc)")?;
                    self.loc.insert(v, dst);
                    par(
                        rows,
                        &format!(
                            "        var acc = 0.0;\n        for (var c = 0u; c < {cols}u; c = c + 1u) {{\n            acc = acc + {} * {};\n        }}\n        {st}\n",
                            w.f(&format!("e * {cols}u + c")),
                            x.f("c")
                        ),
                    )
                }
            };
            if !code.is_empty() {
                let _ = write!(body, "    {{\n{code}    }}\n    storageBarrier();\n");
            }
        }
        self.stuck = Some(self.end);
        let att_base = next;
        self.l.plan.scratch_words = self
            .l
            .plan
            .scratch_words
            .max(att_base + attention_words * self.l.input.ctx);
        if (att_base + attention_words * self.l.input.ctx) * 4 > self.l.input.max_binding_bytes {
            return None;
        }
        let _ = writeln!(self.helpers, "const ATTENTION_BASE: u32 = {att_base}u;");
        let shader = self.shader(&format!("region_{label}"), REGION_WG, &body);
        let mut params = [0u32; PARAM_WORDS];
        params[0] = self.l.input.ctx as u32;
        Some(Kernel {
            kind: KernelKind::Region,
            label: label.to_string(),
            insts: (self.start..self.end).collect(),
            dispatches: vec![Dispatch {
                shader,
                params,
                workgroups,
                bindings: self.b.res.clone(),
            }],
            constant: false,
        })
    }

    /// A value whose elements are computed on read (symbol, dequant, reshape view);
    /// materialized into its own buffer too when used outside the group.
    fn virtual_value(&mut self, v: ValueId, loc: Loc) -> Option<String> {
        if !self.escapes(v) {
            self.loc.insert(v, loc);
            return Some(String::new());
        }
        let dst = self.own_buffer(v);
        let st = dst.store("e", &loc.word("e"))?;
        self.loc.insert(v, loc);
        Some(par(self.numel(v), &format!("        {st}\n")))
    }
}
