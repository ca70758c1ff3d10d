//! A weight bound with a share of the bundle (`bind_weights_shared`, what `Model` uses) must
//! behave exactly as the borrowed one: every `WeightRows` method forwarded, so the matvec
//! takes the same kernels and the same byte-balanced split (a missed forward silently falls
//! back to the scalar decoder and f32-sized chunks).
use std::path::Path;
use std::sync::Arc;
use zaya_cpu::{WeightRows, bind_weights_shared};
use zaya_model::Bundle;

#[test]
fn shared_weights_forward_every_method_to_the_packed_weight() {
    for format in ["bundle_affine", "bundle_mxfp4"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/zaya-tiny-a")
            .join(format);
        let bundle = Arc::new(Bundle::open(&dir).unwrap());
        let graph = zaya_model::graph::build_decode_graph_with(
            &bundle.config,
            bundle.as_ref(),
            Default::default(),
        )
        .unwrap();
        let shared = bind_weights_shared(&bundle, &graph.weights).unwrap();
        let mut packed_seen = 0;
        for (w, bound) in graph.weights.iter().zip(&shared) {
            let Ok(packed) = bundle.weight(&w.source) else {
                continue;
            };
            packed_seen += 1;
            let (rows, cols) = (bound.rows(), bound.cols());
            assert_eq!((rows, cols), (packed.rows(), packed.cols()), "{}", w.source);
            assert_eq!(
                bound.row_bytes(),
                WeightRows::row_bytes(&packed),
                "{}",
                w.source
            );
            let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
            let (mut a, mut b) = (vec![0.0; rows], vec![0.0; rows]);
            bound.matvec(0, &x, &mut a);
            WeightRows::matvec(&packed, 0, &x, &mut b);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "{format} {}", w.source);
            bound.dot_rows(0, &x, &mut a);
            WeightRows::dot_rows(&packed, 0, &x, &mut b);
            assert_eq!(bits(&a), bits(&b), "{format} {}", w.source);
        }
        assert!(
            packed_seen > 10,
            "{format}: only {packed_seen} packed weights"
        );
    }
}
