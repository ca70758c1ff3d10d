//! Element types and quantized-weight formats.
//!
//! Quantized weights are *data*, not ops: a [`WeightFormat`] says how the packed words,
//! scales and biases of one weight are laid out, so every consumer (CPU dequantizer, WGSL
//! generator, byte-cost model) reads the same description.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    BF16,
    U32,
    U8,
    I32,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::U8 => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::U32 => "u32",
            DType::U8 => "u8",
            DType::I32 => "i32",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16)
    }

    pub fn parse(s: &str) -> Option<DType> {
        Some(match s {
            "f32" => DType::F32,
            "f16" => DType::F16,
            "bf16" => DType::BF16,
            "u32" => DType::U32,
            "u8" => DType::U8,
            "i32" => DType::I32,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one weight is stored. The logical shape of a weight is `[..., out, in]` (a leading
/// expert axis for stacked experts); the format says how a row of `in` values is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WeightFormat {
    /// MLX affine: `X.weight` u32 `[.., in*bits/32]` (codes little-endian, first element in the
    /// lowest bits), `X.scales` and `X.biases` `[.., in/group]` in `scale_dtype`;
    /// value = scale * q + bias.
    Affine {
        bits: u8,
        group_size: u32,
        scale_dtype: DType,
    },
    /// OCP MXFP4: `X.weight` u32 holding 8 E2M1 codes (LSB first), `X.scales` u8 E8M0
    /// `[.., in/group]`; value = E2M1(q) * 2^(scale - 127). No biases.
    Mxfp4 { group_size: u32 },
    /// Unquantized floats stored in `dtype`.
    Float { dtype: DType },
}

impl WeightFormat {
    /// Stored bytes of one logical row of `cols` values (packed + scales + biases).
    pub fn row_bytes(self, cols: u64) -> u64 {
        match self {
            WeightFormat::Affine {
                bits,
                group_size,
                scale_dtype,
            } => {
                let groups = cols / group_size as u64;
                cols * bits as u64 / 8 + 2 * groups * scale_dtype.size() as u64
            }
            WeightFormat::Mxfp4 { group_size } => cols / 2 + cols / group_size as u64,
            WeightFormat::Float { dtype } => cols * dtype.size() as u64,
        }
    }

    /// Arrays a weight of this format is stored as: packed codes, scales, biases (affine 3,
    /// MXFP4 2, float 1).
    pub fn stored_parts(self) -> u32 {
        match self {
            WeightFormat::Affine { .. } => 3,
            WeightFormat::Mxfp4 { .. } => 2,
            WeightFormat::Float { .. } => 1,
        }
    }

    /// Short canonical name used by the text form, e.g. `affine4g32f16`, `mxfp4g32`, `f16`.
    pub fn tag(self) -> String {
        match self {
            WeightFormat::Affine {
                bits,
                group_size,
                scale_dtype,
            } => {
                format!("affine{bits}g{group_size}{scale_dtype}")
            }
            WeightFormat::Mxfp4 { group_size } => format!("mxfp4g{group_size}"),
            WeightFormat::Float { dtype } => dtype.name().to_string(),
        }
    }

    pub fn is_quantized(self) -> bool {
        !matches!(self, WeightFormat::Float { .. })
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_bytes_match_the_bundle_layout() {
        // o_proj of ZAYA1-8B: in = 1024, affine 4-bit g32 f16: 512 B codes + 2*32*2 B.
        let f = WeightFormat::Affine {
            bits: 4,
            group_size: 32,
            scale_dtype: DType::F16,
        };
        assert_eq!(f.row_bytes(1024), 512 + 128);
        assert_eq!(WeightFormat::Mxfp4 { group_size: 32 }.row_bytes(64), 32 + 2);
        assert_eq!(WeightFormat::Float { dtype: DType::F16 }.row_bytes(10), 20);
        assert_eq!(f.tag(), "affine4g32f16");
    }
}
