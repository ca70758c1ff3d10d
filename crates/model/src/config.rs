//! The model configuration: `config.json` (+ `jang_config.json`) parsed into the handful of
//! numbers the engine needs.
//!
//! Two field sets exist in the wild and both are accepted:
//! - the legacy Megatron-style one the published bundle carries (`ffn_hidden_size`,
//!   `zaya_mlp_expansion`, `norm_epsilon`, `num_query_groups`, `kv_channels`, and
//!   `num_hidden_layers` counting *original* layers, 80 for ZAYA1-8B);
//! - HF transformers' `ZayaConfig` (`moe_intermediate_size`, `router_hidden_size`,
//!   `rms_norm_eps`, `rope_parameters`, and `num_hidden_layers` counting *HF* layers, i.e.
//!   attention+MoE pairs, 40 for ZAYA1-8B). A config is read as HF-style when it has
//!   `moe_intermediate_size` and no `ffn_hidden_size`.
//!
//! Everything is validated here so that the loader, the graph builder and the kernels can
//! trust the numbers (no zero sizes, divisibility the layouts depend on).
use crate::error::ModelError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zaya_ir::{DType, WeightFormat};

/// The published ZAYA1-8B config, embedded so tools can size things without a bundle.
const ZAYA1_8B_CONFIG: &str = include_str!("../assets/zaya1-8b-config.json");

/// Upper bounds on config sizes: far beyond ZAYA1-8B (and any plausible sibling), low enough
/// that no derived size overflows and nothing sized from them can hang or exhaust memory
/// before the files are checked against them.
fn size_limit(name: &str) -> usize {
    match name {
        field::LAYERS => 1 << 14,
        field::Q_HEADS | field::KV_HEADS | field::EXPERTS => 1 << 12,
        field::MAX_POSITIONS => 1 << 30,
        _ => 1 << 24,
    }
}

/// How errors name the config's sizes: the legacy field, then its HF alias where the two
/// field sets differ.
pub(crate) mod field {
    pub const HIDDEN: &str = "hidden_size";
    pub const LAYERS: &str = "num_hidden_layers";
    pub const Q_HEADS: &str = "cca_num_q_heads / num_attention_heads";
    pub const KV_HEADS: &str = "num_key_value_heads / num_query_groups";
    pub const HEAD_DIM: &str = "head_dim / kv_channels";
    pub const EXPERTS: &str = "num_experts";
    pub const EXPERT_INTERMEDIATE: &str = "ffn_hidden_size / moe_intermediate_size";
    pub const ROUTER_HIDDEN: &str = "zaya_mlp_expansion / router_hidden_size";
    pub const VOCAB: &str = "vocab_size";
    pub const MAX_POSITIONS: &str = "max_position_embeddings";
}

/// At most 2^40 elements in one tensor (ZAYA1-8B's largest holds 2^29).
const MAX_TENSOR_ELEMENTS: u128 = 1 << 40;

/// HF `ZayaConfig` defaults used only when an HF-style config has no `rope_parameters`
/// at all (that is what HF itself does).
const HF_DEFAULT_ROPE_THETA: f64 = 5_000_000.0;
const HF_DEFAULT_PARTIAL_ROTARY: f64 = 0.5;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub hidden_size: usize,
    /// Original layers L (even = CCA attention, odd = MoE).
    pub num_layers: usize,
    pub num_q_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub num_experts: usize,
    /// Expert intermediate size I (`ffn_hidden_size / 2`).
    pub expert_intermediate: usize,
    /// Router hidden size D (`zaya_mlp_expansion`).
    pub router_hidden: usize,
    pub vocab_size: usize,
    pub rope_theta: f64,
    pub partial_rotary_factor: f64,
    pub norm_eps: f64,
    pub max_position_embeddings: usize,
    pub bos_token_id: Option<u32>,
    /// First id when the config lists several.
    pub eos_token_id: Option<u32>,
    pub pad_token_id: Option<u32>,
    pub tie_word_embeddings: bool,
    /// `None` = unquantized checkpoint (e.g. the bf16 source).
    pub quantization: Option<Quantization>,
}

impl Config {
    /// Parses a config from JSON text; `origin` is the file named in errors.
    pub fn from_json_str(json: &str, origin: &Path) -> Result<Config, ModelError> {
        let value: Value = serde_json::from_str(json).map_err(|source| ModelError::Json {
            file: origin.to_path_buf(),
            source,
        })?;
        let Value::Object(obj) = value else {
            return Err(ModelError::config(
                origin,
                "<root>",
                "config is not a JSON object",
            ));
        };
        let fields = Fields {
            obj: &obj,
            file: origin,
        };
        let config = parse_config(&fields)?;
        config.validate(origin)?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Config::from_json_str(&text, path)
    }

    /// `dir/config.json`, merged with `dir/jang_config.json` when present (jang records the
    /// embedding's quantization method, which plain MLX configs do not).
    pub fn from_dir(dir: &Path) -> Result<Config, ModelError> {
        if !dir.is_dir() {
            let reason = if dir.exists() {
                "not a directory"
            } else {
                "no such directory"
            };
            return Err(ModelError::NotABundle {
                path: dir.to_path_buf(),
                reason: reason.into(),
            });
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(ModelError::NotABundle {
                path: dir.to_path_buf(),
                reason: "no config.json".into(),
            });
        }
        let mut config = Config::from_file(&config_path)?;
        let jang_path = dir.join("jang_config.json");
        if jang_path.is_file() {
            let text =
                std::fs::read_to_string(&jang_path).map_err(|e| ModelError::io(&jang_path, e))?;
            config.merge_jang_json(&text, &jang_path)?;
        }
        Ok(config)
    }

    /// Folds a `jang_config.json` (text; `origin` named in errors) into this config and
    /// validates the result.
    pub fn merge_jang_json(&mut self, text: &str, origin: &Path) -> Result<(), ModelError> {
        merge_jang(self, text, origin)?;
        self.validate(origin)
    }

    /// The embedded copy of the published ZAYA1-8B-MXFP4 config.
    pub fn zaya1_8b() -> Config {
        // The asset is part of this crate and covered by a unit test, so this cannot fail
        // on user input.
        Config::from_json_str(ZAYA1_8B_CONFIG, Path::new("assets/zaya1-8b-config.json"))
            .expect("embedded ZAYA1-8B config is valid")
    }

    /// C = (nq + nkv) * hd: channels of the packed `[q | k]` conv input.
    pub fn conv_channels(&self) -> usize {
        (self.num_q_heads + self.num_kv_heads) * self.head_dim
    }

    /// Rotated dims per head (`hd * partial_rotary_factor`, validated even).
    pub fn rot_dims(&self) -> usize {
        (self.head_dim as f64 * self.partial_rotary_factor).round() as usize
    }

    pub fn num_moe_layers(&self) -> usize {
        self.num_layers / 2
    }

    /// Output rows of `val_proj1` and of `val_proj2` (their concat is one value vector).
    pub fn value_half(&self) -> usize {
        self.num_kv_heads * self.head_dim / 2
    }

    pub fn q_per_kv(&self) -> usize {
        self.num_q_heads / self.num_kv_heads
    }

    /// Keys the bundle (or, unquantized, the original checkpoint) must hold: spec §5 gives
    /// `5 + 49 * L/2` for affine bundles; MXFP4 bundles have no `.biases` for linears.
    pub fn expected_tensor_count(&self) -> usize {
        crate::names::expected_stored(self, DType::F16).len()
    }

    /// A `config.json` in the legacy field set that [`Config::from_json_str`] reads back
    /// to an equal config (used by the random bundle writer).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::json!({
            "architectures": ["ZayaForCausalLM"],
            "model_type": "zaya",
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_layers,
            "cca_num_q_heads": self.num_q_heads,
            "num_attention_heads": self.num_q_heads,
            "num_key_value_heads": self.num_kv_heads,
            "num_query_groups": self.num_kv_heads,
            "head_dim": self.head_dim,
            "kv_channels": self.head_dim,
            "num_experts": self.num_experts,
            "moe_router_topk": 1,
            "ffn_hidden_size": 2 * self.expert_intermediate,
            "zaya_mlp_expansion": self.router_hidden,
            "vocab_size": self.vocab_size,
            "rope_theta": self.rope_theta,
            "partial_rotary_factor": self.partial_rotary_factor,
            "norm_epsilon": self.norm_eps,
            "max_position_embeddings": self.max_position_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "tie_word_embeddings": self.tie_word_embeddings,
        });
        if let (Some(q), Value::Object(obj)) = (&self.quantization, &mut v) {
            obj.insert("quantization".into(), q.to_json());
        }
        v
    }

    fn validate(&self, file: &Path) -> Result<(), ModelError> {
        let positive = [
            (field::HIDDEN, self.hidden_size),
            (field::LAYERS, self.num_layers),
            (field::Q_HEADS, self.num_q_heads),
            (field::KV_HEADS, self.num_kv_heads),
            (field::HEAD_DIM, self.head_dim),
            (field::EXPERTS, self.num_experts),
            (field::EXPERT_INTERMEDIATE, self.expert_intermediate),
            (field::ROUTER_HIDDEN, self.router_hidden),
            (field::VOCAB, self.vocab_size),
            (field::MAX_POSITIONS, self.max_position_embeddings),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ModelError::config(file, field, "must be > 0"));
            }
            let limit = size_limit(field);
            if value > limit {
                return Err(ModelError::config(
                    file,
                    field,
                    format!("{value} is beyond any ZAYA model (at most {limit} accepted)"),
                ));
            }
        }
        self.validate_tensor_sizes(file)?;
        if !self.num_layers.is_multiple_of(2) {
            return Err(ModelError::config(
                file,
                "num_hidden_layers",
                format!(
                    "{} original layers: must be even (attention/MoE pairs)",
                    self.num_layers
                ),
            ));
        }
        if !self.num_q_heads.is_multiple_of(self.num_kv_heads) {
            return Err(ModelError::config(
                file,
                "num_attention_heads",
                format!(
                    "{} query heads is not a multiple of {} kv heads",
                    self.num_q_heads, self.num_kv_heads
                ),
            ));
        }
        self.validate_rope(file)?;
        if !(self.num_kv_heads * self.head_dim).is_multiple_of(2) {
            return Err(ModelError::config(
                file,
                "head_dim",
                "nkv * head_dim must be even (value halves)",
            ));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(ModelError::config(
                file,
                "norm_epsilon",
                format!("{} must be > 0", self.norm_eps),
            ));
        }
        if self.quantization.is_some() {
            self.validate_group_sizes(file)?;
        }
        Ok(())
    }

    fn validate_rope(&self, file: &Path) -> Result<(), ModelError> {
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(ModelError::config(
                file,
                "rope_theta",
                format!("{} must be > 0", self.rope_theta),
            ));
        }
        let prf = self.partial_rotary_factor;
        if !(prf > 0.0 && prf <= 1.0) {
            return Err(ModelError::config(
                file,
                "partial_rotary_factor",
                format!("{prf} not in (0, 1]"),
            ));
        }
        let rot = self.head_dim as f64 * prf;
        if rot.fract() != 0.0 || !(rot as usize).is_multiple_of(2) {
            return Err(ModelError::config(
                file,
                "partial_rotary_factor",
                format!(
                    "head_dim {} * {prf} = {rot} rotated dims: must be an even integer",
                    self.head_dim
                ),
            ));
        }
        Ok(())
    }

    /// The largest tensors' element counts, so that no size derived from the config can
    /// overflow (each field alone is already bounded by [`size_limit`]).
    fn validate_tensor_sizes(&self, file: &Path) -> Result<(), ModelError> {
        let q_and_kv = self.num_q_heads + self.num_kv_heads;
        let products: [&[(&str, usize)]; 4] = [
            &[
                (field::VOCAB, self.vocab_size),
                (field::HIDDEN, self.hidden_size),
            ],
            &[
                (field::EXPERTS, self.num_experts),
                (field::EXPERT_INTERMEDIATE, self.expert_intermediate),
                (field::HIDDEN, self.hidden_size),
            ],
            &[
                ("q + kv heads", q_and_kv),
                (field::HEAD_DIM, self.head_dim),
                (field::HEAD_DIM, self.head_dim),
            ],
            &[
                (field::Q_HEADS, self.num_q_heads),
                (field::HEAD_DIM, self.head_dim),
                (field::HIDDEN, self.hidden_size),
            ],
        ];
        for factors in products {
            let dims: Vec<usize> = factors.iter().map(|f| f.1).collect();
            let mut names: Vec<&str> = factors.iter().map(|f| f.0).collect();
            names.dedup();
            let field = names.join(" x ");
            let field = field.as_str();
            let elements = dims.iter().map(|&d| d as u128).product::<u128>();
            if elements > MAX_TENSOR_ELEMENTS {
                return Err(ModelError::config(
                    file,
                    field,
                    format!(
                        "implies a tensor of {dims:?} = {elements} elements, beyond any ZAYA \
                         model (at most {MAX_TENSOR_ELEMENTS})"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every quantized weight's input width must split into whole groups (and whole u32
    /// words, which group sizes of 32+ imply). All attention layers share shapes, as do all
    /// MoE layers, so the first pair stands for every layer (and the check costs the same for
    /// any layer count); per-module overrides are checked at their own module.
    fn validate_group_sizes(&self, file: &Path) -> Result<(), ModelError> {
        let first_layers = Config {
            num_layers: self.num_layers.min(4),
            ..self.clone()
        };
        let same_shape = |name: &str| -> String {
            match crate::hf_names::layer_index(name) {
                Some(n) if n >= 4 => {
                    let rest = &name[format!("model.layers.{n}").len()..];
                    format!("model.layers.{}{rest}", 2 + n % 2)
                }
                _ => name.to_string(),
            }
        };
        let entries = crate::names::expected_entries(&first_layers, DType::F16);
        let overridden = self.quantization.iter().flat_map(|q| q.overrides.iter());
        for (module, spec) in overridden {
            let (Some(spec), Some(entry)) =
                (spec, entries.iter().find(|e| e.name == same_shape(module)))
            else {
                continue;
            };
            let cols = entry.shape.last().copied().unwrap_or(0);
            if !cols.is_multiple_of(spec.group_size as usize) {
                return Err(ModelError::config(
                    file,
                    &format!("quantization.{module}.group_size"),
                    format!(
                        "`{module}` has {cols} input columns, not a multiple of group size {}",
                        spec.group_size
                    ),
                ));
            }
        }
        for entry in entries {
            let group = match entry.format {
                WeightFormat::Affine { group_size, .. } | WeightFormat::Mxfp4 { group_size } => {
                    group_size as usize
                }
                WeightFormat::Float { .. } => continue,
            };
            let cols = entry.shape.last().copied().unwrap_or(0);
            if cols % group != 0 {
                return Err(ModelError::config(
                    file,
                    "quantization.group_size",
                    format!(
                        "`{}` has {cols} input columns, not a multiple of group size {group}",
                        entry.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What a MoE layer does with a token routed to the skip (MoD) expert; spec §4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkipMode {
    /// HF transformers / vLLM: the MoE output is 0.
    #[default]
    Zero,
    /// Zyphra's original code, jang/MLX, SGLang, llama.cpp: the output is `x * p[E]`.
    Passthrough,
}

impl FromStr for SkipMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zero" => Ok(SkipMode::Zero),
            "passthrough" => Ok(SkipMode::Passthrough),
            other => Err(format!(
                "unknown skip mode `{other}` (expected `zero` or `passthrough`)"
            )),
        }
    }
}

impl fmt::Display for SkipMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipMode::Zero => "zero",
            SkipMode::Passthrough => "passthrough",
        })
    }
}

/// Element type of the KV caches. f16 halves their memory (ZAYA1-8B at 131072 tokens: 10.7 GB
/// in f32) and the bytes attention reads per token; values are rounded to f16 when appended and
/// attention sums in f32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvDtype {
    #[default]
    F32,
    F16,
}

impl KvDtype {
    pub fn dtype(self) -> zaya_ir::DType {
        match self {
            KvDtype::F32 => zaya_ir::DType::F32,
            KvDtype::F16 => zaya_ir::DType::F16,
        }
    }
}

impl FromStr for KvDtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(KvDtype::F32),
            "f16" => Ok(KvDtype::F16),
            other => Err(format!(
                "unknown KV cache type `{other}` (expected `f32` or `f16`)"
            )),
        }
    }
}

impl fmt::Display for KvDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KvDtype::F32 => "f32",
            KvDtype::F16 => "f16",
        })
    }
}

/// MLX quantization mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantMode {
    Affine,
    Mxfp4,
}

impl QuantMode {
    fn parse(s: &str) -> Option<QuantMode> {
        match s {
            "affine" => Some(QuantMode::Affine),
            "mxfp4" => Some(QuantMode::Mxfp4),
            _ => None,
        }
    }
}

/// How one module is quantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct QuantSpec {
    pub bits: u8,
    pub group_size: u32,
    pub mode: QuantMode,
}

impl QuantSpec {
    pub fn format(self, scale_dtype: DType) -> WeightFormat {
        match self.mode {
            QuantMode::Affine => WeightFormat::Affine {
                bits: self.bits,
                group_size: self.group_size,
                scale_dtype,
            },
            QuantMode::Mxfp4 => WeightFormat::Mxfp4 {
                group_size: self.group_size,
            },
        }
    }
}

/// The bundle's quantization: MLX's `{bits, group_size, mode}` plus jang's `embed_bits`,
/// `router_bits`, and MLX per-module overrides (`"model.embed_tokens": {bits, ...}`, or
/// `false` for a module kept in float).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantization {
    pub default: QuantSpec,
    /// From `embed_bits` (jang); mode from jang's `embed_method`, else affine.
    pub embed: Option<QuantSpec>,
    /// Informational: 16 means the router stays in float (it always does, by name).
    pub router_bits: Option<u8>,
    /// MLX per-module overrides; `None` = kept in float.
    pub overrides: BTreeMap<String, Option<QuantSpec>>,
}

impl Quantization {
    /// The stored format of `module` (a module path without `.weight`). Modules that the
    /// converter keeps in float (spec §5 passthrough names) report `Float{F16}`, the dtype
    /// jang writes; the loader still accepts any float dtype for them.
    pub fn format_for(&self, module: &str, scale_dtype: DType) -> WeightFormat {
        const FLOAT: WeightFormat = WeightFormat::Float { dtype: DType::F16 };
        if crate::names::is_passthrough(module) {
            return FLOAT;
        }
        if let Some(spec) = self.overrides.get(module) {
            return spec.map_or(FLOAT, |s| s.format(scale_dtype));
        }
        if let Some(embed) = self.embed {
            if module == crate::names::EMBED || module == crate::names::LM_HEAD {
                return embed.format(scale_dtype);
            }
        }
        self.default.format(scale_dtype)
    }

    /// The MLX/jang `quantization` object.
    pub fn to_json(&self) -> Value {
        let spec = |s: QuantSpec| {
            let mode = match s.mode {
                QuantMode::Affine => "affine",
                QuantMode::Mxfp4 => "mxfp4",
            };
            serde_json::json!({ "bits": s.bits, "group_size": s.group_size, "mode": mode })
        };
        let mut obj = match spec(self.default) {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        if let Some(b) = self.router_bits {
            obj.insert("router_bits".into(), b.into());
        }
        if let Some(e) = self.embed {
            obj.insert("embed_bits".into(), e.bits.into());
            let implied = QuantSpec {
                bits: e.bits,
                group_size: self.default.group_size,
                mode: QuantMode::Affine,
            };
            if e != implied && !self.overrides.contains_key(crate::names::EMBED) {
                obj.insert(crate::names::EMBED.into(), spec(e));
            }
        }
        for (module, o) in &self.overrides {
            obj.insert(module.clone(), o.map_or(Value::Bool(false), spec));
        }
        Value::Object(obj)
    }
}

/// Typed access to a JSON object with errors that name the file and field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    file: &'a Path,
}

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn err(&self, field: &str, reason: impl Into<String>) -> ModelError {
        ModelError::config(self.file, field, reason)
    }

    fn usize(&self, key: &str) -> Result<Option<usize>, ModelError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = v
            .as_u64()
            .ok_or_else(|| self.err(key, format!("expected a non-negative integer, found {v}")))?;
        usize::try_from(n)
            .map(Some)
            .map_err(|_| self.err(key, "too large"))
    }

    fn f64(&self, key: &str) -> Result<Option<f64>, ModelError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.as_f64()
            .map(Some)
            .ok_or_else(|| self.err(key, format!("expected a number, found {v}")))
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.as_bool()
            .map(Some)
            .ok_or_else(|| self.err(key, format!("expected true/false, found {v}")))
    }

    fn required_usize(&self, key: &str) -> Result<usize, ModelError> {
        self.usize(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    /// The first present alias; when several are present they must agree.
    fn aliased_usize(&self, keys: &[&str]) -> Result<usize, ModelError> {
        let mut found: Option<(&str, usize)> = None;
        for &key in keys {
            if let Some(v) = self.usize(key)? {
                match found {
                    Some((first, fv)) if fv != v => {
                        return Err(self.err(key, format!("{v} conflicts with `{first}` = {fv}")));
                    }
                    None => found = Some((key, v)),
                    _ => {}
                }
            }
        }
        found
            .map(|(_, v)| v)
            .ok_or_else(|| self.err(keys[0], format!("missing (also accepted: {keys:?})")))
    }

    /// A token id, or the first of a list of ids (HF allows `eos_token_id: [..]`).
    fn token_id(&self, key: &str) -> Result<Option<u32>, ModelError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let first = match v {
            Value::Array(items) => match items.first() {
                Some(item) => item,
                None => return Ok(None),
            },
            other => other,
        };
        let id = first.as_u64().and_then(|n| u32::try_from(n).ok());
        id.map(Some)
            .ok_or_else(|| self.err(key, format!("expected a token id, found {v}")))
    }

    /// Feature flags the engine depends on: absent is fine, `false` is unsupported.
    fn require_not_false(&self, key: &str, what: &str) -> Result<(), ModelError> {
        match self.bool(key)? {
            Some(false) => Err(self.err(key, format!("false: {what} is required by this engine"))),
            _ => Ok(()),
        }
    }
}

fn parse_config(f: &Fields) -> Result<Config, ModelError> {
    // HF's ZayaConfig counts layer pairs and has no ffn_hidden_size.
    let hf_layers = !f.has("ffn_hidden_size") && f.has("moe_intermediate_size");
    let layers_field = f.required_usize("num_hidden_layers")?;
    let num_layers = if hf_layers {
        layers_field
            .checked_mul(2)
            .ok_or_else(|| f.err("num_hidden_layers", format!("{layers_field} is too large")))?
    } else {
        layers_field
    };
    check_unsupported_features(f, hf_layers, layers_field)?;

    let num_q_heads = match f.usize("cca_num_q_heads")? {
        Some(n) => n,
        None => f.required_usize("num_attention_heads")?,
    };
    let (rope_theta, partial_rotary_factor) = parse_rope(f, hf_layers)?;
    let quantization = match f
        .get("quantization")
        .or_else(|| f.get("quantization_config"))
    {
        Some(v) => parse_quantization(v, f.file)?,
        None => None,
    };
    Ok(Config {
        hidden_size: f.required_usize("hidden_size")?,
        num_layers,
        num_q_heads,
        num_kv_heads: f.aliased_usize(&["num_key_value_heads", "num_query_groups"])?,
        head_dim: f.aliased_usize(&["head_dim", "kv_channels"])?,
        num_experts: f.required_usize("num_experts")?,
        expert_intermediate: parse_expert_intermediate(f)?,
        router_hidden: f.aliased_usize(&["zaya_mlp_expansion", "router_hidden_size"])?,
        vocab_size: f.required_usize("vocab_size")?,
        rope_theta,
        partial_rotary_factor,
        norm_eps: parse_norm_eps(f)?,
        max_position_embeddings: f.required_usize("max_position_embeddings")?,
        bos_token_id: f.token_id("bos_token_id")?,
        eos_token_id: f.token_id("eos_token_id")?,
        pad_token_id: f.token_id("pad_token_id")?,
        // HF's PretrainedConfig default; the unquantized source config omits the field.
        tie_word_embeddings: f.bool("tie_word_embeddings")?.unwrap_or(true),
        quantization,
    })
}

/// Model variants whose tensor set or math this engine does not implement.
fn check_unsupported_features(
    f: &Fields,
    hf_layers: bool,
    layers_field: usize,
) -> Result<(), ModelError> {
    f.require_not_false("cca", "CCA attention")?;
    f.require_not_false("zaya_use_mod", "the MoD skip route")?;
    f.require_not_false("zaya_use_eda", "the EDA router carry")?;
    for key in ["moe_router_topk", "num_experts_per_tok"] {
        if let Some(k) = f.usize(key)? {
            if k != 1 {
                return Err(f.err(key, format!("{k}: only top-1 routing is supported")));
            }
        }
    }
    if let Some(v) = f.get("layer_types") {
        let types = v
            .as_array()
            .ok_or_else(|| f.err("layer_types", "expected a list"))?;
        if let Some(bad) = types.iter().find(|t| t.as_str() != Some("hybrid")) {
            return Err(f.err(
                "layer_types",
                format!("{bad}: only \"hybrid\" layers are supported"),
            ));
        }
        if hf_layers && types.len() != layers_field {
            return Err(f.err(
                "layer_types",
                format!(
                    "{} entries but num_hidden_layers = {layers_field}",
                    types.len()
                ),
            ));
        }
    }
    if let Some(v) = f.get("rope_scaling") {
        let default = v.as_bool() == Some(false)
            || v.get("rope_type")
                .or_else(|| v.get("type"))
                .and_then(Value::as_str)
                == Some("default");
        if !default {
            return Err(f.err(
                "rope_scaling",
                format!("{v}: rope scaling is not supported"),
            ));
        }
    }
    Ok(())
}

fn parse_expert_intermediate(f: &Fields) -> Result<usize, ModelError> {
    let from_moe = f.usize("moe_intermediate_size")?;
    let Some(ffn) = f.usize("ffn_hidden_size")? else {
        return from_moe
            .ok_or_else(|| f.err("ffn_hidden_size", "missing (or moe_intermediate_size)"));
    };
    if ffn % 2 != 0 {
        return Err(f.err(
            "ffn_hidden_size",
            format!("{ffn} is odd: it holds gate and up halves"),
        ));
    }
    match from_moe {
        Some(i) if i != ffn / 2 => Err(f.err(
            "moe_intermediate_size",
            format!("{i} conflicts with ffn_hidden_size / 2 = {}", ffn / 2),
        )),
        _ => Ok(ffn / 2),
    }
}

fn parse_norm_eps(f: &Fields) -> Result<f64, ModelError> {
    let a = f.f64("norm_epsilon")?;
    let b = f.f64("rms_norm_eps")?;
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(f.err(
            "rms_norm_eps",
            format!("{b} conflicts with norm_epsilon = {a}"),
        )),
        (Some(a), _) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => Err(f.err("norm_epsilon", "missing (or rms_norm_eps)")),
    }
}

/// Top-level `rope_theta` / `partial_rotary_factor` win; HF configs may nest them under
/// `rope_parameters` (per layer type `hybrid`, or flat).
fn parse_rope(f: &Fields, hf_layers: bool) -> Result<(f64, f64), ModelError> {
    let params = f.get("rope_parameters");
    let nested = params.map(|p| p.get("hybrid").unwrap_or(p));
    let lookup = |key: &str| -> Result<Option<f64>, ModelError> {
        if let Some(v) = f.f64(key)? {
            return Ok(Some(v));
        }
        match nested.and_then(|p| p.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                f.err(
                    &format!("rope_parameters.{key}"),
                    format!("expected a number, found {v}"),
                )
            }),
        }
    };
    let theta = lookup("rope_theta")?;
    let factor = lookup("partial_rotary_factor")?;
    let hf_defaults = hf_layers && params.is_none();
    let theta = match theta {
        Some(t) => t,
        None if hf_defaults => HF_DEFAULT_ROPE_THETA,
        None => return Err(f.err("rope_theta", "missing")),
    };
    let factor = match factor {
        Some(p) => p,
        None if hf_defaults => HF_DEFAULT_PARTIAL_ROTARY,
        None => return Err(f.err("partial_rotary_factor", "missing")),
    };
    Ok((theta, factor))
}

fn parse_bits(v: &Value, file: &Path, field: &str) -> Result<u8, ModelError> {
    match v.as_u64() {
        Some(4) => Ok(4),
        Some(8) => Ok(8),
        _ => Err(ModelError::config(
            file,
            field,
            format!("{v}: only 4 and 8 bits are supported"),
        )),
    }
}

fn parse_group_size(v: &Value, file: &Path, field: &str) -> Result<u32, ModelError> {
    match v.as_u64() {
        Some(g @ (32 | 64 | 128)) => Ok(g as u32),
        _ => Err(ModelError::config(
            file,
            field,
            format!("{v}: group size must be 32, 64 or 128"),
        )),
    }
}

fn parse_mode(v: Option<&Value>, file: &Path, field: &str) -> Result<QuantMode, ModelError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(QuantMode::Affine);
    };
    v.as_str().and_then(QuantMode::parse).ok_or_else(|| {
        ModelError::config(
            file,
            field,
            format!("{v}: unknown mode (expected \"affine\" or \"mxfp4\")"),
        )
    })
}

/// `{bits, group_size, mode}` at `prefix` (mode defaults to affine, as in MLX).
fn parse_spec(
    obj: &Map<String, Value>,
    file: &Path,
    prefix: &str,
) -> Result<QuantSpec, ModelError> {
    let field = |k: &str| format!("{prefix}.{k}");
    let bits_v = obj
        .get("bits")
        .ok_or_else(|| ModelError::config(file, &field("bits"), "missing"))?;
    let group_v = obj
        .get("group_size")
        .ok_or_else(|| ModelError::config(file, &field("group_size"), "missing"))?;
    let spec = QuantSpec {
        bits: parse_bits(bits_v, file, &field("bits"))?,
        group_size: parse_group_size(group_v, file, &field("group_size"))?,
        mode: parse_mode(obj.get("mode"), file, &field("mode"))?,
    };
    if spec.mode == QuantMode::Mxfp4 && spec.bits != 4 {
        return Err(ModelError::config(
            file,
            &field("bits"),
            format!("{}: mxfp4 is 4-bit", spec.bits),
        ));
    }
    Ok(spec)
}

/// Keys of the quantization object that are settings, not module overrides.
const QUANT_SETTINGS: &[&str] = &["bits", "group_size", "mode", "embed_bits", "router_bits"];

fn parse_quantization(v: &Value, file: &Path) -> Result<Option<Quantization>, ModelError> {
    let obj = match v {
        Value::Object(obj) => obj,
        Value::Bool(false) => return Ok(None),
        other => {
            return Err(ModelError::config(
                file,
                "quantization",
                format!("expected an object, found {other}"),
            ));
        }
    };
    let default = parse_spec(obj, file, "quantization")?;
    let embed = match obj.get("embed_bits").filter(|v| !v.is_null()) {
        Some(b) => Some(QuantSpec {
            bits: parse_bits(b, file, "quantization.embed_bits")?,
            group_size: default.group_size,
            mode: QuantMode::Affine,
        }),
        None => None,
    };
    let router_bits = obj
        .get("router_bits")
        .and_then(Value::as_u64)
        .map(|b| b.min(255) as u8);
    let mut overrides = BTreeMap::new();
    for (key, value) in obj
        .iter()
        .filter(|(k, _)| !QUANT_SETTINGS.contains(&k.as_str()))
    {
        match value {
            Value::Object(o) => {
                overrides.insert(
                    key.clone(),
                    Some(parse_spec(o, file, &format!("quantization.{key}"))?),
                );
            }
            Value::Bool(false) => {
                overrides.insert(key.clone(), None);
            }
            _ => {} // e.g. "expert_layout": informational
        }
    }
    Ok(Some(Quantization {
        default,
        embed,
        router_bits,
        overrides,
    }))
}

/// Folds `jang_config.json`'s `quantization` into the config: it supplies the embedding's
/// method (`embed_method`) and, for a config without `quantization`, the whole setting.
/// Disagreement on bits/group size/mode is an error: the files would describe different
/// bundles.
fn merge_jang(config: &mut Config, text: &str, file: &Path) -> Result<(), ModelError> {
    let value: Value = serde_json::from_str(text).map_err(|source| ModelError::Json {
        file: file.to_path_buf(),
        source,
    })?;
    let Some(Value::Object(q)) = value.get("quantization") else {
        return Ok(());
    };
    let mut spec_obj = q.clone();
    if let Some(method) = q.get("method") {
        spec_obj.insert("mode".into(), method.clone());
    }
    let jang_file = PathBuf::from(file);
    let spec = parse_spec(&spec_obj, &jang_file, "quantization")?;
    let embed_mode = parse_mode(
        q.get("embed_method"),
        &jang_file,
        "quantization.embed_method",
    )?;
    let embed_bits = match q.get("embed_bits").filter(|v| !v.is_null()) {
        Some(b) => Some(parse_bits(b, &jang_file, "quantization.embed_bits")?),
        None => None,
    };
    let quant = config.quantization.get_or_insert_with(|| Quantization {
        default: spec,
        embed: None,
        router_bits: None,
        overrides: BTreeMap::new(),
    });
    if quant.default != spec {
        return Err(ModelError::config(
            file,
            "quantization",
            format!("{spec:?} disagrees with config.json's {:?}", quant.default),
        ));
    }
    if let Some(bits) = embed_bits.or(quant.embed.map(|e| e.bits)) {
        quant.embed = Some(QuantSpec {
            bits,
            group_size: spec.group_size,
            mode: embed_mode,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_config_is_zaya1_8b() {
        let c = Config::zaya1_8b();
        assert_eq!(c.num_layers, 80);
        assert_eq!(c.conv_channels(), 1280);
        assert_eq!(c.rot_dims(), 64);
        assert_eq!(c.value_half(), 128);
        assert_eq!(c.expert_intermediate, 2048);
        assert_eq!(c.expected_tensor_count(), 1965);
    }

    #[test]
    fn skip_mode_round_trips() {
        for m in [SkipMode::Zero, SkipMode::Passthrough] {
            assert_eq!(m.to_string().parse::<SkipMode>(), Ok(m));
        }
        assert!("both".parse::<SkipMode>().is_err());
        assert_eq!(SkipMode::default(), SkipMode::Zero);
    }
}
