//! ZAYA1-8B at full size without the weights: header-only sparse shards built from the
//! published bundle's inventory. Opening and verifying must accept them (1965 tensors,
//! 5.45 GiB of data) in well under a second, and refuse them after one tensor is removed
//! or reshaped.
mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;
use zaya_ir::DType;
use zaya_model::writer::{self, TensorSpec};
use zaya_model::{Bundle, ModelError, verify};

fn inventory() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("zaya1-8b/inventory.json")).unwrap(),
    )
    .unwrap()
}

fn specs(inv: &Value) -> Vec<TensorSpec> {
    inv["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| TensorSpec {
            name: t["name"].as_str().unwrap().to_string(),
            dtype: match t["dtype"].as_str().unwrap() {
                "U32" => DType::U32,
                "F16" => DType::F16,
                other => panic!("inventory dtype {other}"),
            },
            shape: t["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect(),
        })
        .collect()
}

/// Writes sparse ~1 GB shards and an index, like the converter's output.
fn write_sparse_bundle(dir: &Path, tensors: &[TensorSpec]) {
    std::fs::copy(
        fixtures().join("zaya1-8b/config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let shards = writer::plan_shards(tensors, 1_000_000_000);
    for (i, shard) in shards.iter().enumerate() {
        writer::write_header_only(&dir.join(writer::shard_name(i, shards.len())), shard).unwrap();
    }
    writer::write_index(dir, &shards).unwrap();
}

fn clear_shards(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "safetensors") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn full_size_sparse_bundle() {
    let inv = inventory();
    let tensors = specs(&inv);
    assert_eq!(tensors.len(), 1965);
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    write_sparse_bundle(dir.path(), &tensors);
    let written = t0.elapsed();

    let t1 = Instant::now();
    let bundle = Bundle::open(dir.path()).unwrap();
    let opened = t1.elapsed();
    assert_eq!(bundle.tensor_names().count(), 1965);
    assert_eq!(
        bundle.total_tensor_bytes(),
        inv["bundle_tensor_bytes"].as_u64().unwrap()
    );
    let embed = bundle.weight("model.embed_tokens").unwrap();
    assert_eq!((embed.rows(), embed.cols()), (262272, 2048));
    let mut row = vec![1.0f32; 2048];
    embed.dequant_row(262271, &mut row); // sparse zeros: scale 0, bias 0
    assert!(row.iter().all(|v| *v == 0.0));
    drop(bundle);

    let t2 = Instant::now();
    let report = verify::verify(dir.path());
    let verified = t2.elapsed();
    assert!(report.usable, "{}", report.render_text());
    assert_eq!(
        (report.tensors.found, report.tensors.expected),
        (1965, 1965)
    );
    assert!(report.files.len() >= 6, "{} shards", report.files.len());
    for (kind, want) in inv["by_kind"].as_object().unwrap() {
        let got = &report.bytes_by_kind[kind];
        assert_eq!(got.tensors as u64, want["keys"].as_u64().unwrap(), "{kind}");
        assert_eq!(got.bytes, want["bytes"].as_u64().unwrap(), "{kind}");
    }
    // All-zero balancing biases: margin 0 < 1, so the skip route is reachable everywhere.
    assert_eq!(report.skip_route.len(), 40);
    assert!(
        report
            .skip_route
            .iter()
            .all(|s| s.reachable && s.margin == 0.0)
    );
    eprintln!("full size: write {written:?}, open {opened:?}, verify {verified:?}");
    assert!(opened.as_secs_f64() < 5.0 && verified.as_secs_f64() < 5.0);

    // One tensor removed: refused, naming it.
    let removed = "model.layers.41.zaya_block.experts.switch_mlp.up_proj.scales";
    clear_shards(dir.path());
    let fewer: Vec<TensorSpec> = tensors
        .iter()
        .filter(|t| t.name != removed)
        .cloned()
        .collect();
    write_sparse_bundle(dir.path(), &fewer);
    match Bundle::open(dir.path()) {
        Err(ModelError::MissingTensor { tensor, .. }) => assert_eq!(tensor, removed),
        other => panic!("expected MissingTensor, got {:?}", other.map(|_| ())),
    }
    let report = verify::verify(dir.path());
    assert!(!report.usable);
    assert_eq!(report.tensors.missing, 1);

    // One tensor reshaped (same bytes): refused, naming expected and found shapes.
    let reshaped = "model.layers.40.self_attn.o_proj.weight";
    clear_shards(dir.path());
    let mut other = tensors.clone();
    let t = other.iter_mut().find(|t| t.name == reshaped).unwrap();
    t.shape = vec![1024, 256];
    write_sparse_bundle(dir.path(), &other);
    let err = Bundle::open(dir.path())
        .err()
        .expect("reshaped bundle refused");
    let msg = err.to_string();
    assert!(
        msg.contains(reshaped) && msg.contains("[2048, 128]") && msg.contains("[1024, 256]"),
        "{msg}"
    );
}
