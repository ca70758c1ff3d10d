//! The token-chunk forms of the ops on hand-built graphs: per-token weights (indexed or a
//! plain stacked weight), packed and materialized, against the arithmetic written out.

use std::sync::Arc;
use zaya_cpu::{DenseWeight, Input, Program};
use zaya_ir::{DType, Graph, Op, TensorType, WeightFormat};

/// w [3 experts, 2, 4]; x [2 tokens, 4].
fn data() -> (Vec<f32>, Vec<f32>) {
    let w: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
    let x: Vec<f32> = (0..8).map(|i| (i as f32 * 0.7).sin()).collect();
    (w, x)
}

fn expected(w: &[f32], x: &[f32], slices: [usize; 2]) -> Vec<f32> {
    let mut y = vec![];
    for (t, &e) in slices.iter().enumerate() {
        for r in 0..2 {
            let row = &w[(e * 2 + r) * 4..(e * 2 + r + 1) * 4];
            y.push(
                row.iter()
                    .zip(&x[t * 4..t * 4 + 4])
                    .map(|(a, b)| a * b)
                    .sum(),
            );
        }
    }
    y
}

/// `materialize`: also read the dequant as a value, so it is not kept packed.
fn run(indexed: bool, materialize: bool, idx: [u32; 2]) -> Vec<f32> {
    let (w, x) = data();
    let mut g = Graph::new("per_token");
    let f32w = WeightFormat::Float { dtype: DType::F32 };
    // Indexed: 3 experts to pick from; plain: one stacked slice per token.
    let experts = if indexed { 3 } else { 2 };
    let wid = g.add_weight("w", f32w, &[experts, 2, 4]);
    let xi = g.add_input(TensorType::f32([2u64, 4]), "x");
    let wv = if indexed {
        let ii = g.add_input(TensorType::new(DType::U32, [2u64, 1]), "idx");
        g.push1(Op::Dequant { weight: wid }, &[ii]).unwrap()
    } else {
        g.push1(Op::Dequant { weight: wid }, &[]).unwrap()
    };
    let y = g.push1(Op::MatVec, &[wv, xi]).unwrap();
    g.add_output("y", y);
    if materialize {
        let n = g
            .push1(
                Op::Unary {
                    op: zaya_ir::UnaryOp::Neg,
                },
                &[wv],
            )
            .unwrap();
        g.add_output("neg", n);
    }
    let rows = if indexed { 6 } else { 4 };
    let bound = DenseWeight::new(rows, 4, w[..rows * 4].to_vec());
    let program = Arc::new(Program::new(g, vec![Box::new(bound)]).unwrap());
    let mut s = program.session(4).unwrap();
    if indexed {
        s.run(&[Input::F32(&x), Input::U32(&idx)]).unwrap();
    } else {
        s.run(&[Input::F32(&x)]).unwrap();
    }
    s.output_f32("y").unwrap().to_vec()
}

#[test]
fn per_token_matvec_reads_each_tokens_slice() {
    let (w, x) = data();
    for materialize in [false, true] {
        let got = run(true, materialize, [2, 0]);
        let want = expected(&w, &x, [2, 0]);
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (a - b).abs() < 1e-4,
                "indexed, materialized {materialize}: {got:?} vs {want:?}"
            );
        }
        let got = run(false, materialize, [0, 0]);
        let want = expected(&w, &x, [0, 1]);
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (a - b).abs() < 1e-4,
                "stacked, materialized {materialize}: {got:?} vs {want:?}"
            );
        }
    }
}
