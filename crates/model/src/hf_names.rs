//! HF transformers naming (`ZayaForCausalLM` state dict) of the original tensor names, spec §6.
//!
//! HF layer `j` holds original layers `2j` (attention) and `2j+1` (MoE). Residual scalings
//! are named by their consumer in the original and by their producer in HF, so they shift by
//! one original layer; experts are stored as `mlp.experts.gate_up_proj` [E, 2I, H] (gate rows
//! first) and `mlp.experts.down_proj` [E, H, I]. Everything else is a rename, listed once in
//! [`LAYER_RENAMES`].

/// Which naming a checkpoint's tensors use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// Zyphra's original (and the MLX bundle's) names: 2 original layers per HF layer.
    #[default]
    Original,
    /// HF transformers `ZayaForCausalLM`.
    Hf,
}

/// HF's final norm.
pub const HF_FINAL_NORM: &str = "model.norm.weight";
/// HF stores the untied lm_head under this name; with tied embeddings HF ignores it.
pub const HF_LM_HEAD: &str = "lm_head.weight";

/// Original suffix after `model.layers.{n}.` -> HF suffix after `model.layers.{j}.`, for the
/// attention layer (even n) and the MoE layer (odd n).
const LAYER_RENAMES: &[(&str, &str)] = &[
    ("self_attn.o_proj.weight", "self_attn.o_proj.weight"),
    (
        "self_attn.qkv.linear_q.weight",
        "self_attn.qkv_proj.q_proj.weight",
    ),
    (
        "self_attn.qkv.linear_k.weight",
        "self_attn.qkv_proj.k_proj.weight",
    ),
    (
        "self_attn.qkv.val_proj1.weight",
        "self_attn.qkv_proj.v_proj_current.weight",
    ),
    (
        "self_attn.qkv.val_proj2.weight",
        "self_attn.qkv_proj.v_proj_delayed.weight",
    ),
    (
        "self_attn.qkv.conv_qk.0.weight",
        "self_attn.qkv_proj.conv_qk_depthwise.weight",
    ),
    (
        "self_attn.qkv.conv_qk.0.bias",
        "self_attn.qkv_proj.conv_qk_depthwise.bias",
    ),
    (
        "self_attn.qkv.conv_qk.1.weight",
        "self_attn.qkv_proj.conv_qk_grouped.weight",
    ),
    (
        "self_attn.qkv.conv_qk.1.bias",
        "self_attn.qkv_proj.conv_qk_grouped.bias",
    ),
    ("self_attn.qkv.temp", "self_attn.qk_norm.temp"),
    (
        "zaya_block.router.down_proj.weight",
        "mlp.gate.down_proj.weight",
    ),
    (
        "zaya_block.router.down_proj.bias",
        "mlp.gate.down_proj.bias",
    ),
    (
        "zaya_block.router.balancing_biases",
        "mlp.gate.balancing_biases",
    ),
    (
        "zaya_block.router.router_states_scale",
        "mlp.gate.router_states_scale",
    ),
    (
        "zaya_block.router.rmsnorm_eda.weight",
        "mlp.gate.router_mlp.norm.weight",
    ),
    (
        "zaya_block.router.router_mlp.0.weight",
        "mlp.gate.router_mlp.fc1.weight",
    ),
    (
        "zaya_block.router.router_mlp.0.bias",
        "mlp.gate.router_mlp.fc1.bias",
    ),
    (
        "zaya_block.router.router_mlp.2.weight",
        "mlp.gate.router_mlp.fc2.weight",
    ),
    (
        "zaya_block.router.router_mlp.2.bias",
        "mlp.gate.router_mlp.fc2.bias",
    ),
    (
        "zaya_block.router.router_mlp.4.weight",
        "mlp.gate.router_mlp.out_proj.weight",
    ),
];

/// `model.layers.{j}.mlp.experts.gate_up_proj` [E, 2I, H] of HF layer `j`.
pub fn gate_up(hf_layer: usize) -> String {
    format!("model.layers.{hf_layer}.mlp.experts.gate_up_proj")
}

/// `model.layers.{j}.mlp.experts.down_proj` [E, H, I] of HF layer `j`.
pub fn experts_down(hf_layer: usize) -> String {
    format!("model.layers.{hf_layer}.mlp.experts.down_proj")
}

/// The HF name of an original-naming tensor (full name, e.g. `….input_norm.weight`) in a model
/// of `num_layers` original layers. `None` for names HF stores differently (the stacked
/// experts, see [`gate_up`]) or that are not ZAYA tensors.
pub fn to_hf(name: &str, num_layers: usize) -> Option<String> {
    match name {
        "model.embed_tokens.weight" | "lm_head.weight" => return Some(name.to_string()),
        crate::names::FINAL_NORM => return Some(HF_FINAL_NORM.to_string()),
        _ => {}
    }
    if let Some(t) = name.strip_prefix("model.res_scale.") {
        let last = num_layers.checked_div(2)?.checked_sub(1)?;
        return Some(format!("model.layers.{last}.post_mlp_residual_scale.{t}"));
    }
    let rest = name.strip_prefix("model.layers.")?;
    let (n, rest) = rest.split_once('.')?;
    let n: usize = n.parse().ok()?;
    let j = n / 2;
    if let Some(t) = rest.strip_prefix("res_scale.") {
        return Some(match n {
            0 => format!("model.input_{t}"),
            n if n % 2 == 1 => format!("model.layers.{j}.post_attention_residual_scale.{t}"),
            n => format!("model.layers.{}.post_mlp_residual_scale.{t}", n / 2 - 1),
        });
    }
    if rest == "input_norm.weight" {
        let norm = if n.is_multiple_of(2) {
            "input_layernorm"
        } else {
            "post_attention_layernorm"
        };
        return Some(format!("model.layers.{j}.{norm}.weight"));
    }
    let attention = rest.starts_with("self_attn.");
    if attention != n.is_multiple_of(2) {
        return None;
    }
    LAYER_RENAMES
        .iter()
        .find(|(orig, _)| *orig == rest)
        .map(|(_, hf)| format!("model.layers.{j}.{hf}"))
}

/// Guesses the naming from the tensor names: HF if any name is one only HF uses.
pub fn detect<'a>(mut names: impl Iterator<Item = &'a str>) -> Naming {
    let hf_only = |n: &str| {
        n == HF_FINAL_NORM
            || n.starts_with("model.input_hidden_states_")
            || n.contains(".self_attn.qkv_proj.")
            || n.contains(".mlp.experts.")
            || n.contains(".mlp.gate.")
            || n.contains("_residual_scale.")
    };
    if names.any(hf_only) {
        Naming::Hf
    } else {
        Naming::Original
    }
}

/// The layer index of a `model.layers.{k}.…` name.
pub fn layer_index(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("model.layers.")?;
    rest.split_once('.')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_scalings_shift_to_their_producer() {
        let l = 8;
        let cases = [
            (
                "model.layers.0.res_scale.hidden_states_scale",
                "model.input_hidden_states_scale",
            ),
            (
                "model.layers.1.res_scale.residual_bias",
                "model.layers.0.post_attention_residual_scale.residual_bias",
            ),
            (
                "model.layers.2.res_scale.hidden_states_bias",
                "model.layers.0.post_mlp_residual_scale.hidden_states_bias",
            ),
            (
                "model.res_scale.residual_scale",
                "model.layers.3.post_mlp_residual_scale.residual_scale",
            ),
            (
                "model.layers.7.input_norm.weight",
                "model.layers.3.post_attention_layernorm.weight",
            ),
            (
                "model.layers.4.self_attn.qkv.conv_qk.1.bias",
                "model.layers.2.self_attn.qkv_proj.conv_qk_grouped.bias",
            ),
            (
                "model.layers.5.zaya_block.router.router_mlp.4.weight",
                "model.layers.2.mlp.gate.router_mlp.out_proj.weight",
            ),
        ];
        for (orig, hf) in cases {
            assert_eq!(to_hf(orig, l).as_deref(), Some(hf), "{orig}");
        }
        // An attention tensor in a MoE layer is no ZAYA tensor.
        assert_eq!(to_hf("model.layers.1.self_attn.o_proj.weight", l), None);
    }

    #[test]
    fn naming_is_detected_from_hf_only_names() {
        assert_eq!(
            detect(["model.embed_tokens.weight", "model.norm.weight"].into_iter()),
            Naming::Hf
        );
        assert_eq!(
            detect(["model.embed_tokens.weight", "model.final_norm.weight"].into_iter()),
            Naming::Original
        );
    }
}
