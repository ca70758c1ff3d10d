//! ZAYA: config, bundle loading and verification, CPU dequantization, decode-graph builder.
//!
//! - [`config`]: `config.json` (+ `jang_config.json`) in both the legacy and the HF field set.
//! - [`names`]: every tensor name and shape the model needs, for any config.
//! - [`hf_names`]: the HF transformers naming of the same tensors.
//! - [`bundle`]: memory-mapped, validated bundles; weights as [`PackedWeight`]s.
//! - [`quant`]: bit-exact CPU dequantization and fused dequant-dot.
//! - [`verify`]: the `zaya-graph verify` report.
//! - [`convert`], [`quantize`]: float checkpoint -> bundle, streaming, bit-exact with MLX.
//! - [`random`]: deterministic random bundles of any size (tests, benchmarks).
//! - [`writer`]: safetensors/index writing helpers.
pub mod bundle;
pub mod config;
pub mod convert;
mod error;
pub mod graph;
pub mod hf_names;
pub mod names;
pub mod quant;
pub mod quantize;
pub mod random;
mod scan;
pub mod verify;
pub mod writer;

pub use bundle::{Bundle, PackedWeight};
pub use config::{Config, KvDtype, QuantMode, QuantSpec, Quantization, SkipMode};
pub use error::ModelError;
pub use scan::{HeaderEntry, parse_index, parse_safetensors_header};
