//! Graph-level experimentation with the library API:
//!
//! 1. build a small graph by hand (an RMSNorm feeding a 4-bit matvec with a bias + SiLU),
//! 2. write a custom pass (fold `silu(x) * 1.0`-style no-ops: here, drop multiplications by a
//!    constant 1) and run it with the built-in ones,
//! 3. dump the graph and the plan, and run both versions on the CPU interpreter.
//!
//!     cargo run --example custom_pass

use std::sync::Arc;
use zaya_graph::cpu::{DenseWeight, Input, Program, WeightRows};
use zaya_graph::ir::{BinaryOp, DType, Graph, Op, TensorType, UnaryOp, WeightFormat};
use zaya_graph::opt::rewrite::{Outcome, Pattern, Rule, RulePass};
use zaya_graph::opt::{Pass, Plan, PlanOptions, Strategy};

/// A custom pass of one rule: `x * 1 -> x` (readers take `x`; `dce` removes the multiply).
const DROP_MUL_BY_ONE: RulePass = RulePass {
    name: "drop_mul_by_one",
    describe: "replace x * 1.0 by x",
    rules: || {
        vec![
            Rule::new(
                "mul_by_one",
                Pattern::op("mul", [Pattern::var("x"), Pattern::constant(1.0)]).commutative(),
                |rw, m, log| {
                    rw.replace_all_uses(m.value(), m["x"]);
                    log.note(format!(
                        "dropped multiplication by one at instruction {}",
                        m.root
                    ));
                    Outcome::resume(m.root + 1)
                },
            )
            // Not a broadcast (`x: f32[1] * ones[32]` is not `x`).
            .when(|rw, m| rw.ty(m["x"]) == rw.ty(m.value())),
        ]
    },
};

fn build() -> Graph {
    let mut g = Graph::new("example");
    let x = g.add_input(TensorType::f32([64u64]), "x");
    let gamma = g.add_weight("gamma", WeightFormat::Float { dtype: DType::F32 }, &[64]);
    let w = g.add_weight("w", WeightFormat::Float { dtype: DType::F32 }, &[32, 64]);
    let bias = g.add_weight("bias", WeightFormat::Float { dtype: DType::F32 }, &[32]);
    let gm = g.push1(Op::Dequant { weight: gamma }, &[]).unwrap();
    let xn = g.push1(Op::RmsNorm { eps: 1e-5 }, &[x, gm]).unwrap();
    let wf = g.push1(Op::Dequant { weight: w }, &[]).unwrap();
    let y = g.push1(Op::MatVec, &[wf, xn]).unwrap();
    let b = g.push1(Op::Dequant { weight: bias }, &[]).unwrap();
    let y = g.push1(Op::Binary { op: BinaryOp::Add }, &[y, b]).unwrap();
    let one = g
        .push(
            Op::Const { values: vec![1.0] },
            &[],
            Some(TensorType::f32([32u64])),
        )
        .unwrap()[0];
    let y = g
        .push1(Op::Binary { op: BinaryOp::Mul }, &[y, one])
        .unwrap();
    let y = g.push1(Op::Unary { op: UnaryOp::Silu }, &[y]).unwrap();
    g.name_value(y, "y");
    g.add_output("y", y);
    g
}

fn weights() -> Vec<Box<dyn WeightRows>> {
    let ramp = |n: usize, scale: f32| {
        (0..n)
            .map(|i| ((i * 7919) % 23) as f32 * scale - 0.25)
            .collect::<Vec<f32>>()
    };
    vec![
        Box::new(DenseWeight::new(1, 64, vec![1.0; 64])),
        Box::new(DenseWeight::new(32, 64, ramp(32 * 64, 0.02))),
        Box::new(DenseWeight::new(1, 32, ramp(32, 0.01))),
    ]
}

fn run(graph: Graph) -> Vec<f32> {
    let program = Arc::new(Program::new(graph, weights()).expect("valid program"));
    let mut session = program.session(1).expect("session");
    let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    session.run(&[Input::F32(&x)]).expect("step");
    session.output_f32("y").expect("output y").to_vec()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let graph = build();
    println!("--- by hand\n{graph}");

    // The custom pass first, then the built-in ones (a strategy is just an ordered pass list).
    let builtin = zaya_graph::engine::parse_strategy("dequant+epilogue")?;
    let mut passes: Vec<Arc<dyn Pass>> = vec![Arc::new(DROP_MUL_BY_ONE)];
    passes.extend(builtin.passes);
    let strategy = Strategy::new("custom+dequant+epilogue", passes);
    let (optimized, logs) = strategy.apply(&graph)?;
    for log in &logs {
        println!(
            "pass {:<16} {} rewrites, kernels {} -> {}",
            log.pass,
            log.rewrites.len(),
            log.kernels_before,
            log.kernels_after
        );
    }
    println!("--- optimized\n{optimized}");
    let plan = Plan::build(&optimized, &strategy.name, PlanOptions::default());
    print!("--- plan\n{}", plan.to_text());

    let (a, b) = (run(graph), run(optimized));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    println!(
        "--- CPU: y[0..4] = {:?}, max |unfused - optimized| = {diff:e}",
        &b[..4]
    );
    assert!(diff <= 1e-6);
    Ok(())
}
