//! An HF transformers-named twin of an original-naming float checkpoint, written from spec §6
//! independently of `zaya_model::hf_names` (so a wrong mapping there cannot pass unnoticed).
//! Used by the model crate's tests and, through `#[path]`, by the root package's.
#![allow(dead_code)]
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Output dtype of the twin's tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwinDtype {
    /// As stored in the source (bf16).
    Same,
    F32,
}

/// Writes the HF twin of the original-naming checkpoint `src` into `dst`: HF names, experts as
/// `gate_up_proj`/`down_proj`, an HF `ZayaConfig`. With `shards > 1` it writes an index.
pub fn write_hf_twin(src: &Path, dst: &Path, dtype: TwinDtype, shards: usize) {
    std::fs::create_dir_all(dst).unwrap();
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let layers = cfg["num_hidden_layers"].as_u64().unwrap() as usize;
    let experts = cfg["num_experts"].as_u64().unwrap() as usize;
    let bytes = std::fs::read(src.join("model-00001-of-00001.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = BTreeMap::new();
    let mut put = |name: String, dt: Dtype, shape: Vec<usize>, data: Vec<u8>| {
        let (dt, data) = match dtype {
            TwinDtype::Same => (dt, data),
            TwinDtype::F32 => (Dtype::F32, widen(dt, &data)),
        };
        assert!(
            out.insert(name.clone(), (dt, shape, data)).is_none(),
            "{name}"
        );
    };
    for (name, t) in st.tensors() {
        if name.contains(".local_experts.") {
            continue;
        }
        let hf = hf_name(&name, layers);
        put(hf, t.dtype(), t.shape().to_vec(), t.data().to_vec());
    }
    for n in (1..layers).step_by(2) {
        let j = n / 2;
        let mut gate_up = Vec::new();
        let mut down = Vec::new();
        let mut shape_up = vec![experts];
        let mut shape_down = vec![experts];
        let mut dt = Dtype::BF16;
        for e in 0..experts {
            let p = format!("model.layers.{n}.zaya_block.experts.local_experts.{e}");
            let fc1 = st.tensor(&format!("{p}.linear_fc1.weight")).unwrap();
            let fc2 = st.tensor(&format!("{p}.linear_fc2.weight")).unwrap();
            gate_up.extend_from_slice(fc1.data()); // rows [0:I] gate, [I:2I] up, as HF wants
            down.extend_from_slice(fc2.data());
            if e == 0 {
                shape_up.extend_from_slice(fc1.shape());
                shape_down.extend_from_slice(fc2.shape());
                dt = fc1.dtype();
            }
        }
        put(
            format!("model.layers.{j}.mlp.experts.gate_up_proj"),
            dt,
            shape_up,
            gate_up,
        );
        put(
            format!("model.layers.{j}.mlp.experts.down_proj"),
            dt,
            shape_down,
            down,
        );
    }
    write_shards(dst, &out, shards);
    let hf_config = hf_config(&cfg);
    std::fs::write(
        dst.join("config.json"),
        serde_json::to_string_pretty(&hf_config).unwrap(),
    )
    .unwrap();
}

fn widen(dt: Dtype, data: &[u8]) -> Vec<u8> {
    let f = |x: f32| x.to_le_bytes();
    match dt {
        Dtype::BF16 => data
            .chunks_exact(2)
            .flat_map(|c| f(half::bf16::from_le_bytes([c[0], c[1]]).to_f32()))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .flat_map(|c| f(half::f16::from_le_bytes([c[0], c[1]]).to_f32()))
            .collect(),
        Dtype::F32 => data.to_vec(),
        other => panic!("{other:?}"),
    }
}

/// Spec §6, spelled out.
fn hf_name(orig: &str, layers: usize) -> String {
    let last = layers / 2 - 1;
    match orig {
        "model.embed_tokens.weight" => return orig.into(),
        "model.final_norm.weight" => return "model.norm.weight".into(),
        _ => {}
    }
    if let Some(t) = orig.strip_prefix("model.res_scale.") {
        return format!("model.layers.{last}.post_mlp_residual_scale.{t}");
    }
    let rest = orig.strip_prefix("model.layers.").unwrap();
    let (n, rest) = rest.split_once('.').unwrap();
    let n: usize = n.parse().unwrap();
    let j = n / 2;
    if let Some(t) = rest.strip_prefix("res_scale.") {
        return if n == 0 {
            format!("model.input_{t}")
        } else if n % 2 == 1 {
            format!("model.layers.{j}.post_attention_residual_scale.{t}")
        } else {
            format!("model.layers.{}.post_mlp_residual_scale.{t}", j - 1)
        };
    }
    let hf_rest = match rest {
        "input_norm.weight" if n.is_multiple_of(2) => "input_layernorm.weight".to_string(),
        "input_norm.weight" => "post_attention_layernorm.weight".to_string(),
        "self_attn.qkv.temp" => "self_attn.qk_norm.temp".to_string(),
        r if r.starts_with("self_attn.qkv.") => {
            let r = &r["self_attn.qkv.".len()..];
            let (module, param) = r.rsplit_once('.').unwrap();
            let hf = match module {
                "linear_q" => "q_proj",
                "linear_k" => "k_proj",
                "val_proj1" => "v_proj_current",
                "val_proj2" => "v_proj_delayed",
                "conv_qk.0" => "conv_qk_depthwise",
                "conv_qk.1" => "conv_qk_grouped",
                other => panic!("{other}"),
            };
            format!("self_attn.qkv_proj.{hf}.{param}")
        }
        r if r.starts_with("self_attn.") => r.to_string(),
        r => {
            let r = r.strip_prefix("zaya_block.router.").unwrap();
            let hf = match r {
                "rmsnorm_eda.weight" => "router_mlp.norm.weight".to_string(),
                "router_mlp.0.weight" => "router_mlp.fc1.weight".into(),
                "router_mlp.0.bias" => "router_mlp.fc1.bias".into(),
                "router_mlp.2.weight" => "router_mlp.fc2.weight".into(),
                "router_mlp.2.bias" => "router_mlp.fc2.bias".into(),
                "router_mlp.4.weight" => "router_mlp.out_proj.weight".into(),
                other => other.to_string(), // down_proj.*, balancing_biases, router_states_scale
            };
            format!("mlp.gate.{hf}")
        }
    };
    format!("model.layers.{j}.{hf_rest}")
}

/// HF `ZayaConfig` fields for a legacy source config.
fn hf_config(c: &Value) -> Value {
    json!({
        "architectures": ["ZayaForCausalLM"],
        "model_type": "zaya",
        "vocab_size": c["vocab_size"],
        "hidden_size": c["hidden_size"],
        "num_hidden_layers": c["num_hidden_layers"].as_u64().unwrap() / 2,
        "num_attention_heads": c["cca_num_q_heads"],
        "num_key_value_heads": c["num_key_value_heads"],
        "head_dim": c["head_dim"],
        "moe_intermediate_size": c["ffn_hidden_size"].as_u64().unwrap() / 2,
        "num_experts": c["num_experts"],
        "num_experts_per_tok": 1,
        "router_hidden_size": c["zaya_mlp_expansion"],
        "rms_norm_eps": c["norm_epsilon"],
        "max_position_embeddings": c["max_position_embeddings"],
        "tie_word_embeddings": true,
        "rope_parameters": {
            "hybrid": {
                "rope_type": "default",
                "rope_theta": c["rope_theta"].as_f64().unwrap(),
                "partial_rotary_factor": c["partial_rotary_factor"],
            }
        },
        "pad_token_id": c["pad_token_id"],
        "bos_token_id": c["bos_token_id"],
        "eos_token_id": c["eos_token_id"],
        "dtype": "bfloat16",
    })
}

fn write_shards(
    dst: &Path,
    tensors: &BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    shards: usize,
) {
    let names: Vec<&String> = tensors.keys().collect();
    let per = names.len().div_ceil(shards);
    let mut weight_map = serde_json::Map::new();
    for (s, chunk) in names.chunks(per).enumerate() {
        let file = if shards == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", s + 1, shards)
        };
        let views: Vec<(String, TensorView)> = chunk
            .iter()
            .map(|&n| {
                let (dt, shape, data) = &tensors[n];
                weight_map.insert(n.clone(), file.clone().into());
                (
                    n.clone(),
                    TensorView::new(*dt, shape.clone(), data).unwrap(),
                )
            })
            .collect();
        let bytes = safetensors::serialize(views, None).unwrap();
        std::fs::write(dst.join(&file), bytes).unwrap();
    }
    if shards > 1 {
        let index = json!({ "metadata": {}, "weight_map": weight_map });
        std::fs::write(
            dst.join("model.safetensors.index.json"),
            serde_json::to_string_pretty(&index).unwrap(),
        )
        .unwrap();
    }
}
