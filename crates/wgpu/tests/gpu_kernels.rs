//! Kernel-level tests on the GPU against the CPU reference interpreter (`zaya-cpu`): small
//! hand-built graphs that use every primitive op and every weight format, run for several
//! steps on both, compared output by output.

// The CPU interpreter takes its program as an Arc; these tests stay on one thread.
#![allow(clippy::arc_with_non_send_sync)]

mod common;

use common::{device, max_diff};
use std::sync::Arc;
use zaya_cpu::{DenseWeight, WeightRows};
use zaya_ir::{
    BinaryOp, DType, Dim, Graph, Op, ReduceOp, TensorType, UnaryOp, ValueId, WeightFormat,
};
use zaya_model::PackedWeight;
use zaya_wgpu::{GpuError, GpuProgram, Input, ProgramOptions, Tensor, WeightData};

/// Deterministic pseudo-random numbers (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        (self.next() % 20001) as f32 / 10000.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

/// Bytes of a random weight in `format` with `rows` x `cols` logical values.
struct PackedBytes {
    packed: Vec<u8>,
    scales: Option<Vec<u8>>,
    biases: Option<Vec<u8>>,
}

fn half_bytes(dtype: DType, values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| match dtype {
            DType::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
            DType::BF16 => half::bf16::from_f32(v).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        })
        .collect()
}

fn random_packed(rng: &mut Rng, format: WeightFormat, rows: usize, cols: usize) -> PackedBytes {
    let bytes = |rng: &mut Rng, n: usize| (0..n).map(|_| rng.next() as u8).collect::<Vec<u8>>();
    match format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => {
            let groups = rows * cols / group_size as usize;
            let scales: Vec<f32> = (0..groups).map(|_| rng.f32() * 0.1).collect();
            let biases: Vec<f32> = (0..groups).map(|_| rng.f32() * 0.1).collect();
            PackedBytes {
                packed: bytes(rng, rows * cols * bits as usize / 8),
                scales: Some(half_bytes(scale_dtype, &scales)),
                biases: Some(half_bytes(scale_dtype, &biases)),
            }
        }
        WeightFormat::Mxfp4 { group_size } => PackedBytes {
            packed: bytes(rng, rows * cols / 2),
            scales: Some(
                (0..rows * cols / group_size as usize)
                    .map(|_| 120 + (rng.next() % 10) as u8)
                    .collect(),
            ),
            biases: None,
        },
        WeightFormat::Float { dtype } => PackedBytes {
            packed: half_bytes(dtype, &rng.vec(rows * cols)),
            scales: None,
            biases: None,
        },
    }
}

/// Runs `graph` for `steps` steps on the CPU and the GPU with the same inputs and compares
/// every graph output after every step (f32 within `tol` relative to the output's largest
/// magnitude, at least 1; u32 exactly).
fn compare(
    graph: Graph,
    cpu_weights: Vec<Box<dyn WeightRows + '_>>,
    gpu_weights: &[WeightData<'_>],
    inputs: &[Vec<Input<'_>>],
    options: &ProgramOptions,
    tol: f32,
) {
    let Some(ctx) = device() else { return };
    let program = GpuProgram::with_options(ctx, graph.clone(), gpu_weights, options).unwrap();
    let mut gpu = program.session(8).unwrap();
    let cpu_program = Arc::new(zaya_cpu::Program::new(graph.clone(), cpu_weights).unwrap());
    let mut cpu = cpu_program.session(8).unwrap();
    let names: Vec<&str> = graph.outputs.iter().map(|(n, _)| n.as_str()).collect();
    for (step, ins) in inputs.iter().enumerate() {
        let cpu_ins: Vec<zaya_cpu::Input> = ins
            .iter()
            .map(|i| match i {
                Input::U32(x) => zaya_cpu::Input::U32(x),
                Input::F32(x) => zaya_cpu::Input::F32(x),
            })
            .collect();
        cpu.run(&cpu_ins).unwrap();
        let got = gpu.step_inputs(ins, &names).unwrap();
        for (name, got) in names.iter().zip(got) {
            match got {
                Tensor::F32(g) => {
                    let want = cpu.output_f32(name).unwrap();
                    let d = max_diff(&g, want);
                    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
                    assert!(
                        d <= tol * scale,
                        "step {step} {name}: max diff {d}\n gpu {g:?}\n cpu {want:?}"
                    );
                }
                Tensor::U32(g) => {
                    assert_eq!(g, cpu.output_u32(name).unwrap(), "step {step} {name}")
                }
            }
        }
    }
}

fn konst(g: &mut Graph, dims: &[u64], values: Vec<f32>) -> ValueId {
    g.push(
        Op::Const { values },
        &[],
        Some(TensorType::f32(dims.iter().copied())),
    )
    .unwrap()[0]
}

fn op(g: &mut Graph, op: Op, ins: &[ValueId]) -> ValueId {
    g.push1(op, ins).unwrap()
}

#[test]
fn every_activation_op_matches_the_cpu() {
    let mut g = Graph::new("ops");
    let ctx = g.add_symbol(zaya_ir::SymbolKind::Ctx);
    let pos_sym = g.add_symbol(zaya_ir::SymbolKind::Pos);
    let a = g.add_input(TensorType::f32([2u64, 4, 8]), "a");
    let c = g.add_input(TensorType::f32([8u64]), "c");
    let tok = g.add_input(TensorType::new(DType::U32, [1u64]), "tok");
    let b = konst(&mut g, &[4, 1], vec![0.5, -1.0, 2.0, 0.25]);
    let one = konst(&mut g, &[1], vec![1.0]);
    let mut outs: Vec<(String, ValueId)> = vec![];
    let sq = op(
        &mut g,
        Op::Unary {
            op: UnaryOp::Square,
        },
        &[a],
    );
    let pos_arg = op(&mut g, Op::Binary { op: BinaryOp::Add }, &[sq, one]);
    for u in [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Sqrt,
        UnaryOp::Rsqrt,
        UnaryOp::Recip,
        UnaryOp::Square,
        UnaryOp::Silu,
        UnaryOp::Gelu,
    ] {
        let x = if matches!(u, UnaryOp::Sqrt | UnaryOp::Rsqrt | UnaryOp::Recip) {
            pos_arg
        } else {
            a
        };
        outs.push((format!("{u:?}"), op(&mut g, Op::Unary { op: u }, &[x])));
    }
    for bop in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Eq,
    ] {
        outs.push((
            format!("{bop:?}.b"),
            op(&mut g, Op::Binary { op: bop }, &[a, b]),
        ));
        outs.push((
            format!("{bop:?}.c"),
            op(&mut g, Op::Binary { op: bop }, &[c, a]),
        ));
    }
    let cond = konst(&mut g, &[4, 1], vec![1.0, 0.0, 0.0, 1.0]);
    outs.push(("select".into(), op(&mut g, Op::Select, &[cond, a, c])));
    for (k, r) in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max]
        .into_iter()
        .enumerate()
    {
        for axis in 0..3 {
            let v = op(&mut g, Op::Reduce { op: r, axis }, &[a]);
            outs.push((format!("reduce{k}.{axis}"), v));
        }
    }
    outs.push(("softmax".into(), op(&mut g, Op::Softmax, &[a])));
    outs.push((
        "rms_norm".into(),
        op(&mut g, Op::RmsNorm { eps: 1e-5 }, &[a, c]),
    ));
    let am = op(&mut g, Op::Argmax, &[a]);
    outs.push(("argmax".into(), am));
    outs.push((
        "argmax_f".into(),
        op(&mut g, Op::Cast { to: DType::F32 }, &[am]),
    ));
    let three = konst(&mut g, &[1], vec![3.0]);
    let a3 = op(&mut g, Op::Binary { op: BinaryOp::Mul }, &[a, three]);
    outs.push((
        "to_u32".into(),
        op(&mut g, Op::Cast { to: DType::U32 }, &[a3]),
    ));
    let pos = op(&mut g, Op::Symbol { sym: pos_sym }, &[]);
    outs.push(("pos".into(), pos));
    let capacity = op(&mut g, Op::Symbol { sym: ctx }, &[]);
    outs.push(("ctx".into(), capacity));
    let rope = Op::Rope {
        rot_dims: 4,
        theta: 10000.0,
    };
    outs.push(("rope".into(), op(&mut g, rope, &[a, pos])));
    outs.push((
        "gather".into(),
        op(&mut g, Op::Gather { axis: 1 }, &[a, tok]),
    ));
    let sl = op(
        &mut g,
        Op::Slice {
            axis: 2,
            start: 2,
            len: 3,
        },
        &[a],
    );
    outs.push(("slice".into(), sl));
    let sl0 = op(
        &mut g,
        Op::Slice {
            axis: 1,
            start: 1,
            len: 2,
        },
        &[a],
    );
    outs.push((
        "concat".into(),
        op(&mut g, Op::Concat { axis: 1 }, &[a, sl0, a]),
    ));
    let r = op(&mut g, Op::Reshape { dims: vec![8, 8] }, &[a]);
    outs.push(("reshape_softmax".into(), op(&mut g, Op::Softmax, &[r])));

    // Conv: window [4, 2] (slice of a), weight [4, 2, 2] groups 2, bias [4].
    let wv = g.add_weight(
        "conv.w",
        WeightFormat::Float { dtype: DType::F16 },
        &[4, 2, 2],
    );
    let bv = g.add_weight("conv.b", WeightFormat::Float { dtype: DType::F32 }, &[4]);
    let win = op(&mut g, Op::Reshape { dims: vec![8, 8] }, &[a]);
    let win = op(
        &mut g,
        Op::Slice {
            axis: 0,
            start: 0,
            len: 4,
        },
        &[win],
    );
    let win = op(
        &mut g,
        Op::Slice {
            axis: 1,
            start: 3,
            len: 2,
        },
        &[win],
    );
    let w = op(&mut g, Op::Dequant { weight: wv }, &[]);
    let bias = op(&mut g, Op::Dequant { weight: bv }, &[]);
    outs.push((
        "conv".into(),
        op(&mut g, Op::ConvStep { groups: 2 }, &[win, w, bias]),
    ));

    // State and attention: a carried state, caches [2, ctx, 4], q [4, 4] from a.
    let st = g.add_state("carry", TensorType::f32([8u64]));
    let old = op(&mut g, Op::StateRead { state: st }, &[]);
    let new = op(&mut g, Op::Binary { op: BinaryOp::Add }, &[old, c]);
    g.push(Op::StateWrite { state: st }, &[new], None).unwrap();
    outs.push(("state_before".into(), old));
    let cache_ty = TensorType::new(DType::F32, [Dim::Const(2), Dim::Sym(ctx), Dim::Const(4)]);
    let kc = g.add_state("k", cache_ty.clone());
    let vc = g.add_state("v", cache_ty);
    let flat = op(&mut g, Op::Reshape { dims: vec![64] }, &[a]);
    let q = op(
        &mut g,
        Op::Slice {
            axis: 0,
            start: 0,
            len: 16,
        },
        &[flat],
    );
    let q = op(&mut g, Op::Reshape { dims: vec![4, 4] }, &[q]);
    let k = op(
        &mut g,
        Op::Slice {
            axis: 0,
            start: 16,
            len: 8,
        },
        &[flat],
    );
    let k = op(&mut g, Op::Reshape { dims: vec![2, 4] }, &[k]);
    let v = op(
        &mut g,
        Op::Slice {
            axis: 0,
            start: 24,
            len: 8,
        },
        &[flat],
    );
    let v = op(&mut g, Op::Reshape { dims: vec![2, 4] }, &[v]);
    g.push(Op::CacheAppend { state: kc }, &[k, pos], None)
        .unwrap();
    g.push(Op::CacheAppend { state: vc }, &[v, pos], None)
        .unwrap();
    let att = Op::Attention {
        k_cache: kc,
        v_cache: vc,
        scale: 0.5,
    };
    outs.push(("attention".into(), op(&mut g, att, &[q, pos])));
    for (n, v) in outs {
        g.add_output(n, v);
    }
    g.validate().unwrap();

    let mut rng = Rng(7);
    let conv_w: Vec<f32> = rng
        .vec(16)
        .iter()
        .map(|&x| half::f16::from_f32(x).to_f32())
        .collect();
    let conv_b = rng.vec(4);
    let cpu_w: Vec<Box<dyn WeightRows>> = vec![
        Box::new(DenseWeight::new(8, 2, conv_w.clone())),
        Box::new(DenseWeight::new(1, 4, conv_b.clone())),
    ];
    let gpu_w = [WeightData::F32(conv_w), WeightData::F32(conv_b)];
    let data: Vec<(Vec<f32>, Vec<f32>, [u32; 1])> = (0..4)
        .map(|s| {
            let mut a = rng.vec(64);
            a[5] = a[3]; // a tie for argmax/eq
            (a, rng.vec(8), [s as u32 % 4])
        })
        .collect();
    let inputs: Vec<Vec<Input>> = data
        .iter()
        .map(|(a, c, t)| vec![Input::F32(a), Input::F32(c), Input::U32(t)])
        .collect();
    compare(g, cpu_w, &gpu_w, &inputs, &ProgramOptions::default(), 2e-6);
}

/// Dequant (plain and indexed) and matvec (fused QMatVec and over an f32 value) for every
/// weight format, with weights split into several windows.
fn weights_case(formats: &[WeightFormat], rows: usize, window_bytes: Option<u64>) {
    let (e, cols) = (3usize, 64usize);
    let mut g = Graph::new("weights");
    let x = g.add_input(TensorType::f32([cols as u64]), "x");
    let expert = g.add_input(TensorType::new(DType::U32, [1u64]), "expert");
    let mut rng = Rng(11);
    let mut stores = vec![];
    let shapes = [vec![e, rows, cols], vec![e * rows, cols]];
    for (f, &format) in formats.iter().enumerate() {
        for (s, shape) in shapes.iter().enumerate() {
            let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
            let w = g.add_weight(format!("w{f}.{s}"), format, &dims);
            let all_rows: usize = shape[..shape.len() - 1].iter().product();
            stores.push((
                format,
                shape.clone(),
                random_packed(&mut rng, format, all_rows, cols),
            ));
            let index: Vec<ValueId> = if s == 0 { vec![expert] } else { vec![] };
            // Fused: the dequant only feeds the matvec.
            let fused = op(&mut g, Op::Dequant { weight: w }, &index);
            let y = op(&mut g, Op::MatVec, &[fused, x]);
            g.add_output(format!("qmatvec{f}.{s}"), y);
            // Unfused: the dequant is also an output, so it is materialized in f32.
            let deq = op(&mut g, Op::Dequant { weight: w }, &index);
            let y = op(&mut g, Op::MatVec, &[deq, x]);
            g.add_output(format!("dequant{f}.{s}"), deq);
            g.add_output(format!("matvec{f}.{s}"), y);
        }
    }
    g.validate().unwrap();
    let names: Vec<String> = (0..stores.len()).map(|i| format!("w{i}")).collect();
    let packed: Vec<PackedWeight> = stores
        .iter()
        .zip(&names)
        .map(|((format, shape, b), name)| {
            PackedWeight::new(
                name,
                *format,
                shape,
                &b.packed,
                b.scales.as_deref(),
                b.biases.as_deref(),
            )
            .unwrap()
        })
        .collect();
    let cpu_w: Vec<Box<dyn WeightRows>> = packed
        .iter()
        .map(|p| Box::new(*p) as Box<dyn WeightRows>)
        .collect();
    let gpu_w: Vec<WeightData> = packed.iter().map(|p| WeightData::Packed(*p)).collect();
    let xs: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(cols)).collect();
    let ids = [[2u32], [0], [1]];
    let inputs: Vec<Vec<Input>> = xs
        .iter()
        .zip(&ids)
        .map(|(x, id)| vec![Input::F32(x), Input::U32(id)])
        .collect();
    let options = ProgramOptions {
        max_window_bytes: window_bytes,
        ..Default::default()
    };
    if let Some(ctx) = device()
        && window_bytes.is_some()
    {
        let p = GpuProgram::with_options(ctx, g.clone(), &gpu_w, &options).unwrap();
        let windows: Vec<usize> = p.weight_windows().iter().map(Vec::len).collect();
        assert!(
            windows.iter().all(|&n| n > 1),
            "windows per weight: {windows:?}"
        );
    }
    compare(g, cpu_w, &gpu_w, &inputs, &options, 1e-5);
}

fn all_formats() -> Vec<WeightFormat> {
    zaya_wgpu::wgsl::test_formats()
}

#[test]
fn every_weight_format_matches_the_cpu() {
    weights_case(&all_formats(), 16, None);
}

#[test]
fn windowed_weights_match_the_cpu() {
    // Experts of 4 rows x 64 columns under a 300-byte window: every weight, stacked
    // ([3, 4, 64], indexed: whole experts per window) or plain ([12, 64]), needs 2 or 3
    // windows, and the indexed matvecs find the window holding the chosen expert.
    let formats = [
        WeightFormat::Affine {
            bits: 8,
            group_size: 32,
            scale_dtype: DType::F16,
        },
        WeightFormat::Affine {
            bits: 4,
            group_size: 32,
            scale_dtype: DType::BF16,
        },
        WeightFormat::Mxfp4 { group_size: 32 },
    ];
    weights_case(&formats, 4, Some(300));
}

#[test]
fn bad_tokens_and_a_full_context_are_errors_before_dispatch() {
    let Some(ctx) = device() else { return };
    let mut g = Graph::new("embed");
    let tok = g.add_input(TensorType::new(DType::U32, [1u64]), "token");
    let w = g.add_weight("e", WeightFormat::Float { dtype: DType::F32 }, &[5, 4]);
    let row = op(&mut g, Op::Dequant { weight: w }, &[tok]);
    g.add_output("logits", row);
    let program = GpuProgram::new(ctx, g, &[WeightData::F32(vec![0.5; 20])]).unwrap();
    let mut s = program.session(2).unwrap();
    let err = s.step_token(5, true).unwrap_err();
    assert!(
        matches!(
            err,
            GpuError::InputOutOfRange {
                id: 5,
                bound: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.step_token(4, true).unwrap().unwrap(), vec![0.5; 4]);
    s.step_token(0, false).unwrap();
    assert!(matches!(
        s.step_token(0, false),
        Err(GpuError::ContextFull { .. })
    ));
    s.reset().unwrap();
    assert_eq!(s.position(), 0);
    assert!(matches!(
        s.step_inputs(&[Input::F32(&[1.0])], &[]),
        Err(GpuError::BadInput { .. })
    ));
    assert!(matches!(program.session(0), Err(GpuError::Capacity(0))));
}

/// The fused matvec template on one graph: a `matvec` group (RMSNorm prologue, two matvecs
/// of one row class combined by a SwiGLU epilogue, a sibling class of another row count, an
/// indexed expert weight) and two `head` groups (norm + matvec + argmax, finished in one
/// launch and in two), for `format` and each forced `variants` (`None`: the default).
fn fused_matvec_case(format: WeightFormat, variants: &[Option<zaya_wgpu::variant::MatVecVariant>]) {
    let cols = 128usize;
    let (a_rows, c_rows, heads) = (24usize, 40usize, [50usize, 300]);
    let mut g = Graph::new("fused");
    let x = g.add_input(TensorType::f32([cols as u64]), "x");
    let gamma = g.add_input(TensorType::f32([cols as u64]), "gamma");
    let expert = g.add_input(TensorType::new(DType::U32, [1u64]), "expert");
    let mut rng = Rng(29);
    let mut stores = vec![];
    let mut weight = |g: &mut Graph, name: &str, shape: Vec<usize>| {
        let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let w = g.add_weight(name, format, &dims);
        let rows: usize = shape[..shape.len() - 1].iter().product();
        stores.push((shape, random_packed(&mut rng, format, rows, cols)));
        w
    };
    let wa = weight(&mut g, "a", vec![a_rows, cols]);
    let wb = weight(&mut g, "b", vec![3, a_rows, cols]);
    let wc = weight(&mut g, "c", vec![c_rows, cols]);
    let wh: Vec<_> = heads
        .iter()
        .enumerate()
        .map(|(k, &h)| weight(&mut g, &format!("head{k}"), vec![h, cols]))
        .collect();
    let group = g.add_group("matvec");
    let grouped = |g: &mut Graph, o: Op, ins: &[ValueId], group| {
        let v = op(g, o, ins);
        if let Some(last) = g.insts.last_mut() {
            last.group = Some(group);
        }
        v
    };
    let n = grouped(&mut g, Op::RmsNorm { eps: 1e-5 }, &[x, gamma], group);
    let da = grouped(&mut g, Op::Dequant { weight: wa }, &[], group);
    let ya = grouped(&mut g, Op::MatVec, &[da, n], group);
    let db = grouped(&mut g, Op::Dequant { weight: wb }, &[expert], group);
    let yb = grouped(&mut g, Op::MatVec, &[db, n], group);
    let dc = grouped(&mut g, Op::Dequant { weight: wc }, &[], group);
    let yc = grouped(&mut g, Op::MatVec, &[dc, n], group);
    let act = grouped(&mut g, Op::Unary { op: UnaryOp::Silu }, &[ya], group);
    let swiglu = grouped(&mut g, Op::Binary { op: BinaryOp::Mul }, &[act, yb], group);
    g.add_output("swiglu", swiglu);
    g.add_output("c", yc);
    for (k, &w) in wh.iter().enumerate() {
        let head = g.add_group("head");
        let nx = grouped(&mut g, Op::RmsNorm { eps: 1e-5 }, &[x, gamma], head);
        let d = grouped(&mut g, Op::Dequant { weight: w }, &[], head);
        let logits = grouped(&mut g, Op::MatVec, &[d, nx], head);
        let token = grouped(&mut g, Op::Argmax, &[logits], head);
        g.add_output(format!("logits{k}"), logits);
        g.add_output(format!("token{k}"), token);
    }
    g.validate().unwrap();
    let names: Vec<String> = (0..stores.len()).map(|i| format!("w{i}")).collect();
    let packed: Vec<PackedWeight> = stores
        .iter()
        .zip(&names)
        .map(|((shape, b), name)| {
            PackedWeight::new(
                name,
                format,
                shape,
                &b.packed,
                b.scales.as_deref(),
                b.biases.as_deref(),
            )
            .unwrap()
        })
        .collect();
    let gpu_w: Vec<WeightData> = packed.iter().map(|p| WeightData::Packed(*p)).collect();
    let xs: Vec<Vec<f32>> = (0..2).map(|_| rng.vec(cols)).collect();
    let gammas = rng.vec(cols);
    let ids = [[2u32], [0]];
    let inputs: Vec<Vec<Input>> = xs
        .iter()
        .zip(&ids)
        .map(|(x, id)| vec![Input::F32(x), Input::F32(&gammas), Input::U32(id)])
        .collect();
    let Some(ctx) = device() else { return };
    for v in variants {
        // A subgroup variant needs the adapter's SUBGROUP feature (Mesa's GL has none); the
        // lowering falls back to a workgroup reduction there, as it should.
        if v.is_some_and(|v| v.subgroups) && !ctx.features.subgroups {
            continue;
        }
        let mut target = zaya_wgpu::tune::untuned_target(&ctx);
        target.force = *v;
        let options = ProgramOptions {
            matvec: Some(target),
            ..Default::default()
        };
        // Every group must run as one fused kernel with the forced variant.
        let p = GpuProgram::with_options(Arc::clone(&ctx), g.clone(), &gpu_w, &options).unwrap();
        let plan = p.plan(8).unwrap();
        let fused: Vec<String> = plan
            .kernels
            .iter()
            .filter(|k| k.kind == zaya_wgpu::KernelKind::FusedMatVec)
            .map(|k| k.dispatches[0].shader.label())
            .collect();
        assert_eq!(fused.len(), 3, "{format} {v:?}: {fused:?}");
        if let Some(v) = v {
            assert!(
                fused[0].ends_with(&v.to_string()),
                "{format}: {fused:?} does not use {v}"
            );
        }
        let cpu_w: Vec<Box<dyn WeightRows>> = packed
            .iter()
            .map(|p| Box::new(*p) as Box<dyn WeightRows>)
            .collect();
        compare(g.clone(), cpu_w, &gpu_w, &inputs, &options, 1e-5);
    }
}

/// A spread of the variant space: both reductions, both load widths, 1..8 rows per pass,
/// small and large teams and workgroups, staged and unstaged vectors.
fn variant_sweep() -> Vec<Option<zaya_wgpu::variant::MatVecVariant>> {
    use zaya_wgpu::variant::MatVecVariant as V;
    let base = V {
        wg: 64,
        rows_per_wg: 16,
        rows_per_pass: 2,
        tpr: 8,
        vec: 4,
        subgroups: false,
        stage_x: true,
    };
    vec![
        None,
        Some(base),
        Some(V { vec: 1, ..base }),
        Some(V {
            wg: 32,
            tpr: 4,
            rows_per_pass: 1,
            rows_per_wg: 8,
            stage_x: false,
            ..base
        }),
        Some(V {
            wg: 128,
            tpr: 16,
            rows_per_pass: 8,
            rows_per_wg: 64,
            ..base
        }),
        Some(V {
            subgroups: true,
            rows_per_pass: 3,
            rows_per_wg: 24,
            ..base
        }),
        Some(V {
            subgroups: true,
            wg: 32,
            rows_per_pass: 8,
            rows_per_wg: 8,
            vec: 1,
            stage_x: false,
            ..base
        }),
    ]
}

#[test]
fn fused_matvec_variants_match_the_cpu() {
    let sweep = variant_sweep();
    for format in all_formats() {
        let four_bit = matches!(
            format,
            WeightFormat::Affine {
                bits: 4,
                group_size: 32,
                scale_dtype: DType::F16
            }
        );
        // Every format with the default and one variant; the ZAYA format with all of them.
        let variants = if four_bit { &sweep[..] } else { &sweep[..2] };
        fused_matvec_case(format, variants);
    }
}
