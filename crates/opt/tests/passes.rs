//! Each pass on a small graph, before and after, as text snapshots (file tests: the
//! `.before.txt` / `.after.txt` pairs in `tests/snapshots`; `UPDATE_SNAPSHOTS=1` rewrites
//! them). Plus the pass logs and the refusal of fusions that would create a cycle.

use std::path::Path;
use zaya_ir::*;
use zaya_opt::strategy::pass_by_name;
use zaya_opt::{Strategy, run_passes};

fn snapshot(name: &str, text: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        text, want,
        "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

const Q4: WeightFormat = WeightFormat::Affine {
    bits: 4,
    group_size: 32,
    scale_dtype: DType::F16,
};
const F16: WeightFormat = WeightFormat::Float { dtype: DType::F16 };

/// A residual stream `r`, an RMSNorm, and what a transformer layer does with it:
/// two projections of the normed vector, a bias + GELU epilogue on one, SwiGLU of both,
/// a down projection, and a residual merge `(r + b) * s + down`.
fn layer() -> Graph {
    let mut g = Graph::new("layer");
    let r = g.add_input(TensorType::f32([64u64]), "r");
    let gamma = g.add_weight("norm", F16, &[64]);
    let wg = g.add_weight("gate", Q4, &[32, 64]);
    let wu = g.add_weight("up", Q4, &[32, 64]);
    let bias = g.add_weight("gate.bias", F16, &[32]);
    let wd = g.add_weight("down", Q4, &[64, 32]);
    let rb = g.add_weight("res.bias", F16, &[64]);
    let rs = g.add_weight("res.scale", F16, &[64]);
    let d = |g: &mut Graph, w| g.push1(Op::Dequant { weight: w }, &[]).unwrap();
    let gm = d(&mut g, gamma);
    let x = g.push1(Op::RmsNorm { eps: 1e-5 }, &[r, gm]).unwrap();
    g.name_value(x, "x");
    let w = d(&mut g, wg);
    let gate = g.push1(Op::MatVec, &[w, x]).unwrap();
    let b = d(&mut g, bias);
    let gate = g
        .push1(Op::Binary { op: BinaryOp::Add }, &[gate, b])
        .unwrap();
    let gate = g.push1(Op::Unary { op: UnaryOp::Gelu }, &[gate]).unwrap();
    let w = d(&mut g, wu);
    let up = g.push1(Op::MatVec, &[w, x]).unwrap();
    let mid = g
        .push1(Op::Binary { op: BinaryOp::Mul }, &[gate, up])
        .unwrap();
    g.name_value(mid, "mid");
    let w = d(&mut g, wd);
    let down = g.push1(Op::MatVec, &[w, mid]).unwrap();
    let b = d(&mut g, rb);
    let s = d(&mut g, rs);
    let rr = g.push1(Op::Binary { op: BinaryOp::Add }, &[r, b]).unwrap();
    let rr = g.push1(Op::Binary { op: BinaryOp::Mul }, &[rr, s]).unwrap();
    let out = g
        .push1(Op::Binary { op: BinaryOp::Add }, &[rr, down])
        .unwrap();
    g.name_value(out, "out");
    let dead = g.push1(Op::Unary { op: UnaryOp::Exp }, &[out]).unwrap();
    g.name_value(dead, "unused");
    g.add_output("out", out);
    g.validate().unwrap();
    g
}

/// Applies `passes` in order; snapshots the graph before the last one and after it.
fn before_after(name: &str, passes: &[&str]) -> Vec<zaya_opt::PassLog> {
    let g = layer();
    let prefix: Vec<_> = passes[..passes.len() - 1]
        .iter()
        .map(|p| pass_by_name(p, &zaya_model::graph::scope_fusions()).unwrap())
        .collect();
    let prefix: Vec<&dyn zaya_opt::Pass> = prefix.iter().map(|p| p.as_ref()).collect();
    let (before, _) = run_passes(&g, &prefix).unwrap();
    let last = pass_by_name(
        passes[passes.len() - 1],
        &zaya_model::graph::scope_fusions(),
    )
    .unwrap();
    let (after, logs) = run_passes(&before, &[last.as_ref()]).unwrap();
    snapshot(&format!("{name}.before.txt"), &before.to_string());
    snapshot(&format!("{name}.after.txt"), &after.to_string());
    logs
}

#[test]
fn dequant_folds_every_weight_decode_into_its_reader() {
    let logs = before_after("dequant", &["dequant"]);
    assert_eq!(logs[0].rewrites.len(), 7, "{:#?}", logs[0].rewrites);
}

#[test]
fn siblings_merge_matvecs_reading_one_input() {
    let logs = before_after("siblings", &["dequant", "siblings"]);
    assert_eq!(logs[0].rewrites.len(), 1, "{:#?}", logs[0].rewrites);
}

#[test]
fn epilogue_pulls_bias_gelu_swiglu_and_residual_merge_into_matvecs() {
    let logs = before_after("epilogue", &["dequant", "siblings", "epilogue"]);
    assert!(
        logs[0].rewrites.iter().any(|l| l.contains("gelu")),
        "{:#?}",
        logs[0].rewrites
    );
}

#[test]
fn norm_prologue_recomputes_the_norm_in_its_matvec_kernel() {
    let logs = before_after(
        "norm_prologue",
        &["dequant", "siblings", "epilogue", "norm_prologue"],
    );
    assert_eq!(logs[0].rewrites.len(), 1, "{:#?}", logs[0].rewrites);
}

#[test]
fn dce_removes_unread_results() {
    let logs = before_after("dce", &["dce"]);
    assert_eq!(
        logs[0].rewrites,
        vec!["removed 1 dead instructions".to_string()]
    );
}

#[test]
fn the_layer_ends_in_three_kernels_under_dequant_plus_epilogue() {
    let (g, _) = Strategy::parse("dequant+epilogue", &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&layer())
        .unwrap();
    let launches = zaya_opt::Plan::build(&g, "dequant+epilogue", Default::default())
        .totals
        .dispatches;
    // gate/up (+norm, bias, GELU, SwiGLU) and down (+residual merge).
    assert_eq!(launches, 2, "{g}");
}

#[test]
fn fusion_that_would_create_a_cycle_is_refused_and_logged() {
    // b = f(a); c = g(a, b): fusing a with c alone would need b before and after.
    let mut g = Graph::new("cycle");
    let x = g.add_input(TensorType::f32([4u64]), "x");
    let a = g.push1(Op::Unary { op: UnaryOp::Exp }, &[x]).unwrap();
    let b = g.push1(Op::Softmax, &[a]).unwrap();
    let c = g.push1(Op::Binary { op: BinaryOp::Add }, &[a, b]).unwrap();
    g.add_output("c", c);
    let before = g.to_string();
    let err = g.fuse(&[0, 2], "bad").unwrap_err();
    assert!(err.contains("cannot fuse"), "{err}");
    assert_eq!(
        g.to_string(),
        before,
        "a refused fusion leaves the graph untouched"
    );
}

#[test]
fn unknown_names_are_reported_with_the_known_ones() {
    let err = Strategy::parse("all+turbo", &zaya_model::graph::scope_fusions())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown strategy component `turbo`") && err.contains("dequant"),
        "{err}"
    );
    let err = Strategy::from_passes("dequant,magic", &zaya_model::graph::scope_fusions())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown pass `magic`") && err.contains("norm_prologue"),
        "{err}"
    );
}

#[test]
fn scope_fusion_turns_each_marked_scope_into_one_kernel() {
    // Two "attention blocks" marked as scopes, sharing nothing: each becomes one kernel.
    let mut g = Graph::new("scopes");
    let x = g.add_input(TensorType::f32([8u64]), "x");
    let mut outs = vec![];
    for n in 0..2 {
        g.set_scope(Some(&format!("l{n}.cca")));
        let a = g
            .push1(
                Op::Unary {
                    op: UnaryOp::Square,
                },
                &[x],
            )
            .unwrap();
        let s = g
            .push1(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axis: 0,
                },
                &[a],
            )
            .unwrap();
        let r = g.push1(Op::Unary { op: UnaryOp::Rsqrt }, &[s]).unwrap();
        let y = g.push1(Op::Binary { op: BinaryOp::Mul }, &[x, r]).unwrap();
        g.set_scope(None);
        outs.push(g.push1(Op::Softmax, &[y]).unwrap());
    }
    g.add_output("a", outs[0]);
    g.add_output("b", outs[1]);
    let (after, logs) = run_passes(
        &g,
        &[pass_by_name("cca", &zaya_model::graph::scope_fusions())
            .unwrap()
            .as_ref()],
    )
    .unwrap();
    snapshot("cca.before.txt", &g.to_string());
    snapshot("cca.after.txt", &after.to_string());
    assert_eq!(logs[0].rewrites.len(), 2);
    assert_eq!(after.kernel_ranges().len(), 4);
}

/// Scope fusions are the graph's data: a strategy knows `cca` only from a declaration, and
/// `all` runs every fusion it is given, whatever its name.
#[test]
fn scope_fusions_come_from_the_graph_not_the_optimizer() {
    let err = Strategy::parse("cca", &[]).unwrap_err().to_string();
    assert!(err.contains("cca") && err.contains("all"), "{err}");
    let mlp = zaya_ir::ScopeFusion {
        name: "mlp".into(),
        suffix: "mlp".into(),
        label: "mlp".into(),
        describe: "fuse each MLP".into(),
    };
    let all = Strategy::parse("all", std::slice::from_ref(&mlp)).unwrap();
    assert!(all.pass_names().contains(&"mlp"), "{all:?}");
    assert_eq!(all.pass_names().last(), Some(&"dce"));
    let generic = Strategy::parse("all", &[]).unwrap();
    assert!(
        !generic
            .pass_names()
            .iter()
            .any(|n| *n == "cca" || *n == "mlp")
    );
    // And the model declares ZAYA's three on every graph it builds.
    let names: Vec<String> = zaya_model::graph::scope_fusions()
        .into_iter()
        .map(|z| z.name)
        .collect();
    assert_eq!(names, ["cca", "router", "head"]);
}
