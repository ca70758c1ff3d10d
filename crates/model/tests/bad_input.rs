//! Corrupted bundles: each gives one clear error naming the file and the tensor or field,
//! and nothing panics.
mod common;
use common::*;
use std::path::Path;
use zaya_model::{Bundle, ModelError, verify};

/// Opens `dir`, expecting an error whose message contains every `needle`; `verify` must
/// agree that the bundle is unusable.
fn expect_error(dir: &Path, needles: &[&str]) -> ModelError {
    let err = match Bundle::open(dir) {
        Ok(_) => panic!(
            "{} opened, expected an error containing {needles:?}",
            dir.display()
        ),
        Err(e) => e,
    };
    let msg = err.to_string();
    for needle in needles {
        assert!(msg.contains(needle), "error `{msg}` lacks `{needle}`");
    }
    assert!(!msg.contains('\n'), "error is not one line: {msg}");
    let report = verify::verify(dir);
    assert!(
        !report.usable,
        "verify accepted a bundle Bundle::open refused: {msg}"
    );
    err
}

#[test]
fn truncated_shard() {
    let dir = copy_fixture("bundle_affine");
    let shard = dir.path().join(SHARD);
    let len = std::fs::metadata(&shard).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    // The last tensor in data order is the one cut off.
    let last = read_tensors(&tiny("bundle_affine").join(SHARD))
        .pop()
        .unwrap()
        .name;
    expect_error(dir.path(), &[SHARD, &last, "truncated"]);
}

#[test]
fn header_length_past_end_of_file() {
    let dir = copy_fixture("bundle_affine");
    let shard = dir.path().join(SHARD);
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&shard, bytes).unwrap();
    expect_error(dir.path(), &[SHARD, "header"]);
}

#[test]
fn header_length_just_past_end_of_file() {
    let dir = copy_fixture("bundle_affine");
    let shard = dir.path().join(SHARD);
    let mut bytes = std::fs::read(&shard).unwrap();
    let len = bytes.len() as u64;
    bytes[..8].copy_from_slice(&len.to_le_bytes());
    std::fs::write(&shard, bytes).unwrap();
    expect_error(dir.path(), &[SHARD, "runs past the end of the file"]);
}

#[test]
fn tiny_file_is_not_a_shard() {
    let dir = copy_fixture("bundle_affine");
    std::fs::write(dir.path().join(SHARD), b"abc").unwrap();
    expect_error(dir.path(), &[SHARD, "too short"]);
}

#[test]
fn invalid_header_json() {
    let dir = copy_fixture("bundle_affine");
    let shard = dir.path().join(SHARD);
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[8] = b'[';
    std::fs::write(&shard, bytes).unwrap();
    expect_error(dir.path(), &[SHARD, "invalid header JSON"]);
}

#[test]
fn data_offsets_out_of_range() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.layers.2.self_attn.qkv.temp";
    edit_header(&dir.path().join(SHARD), |h| {
        let off = h[name]["data_offsets"].as_array().unwrap().clone();
        let (s, e) = (off[0].as_u64().unwrap(), off[1].as_u64().unwrap());
        h[name]["data_offsets"] = serde_json::json!([s + 10_000_000, e + 10_000_000]);
    });
    expect_error(dir.path(), &[SHARD, name, "past the end"]);
}

#[test]
fn data_offsets_overlapping() {
    let dir = copy_fixture("bundle_affine");
    // Two f16 [128] tensors: point the later one at the earlier one's bytes.
    let tensors = read_tensors(&tiny("bundle_affine").join(SHARD));
    let same: Vec<&Tensor> = tensors
        .iter()
        .filter(|t| t.shape == [128] && t.dtype == "F16")
        .collect();
    let (first, second) = (same[0].name.clone(), same[5].name.clone());
    edit_header(&dir.path().join(SHARD), |h| {
        h[&second]["data_offsets"] = h[&first]["data_offsets"].clone();
    });
    expect_error(dir.path(), &[SHARD, "overlaps"]);
}

#[test]
fn size_disagrees_with_shape() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.final_norm.weight";
    edit_header(&dir.path().join(SHARD), |h| {
        h[name]["shape"] = serde_json::json!([64])
    });
    expect_error(dir.path(), &[SHARD, name, "needs 128"]);
}

#[test]
fn unknown_dtype() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.final_norm.weight";
    edit_header(&dir.path().join(SHARD), |h| h[name]["dtype"] = "Q4".into());
    expect_error(dir.path(), &[SHARD, name, "unknown dtype `Q4`"]);
}

#[test]
fn unsupported_dtype() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.final_norm.weight"; // f16 [128] = 256 bytes = i64 [32]
    edit_header(&dir.path().join(SHARD), |h| {
        h[name]["dtype"] = "I64".into();
        h[name]["shape"] = serde_json::json!([32]);
    });
    expect_error(dir.path(), &[SHARD, name, "unsupported dtype I64"]);
}

#[test]
fn missing_tensor() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.layers.5.zaya_block.router.router_states_scale";
    edit_tensors(dir.path(), |t| t.retain(|t| t.name != name));
    let err = expect_error(dir.path(), &[INDEX, name, "missing"]);
    assert!(matches!(err, ModelError::MissingTensor { .. }));
}

#[test]
fn extra_tensor() {
    let dir = copy_fixture("bundle_affine");
    edit_tensors(dir.path(), |t| {
        let mut extra = t[0].clone();
        extra.name = "model.layers.0.self_attn.extra_proj.weight".into();
        t.push(extra);
    });
    expect_error(
        dir.path(),
        &[
            SHARD,
            "model.layers.0.self_attn.extra_proj.weight",
            "unexpected",
        ],
    );
}

#[test]
fn wrong_shape_names_expected_and_found() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.layers.2.self_attn.o_proj.weight";
    edit_header(&dir.path().join(SHARD), |h| {
        h[name]["shape"] = serde_json::json!([64, 32])
    });
    let err = expect_error(dir.path(), &[SHARD, name, "[128, 16]", "[64, 32]"]);
    assert!(matches!(err, ModelError::WrongShape { .. }));
}

#[test]
fn wrong_scale_dtype() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.layers.2.self_attn.o_proj.scales"; // f16 [128,4] = 1024 bytes = f32 [128, 2]
    edit_header(&dir.path().join(SHARD), |h| {
        h[name]["dtype"] = "F32".into();
        h[name]["shape"] = serde_json::json!([128, 2]);
    });
    expect_error(dir.path(), &[SHARD, name, "expected dtype f16, found f32"]);
}

#[test]
fn local_experts_in_a_quantized_bundle() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.layers.1.zaya_block.experts.local_experts.0.linear_fc1.weight";
    edit_tensors(dir.path(), |t| {
        let mut extra = t[0].clone();
        extra.name = name.into();
        t.push(extra);
    });
    let err = expect_error(dir.path(), &[SHARD, name, "local_experts"]);
    assert!(matches!(err, ModelError::LocalExperts { .. }));
}

#[test]
fn index_names_a_missing_shard() {
    let dir = copy_fixture("bundle_affine");
    let name = "model.final_norm.weight";
    edit_json(&dir.path().join(INDEX), |v| {
        v["weight_map"][name] = "model-00002-of-00002.safetensors".into()
    });
    expect_error(
        dir.path(),
        &[INDEX, "model-00002-of-00002.safetensors", name],
    );
}

#[test]
fn index_names_a_tensor_the_shard_lacks() {
    let dir = copy_fixture("bundle_affine");
    edit_json(&dir.path().join(INDEX), |v| {
        v["weight_map"]["model.ghost.weight"] = SHARD.into()
    });
    expect_error(dir.path(), &[INDEX, "model.ghost.weight"]);
}

#[test]
fn index_with_path_escape_is_refused() {
    let dir = copy_fixture("bundle_affine");
    edit_json(&dir.path().join(INDEX), |v| {
        v["weight_map"]["model.final_norm.weight"] = "../x.safetensors".into()
    });
    expect_error(dir.path(), &[INDEX, "../x.safetensors"]);
}

#[test]
fn config_missing_a_field() {
    let dir = copy_fixture("bundle_affine");
    edit_json(&dir.path().join("config.json"), |v| {
        v.as_object_mut().unwrap().remove("hidden_size");
    });
    expect_error(dir.path(), &["config.json", "hidden_size", "missing"]);
}

#[test]
fn config_is_not_json() {
    let dir = copy_fixture("bundle_affine");
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    expect_error(dir.path(), &["config.json", "invalid JSON"]);
}

#[test]
fn jang_config_disagrees() {
    let dir = copy_fixture("bundle_affine");
    edit_json(&dir.path().join("jang_config.json"), |v| {
        v["quantization"]["bits"] = 8.into()
    });
    expect_error(dir.path(), &["jang_config.json", "quantization"]);
}

#[test]
fn config_disagrees_with_tensors() {
    let dir = copy_fixture("bundle_affine");
    edit_json(&dir.path().join("config.json"), |v| {
        v["num_experts"] = 8.into()
    });
    // Refused naming the field, with the tensor that shows the real size.
    expect_error(
        dir.path(),
        &["config.json", "num_experts", "balancing_biases", "9", "5"],
    );
}

/// Absurd sizes in config.json (legacy and HF field sets, quantized bundle and float
/// checkpoint): each refused in well under a second, in one line naming the field.
#[test]
fn absurd_config_sizes_are_refused_fast_naming_the_field() {
    let absurd: [u64; 5] = [1_099_511_627_776, 1 << 63, 1 << 40, 1 << 20, 3];
    let fields = [
        "num_hidden_layers",
        "hidden_size",
        "vocab_size",
        "num_experts",
        "ffn_hidden_size",
        "zaya_mlp_expansion",
        "head_dim",
        "kv_channels",
        "cca_num_q_heads",
        "num_key_value_heads",
        "num_query_groups",
        "max_position_embeddings",
    ];
    for fixture in ["bundle_affine", "bundle_mxfp4", "source"] {
        for field in fields {
            for value in absurd {
                let dir = copy_fixture(fixture);
                edit_json(&dir.path().join("config.json"), |v| {
                    v[field] = value.into();
                    // Aliases must agree, so set both halves of a pair.
                    let twin = match field {
                        "head_dim" => Some("kv_channels"),
                        "kv_channels" => Some("head_dim"),
                        "num_key_value_heads" => Some("num_query_groups"),
                        "num_query_groups" => Some("num_key_value_heads"),
                        _ => None,
                    };
                    if let Some(t) = twin {
                        v[t] = value.into();
                    }
                });
                if field == "max_position_embeddings" && value <= 1 << 30 {
                    continue; // a long context is legal
                }
                let started = std::time::Instant::now();
                let err = match Bundle::open(dir.path()) {
                    Ok(_) => panic!("{fixture}: {field} = {value} accepted"),
                    Err(e) => e.to_string(),
                };
                let report = verify::verify(dir.path());
                let took = started.elapsed();
                assert!(!report.usable, "{fixture}: {field} = {value}");
                assert!(
                    took.as_millis() < 500,
                    "{fixture}: {field} = {value}: {took:?}"
                );
                assert!(!err.contains('\n'), "{err}");
                let named = match field {
                    "kv_channels" => "head_dim",
                    "num_query_groups" => "num_key_value_heads",
                    f => f,
                };
                assert!(
                    err.contains(named)
                        || (value == 3 && (err.contains("tensor") || err.contains("config field"))),
                    "{fixture}: {field} = {value}: `{err}` does not name the field"
                );
            }
        }
    }
}

/// The same for an HF-style config (`ZayaConfig` fields).
#[test]
fn absurd_hf_config_sizes_are_refused_fast() {
    for (field, value) in [
        ("num_hidden_layers", 1_099_511_627_776u64),
        ("num_hidden_layers", u64::MAX),
        ("moe_intermediate_size", 1 << 40),
        ("router_hidden_size", 1 << 40),
        ("num_attention_heads", 1 << 40),
        ("vocab_size", 1 << 40),
    ] {
        let dir = copy_fixture("source");
        edit_json(&dir.path().join("config.json"), |v| {
            let o = v.as_object_mut().unwrap();
            let hf = [
                ("ffn_hidden_size", "moe_intermediate_size"),
                ("zaya_mlp_expansion", "router_hidden_size"),
            ];
            for (legacy, hf_name) in hf {
                let x = o.remove(legacy).unwrap();
                let x = if legacy == "ffn_hidden_size" {
                    (x.as_u64().unwrap() / 2).into()
                } else {
                    x
                };
                o.insert(hf_name.into(), x);
            }
            o.remove("cca_num_q_heads");
            o.insert(field.into(), value.into());
        });
        let started = std::time::Instant::now();
        let err = Bundle::open(dir.path()).err().expect("refused").to_string();
        assert!(started.elapsed().as_millis() < 500, "{field}");
        assert!(err.contains(field), "{field} = {value}: {err}");
    }
}

#[test]
fn directory_without_config_is_not_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    expect_error(dir.path(), &["not a bundle", "no config.json"]);
}

#[test]
fn file_is_not_a_bundle() {
    expect_error(
        &tiny("bundle_affine").join("config.json"),
        &["config.json", "not a directory"],
    );
}

#[test]
fn missing_directory_is_not_a_bundle() {
    expect_error(
        Path::new("/nonexistent/zaya"),
        &["/nonexistent/zaya", "no such directory"],
    );
}

#[test]
fn directory_without_weights_is_not_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        tiny("bundle_affine").join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    expect_error(dir.path(), &["not a bundle", "safetensors"]);
}

/// Garbage of every length in place of the shard: errors, never panics.
#[test]
fn garbage_shards_never_panic() {
    let dir = copy_fixture("bundle_affine");
    let shard = dir.path().join(SHARD);
    let original = std::fs::read(&shard).unwrap();
    for cut in [
        0usize,
        7,
        8,
        9,
        100,
        4096,
        original.len() / 2,
        original.len() - 1,
    ] {
        std::fs::write(&shard, &original[..cut]).unwrap();
        assert!(Bundle::open(dir.path()).is_err(), "cut at {cut}");
        assert!(!verify::verify(dir.path()).usable);
    }
    let mut flipped = original.clone();
    for i in (8..2000).step_by(97) {
        flipped[i] ^= 0x5a;
        std::fs::write(&shard, &flipped).unwrap();
        let _ = Bundle::open(dir.path()); // may or may not be valid; must not panic
    }
}
