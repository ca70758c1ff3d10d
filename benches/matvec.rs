//! `cargo bench --bench matvec`: one packed matvec per weight format at ZAYA1-8B shapes, on the
//! CPU interpreter and, when an adapter exists, on the GPU (wgpu). The weights come from random
//! bundles in the real formats (4-bit affine and MXFP4 linears, the 8-bit embedding, the f16
//! router), bound exactly as a decode step binds them.
//!
//! Without a GPU the GPU cases are skipped with a message; nothing fails. `zaya-graph bench
//! --kernels` reports the same kernels (and the fused ones) as GB/s against copy bandwidth.

use std::sync::{Arc, OnceLock};
use zaya_graph::model::graph::{GraphOptions, build_decode_graph_with};
use zaya_graph::model::{Bundle, Config, QuantMode};
use zaya_ir::{Graph, Op, TensorType};

fn main() {
    divan::main();
}

/// (case, bundle, weight source). Expert weights are stacked `[16, 2048, 2048]` and read one
/// slice at a time through an index; these plain 2-D weights keep the bench a single matvec
/// (`zaya-graph bench --kernels` covers the indexed expert kernels).
const CASES: &[(&str, Kind, &str)] = &[
    (
        "o_proj affine4 1024->2048",
        Kind::Affine,
        "model.layers.0.self_attn.o_proj.weight",
    ),
    (
        "o_proj mxfp4 1024->2048",
        Kind::Mxfp4,
        "model.layers.0.self_attn.o_proj.weight",
    ),
    (
        "q_proj affine4 2048->1024",
        Kind::Affine,
        "model.layers.0.self_attn.qkv.linear_q.weight",
    ),
    (
        "lm_head affine8 2048->4096",
        Kind::Affine,
        "model.embed_tokens.weight",
    ),
    (
        "router down f16 2048->256",
        Kind::Affine,
        "model.layers.1.zaya_block.router.down_proj.weight",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Affine,
    Mxfp4,
}

struct Models {
    affine: Bundle,
    mxfp4: Bundle,
    _dirs: [tempfile::TempDir; 2],
}

/// ZAYA1-8B width, 2 layers, a 4096-token vocabulary; once per bench binary.
fn models() -> &'static Models {
    static M: OnceLock<Models> = OnceLock::new();
    M.get_or_init(|| {
        let mut config = Config::zaya1_8b();
        config.num_layers = 2;
        config.vocab_size = 4096;
        let mut mx = config.clone();
        if let Some(q) = &mut mx.quantization {
            q.default.mode = QuantMode::Mxfp4;
        }
        let write = |c: &Config| {
            let dir = tempfile::tempdir().expect("temp dir");
            zaya_graph::model::random::write_random_bundle(c, dir.path(), 7)
                .expect("random bundle");
            let bundle = Bundle::open(dir.path()).expect("opens");
            (bundle, dir)
        };
        let (affine, a) = write(&config);
        let (mxfp4, b) = write(&mx);
        Models {
            affine,
            mxfp4,
            _dirs: [a, b],
        }
    })
}

fn bundle(kind: Kind) -> &'static Bundle {
    match kind {
        Kind::Affine => &models().affine,
        Kind::Mxfp4 => &models().mxfp4,
    }
}

/// `y = W x` for one bundle weight, declared as the decode graph declares it.
fn matvec_graph(bundle: &Bundle, source: &str) -> Graph {
    let decode = build_decode_graph_with(&bundle.config, bundle, GraphOptions::default())
        .expect("decode graph");
    let w = decode
        .weights
        .iter()
        .find(|w| w.source == source)
        .unwrap_or_else(|| panic!("{source} in the decode graph"));
    let mut g = Graph::new("matvec");
    let x = g.add_input(TensorType::f32([w.cols()]), "x");
    let id = g.add_weight(w.source.clone(), w.format, &w.dims);
    let wf = g.push1(Op::Dequant { weight: id }, &[]).expect("dequant");
    let y = g.push1(Op::MatVec, &[wf, x]).expect("matvec");
    g.add_output("y", y);
    g
}

fn input(g: &Graph) -> Vec<f32> {
    let n = g.ty(g.inputs[0]).numel().unwrap_or(0) as usize;
    (0..n).map(|i| (i as f32 * 0.618).sin()).collect()
}

fn case(name: &str) -> (Kind, &'static str) {
    let (_, kind, source) = CASES.iter().find(|c| c.0 == name).expect("known case");
    (*kind, source)
}

#[divan::bench(args = CASES.iter().map(|c| c.0))]
fn cpu(bencher: divan::Bencher, name: &str) {
    let (kind, source) = case(name);
    let bundle = bundle(kind);
    let graph = matvec_graph(bundle, source);
    let x = input(&graph);
    let weights = zaya_graph::cpu::bind_bundle(bundle, &graph).expect("binds");
    #[allow(clippy::arc_with_non_send_sync)]
    let program = Arc::new(zaya_graph::cpu::Program::new(graph, weights).expect("program"));
    let mut session = program.session(1).expect("session");
    bencher.bench_local(|| {
        // A matvec graph has no state: rewinding keeps the session usable forever.
        session.reset();
        session
            .run(&[zaya_graph::cpu::Input::F32(&x)])
            .expect("step");
    });
}

fn gpu_context() -> Option<&'static Arc<zaya_graph::gpu::GpuContext>> {
    static CTX: OnceLock<Option<Arc<zaya_graph::gpu::GpuContext>>> = OnceLock::new();
    CTX.get_or_init(|| {
        match zaya_graph::gpu::GpuContext::new(&zaya_graph::gpu::AdapterChoice::default()) {
            Ok(ctx) => Some(Arc::new(ctx)),
            Err(e) => {
                eprintln!("skipping the GPU matvec benchmarks: {e}");
                None
            }
        }
    })
    .as_ref()
}

#[divan::bench(args = CASES.iter().map(|c| c.0))]
fn gpu(bencher: divan::Bencher, name: &str) {
    let Some(ctx) = gpu_context() else {
        return;
    };
    let (kind, source) = case(name);
    let bundle = bundle(kind);
    let graph = matvec_graph(bundle, source);
    let x = input(&graph);
    let weights = zaya_graph::gpu::bind_bundle(bundle, &graph).expect("binds");
    let program = match zaya_graph::gpu::GpuProgram::new(Arc::clone(ctx), graph, &weights) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipping GPU {name}: {e}");
            return;
        }
    };
    let mut session = program.session(1).expect("session");
    bencher.bench_local(|| {
        session.reset().expect("reset");
        session
            .step_inputs(&[zaya_graph::gpu::Input::F32(&x)], &[])
            .expect("step");
        ctx.wait().expect("wait");
    });
}
