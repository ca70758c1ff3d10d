//! The model a benchmark runs: a bundle on disk, or a random-weight bundle generated from a
//! config in the real packed formats (so ZAYA1-8B's shapes can be measured without its 6 GB of
//! weights; random weights move exactly the same bytes through exactly the same kernels).

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;
use zaya_model::{Bundle, Config};

/// Where the benchmarked model comes from.
#[derive(Clone, Debug, Default)]
pub struct ModelSpec {
    /// A bundle directory (used as is).
    pub model: Option<PathBuf>,
    /// A config.json to generate random weights for (default: the embedded ZAYA1-8B config).
    pub config: Option<PathBuf>,
    /// Keep only the first N original layers (even: attention/MoE pairs).
    pub layers: Option<usize>,
    /// Shrink the vocabulary (the embedding and lm_head rows) to N tokens.
    pub vocab: Option<usize>,
    /// Seed of the random weights.
    pub seed: u64,
}

/// What generating a random bundle cost (printed, so it can be compared to the benchmark).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Generated {
    pub seconds: f64,
    pub bytes: u64,
    pub seed: u64,
}

/// An opened bundle plus the temporary directory that holds it when it was generated.
pub struct PreparedModel {
    /// Shared: the executors the benchmark binds hold a share of its memory map.
    pub bundle: std::sync::Arc<Bundle>,
    /// A human-readable origin (`ZAYA1-8B config, 2 of 80 layers, vocab 4096, random`).
    pub description: String,
    pub generated: Option<Generated>,
    /// Kept alive for as long as the bundle is memory-mapped; removed on drop.
    _temp: Option<tempfile::TempDir>,
}

/// The config a random model gets: `base` with only its first `layers` original layers and
/// `vocab` token rows. Errors name the flag that asked for the impossible.
pub fn shrink_config(
    base: &Config,
    layers: Option<usize>,
    vocab: Option<usize>,
) -> anyhow::Result<Config> {
    let mut config = base.clone();
    if let Some(n) = layers {
        if n == 0 || n % 2 != 0 {
            bail!(
                "--layers {n}: must be a positive even number (original layers come in attention/MoE pairs)"
            );
        }
        if n > base.num_layers {
            bail!(
                "--layers {n}: the config has only {} layers",
                base.num_layers
            );
        }
        config.num_layers = n;
    }
    if let Some(v) = vocab {
        if v < 2 {
            bail!("--vocab {v}: needs at least 2 tokens");
        }
        if v > base.vocab_size {
            bail!(
                "--vocab {v}: larger than the config's vocabulary of {}",
                base.vocab_size
            );
        }
        config.vocab_size = v;
        // Special ids beyond the shrunk vocabulary would point at rows that no longer exist.
        for id in [
            &mut config.bos_token_id,
            &mut config.eos_token_id,
            &mut config.pad_token_id,
        ] {
            if id.is_some_and(|t| t as usize >= v) {
                *id = None;
            }
        }
    }
    // Round-trip through the JSON reader so every derived check of `Config` runs on the result.
    let json = serde_json::to_string(&config.to_json())?;
    Config::from_json_str(&json, Path::new("<benchmark config>"))
        .context("the shrunk config is not valid")
}

impl PreparedModel {
    /// Opens `spec.model`, or writes a random bundle for the (shrunk) config into a
    /// temporary directory and opens that, timing the generation.
    pub fn prepare(spec: &ModelSpec) -> anyhow::Result<PreparedModel> {
        if let Some(dir) = &spec.model {
            if spec.layers.is_some() {
                bail!(
                    "--layers shapes a generated random model; it cannot cut layers out of the bundle given with --model (use --config {}/config.json instead)",
                    dir.display()
                );
            }
            if spec.vocab.is_some() {
                bail!(
                    "--vocab shapes a generated random model; it cannot shrink the bundle given with --model (use --config {}/config.json instead)",
                    dir.display()
                );
            }
            let bundle = Bundle::open(dir).with_context(|| format!("--model {}", dir.display()))?;
            return Ok(PreparedModel {
                description: format!("bundle {}", dir.display()),
                bundle: bundle.into(),
                generated: None,
                _temp: None,
            });
        }
        let (base, origin) = match &spec.config {
            Some(file) => (
                Config::from_file(file).with_context(|| format!("--config {}", file.display()))?,
                format!("config {}", file.display()),
            ),
            None => (Config::zaya1_8b(), "ZAYA1-8B config".to_string()),
        };
        let config = shrink_config(&base, spec.layers, spec.vocab)?;
        let temp = tempfile::Builder::new()
            .prefix("zaya-bench-")
            .tempdir()
            .context("cannot create a temporary directory for the random model")?;
        let started = Instant::now();
        zaya_model::random::write_random_bundle(&config, temp.path(), spec.seed)
            .context("cannot write the random model")?;
        let bundle = Bundle::open(temp.path()).context("cannot open the random model")?;
        let seconds = started.elapsed().as_secs_f64();
        let description = format!(
            "{origin}, {} of {} layers, vocab {}, random weights (seed {})",
            config.num_layers, base.num_layers, config.vocab_size, spec.seed
        );
        Ok(PreparedModel {
            generated: Some(Generated {
                seconds,
                bytes: bundle.total_tensor_bytes(),
                seed: spec.seed,
            }),
            bundle: bundle.into(),
            description,
            _temp: Some(temp),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.bundle.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_keeps_width_and_rejects_bad_flags() {
        let base = Config::zaya1_8b();
        let c = shrink_config(&base, Some(2), Some(1000)).unwrap();
        assert_eq!((c.num_layers, c.vocab_size, c.hidden_size), (2, 1000, 2048));
        assert_eq!(c.eos_token_id, Some(106));
        let c = shrink_config(&base, None, Some(50)).unwrap();
        assert_eq!(c.eos_token_id, None);
        for (layers, vocab, flag) in [
            (Some(3), None, "--layers 3"),
            (Some(0), None, "--layers 0"),
            (Some(82), None, "--layers 82"),
            (None, Some(1), "--vocab 1"),
            (None, Some(300_000), "--vocab 300000"),
        ] {
            let err = shrink_config(&base, layers, vocab).unwrap_err().to_string();
            assert!(err.starts_with(flag), "{err}");
        }
    }
}
