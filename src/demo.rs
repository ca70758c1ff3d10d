//! The built-in demo model: a tiny ZAYA with random weights, so `zaya-graph run "Hello"` works
//! right after a build, before anyone has downloaded the 6 GB bundle.
//!
//! The weights are random (the output is gibberish); what the demo shows is the whole path a
//! real bundle takes: tokenizer, chat template, decode graph, sampling, streaming. It is written
//! once, deterministically, into a cache directory as an ordinary bundle directory (config,
//! safetensors, tokenizer.json, chat_template.jinja), plus a manifest of content hashes so a
//! truncated or edited copy is noticed and regenerated.
//!
//! The embedding is then touched up so the gibberish is readable (see [`shape_demo_weights`]).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use zaya_model::random::write_random_bundle;
use zaya_model::{Config, ModelError, QuantMode, QuantSpec, Quantization, names};

/// The fixture tokenizer: Gemma 3's pipeline and ZAYA's special-token ids, 479 tokens.
pub const TOKENIZER_JSON: &str = include_str!("../tests/fixtures/chat/tokenizer.json");

/// The reconstructed ZAYA chat template (reproduces the known rendering; see its README).
pub const CHAT_TEMPLATE: &str =
    include_str!("../tests/fixtures/chat/chat_template.reconstructed.jinja");

/// Seed of the random weights: fixed so every machine gets the same demo model.
pub const DEMO_SEED: u64 = 0x5a41_5941;

/// Name of the manifest written last into a complete demo directory.
const MANIFEST_FILE: &str = "demo-manifest.json";

/// Bumped when the demo's layout changes in a way its hash would not see.
const LAYOUT_VERSION: u32 = 5;

/// Why the demo bundle could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write the demo model into {}: {source}", .dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot generate the demo model: {0}")]
    Generate(#[from] ModelError),
}

/// The demo's architecture: ZAYA's layout at toy size (hidden 128, 8 original layers = 4
/// attention/MoE pairs, 4 experts), MXFP4 linears and an 8-bit affine embedding like the
/// published bundle. The vocabulary (512) covers the fixture tokenizer's 479 ids.
pub fn demo_config() -> Config {
    let embed = QuantSpec {
        bits: 8,
        group_size: 32,
        mode: QuantMode::Affine,
    };
    Config {
        hidden_size: 128,
        num_layers: 8,
        num_q_heads: 4,
        num_kv_heads: 2,
        head_dim: 32,
        num_experts: 4,
        expert_intermediate: 128,
        router_hidden: 32,
        vocab_size: 512,
        rope_theta: 5_000_000.0,
        partial_rotary_factor: 0.5,
        norm_eps: 1e-5,
        max_position_embeddings: 4096,
        bos_token_id: Some(2),
        eos_token_id: Some(106),
        pad_token_id: Some(0),
        tie_word_embeddings: true,
        quantization: Some(Quantization {
            default: QuantSpec {
                bits: 4,
                group_size: 32,
                mode: QuantMode::Mxfp4,
            },
            embed: Some(embed),
            router_bits: Some(16),
            overrides: BTreeMap::from([("model.embed_tokens".to_string(), Some(embed))]),
        }),
    }
}

/// A short description for the notice printed when the demo is used.
pub fn describe() -> String {
    let c = demo_config();
    format!(
        "hidden {}, {} layers, {} experts, vocab {}",
        c.hidden_size, c.num_layers, c.num_experts, c.vocab_size
    )
}

/// Returns the demo bundle directory under the user's cache (`$XDG_CACHE_HOME/zaya-graph`,
/// else `~/.cache/zaya-graph`), falling back to the system temp dir when the cache is not
/// writable. Generates it when missing or damaged.
pub fn ensure_demo_bundle() -> Result<PathBuf, DemoError> {
    let mut roots = Vec::new();
    if let Some(cache) = cache_root() {
        roots.push(cache);
    }
    roots.push(std::env::temp_dir().join("zaya-graph"));
    let mut last_error = None;
    for root in roots {
        match ensure_demo_bundle_in(&root) {
            Ok(dir) => return Ok(dir),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| DemoError::Io {
        dir: std::env::temp_dir(),
        source: io::Error::other("no cache directory"),
    }))
}

fn cache_root() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
        return Some(PathBuf::from(xdg).join("zaya-graph"));
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".cache").join("zaya-graph"))
}

/// [`ensure_demo_bundle`] inside a chosen root. Safe to call from several processes at once:
/// each generates into its own temporary directory and renames it into place; a loser of the
/// race uses the winner's copy.
pub fn ensure_demo_bundle_in(root: &Path) -> Result<PathBuf, DemoError> {
    let id = demo_id();
    let dir = root.join(format!("demo-{id:016x}"));
    if is_complete(&dir, id) {
        return Ok(dir);
    }
    let io_err = |dir: &Path| {
        let dir = dir.to_path_buf();
        move |source| DemoError::Io { dir, source }
    };
    std::fs::create_dir_all(root).map_err(io_err(root))?;
    let tmp = root.join(format!(
        ".demo-{id:016x}.tmp-{}-{}",
        std::process::id(),
        nanos()
    ));
    let written = write_demo(&tmp, id);
    if let Err(err) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err);
    }
    for _ in 0..3 {
        if std::fs::rename(&tmp, &dir).is_ok() {
            return Ok(dir);
        }
        if is_complete(&dir, id) {
            // Another process put a good copy in place first.
            let _ = std::fs::remove_dir_all(&tmp);
            return Ok(dir);
        }
        // A damaged copy is in the way.
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Could not replace the damaged copy (permissions?): the fresh one works from where it is.
    Ok(tmp)
}

/// Writes the whole demo bundle into `dir`; the manifest goes last, so its presence means the
/// rest was written.
fn write_demo(dir: &Path, id: u64) -> Result<(), DemoError> {
    write_random_bundle(&demo_config(), dir, DEMO_SEED)?;
    let io_err = |source| DemoError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    shape_demo_weights(dir).map_err(io_err)?;
    std::fs::write(dir.join(zaya_chat::TOKENIZER_FILE), TOKENIZER_JSON).map_err(io_err)?;
    std::fs::write(dir.join(zaya_chat::TEMPLATE_FILE), CHAT_TEMPLATE).map_err(io_err)?;
    let manifest = manifest_of(dir, id).map_err(io_err)?;
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| io_err(io::Error::other(e)))?;
    std::fs::write(dir.join(MANIFEST_FILE), text).map_err(io_err)
}

/// Scale of the embedding rows relative to the random writer's: small, so that the residual
/// stream is dominated by what the layers compute rather than by the input token's own row.
/// With the full-size rows, the tied LM head scores the input token far above every other
/// one and the model repeats it forever.
const EMBED_GAIN: f32 = 0.05;

/// Scale of the final norm's gains: brings the logits (shrunk with the embedding, which is
/// also the LM head) back to a spread where sampling is neither uniform nor a single token.
const FINAL_NORM_GAIN: f32 = 5.0;

/// Makes random weights produce varied, mostly readable gibberish, by editing the written
/// shard in place:
/// - every embedding row is centred (bias = -scale * (2^bits - 1) / 2, zero-mean like trained
///   weights; raw random rows share a large positive mean) and scaled by [`EMBED_GAIN`];
/// - rows of byte-fallback tokens (`<0xE2>`), unused slots and special tokens other than
///   `<|im_end|>` (kept so the model can end a turn) are zeroed: their logits are exactly 0,
///   below the likeliest text tokens, so lone bytes that print as U+FFFD are rare;
/// - the final norm's gains are scaled by [`FINAL_NORM_GAIN`].
fn shape_demo_weights(dir: &Path) -> io::Result<()> {
    let tokenizer = zaya_chat::Tokenizer::from_json(TOKENIZER_JSON).map_err(io::Error::other)?;
    let silenced: Vec<bool> = (0..demo_config().vocab_size as u32)
        .map(|id| {
            tokenizer.token(id).is_none_or(|t| {
                let markup = t.len() > 1 && t.starts_with('<') && t.ends_with('>');
                markup && t != zaya_chat::tokens::IM_END
            })
        })
        .collect();
    let bits = demo_config()
        .quantization
        .and_then(|q| q.embed)
        .map_or(8, |spec| spec.bits);
    let centre = ((1u32 << bits) - 1) as f32 / 2.0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "safetensors") {
            continue;
        }
        let mut bytes = std::fs::read(&path)?;
        let scales = tensor_range(&bytes, &format!("{}.scales", names::EMBED))?;
        let biases = tensor_range(&bytes, &format!("{}.biases", names::EMBED))?;
        if let (Some(scales), Some(biases)) = (scales, biases) {
            for (i, (s_at, b_at)) in scales.elements().zip(biases.elements()).enumerate() {
                let scale = if silenced.get(i / scales.cols).copied().unwrap_or(false) {
                    0.0
                } else {
                    read_f16(&bytes, s_at) * EMBED_GAIN
                };
                write_f16(&mut bytes, s_at, scale);
                write_f16(&mut bytes, b_at, -scale * centre);
            }
        }
        if let Some(norm) = tensor_range(&bytes, names::FINAL_NORM)? {
            for at in norm.elements() {
                let gain = read_f16(&bytes, at) * FINAL_NORM_GAIN;
                write_f16(&mut bytes, at, gain);
            }
        }
        std::fs::write(&path, bytes)?;
    }
    Ok(())
}

fn read_f16(bytes: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

fn write_f16(bytes: &mut [u8], at: usize, value: f32) {
    bytes[at..at + 2].copy_from_slice(&half::f16::from_f32(value).to_le_bytes());
}

/// Where an f16 tensor's data lies in a safetensors file (a 1-D tensor is one row).
struct TensorRange {
    start: usize,
    rows: usize,
    cols: usize,
}

impl TensorRange {
    /// Byte offsets of the elements, row-major.
    fn elements(&self) -> impl Iterator<Item = usize> + use<> {
        let start = self.start;
        (0..self.rows * self.cols).map(move |i| start + 2 * i)
    }
}

/// Finds tensor `name` in a safetensors file's header (`None` if absent); checks that it is a
/// 1-D or 2-D f16 tensor whose data lies inside the file.
fn tensor_range(bytes: &[u8], name: &str) -> io::Result<Option<TensorRange>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let header_len = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| invalid("short safetensors file".into()))? as usize;
    let header: serde_json::Value = bytes
        .get(8..8 + header_len)
        .and_then(|h| serde_json::from_slice(h).ok())
        .ok_or_else(|| invalid("unreadable safetensors header".into()))?;
    let Some(entry) = header.get(name) else {
        return Ok(None);
    };
    let numbers = |key: &str| -> Vec<usize> {
        entry[key].as_array().map_or_else(Vec::new, |a| {
            a.iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as usize)
                .collect()
        })
    };
    let (shape, offsets) = (numbers("shape"), numbers("data_offsets"));
    let (rows, cols) = match shape[..] {
        [n] => (1, n),
        [rows, cols] => (rows, cols),
        _ => return Err(invalid(format!("{name}: not a 1-D or 2-D tensor"))),
    };
    let &[start, end] = &offsets[..] else {
        return Err(invalid(format!("{name}: bad data_offsets")));
    };
    let (start, end) = (8 + header_len + start, 8 + header_len + end);
    if entry["dtype"] != "F16" || end.saturating_sub(start) != rows * cols * 2 || end > bytes.len()
    {
        return Err(invalid(format!(
            "{name}: expected f16 data inside the file"
        )));
    }
    Ok(Some(TensorRange { start, rows, cols }))
}

/// `{"id": ..., "files": {name: content hash}}` of every file in `dir` but the manifest.
fn manifest_of(dir: &Path, id: u64) -> io::Result<serde_json::Value> {
    let mut files = serde_json::Map::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != MANIFEST_FILE)
        .collect();
    names.sort();
    for name in names {
        let hash = fnv1a(&std::fs::read(dir.join(&name))?);
        files.insert(name, format!("{hash:016x}").into());
    }
    Ok(serde_json::json!({ "id": format!("{id:016x}"), "files": files }))
}

/// True when `dir` holds a demo bundle whose files all match the manifest written with it.
fn is_complete(dir: &Path, id: u64) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST_FILE)) else {
        return false;
    };
    let Ok(recorded) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    manifest_of(dir, id).is_ok_and(|actual| actual == recorded)
}

/// Identifies the demo's content: anything that changes the files changes the directory name.
fn demo_id() -> u64 {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
    bytes.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    bytes.extend_from_slice(demo_config().to_json().to_string().as_bytes());
    bytes.extend_from_slice(&DEMO_SEED.to_le_bytes());
    bytes.extend_from_slice(TOKENIZER_JSON.as_bytes());
    bytes.extend_from_slice(CHAT_TEMPLATE.as_bytes());
    fnv1a(&bytes)
}

/// FNV-1a: stable across Rust versions (unlike `DefaultHasher`), and fast enough for a
/// megabyte-sized bundle.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
