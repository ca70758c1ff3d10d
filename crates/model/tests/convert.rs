//! `convert` against the published converter: on every shipped fixture, `source` (original
//! naming) and its HF-named twin convert to files byte-identical to `bundle_affine` and
//! `bundle_mxfp4`, with configs and index equal as JSON.
mod common;
use common::hf_twin::{TwinDtype, write_hf_twin};
use common::*;
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use zaya_model::QuantMode;
use zaya_model::convert::{ConvertOptions, Event, convert};
use zaya_model::{Bundle, ModelError};

const FIXTURES: [&str; 3] = ["zaya-tiny-a", "zaya-tiny-b", "zaya-tiny-c"];

fn options(format: QuantMode) -> ConvertOptions {
    ConvertOptions {
        format,
        ..ConvertOptions::default()
    }
}

fn run(src: &Path, dst: &Path, format: QuantMode) -> Result<(), ModelError> {
    let cancel = AtomicBool::new(false);
    let mut written = 0u64;
    let mut planned = 0u64;
    let mut on_event = |e: Event| match e {
        Event::Planned { bytes, .. } => planned = bytes,
        Event::Wrote(n) => written += n,
        Event::Verifying => {}
    };
    let summary = convert(src, dst, &options(format), &cancel, &mut on_event)?;
    assert_eq!(written, planned, "progress adds up");
    assert!(summary.report.usable);
    Ok(())
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Byte-identical shard, JSON-equal configs and index.
fn assert_same_bundle(got: &Path, want: &Path) {
    let shard_got = std::fs::read(got.join(SHARD)).unwrap();
    let shard_want = std::fs::read(want.join(SHARD)).unwrap();
    if shard_got != shard_want {
        let (a, b) = (
            read_tensors(&got.join(SHARD)),
            read_tensors(&want.join(SHARD)),
        );
        let names = |v: &[Tensor]| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b), "{}: tensor names", got.display());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.dtype, &x.shape),
                (&y.dtype, &y.shape),
                "{}: {}",
                got.display(),
                x.name
            );
            let diff = x.data.iter().zip(&y.data).filter(|(p, q)| p != q).count();
            assert_eq!(
                diff,
                0,
                "{}: {} differs in {diff} bytes",
                want.display(),
                x.name
            );
        }
        panic!("{}: headers differ", want.display());
    }
    for file in ["config.json", "jang_config.json", INDEX] {
        assert_eq!(
            json(&got.join(file)),
            json(&want.join(file)),
            "{} {file}",
            want.display()
        );
    }
    let mut files: Vec<_> = std::fs::read_dir(got)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
}

#[test]
fn original_source_converts_to_the_published_bundles() {
    for fixture in FIXTURES {
        let dir = fixtures().join(fixture);
        for (format, bundle) in [
            (QuantMode::Affine, "bundle_affine"),
            (QuantMode::Mxfp4, "bundle_mxfp4"),
        ] {
            let out = tempfile::tempdir().unwrap();
            let dst = out.path().join("bundle");
            run(&dir.join("source"), &dst, format).unwrap();
            assert_same_bundle(&dst, &dir.join(bundle));
        }
    }
}

#[test]
fn hf_named_source_converts_to_the_same_bundles() {
    for (fixture, dtype, shards) in [
        ("zaya-tiny-a", TwinDtype::Same, 1),
        ("zaya-tiny-b", TwinDtype::F32, 3),
        ("zaya-tiny-c", TwinDtype::Same, 2),
    ] {
        let dir = fixtures().join(fixture);
        let work = tempfile::tempdir().unwrap();
        let twin = work.path().join("hf");
        write_hf_twin(&dir.join("source"), &twin, dtype, shards);
        for (format, bundle) in [
            (QuantMode::Affine, "bundle_affine"),
            (QuantMode::Mxfp4, "bundle_mxfp4"),
        ] {
            let dst = work.path().join(bundle);
            run(&twin, &dst, format).unwrap();
            assert_same_bundle(&dst, &dir.join(bundle));
        }
    }
}

#[test]
fn converted_bundle_opens_and_destination_rules_hold() {
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("b");
    run(&tiny("source"), &dst, QuantMode::Affine).unwrap();
    Bundle::open(&dst).unwrap();
    // An existing destination is refused before anything is written.
    let err = run(&tiny("source"), &dst, QuantMode::Affine).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // A quantized source is refused.
    let err = run(
        &tiny("bundle_affine"),
        &out.path().join("c"),
        QuantMode::Affine,
    )
    .unwrap_err();
    assert!(err.to_string().contains("already quantized"), "{err}");
    // Only the finished bundle is left in the parent.
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn cancelled_conversion_leaves_nothing_behind() {
    let out = tempfile::tempdir().unwrap();
    let dst = out.path().join("b");
    let cancel = AtomicBool::new(true);
    let err = convert(
        &tiny("source"),
        &dst,
        &options(QuantMode::Affine),
        &cancel,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::Interrupted), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn small_shards_and_other_bit_widths_round_trip_through_the_loader() {
    let out = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    for (i, opts) in [
        ConvertOptions {
            bits: 8,
            group_size: 64,
            embed_bits: 4,
            shard_bytes: 100_000,
            ..ConvertOptions::default()
        },
        ConvertOptions {
            format: QuantMode::Mxfp4,
            shard_bytes: 200_000,
            ..ConvertOptions::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        let dst = out.path().join(format!("b{i}"));
        let s = convert(&tiny("source"), &dst, &opts, &cancel, &mut |_| {}).unwrap();
        assert!(s.shards > 1, "{s:?}");
        let bundle = Bundle::open(&dst).unwrap();
        // Dequantized weights stay close to the source.
        let src = Bundle::open(&tiny("source")).unwrap();
        let name = "model.layers.0.self_attn.o_proj";
        let (a, b) = (
            bundle.weight(name).unwrap().dequant(),
            src.weight(name).unwrap().dequant(),
        );
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        let scale = b.iter().map(|x| x.abs()).fold(0f32, f32::max);
        assert!(worst < scale * 0.2, "{i}: {worst} vs {scale}");
    }
    let bad = ConvertOptions {
        format: QuantMode::Mxfp4,
        group_size: 64,
        ..ConvertOptions::default()
    };
    let err = convert(
        &tiny("source"),
        &out.path().join("x"),
        &bad,
        &cancel,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("--group-size"), "{err}");
}
