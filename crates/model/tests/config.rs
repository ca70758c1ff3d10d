//! Config parsing: both field sets, quantization forms, and clear errors.
mod common;
use common::*;
use serde_json::{Value, json};
use std::path::Path;
use zaya_ir::{DType, WeightFormat};
use zaya_model::{Config, QuantMode, SkipMode};

fn parse(v: &Value) -> Result<Config, zaya_model::ModelError> {
    Config::from_json_str(&v.to_string(), Path::new("test/config.json"))
}

fn legacy_8b() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("zaya1-8b/config.json")).unwrap())
        .unwrap()
}

/// The HF transformers `ZayaConfig` form of ZAYA1-8B (as on the hub).
fn hf_8b() -> Value {
    json!({
        "architectures": ["ZayaForCausalLM"], "model_type": "zaya",
        "bos_token_id": 2, "eos_token_id": 106, "pad_token_id": 0,
        "cca_time0": 2, "cca_time1": 2, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2048,
        "layer_types": vec!["hybrid"; 40], "max_position_embeddings": 131072,
        "moe_intermediate_size": 2048, "num_attention_heads": 8, "num_experts": 16,
        "num_experts_per_tok": 1, "num_hidden_layers": 40, "num_key_value_heads": 2,
        "partial_rotary_factor": 0.5, "rms_norm_eps": 1e-05,
        "rope_parameters": {
            "hybrid": {"partial_rotary_factor": 0.5, "rope_theta": 5000000, "rope_type": "default"},
            "hybrid_sliding": {"partial_rotary_factor": 0.5, "rope_theta": 10000.0, "rope_type": "default"},
            "rope_type": "default"
        },
        "router_hidden_size": 256, "sliding_window": null, "tie_word_embeddings": true, "vocab_size": 262272
    })
}

#[test]
fn legacy_8b_config() {
    let c = parse(&legacy_8b()).unwrap();
    assert_eq!(c, Config::zaya1_8b());
    assert_eq!(
        (
            c.num_layers,
            c.hidden_size,
            c.num_q_heads,
            c.num_kv_heads,
            c.head_dim
        ),
        (80, 2048, 8, 2, 128)
    );
    assert_eq!(
        (
            c.num_experts,
            c.expert_intermediate,
            c.router_hidden,
            c.vocab_size
        ),
        (16, 2048, 256, 262272)
    );
    assert_eq!(
        (c.rope_theta, c.partial_rotary_factor, c.norm_eps),
        (5e6, 0.5, 1e-5)
    );
    assert_eq!(
        (c.bos_token_id, c.eos_token_id, c.pad_token_id),
        (Some(2), Some(106), Some(0))
    );
    assert_eq!(
        (
            c.conv_channels(),
            c.rot_dims(),
            c.num_moe_layers(),
            c.value_half(),
            c.q_per_kv()
        ),
        (1280, 64, 40, 128, 4)
    );
    assert_eq!(c.expected_tensor_count(), 1965);
    assert!(c.tie_word_embeddings);
}

#[test]
fn hf_config_counts_layer_pairs() {
    let hf = parse(&hf_8b()).unwrap();
    let legacy = Config {
        quantization: None,
        ..Config::zaya1_8b()
    };
    assert_eq!(hf, legacy);
}

#[test]
fn hf_config_rope_forms() {
    let mut v = hf_8b();
    v.as_object_mut().unwrap().remove("partial_rotary_factor");
    v["rope_parameters"] = json!({"rope_theta": 1000.0, "partial_rotary_factor": 0.25});
    let c = parse(&v).unwrap();
    assert_eq!(
        (c.rope_theta, c.partial_rotary_factor, c.rot_dims()),
        (1000.0, 0.25, 32)
    );
    v.as_object_mut().unwrap().remove("rope_parameters");
    let c = parse(&v).unwrap(); // HF defaults when rope_parameters is absent
    assert_eq!((c.rope_theta, c.partial_rotary_factor), (5e6, 0.5));
}

#[test]
fn eos_list_and_tie_default() {
    let mut v = legacy_8b();
    v["eos_token_id"] = json!([106, 1]);
    v.as_object_mut().unwrap().remove("tie_word_embeddings");
    let c = parse(&v).unwrap();
    assert_eq!(c.eos_token_id, Some(106));
    assert!(c.tie_word_embeddings);
}

#[test]
fn fixture_configs_and_format_for() {
    let affine = Config::from_dir(&tiny("bundle_affine")).unwrap();
    let q = affine.quantization.as_ref().unwrap();
    let f = |m: &str| q.format_for(m, DType::F16);
    assert_eq!(
        f("model.embed_tokens"),
        WeightFormat::Affine {
            bits: 8,
            group_size: 32,
            scale_dtype: DType::F16
        }
    );
    assert_eq!(
        f("model.layers.0.self_attn.qkv.linear_q"),
        WeightFormat::Affine {
            bits: 4,
            group_size: 32,
            scale_dtype: DType::F16
        }
    );
    assert_eq!(
        f("model.layers.1.zaya_block.router.router_mlp.0"),
        WeightFormat::Float { dtype: DType::F16 }
    );

    let mx = Config::from_dir(&tiny("bundle_mxfp4")).unwrap();
    let q = mx.quantization.as_ref().unwrap();
    assert_eq!(q.default.mode, QuantMode::Mxfp4);
    assert_eq!(
        q.format_for("model.embed_tokens", DType::F16),
        WeightFormat::Affine {
            bits: 8,
            group_size: 32,
            scale_dtype: DType::F16
        }
    );
    assert_eq!(
        q.format_for(
            "model.layers.3.zaya_block.experts.switch_mlp.down_proj",
            DType::F16
        ),
        WeightFormat::Mxfp4 { group_size: 32 }
    );

    let src = Config::from_dir(&tiny("source")).unwrap();
    assert!(src.quantization.is_none());
    assert_eq!(
        (src.num_layers, src.num_q_heads, src.expert_intermediate),
        (8, 4, 128)
    );
}

#[test]
fn mlx_override_false_keeps_module_in_float() {
    let mut v = legacy_8b();
    v["quantization"]["model.layers.0.self_attn.o_proj"] = false.into();
    v["quantization"]["model.layers.2.self_attn.o_proj"] = json!({"bits": 8, "group_size": 64});
    let c = parse(&v).unwrap();
    let q = c.quantization.as_ref().unwrap();
    assert_eq!(
        q.format_for("model.layers.0.self_attn.o_proj", DType::F16),
        WeightFormat::Float { dtype: DType::F16 }
    );
    assert_eq!(
        q.format_for("model.layers.2.self_attn.o_proj", DType::BF16),
        WeightFormat::Affine {
            bits: 8,
            group_size: 64,
            scale_dtype: DType::BF16
        }
    );
    // Two fewer keys: o_proj of layer 0 is one float tensor instead of three.
    assert_eq!(c.expected_tensor_count(), 1963);
}

#[test]
fn to_json_round_trips() {
    for dir in ["bundle_affine", "bundle_mxfp4", "source"] {
        let c = Config::from_dir(&tiny(dir)).unwrap();
        assert_eq!(parse(&c.to_json()).unwrap(), c, "{dir}");
    }
}

#[test]
fn skip_mode_parses() {
    assert_eq!(
        "passthrough".parse::<SkipMode>().unwrap(),
        SkipMode::Passthrough
    );
    assert_eq!(serde_json::to_string(&SkipMode::Zero).unwrap(), "\"zero\"");
}

/// Applies `edit` to the legacy config and expects an error mentioning the file and `needles`.
fn expect_error(edit: impl FnOnce(&mut serde_json::Map<String, Value>), needles: &[&str]) {
    let mut v = legacy_8b();
    edit(v.as_object_mut().unwrap());
    let msg = match parse(&v) {
        Ok(c) => panic!("accepted {c:?}, expected {needles:?}"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("test/config.json"), "{msg}");
    for n in needles {
        assert!(msg.contains(n), "`{msg}` lacks `{n}`");
    }
}

#[test]
fn config_errors_name_the_field() {
    expect_error(|o| drop(o.remove("vocab_size")), &["vocab_size", "missing"]);
    expect_error(
        |o| drop(o.insert("hidden_size".into(), 0.into())),
        &["hidden_size", "> 0"],
    );
    expect_error(
        |o| drop(o.insert("hidden_size".into(), "big".into())),
        &["hidden_size", "integer"],
    );
    expect_error(
        |o| drop(o.insert("num_hidden_layers".into(), 79.into())),
        &["num_hidden_layers", "even"],
    );
    expect_error(
        |o| drop(o.insert("num_query_groups".into(), 4.into())),
        &["num_query_groups", "conflicts"],
    );
    expect_error(
        |o| drop(o.insert("num_attention_heads".into(), 7.into())),
        &["num_attention_heads", "multiple"],
    );
    expect_error(
        |o| drop(o.insert("partial_rotary_factor".into(), 0.3.into())),
        &["partial_rotary_factor", "even"],
    );
    expect_error(
        |o| {
            o.insert("head_dim".into(), 6.into());
            o.insert("kv_channels".into(), 6.into());
        },
        &["partial_rotary_factor", "even"],
    );
    expect_error(
        |o| drop(o.insert("ffn_hidden_size".into(), 4097.into())),
        &["ffn_hidden_size", "odd"],
    );
    expect_error(
        |o| drop(o.insert("moe_router_topk".into(), 2.into())),
        &["moe_router_topk", "top-1"],
    );
    expect_error(|o| drop(o.insert("cca".into(), false.into())), &["cca"]);
    expect_error(
        |o| drop(o.insert("norm_epsilon".into(), (-1.0).into())),
        &["norm_epsilon"],
    );
    expect_error(
        |o| drop(o.insert("layer_types".into(), json!(["hybrid_sliding"]))),
        &["layer_types", "hybrid"],
    );
}

#[test]
fn quantization_errors_name_the_field() {
    fn q(k: &'static str, v: Value) -> impl FnOnce(&mut serde_json::Map<String, Value>) {
        move |o| {
            drop(
                o["quantization"]
                    .as_object_mut()
                    .unwrap()
                    .insert(k.into(), v),
            )
        }
    }
    expect_error(q("bits", 3.into()), &["quantization.bits", "4 and 8"]);
    expect_error(
        q("group_size", 16.into()),
        &["quantization.group_size", "32, 64 or 128"],
    );
    expect_error(
        q("mode", "nf4".into()),
        &["quantization.mode", "unknown mode"],
    );
    expect_error(q("embed_bits", 6.into()), &["quantization.embed_bits"]);
    expect_error(
        q(
            "model.embed_tokens",
            json!({"bits": 8, "group_size": 32, "mode": "mxfp4"}),
        ),
        &["quantization.model.embed_tokens.bits", "mxfp4"],
    );
    expect_error(
        q("model.embed_tokens", json!({"group_size": 32})),
        &["quantization.model.embed_tokens.bits", "missing"],
    );
    expect_error(
        |o| {
            o.insert("hidden_size".into(), 2064.into());
        },
        &["quantization.group_size", "2064 input columns"],
    );
}
