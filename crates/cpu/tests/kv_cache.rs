//! KV caches in f16 and contexts too large to allocate, on the interpreter.
use std::path::Path;
use std::sync::Arc;
use zaya_cpu::{CpuError, Program, bind_bundle};
use zaya_model::graph::{GraphOptions, build_decode_graph_with};
use zaya_model::{Bundle, KvDtype};

fn program(bundle: &Bundle, kv_cache: KvDtype) -> Arc<Program<'_>> {
    let options = GraphOptions {
        kv_cache,
        ..Default::default()
    };
    let graph = build_decode_graph_with(&bundle.config, bundle, options).unwrap();
    let weights = bind_bundle(bundle, &graph).unwrap();
    Arc::new(Program::new(graph, weights).unwrap())
}

fn tiny_a() -> Bundle {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/zaya-tiny-a");
    Bundle::open(&dir.join("bundle_affine")).unwrap()
}

#[test]
fn a_context_too_large_for_the_machine_is_an_error_naming_its_size() {
    let bundle = tiny_a();
    for kv in [KvDtype::F32, KvDtype::F16] {
        let program = program(&bundle, kv);
        // The largest capacity a session accepts (positions are u32), far past any memory.
        let capacity = zaya_ir::exec::MAX_CAPACITY;
        let err = program
            .session(capacity)
            .err()
            .expect("no machine holds this");
        assert!(
            matches!(err, CpuError::StateTooLarge { capacity: c, .. } if c == capacity),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("bytes") && text.contains("--context"),
            "{text}"
        );
        // Past it, the capacity itself is refused, naming the range.
        let err = program
            .session(capacity + 1)
            .err()
            .expect("past u32 positions");
        assert!(
            matches!(err, CpuError::Capacity(c) if c == capacity + 1),
            "{err}"
        );
        assert!(err.to_string().contains("4294967295"), "{err}");
    }
}

#[test]
fn f16_caches_hold_the_appended_rows_rounded_to_f16() {
    let bundle = tiny_a();
    let (p32, p16) = (
        program(&bundle, KvDtype::F32),
        program(&bundle, KvDtype::F16),
    );
    let (mut s32, mut s16) = (p32.session(8).unwrap(), p16.session(8).unwrap());
    // One token: both caches get the same first row (same arithmetic before the append).
    s32.decode(3).unwrap();
    s16.decode(3).unwrap();
    let (k32, k16) = (
        s32.state("l0.k_cache").unwrap(),
        s16.state("l0.k_cache").unwrap(),
    );
    assert_eq!(k32.len(), k16.len());
    let rounded: Vec<f32> = k32
        .iter()
        .map(|&v| half::f16::from_f32(v).to_f32())
        .collect();
    assert_eq!(&*k16, rounded.as_slice());
    assert!(
        k32.iter().zip(k16.iter()).any(|(a, b)| a != b),
        "rounding must show"
    );
    s16.reset();
    assert!(s16.state("l0.k_cache").unwrap().iter().all(|&v| v == 0.0));
}
