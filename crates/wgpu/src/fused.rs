//! Kernels generated from the optimizer's groups (`Inst::group`), so a fused group runs as
//! one launch instead of one per instruction.
//!
//! Two templates cover every group a strategy (or a custom pass) can make:
//!
//! - **Fused matvec** (`matvec` and `head` groups, and any group of the same shape): an
//!   optional RMSNorm prologue (recomputed by every workgroup, so no launch produces the
//!   normed vector; the vector is staged once per workgroup in workgroup memory when it
//!   fits), one or more matvecs reading their weights packed (affine 4/8-bit, MXFP4,
//!   f16/bf16/f32; an expert index read from a GPU buffer), and a per-row elementwise
//!   epilogue generated from the group's unary/binary/select/const/vector-weight ops (bias,
//!   SwiGLU, gate-prob scale, skip `select`, residual merge). Rows of sibling matvecs are
//!   concatenated and split across workgroups, each computing [`MATVEC_TPR`]-thread "lanes"
//!   of rows in batches (one segmented reduction per batch, not one workgroup reduction per
//!   row); matvecs with the same number of rows compute the same row together, so an epilogue that combines them (SwiGLU) stays per row. An
//!   `argmax` over the result (the greedy head) is finished in the same launch up to
//!   [`ONE_PASS_ARGMAX`] rows, else reduced to per-workgroup partial maxima and finished by
//!   a one-workgroup launch: exactly the dispatch count of `zaya_opt::Plan`.
//! - **Region** (`cca`, `router`, `lookup`, anything else): one workgroup executes the
//!   group's body in program order, every op parallelized over the workgroup's threads,
//!   with a barrier after each; intermediates live in a scratch buffer, values used outside
//!   the group in their own buffers. Row ops and attention reuse the bodies of the
//!   primitive templates (`row_*.wgsl`, `attention_head.wgsl`) through renamed accessors.
//!
//! Weights with several windows are bound window by window in the same launch; a generated
//! accessor picks the window by row. A group that does not fit either template (an op the
//! matvec shape does not allow is simply a region; a region needing more storage bindings
//! than the device offers, or a weight operand that is not read through a dequant) is
//! refused here and lowered instruction by instruction, so a custom strategy never fails.
//!
//! Shapes, offsets and window bounds are baked into the source; buffers are bindings, so
//! identical layers produce identical sources and share one pipeline.

use crate::error::Result;
use crate::plan::{Dispatch, Kernel, KernelKind, Lowering, Res};
use crate::wgsl::{self, Elementwise, GeneratedShader, PARAM_WORDS, Shader};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;
use zaya_ir::{DType, KernelRange, Op, ReduceOp, ValueId, WeightFormat};

/// Threads of a region workgroup.
const REGION_WG: u32 = 256;
/// Threads of a fused matvec workgroup.
const MATVEC_WG: u32 = 64;
/// Threads cooperating on one row of a fused matvec: the workgroup computes
/// `MATVEC_WG / MATVEC_TPR` rows at once ("lanes"), so one short segmented reduction
/// (log2 of this many barrier steps) finishes a batch of rows instead of a full workgroup
/// reduction per row, and a row's threads read adjacent packed words (8 x 4 bytes: one
/// 32-byte memory sector per row and step on a GPU; on lavapipe 4, 8 and 16 measured within
/// 15 % of each other on 8B-width rows, 64 was 3x slower on tiny-a's 128-column rows).
const MATVEC_TPR: u32 = 8;
/// Batches of lanes per fused-matvec workgroup (rows per workgroup = lanes x batches):
/// the RMSNorm prologue and the vector staging are per workgroup, so fewer, fuller
/// workgroups amortize them; enough remain to spread over a real GPU (ZAYA1-8B's smallest
/// fused matvec, q/k/v, has 1536 rows, i.e. 48 workgroups; 8 batches measured no faster on
/// lavapipe).
const MATVEC_BATCHES: u64 = 4;
/// Largest vector a fused matvec stages in workgroup memory (f32 words): it is read once
/// per row by every lane, and workgroup memory is much cheaper than re-reading (and
/// re-norming) a storage buffer. 12 KiB leaves room in WebGPU's 16 KiB minimum for the
/// reduction arrays.
const MATVEC_STAGE_MAX: u64 = 3072;
/// Largest argmax a fused matvec finishes in one launch: one workgroup's rows. The backend
/// tells the optimizer through its `Target` (`crate::target`), so the plan counts one
/// dispatch up to this many elements and two above.
pub const ONE_PASS_ARGMAX: u64 = 64;
/// Rows per workgroup of a fused matvec whose argmax needs a second launch.
const ARGMAX_ROWS_PER_WG: u64 = 64;
/// Largest workgroup count of one dimension that every device supports.
const MAX_GRID: u64 = 65535;

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
    let region = Gen::new(l, range).try_region(&label)?;
    if region.is_none() && std::env::var_os("ZAYA_FUSED_DEBUG").is_some() {
        eprintln!("group `{label}` at i{} refused", range.start);
    }
    Ok(region.map(|k| vec![k]))
}

/// Storage buffers of one launch, deduplicated, in binding order (binding 0 is the params
/// uniform, so buffer k is binding k + 1 and named `b{k}`).
#[derive(Default)]
struct Binder {
    res: Vec<Res>,
    writable: Vec<bool>,
}

impl Binder {
    fn bind(&mut self, r: Res, write: bool) -> String {
        let k = match self.res.iter().position(|&x| x == r) {
            Some(k) => k,
            None => {
                self.res.push(r);
                self.writable.push(false);
                self.res.len() - 1
            }
        };
        self.writable[k] |= write;
        format!("b{k}")
    }

    fn decls(&self) -> String {
        self.writable
            .iter()
            .enumerate()
            .map(|(k, &w)| {
                let access = if w { "read_write" } else { "read" };
                format!(
                    "@group(0) @binding({}) var<storage, {access}> b{k}: array<u32>;\n",
                    k + 1
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
    /// A symbol from the step buffer (u32), as f32.
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
            Loc::Sym { step, k } => format!("f32({step}[{k}u])"),
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
        }))
    }

    fn fits(&self) -> bool {
        self.b.res.len() as u32 <= self.l.input.max_bindings
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
    /// Per-row value of class `c` (a local in the row loop).
    Row(usize),
    /// Computed once per workgroup from scalars.
    Scalar,
}

/// The matvecs of one row class (same row count).
struct Class {
    rows: u64,
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
        // Classes (matvecs by row count), per-row locals and once-per-workgroup scalars.
        let mut classes: Vec<Class> = vec![];
        let mut role: HashMap<ValueId, Role> = HashMap::new();
        let mut chunks: HashMap<ValueId, u64> = HashMap::new();
        let mut prelude = String::new();
        let mut row_code: Vec<String> = vec![];
        // Phase 1 of a row (partial dots of the lane's threads, into `part{m}`), per class,
        // and the number of matvecs of each class (the partial arrays needed).
        let mut row_dots: Vec<String> = vec![];
        let mut parts: Vec<u64> = vec![];
        let mut argmax: Option<(ValueId, ValueId)> = None;
        for i in start..end {
            let inst = &g.insts[i];
            let out = inst.outputs.first().copied();
            match &inst.op {
                Op::Dequant { weight } => {
                    let out = out?;
                    let for_matvec = weight_of.contains(&out);
                    if !for_matvec && self.escapes(out) {
                        return None;
                    }
                    let x_fn = for_matvec.then_some("xv_fused");
                    let (loc, n) = self.dequant_loc(i, weight.index(), x_fn)?;
                    self.loc.insert(out, loc);
                    chunks.insert(out, n);
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
                            classes.push(Class { rows });
                            row_code.push(String::new());
                            row_dots.push(String::new());
                            parts.push(0);
                            classes.len() - 1
                        }
                    };
                    let wv = inst.inputs[0];
                    let Some(Loc::Weight { prefix, base, .. }) = self.loc.get(&wv).cloned() else {
                        return None;
                    };
                    let n = *chunks.get(&wv)?;
                    let o = i - start;
                    let m = parts[c];
                    parts[c] += 1;
                    let _ = write!(
                        row_dots[c],
                        "            for (var c = sub; c < {n}u; c = c + TPR) {{\n                part{m} = part{m} + {prefix}_dot({base} + r, c);\n            }}\n"
                    );
                    let _ = writeln!(
                        row_code[c],
                        "            let v{o} = mv_part[{m}u * WG + lane * TPR];"
                    );
                    role.insert(out, Role::Row(c));
                    self.loc.insert(out, Loc::Local(format!("v{o}")));
                    if self.escapes(out) {
                        let st = self
                            .own_buffer(out)
                            .store("r", &format!("bitcast<u32>(v{o})"))?;
                        let _ = writeln!(row_code[c], "            if (sub == 0u) {{ {st} }}");
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
                        let guard = if class.is_some() {
                            "sub == 0u"
                        } else {
                            "wg == 0u && lid == 0u"
                        };
                        let _ = writeln!(def, "if ({guard}) {{ {st} }}");
                    }
                    self.loc.insert(out, Loc::Local(name));
                    match class {
                        Some(c) => {
                            role.insert(out, Role::Row(c));
                            row_code[c] += &indent(&def, 12);
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
        let nparts = parts.iter().copied().max().unwrap_or(1);
        let prologue = self.vector_accessor(x_src, norm, nparts)?;
        let total: u64 = classes.iter().map(|c| c.rows).sum();
        let lanes = (MATVEC_WG / MATVEC_TPR) as u64;
        let per_wg = match argmax {
            Some(_) if total <= ONE_PASS_ARGMAX => total,
            Some(_) => ARGMAX_ROWS_PER_WG,
            None => total
                .div_ceil(MAX_GRID)
                .max(lanes * MATVEC_BATCHES)
                .min(total.next_multiple_of(lanes)),
        };
        let workgroups = total.div_ceil(per_wg);
        let batches = per_wg.div_ceil(lanes);
        let _ = writeln!(
            self.helpers,
            "const TPR: u32 = {MATVEC_TPR}u;\nvar<workgroup> mv_part: array<f32, {}>;",
            nparts * MATVEC_WG as u64
        );
        let mut body = String::new();
        let _ = writeln!(
            body,
            "    let wg = wg_linear(wid, nwg);\n    let lane = lid / TPR;\n    let sub = lid % TPR;"
        );
        body += &prologue;
        body += &prelude;
        if argmax.is_some() {
            body += "    var best = bitcast<f32>(0x7fc00000u);\n    var bi = 0xffffffffu;\n";
        }
        // Every batch: each lane's threads accumulate partial dots of the lane's row (slot)
        // into registers, a segmented tree reduction in workgroup memory combines the
        // threads of each lane (uniform control flow: it has barriers), then each lane runs
        // its row's epilogue from the reduced sums (its first thread stores).
        let _ = writeln!(
            body,
            "    let last = min(wg * {per_wg}u + {per_wg}u, {total}u);\n    for (var batch = 0u; batch < {batches}u; batch = batch + 1u) {{\n        let slot = wg * {per_wg}u + batch * {lanes}u + lane;"
        );
        for m in 0..nparts {
            let _ = writeln!(body, "        var part{m} = 0.0;");
        }
        let dispatch_rows = |body: &mut String,
                             code: &[String],
                             extra: &dyn Fn(usize) -> String| {
            let mut first = 0;
            for (c, class) in classes.iter().enumerate() {
                let _ = writeln!(
                    body,
                    "        if (slot < last && slot >= {first}u && slot < {}u) {{\n            let r = slot - {first}u;",
                    first + class.rows
                );
                *body += &code[c];
                *body += &extra(c);
                *body += "        }\n";
                first += class.rows;
            }
        };
        dispatch_rows(&mut body, &row_dots, &|_| String::new());
        for m in 0..nparts {
            let _ = writeln!(body, "        mv_part[{m}u * WG + lid] = part{m};");
        }
        body += "        workgroupBarrier();\n        for (var s = TPR / 2u; s > 0u; s = s >> 1u) {\n            if (sub < s) {\n";
        for m in 0..nparts {
            let _ = writeln!(
                body,
                "                mv_part[{m}u * WG + lid] = mv_part[{m}u * WG + lid] + mv_part[{m}u * WG + lid + s];"
            );
        }
        body += "            }\n            workgroupBarrier();\n        }\n";
        let update = match argmax {
            Some((v, _)) => {
                let name = self.loc.get(&v)?.f("r");
                format!(
                    "            if (argmax_better({name}, r, best, bi)) {{ best = {name}; bi = r; }}\n"
                )
            }
            None => String::new(),
        };
        dispatch_rows(&mut body, &row_code, &|_| update.clone());
        // The next batch overwrites `mv_part`.
        body += "        workgroupBarrier();\n    }\n";
        let mut second = None;
        if let Some((_, out)) = argmax {
            let out_loc = self.own_buffer(out);
            // Lanes saw different rows: combine them (`red_f[0]` keeps the winner's value).
            body += "    bi = wg_argmax(best, bi, lid);\n    best = red_f[0];\n";
            if workgroups == 1 {
                let st = out_loc.store("0u", "select(bi, 0u, bi == 0xffffffffu)")?;
                let _ = writeln!(body, "    if (lid == 0u) {{ {st} }}");
            } else {
                let scratch = self.b.bind(Res::Scratch, true);
                let _ = writeln!(
                    body,
                    "    if (lid == 0u) {{\n        {scratch}[2u * wg] = bitcast<u32>(best);\n        {scratch}[2u * wg + 1u] = bi;\n    }}"
                );
                self.l.plan.scratch_words = self.l.plan.scratch_words.max(2 * workgroups);
                second = Some(argmax_partials(
                    self.l.plan.value_buffer[out.index()]?,
                    workgroups,
                ));
            }
        }
        let shader = self.shader(&format!("fused_{label}"), MATVEC_WG, &body);
        let mut dispatches = vec![Dispatch {
            shader,
            params: [0; PARAM_WORDS],
            workgroups: workgroups as u32,
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

    /// Defines `xv_fused(i)` (the matvec vector, normed when there is a prologue) and
    /// returns the prologue code that computes the norm's scale once per workgroup and,
    /// when the vector fits next to the `nparts` partial-sum arrays in 16 KiB of
    /// workgroup memory, stages it there: every lane reads it once per row.
    fn vector_accessor(
        &mut self,
        src: ValueId,
        norm: Option<(ValueId, f32)>,
        nparts: u64,
    ) -> Option<String> {
        let h = self.numel(src);
        let xloc = self.input(src)?;
        let (prologue, expr) = match norm {
            Some((gamma, eps)) => {
                let gl = self.operand_loc(gamma)?;
                (
                    format!(
                        "    var ss = 0.0;\n    for (var i = lid; i < {h}u; i = i + WG) {{\n        let v = {};\n        ss = ss + v * v;\n    }}\n    norm_inv = 1.0 / sqrt(wg_sum(ss, lid) / f32({h}u) + bitcast<f32>({:#x}u));\n",
                        xloc.f("i"),
                        eps.to_bits()
                    ),
                    format!("{} * norm_inv * {}", xloc.f("i"), gl.f("i")),
                )
            }
            None => (String::new(), xloc.f("i")),
        };
        let _ = writeln!(self.helpers, "var<private> norm_inv: f32;");
        // Workgroup words: the staged vector, the partial sums, `reduce_wg`'s two arrays.
        let words = h + (nparts + 2) * MATVEC_WG as u64;
        if h > MATVEC_STAGE_MAX || words * 4 > 16384 {
            let _ = writeln!(
                self.helpers,
                "fn xv_fused(i: u32) -> f32 {{\n    return {expr};\n}}"
            );
            return Some(prologue);
        }
        let _ = writeln!(
            self.helpers,
            "var<workgroup> xs: array<f32, {h}>;\nfn xv_fused(i: u32) -> f32 {{\n    return xs[i];\n}}"
        );
        Some(format!(
            "{prologue}    for (var i = lid; i < {h}u; i = i + WG) {{\n        xs[i] = {expr};\n    }}\n    workgroupBarrier();\n"
        ))
    }

    /// The row class of an epilogue op with `n` elements: the class of its per-row
    /// operands, or the only class of that length; `Some(None)` for a scalar op.
    fn epilogue_class(
        &self,
        inputs: &[ValueId],
        n: u64,
        role: &HashMap<ValueId, Role>,
        classes: &[Class],
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
        "{}\n{}\n{}\n@compute @workgroup_size({MATVEC_WG})\nfn main(@builtin(local_invocation_index) lid: u32) {{\n{body}}}\n",
        wgsl::COMMON,
        wgsl::reduce_wg(MATVEC_WG),
        b.decls()
    );
    Dispatch {
        shader: Shader::Generated(Arc::new(GeneratedShader {
            label: "argmax_partials".into(),
            source,
            writable: b.writable.clone(),
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

impl Gen<'_, '_> {
    /// The region template; `None` when the group cannot be expressed (too many bindings, a
    /// value the template cannot place).
    fn try_region(mut self, label: &str) -> Result<Option<Kernel>> {
        match self.region_body(label) {
            Some(k) if self.fits() => Ok(Some(k)),
            _ => {
                self.release();
                Ok(None)
            }
        }
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
        let mut body = String::new();
        for i in self.start..self.end {
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
                    let pos = self.input(inst.inputs[1])?.f("0u");
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
                    let (src, pos) = (self.input(x)?, self.input(p)?.f("0u"));
                    let name = self.b.bind(Res::State(state.index()), true);
                    let st = Loc::Buf { name, off: 0 }.store(
                        &format!("(e / {dim}u) * p(0u) * {dim}u + ps * {dim}u + e % {dim}u"),
                        &src.word("e"),
                    )?;
                    par(
                        self.numel(x),
                        &format!(
                            "        let ps = u32(max({pos}, 0.0));\n        if (ps < p(0u)) {{\n            {st}\n        }}\n"
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
                    let kc = self.b.bind(Res::State(k_cache.index()), false);
                    let vc = self.b.bind(Res::State(v_cache.index()), false);
                    let dst = self.out_loc(v, &scratch, &mut next);
                    attention_words = attention_words.max(nq);
                    let _ = write!(
                        self.helpers,
                        "fn q_at{k}(i: u32) -> f32 {{\n    return {};\n}}\nfn pos_at{k}() -> f32 {{\n    return {};\n}}\nfn kc_at{k}(i: u32) -> f32 {{\n    return bitcast<f32>({kc}[i]);\n}}\nfn vc_at{k}(i: u32) -> f32 {{\n    return bitcast<f32>({vc}[i]);\n}}\nfn sc_get{k}(i: u32) -> f32 {{\n    return bitcast<f32>({scratch}[ATTENTION_BASE + i]);\n}}\nfn sc_set{k}(i: u32, v: f32) {{\n    {scratch}[ATTENTION_BASE + i] = bitcast<u32>(v);\n}}\nfn out_set{k}(i: u32, w: u32) {{\n    {}\n}}\n{}\n",
                        q.f("i"),
                        pos.f("0u"),
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
                workgroups: 1,
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
