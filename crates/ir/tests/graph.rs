//! Building, validating and printing small graphs by hand.

use zaya_ir::*;

fn tiny() -> Graph {
    let mut g = Graph::new("tiny");
    let pos = g.add_symbol(zaya_ir::SymbolKind::Pos);
    let w = g.add_weight(
        "w",
        WeightFormat::Affine {
            bits: 4,
            group_size: 32,
            scale_dtype: DType::F16,
        },
        &[4, 32],
    );
    let gamma = g.add_weight("gamma", WeightFormat::Float { dtype: DType::F16 }, &[32]);
    let x = g.add_input(TensorType::f32([32u64]), "x");
    let gm = g.push1(Op::Dequant { weight: gamma }, &[]).unwrap();
    let xn = g.push1(Op::RmsNorm { eps: 1e-5 }, &[x, gm]).unwrap();
    let wf = g.push1(Op::Dequant { weight: w }, &[]).unwrap();
    let y = g.push1(Op::MatVec, &[wf, xn]).unwrap();
    let p = g.push1(Op::Symbol { sym: pos }, &[]).unwrap();
    let y2 = g.push1(Op::Reshape { dims: vec![1, 4] }, &[y]).unwrap();
    let r = g
        .push1(
            Op::Rope {
                rot_dims: 2,
                theta: 10000.0,
            },
            &[y2, p],
        )
        .unwrap();
    g.name_value(r, "rotated");
    g.add_output("y", r);
    g
}

#[test]
fn text_form_is_canonical_and_readable() {
    let g = tiny();
    g.validate().unwrap();
    let text = g.to_string();
    let expected = "\
graph tiny {
  symbol pos
  weight @0 = affine4g32f16[4, 32] \"w\"
  weight @1 = f16[32] \"gamma\"
  input %0: f32[32]  ; x
  %1: f32[32] = dequant @1
  %2: f32[32] = rms_norm{eps=1e-5} %0, %1
  %3: f32[4, 32] = dequant @0
  %4: f32[4] = matvec %3, %2
  %5: u32[1] = symbol{pos}
  %6: f32[1, 4] = reshape{[1, 4]} %4
  %7: f32[1, 4] = rope{rot=2, theta=10000.0} %6, %5  ; rotated
  output y = %7
}
";
    assert_eq!(text, expected);
    // Compaction does not change the text.
    assert_eq!(g.compacted().to_string(), text);
}

#[test]
fn dead_code_is_removed_and_ids_stay_canonical() {
    let mut g = tiny();
    let x = g.inputs[0];
    let unused = g.push1(Op::Unary { op: UnaryOp::Exp }, &[x]).unwrap();
    let _ = g.push1(Op::Unary { op: UnaryOp::Neg }, &[unused]).unwrap();
    let before = g.insts.len();
    assert_eq!(g.eliminate_dead_code(), 2);
    assert_eq!(g.insts.len(), before - 2);
    g.validate().unwrap();
    assert_eq!(g.to_string(), tiny().to_string());
}

#[test]
fn shape_errors_name_the_instruction() {
    let mut g = tiny();
    let x = g.inputs[0];
    let w = g
        .push1(
            Op::Dequant {
                weight: WeightId(0),
            },
            &[],
        )
        .unwrap();
    let bad = g.push1(Op::MatVec, &[x, w]);
    let err = bad.unwrap_err().to_string();
    assert!(
        err.starts_with("i8 (matvec): matvec needs w [out, in] and x [.., in]"),
        "{err}"
    );
}

#[test]
fn validator_rejects_malformed_graphs() {
    // Use before definition.
    let mut g = tiny();
    g.insts.swap(0, 1);
    let err = g.validate().unwrap_err().to_string();
    assert!(err.contains("before it is defined"), "{err}");

    // A recorded type that does not match inference.
    let mut g = tiny();
    g.values[2].ty = TensorType::f32([31u64]);
    assert!(g.validate().unwrap_err().to_string().contains("inferred"));

    // An output that points nowhere.
    let mut g = tiny();
    g.outputs.push(("y".into(), ValueId(0)));
    assert!(
        g.validate()
            .unwrap_err()
            .to_string()
            .contains("appears twice")
    );

    // A quantized weight whose columns do not fill whole groups.
    let mut g = tiny();
    g.weights[0].dims = vec![4, 48];
    assert!(
        g.validate()
            .unwrap_err()
            .to_string()
            .contains("not a multiple of group size")
    );
}

#[test]
fn broadcasting_and_state_ops_type_check() {
    let mut g = Graph::new("state");
    let ctx = g.add_symbol(zaya_ir::SymbolKind::Ctx);
    let pos = g.add_symbol(zaya_ir::SymbolKind::Pos);
    let k = g.add_state(
        "k",
        TensorType::new(DType::F32, [Dim::Const(2), Dim::Sym(ctx), Dim::Const(8)]),
    );
    let v = g.add_state(
        "v",
        TensorType::new(DType::F32, [Dim::Const(2), Dim::Sym(ctx), Dim::Const(8)]),
    );
    let q = g.add_input(TensorType::f32([4u64, 8]), "q");
    let kv = g.add_input(TensorType::f32([2u64, 8]), "kv");
    let p = g.push1(Op::Symbol { sym: pos }, &[]).unwrap();
    assert!(
        g.push(Op::CacheAppend { state: k }, &[kv, p], None)
            .unwrap()
            .is_empty()
    );
    g.push(Op::CacheAppend { state: v }, &[kv, p], None)
        .unwrap();
    let a = g
        .push1(
            Op::Attention {
                k_cache: k,
                v_cache: v,
                scale: 0.35,
            },
            &[q, p],
        )
        .unwrap();
    assert_eq!(g.ty(a), &TensorType::f32([4u64, 8]));
    // [2, 1, 8] + [2, 2, 8] broadcasts; [3] + [2] does not.
    let a3 = g
        .push1(
            Op::Reshape {
                dims: vec![2, 2, 8],
            },
            &[a],
        )
        .unwrap();
    let k3 = g
        .push1(
            Op::Reshape {
                dims: vec![2, 1, 8],
            },
            &[kv],
        )
        .unwrap();
    let s = g
        .push1(Op::Binary { op: BinaryOp::Add }, &[a3, k3])
        .unwrap();
    assert_eq!(g.ty(s), &TensorType::f32([2u64, 2, 8]));
    assert!(g.push1(Op::Reshape { dims: vec![3] }, &[s]).is_err());
    // Reading a ctx-shaped state as a value is refused: attention reads caches in place.
    assert!(g.push1(Op::StateRead { state: k }, &[]).is_err());
    g.add_output("a", s);
    g.validate().unwrap();
    // State edges order the appends before attention.
    let dg = deps::dependency_graph(&g);
    assert!(
        dg.raw_edges()
            .iter()
            .any(|e| matches!(e.weight, deps::Dep::State(_)))
    );
    assert!(deps::to_dot(&g).starts_with("digraph \"state\""));
}

#[test]
fn graphs_round_trip_through_json() {
    let g = tiny();
    let json = serde_json::to_string(&g).unwrap();
    let back: Graph = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
}

/// The token-chunk forms of the ops prefill uses: shapes over a leading token axis T, and
/// the decode (one-token) forms unchanged.
#[test]
fn token_chunk_ops_infer_shapes_over_t_tokens() {
    let mut g = Graph::new("chunk");
    let ctx = g.add_symbol(SymbolKind::Ctx);
    let pos = g.add_symbol(SymbolKind::Pos);
    let f32w = WeightFormat::Float { dtype: DType::F32 };
    let w = g.add_weight("w", f32w, &[6, 8]);
    let experts = g.add_weight("experts", f32w, &[4, 6, 8]);
    let cache_ty = TensorType::new(DType::F32, [Dim::Const(2), Dim::Sym(ctx), Dim::Const(4)]);
    let kc = g.add_state("k", cache_ty.clone());
    let vc = g.add_state("v", cache_ty);
    let x = g.add_input(TensorType::f32([3u64, 8]), "x");
    let idx = g.add_input(TensorType::new(DType::U32, [3u64, 1]), "idx");
    let ty = |g: &Graph, v: ValueId| g.ty(v).const_dims().unwrap().to_vec();

    let wf = g.push1(Op::Dequant { weight: w }, &[]).unwrap();
    let y = g.push1(Op::MatVec, &[wf, x]).unwrap();
    assert_eq!(ty(&g, y), [3, 6], "shared weight over T rows");
    let ef = g.push1(Op::Dequant { weight: experts }, &[idx]).unwrap();
    assert_eq!(ty(&g, ef), [3, 6, 8], "one expert per token");
    let ye = g.push1(Op::MatVec, &[ef, x]).unwrap();
    assert_eq!(ty(&g, ye), [3, 6], "per-token weights");

    let p = g.push1(Op::Symbol { sym: pos }, &[]).unwrap();
    let q = g
        .push1(
            Op::Reshape {
                dims: vec![3, 2, 4],
            },
            &[ye],
        )
        .unwrap_err();
    assert!(q.to_string().contains("reshape"), "{q}");
    let q = g
        .push1(
            Op::Slice {
                axis: 1,
                start: 0,
                len: 4,
            },
            &[ye],
        )
        .unwrap();
    let q = g.push1(Op::Concat { axis: 1 }, &[q, q]).unwrap();
    let q = g
        .push1(
            Op::Reshape {
                dims: vec![3, 2, 4],
            },
            &[q],
        )
        .unwrap();
    let rope = Op::Rope {
        rot_dims: 4,
        theta: 10000.0,
    };
    let qr = g.push1(rope.clone(), &[q, p]).unwrap();
    assert_eq!(ty(&g, qr), [3, 2, 4], "token t at pos + t");
    let cols = g.push1(Op::Transpose, &[y]).unwrap();
    assert_eq!(ty(&g, cols), [6, 3]);
    // Positions are integers: an f32 position is refused, as is a rank above a chunk's.
    let float_pos = g
        .push(
            Op::Const { values: vec![0.0] },
            &[],
            Some(TensorType::f32([1u64])),
        )
        .unwrap()[0];
    let bad = g.push1(rope.clone(), &[q, float_pos]).unwrap_err();
    assert!(bad.to_string().contains("u32"), "{bad}");
    let q4 = g
        .push1(
            Op::Reshape {
                dims: vec![1, 3, 2, 4],
            },
            &[q],
        )
        .unwrap();
    let bad = g.push1(rope, &[q4, p]).unwrap_err();
    assert!(bad.to_string().contains("[T, rows, dim]"), "{bad}");
    g.push(Op::CacheAppend { state: kc }, &[qr, p], None)
        .unwrap();
    g.push(Op::CacheAppend { state: vc }, &[q, p], None)
        .unwrap();
    let att = g
        .push1(
            Op::Attention {
                k_cache: kc,
                v_cache: vc,
                scale: 0.5,
            },
            &[qr, p],
        )
        .unwrap();
    assert_eq!(ty(&g, att), [3, 2, 4]);

    let cw = g.add_weight("conv", f32w, &[6, 1, 2]);
    let cb = g.add_weight("bias", f32w, &[6]);
    let cw = g.push1(Op::Dequant { weight: cw }, &[]).unwrap();
    let cb = g.push1(Op::Dequant { weight: cb }, &[]).unwrap();
    let conv = g.push1(Op::Conv { groups: 6 }, &[cols, cw, cb]).unwrap();
    assert_eq!(ty(&g, conv), [6, 2], "W - K + 1 columns");
    g.add_output("att", att);
    g.add_output("conv", conv);
    g.validate().unwrap();
    let text = g.to_string();
    assert!(text.contains("conv{groups=6}"), "{text}");
    assert!(text.contains("transpose"), "{text}");
}
