//! Every ZAYA tensor name, in one place.
//!
//! [`expected_entries`] lists the logical tensors the model needs (canonical original naming,
//! experts stacked as `switch_mlp`), [`expected_stored`] what the files must hold for that
//! config: quantized linears expand to `.weight`/`.scales`/`.biases`, and an unquantized
//! checkpoint holds experts unstacked as `local_experts`. The loader, `verify` and the random
//! bundle writer all work from these lists, so a naming fact lives only here.
use crate::config::Config;
use crate::hf_names::{self, Naming};
use serde::Serialize;
use zaya_ir::{DType, WeightFormat};

/// The embedding; also the tied lm_head.
pub const EMBED: &str = "model.embed_tokens";
/// The untied lm_head (only when `tie_word_embeddings` is false).
pub const LM_HEAD: &str = "lm_head";
pub const FINAL_NORM: &str = "model.final_norm.weight";
/// Marker of an unstacked expert tensor (invalid in a quantized bundle).
pub const LOCAL_EXPERTS: &str = ".local_experts.";

/// Residual-merge tensors, spec §2; layer 0 has only the `hidden_states_*` pair.
const RES_HIDDEN: [&str; 2] = ["hidden_states_bias", "hidden_states_scale"];
const RES_RESIDUAL: [&str; 2] = ["residual_bias", "residual_scale"];
/// Stacked expert projections, in the order gate, up, down.
pub const EXPERT_PROJS: [&str; 3] = ["gate_proj", "up_proj", "down_proj"];

/// Whether jang keeps this tensor or module in float (spec §5 passthrough rules).
pub fn is_passthrough(name: &str) -> bool {
    const CONTAINS: [&str; 4] = ["norm", ".res_scale.", ".router.", ".conv_qk."];
    const ENDS: [&str; 4] = [
        ".temp",
        ".bias",
        ".balancing_biases",
        ".router_states_scale",
    ];
    CONTAINS.iter().any(|p| name.contains(p)) || ENDS.iter().any(|s| name.ends_with(s))
}

pub fn layer_prefix(layer: usize) -> String {
    format!("model.layers.{layer}")
}

/// `model.layers.{layer}.zaya_block.experts.switch_mlp.{proj}` (proj: gate_proj, up_proj, down_proj).
pub fn switch_mlp(layer: usize, proj: &str) -> String {
    format!("model.layers.{layer}.zaya_block.experts.switch_mlp.{proj}")
}

/// Unquantized checkpoint: `linear_fc1` [2I, H] (rows 0..I gate, I..2I up) of one expert.
pub fn local_expert_fc1(layer: usize, expert: usize) -> String {
    format!("model.layers.{layer}.zaya_block.experts.local_experts.{expert}.linear_fc1.weight")
}

/// Unquantized checkpoint: `linear_fc2` [H, I] (down) of one expert.
pub fn local_expert_fc2(layer: usize, expert: usize) -> String {
    format!("model.layers.{layer}.zaya_block.experts.local_experts.{expert}.linear_fc2.weight")
}

/// `model.layers.{layer}.zaya_block.router.balancing_biases` [E+1].
pub fn balancing_biases(layer: usize) -> String {
    format!("model.layers.{layer}.zaya_block.router.balancing_biases")
}

/// Byte classes of `verify`'s totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Affine4,
    Affine8,
    Mxfp4,
    /// Kept in float inside a quantized bundle.
    Passthrough,
    /// Float in an unquantized checkpoint.
    Float,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Affine4 => "affine4",
            Kind::Affine8 => "affine8",
            Kind::Mxfp4 => "mxfp4",
            Kind::Passthrough => "passthrough",
            Kind::Float => "float",
        }
    }

    fn of(format: WeightFormat, quantized_bundle: bool) -> Kind {
        match format {
            WeightFormat::Affine { bits: 8, .. } => Kind::Affine8,
            WeightFormat::Affine { .. } => Kind::Affine4,
            WeightFormat::Mxfp4 { .. } => Kind::Mxfp4,
            WeightFormat::Float { .. } if quantized_bundle => Kind::Passthrough,
            WeightFormat::Float { .. } => Kind::Float,
        }
    }
}

/// One logical tensor of the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Weights: the module path, stored as `{name}.weight` (+ `.scales`, `.biases`).
    /// Plain tensors: the full tensor name.
    pub name: String,
    /// Logical shape; weights are `[.., out, in]` with `in` unpacked.
    pub shape: Vec<usize>,
    /// Expected format; for float tensors the dtype is the usual one, but any float dtype
    /// is accepted.
    pub format: WeightFormat,
    pub is_weight: bool,
}

impl Entry {
    /// The tensor holding the data (`{module}.weight` or the plain name).
    pub fn data_name(&self) -> String {
        if self.is_weight {
            format!("{}.weight", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// What a stored tensor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// u32 words of packed codes.
    Packed,
    Scales,
    Biases,
    /// Plain float values (any float dtype accepted).
    Float,
}

/// One tensor the files must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTensor {
    pub name: String,
    /// Exact dtype for packed/scales/biases; the usual dtype for `Role::Float`.
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub role: Role,
    pub kind: Kind,
}

impl StoredTensor {
    pub fn accepts(&self, dtype: DType) -> bool {
        match self.role {
            Role::Float => dtype.is_float(),
            _ => dtype == self.dtype,
        }
    }

    /// What `accepts` wants, for messages.
    pub fn dtype_rule(&self) -> String {
        match self.role {
            Role::Float => "a float dtype (f16, bf16, f32)".to_string(),
            _ => self.dtype.to_string(),
        }
    }
}

/// The model's logical tensors for `config` (canonical names), with quantized formats using
/// `scale_dtype` for affine scales/biases.
pub fn expected_entries(config: &Config, scale_dtype: DType) -> Vec<Entry> {
    let mut b = EntryBuilder {
        config,
        scale_dtype,
        out: Vec::new(),
    };
    b.top();
    for layer in 0..config.num_layers {
        b.residual_merge(layer);
        if layer % 2 == 0 {
            b.attention(layer);
        } else {
            b.moe(layer);
        }
    }
    b.out
}

/// The tensors the files must hold for `config` (original naming).
pub fn expected_stored(config: &Config, scale_dtype: DType) -> Vec<StoredTensor> {
    expected_stored_as(config, scale_dtype, Naming::Original)
}

/// The tensors the files must hold for `config`, under the files' naming. HF naming exists
/// only for float checkpoints: experts as `mlp.experts.{gate_up,down}_proj`.
pub fn expected_stored_as(
    config: &Config,
    scale_dtype: DType,
    naming: Naming,
) -> Vec<StoredTensor> {
    let quantized = config.quantization.is_some();
    let mut out = Vec::new();
    for entry in expected_entries(config, scale_dtype) {
        match stacked_expert(&entry.name) {
            Some((layer, proj)) if !quantized && naming == Naming::Hf => {
                push_hf_experts(config, layer, proj, &entry, &mut out)
            }
            Some((layer, proj)) if !quantized => {
                push_local_experts(config, layer, proj, &entry, &mut out)
            }
            _ => expand(&entry, quantized, &mut out),
        }
    }
    if naming == Naming::Hf {
        for t in &mut out {
            if let Some(hf) = hf_names::to_hf(&t.name, config.num_layers) {
                t.name = hf;
            }
        }
    }
    out
}

/// HF's stacked experts: gate and up rows in one `gate_up_proj` [E, 2I, H], listed with the
/// gate projection; `down_proj` [E, H, I].
fn push_hf_experts(
    config: &Config,
    layer: usize,
    proj: &str,
    entry: &Entry,
    out: &mut Vec<StoredTensor>,
) {
    let (h, i, e) = (
        config.hidden_size,
        config.expert_intermediate,
        config.num_experts,
    );
    let (name, shape) = match proj {
        "gate_proj" => (hf_names::gate_up(layer / 2), vec![e, 2 * i, h]),
        "down_proj" => (hf_names::experts_down(layer / 2), vec![e, h, i]),
        _ => return,
    };
    out.push(StoredTensor {
        name,
        dtype: float_dtype(entry.format),
        shape,
        role: Role::Float,
        kind: Kind::Float,
    });
}

/// `(layer, proj)` when `module` is a stacked expert projection.
pub fn stacked_expert(module: &str) -> Option<(usize, &'static str)> {
    let rest = module.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let proj = rest.strip_prefix("zaya_block.experts.switch_mlp.")?;
    let proj = EXPERT_PROJS.into_iter().find(|p| *p == proj)?;
    Some((layer.parse().ok()?, proj))
}

/// The unquantized checkpoint stores gate+up of one expert as one `linear_fc1`, so it is
/// listed once, with the gate projection.
fn push_local_experts(
    config: &Config,
    layer: usize,
    proj: &str,
    entry: &Entry,
    out: &mut Vec<StoredTensor>,
) {
    let (h, i) = (config.hidden_size, config.expert_intermediate);
    let dtype = float_dtype(entry.format);
    for e in 0..config.num_experts {
        let (name, shape) = match proj {
            "gate_proj" => (local_expert_fc1(layer, e), vec![2 * i, h]),
            "down_proj" => (local_expert_fc2(layer, e), vec![h, i]),
            _ => continue,
        };
        out.push(StoredTensor {
            name,
            dtype,
            shape,
            role: Role::Float,
            kind: Kind::Float,
        });
    }
}

fn float_dtype(format: WeightFormat) -> DType {
    match format {
        WeightFormat::Float { dtype } => dtype,
        _ => DType::F16,
    }
}

/// A logical entry as stored tensors.
fn expand(entry: &Entry, quantized_bundle: bool, out: &mut Vec<StoredTensor>) {
    let kind = Kind::of(entry.format, quantized_bundle);
    let (lead, cols) = match entry.shape.split_last() {
        Some((&cols, lead)) => (lead.to_vec(), cols),
        None => (Vec::new(), 1),
    };
    let with_last = |last: usize| {
        let mut s = lead.clone();
        s.push(last);
        s
    };
    let mut push = |suffix: &str, dtype: DType, shape: Vec<usize>, role: Role| {
        out.push(StoredTensor {
            name: format!("{}.{suffix}", entry.name),
            dtype,
            shape,
            role,
            kind,
        });
    };
    match entry.format {
        WeightFormat::Affine {
            bits,
            group_size,
            scale_dtype,
        } => {
            let groups = cols / group_size as usize;
            push(
                "weight",
                DType::U32,
                with_last(cols * bits as usize / 32),
                Role::Packed,
            );
            push("scales", scale_dtype, with_last(groups), Role::Scales);
            push("biases", scale_dtype, with_last(groups), Role::Biases);
        }
        WeightFormat::Mxfp4 { group_size } => {
            push("weight", DType::U32, with_last(cols / 8), Role::Packed);
            push(
                "scales",
                DType::U8,
                with_last(cols / group_size as usize),
                Role::Scales,
            );
        }
        WeightFormat::Float { dtype } => {
            let name = entry.data_name();
            out.push(StoredTensor {
                name,
                dtype,
                shape: entry.shape.clone(),
                role: Role::Float,
                kind,
            });
        }
    }
}

struct EntryBuilder<'a> {
    config: &'a Config,
    scale_dtype: DType,
    out: Vec<Entry>,
}

impl EntryBuilder<'_> {
    /// A float tensor that is neither the unquantized default nor a quantized weight.
    fn float_format(&self) -> WeightFormat {
        let dtype = if self.config.quantization.is_some() {
            DType::F16
        } else {
            DType::BF16
        };
        WeightFormat::Float { dtype }
    }

    fn weight(&mut self, module: String, shape: Vec<usize>) {
        let format = match &self.config.quantization {
            Some(q) => q.format_for(&module, self.scale_dtype),
            None => self.float_format(),
        };
        self.out.push(Entry {
            name: module,
            shape,
            format,
            is_weight: true,
        });
    }

    fn tensor(&mut self, name: String, shape: Vec<usize>) {
        let format = self.float_format();
        self.out.push(Entry {
            name,
            shape,
            format,
            is_weight: false,
        });
    }

    fn top(&mut self) {
        let c = self.config;
        self.weight(EMBED.to_string(), vec![c.vocab_size, c.hidden_size]);
        if !c.tie_word_embeddings {
            self.weight(LM_HEAD.to_string(), vec![c.vocab_size, c.hidden_size]);
        }
        self.tensor(FINAL_NORM.to_string(), vec![c.hidden_size]);
        for t in RES_HIDDEN.iter().chain(&RES_RESIDUAL) {
            self.tensor(format!("model.res_scale.{t}"), vec![c.hidden_size]);
        }
    }

    /// `input_norm` and `res_scale` at the top of every original layer.
    fn residual_merge(&mut self, layer: usize) {
        let (h, p) = (self.config.hidden_size, layer_prefix(layer));
        self.tensor(format!("{p}.input_norm.weight"), vec![h]);
        let residual: &[&str] = if layer == 0 { &[] } else { &RES_RESIDUAL };
        for t in RES_HIDDEN.iter().chain(residual) {
            self.tensor(format!("{p}.res_scale.{t}"), vec![h]);
        }
    }

    fn attention(&mut self, layer: usize) {
        let c = self.config;
        let (h, hd, ch) = (c.hidden_size, c.head_dim, c.conv_channels());
        let a = format!("{}.self_attn", layer_prefix(layer));
        self.weight(format!("{a}.qkv.linear_q"), vec![c.num_q_heads * hd, h]);
        self.weight(format!("{a}.qkv.linear_k"), vec![c.num_kv_heads * hd, h]);
        self.weight(format!("{a}.qkv.val_proj1"), vec![c.value_half(), h]);
        self.weight(format!("{a}.qkv.val_proj2"), vec![c.value_half(), h]);
        self.weight(format!("{a}.qkv.conv_qk.0"), vec![ch, 1, 2]);
        self.tensor(format!("{a}.qkv.conv_qk.0.bias"), vec![ch]);
        self.weight(format!("{a}.qkv.conv_qk.1"), vec![ch, hd, 2]);
        self.tensor(format!("{a}.qkv.conv_qk.1.bias"), vec![ch]);
        self.tensor(format!("{a}.qkv.temp"), vec![c.num_kv_heads]);
        self.weight(format!("{a}.o_proj"), vec![h, c.num_q_heads * hd]);
    }

    fn moe(&mut self, layer: usize) {
        let c = self.config;
        let (h, d, e, i) = (
            c.hidden_size,
            c.router_hidden,
            c.num_experts,
            c.expert_intermediate,
        );
        let r = format!("{}.zaya_block.router", layer_prefix(layer));
        self.weight(format!("{r}.down_proj"), vec![d, h]);
        self.tensor(format!("{r}.down_proj.bias"), vec![d]);
        self.tensor(format!("{r}.rmsnorm_eda.weight"), vec![d]);
        self.weight(format!("{r}.router_mlp.0"), vec![d, d]);
        self.tensor(format!("{r}.router_mlp.0.bias"), vec![d]);
        self.weight(format!("{r}.router_mlp.2"), vec![d, d]);
        self.tensor(format!("{r}.router_mlp.2.bias"), vec![d]);
        self.weight(format!("{r}.router_mlp.4"), vec![e + 1, d]);
        self.tensor(balancing_biases(layer), vec![e + 1]);
        // The first MoE layer has no previous router state to carry.
        if layer > 1 {
            self.tensor(format!("{r}.router_states_scale"), vec![d]);
        }
        self.weight(switch_mlp(layer, "gate_proj"), vec![e, i, h]);
        self.weight(switch_mlp(layer, "up_proj"), vec![e, i, h]);
        self.weight(switch_mlp(layer, "down_proj"), vec![e, h, i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_rules_match_the_spec() {
        for name in [
            "model.final_norm.weight",
            "model.layers.3.zaya_block.router.down_proj",
            "model.layers.0.self_attn.qkv.conv_qk.1",
            "model.layers.0.self_attn.qkv.temp",
            "model.res_scale.residual_bias",
        ] {
            assert!(is_passthrough(name), "{name}");
        }
        for name in [
            "model.embed_tokens",
            "model.layers.0.self_attn.o_proj",
            &switch_mlp(1, "up_proj"),
        ] {
            assert!(!is_passthrough(name), "{name}");
        }
    }

    #[test]
    fn stacked_expert_names_parse() {
        assert_eq!(
            stacked_expert(&switch_mlp(7, "down_proj")),
            Some((7, "down_proj"))
        );
        assert_eq!(
            stacked_expert("model.layers.7.zaya_block.router.down_proj"),
            None
        );
    }
}
