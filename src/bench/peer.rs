//! `zaya-graph bench --model DIR --peer-tokens FILE --peer-result FILE`: zaya-graph as an
//! external engine of the peer-bench kit (`shared/peer-bench/README.md`), so that
//! `peer_bench.py --external 'zaya-graph=...'` times it beside PyTorch / HF transformers in one
//! invocation, on one bundle, under one protocol:
//!
//! 1. read the token file (`prompt`, `decode`, `prefill_warmup`, `prefill_reps`);
//! 2. open the bundle and build the engine, timed as `load_s`;
//! 3. `prefill_warmup` untimed prefills, then `prefill_reps` timed ones, each from a fresh state
//!    (one forward over the prompt, the last position's logits, argmax on the host);
//! 4. from the last prefill's state, one timed step per `decode` id (forward + argmax);
//! 5. write the result JSON (`load_s`, `prefill_s`, `decode_step_s`, `argmax`, ...).
//!
//! The engine is [`crate::engine::Model`] with one [`crate::engine::Session`] per prefill,
//! exactly what `run` and `chat` use: the device's default strategy and batched prefill.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;

use crate::engine::{Backend, EngineOptions, Model, Session};
use zaya_model::{Bundle, KvDtype, SkipMode};

/// What the peer driver asks (its `{tokens}` file).
#[derive(Clone, Debug, Deserialize)]
pub struct PeerTokens {
    pub prompt: Vec<u32>,
    /// Teacher-forced ids, one decode step each (the first `decode_warmup` are warm-up; the
    /// driver drops them, we time them all).
    pub decode: Vec<u32>,
    #[serde(default)]
    pub decode_warmup: usize,
    #[serde(default = "one")]
    pub prefill_warmup: usize,
    #[serde(default = "one")]
    pub prefill_reps: usize,
    #[serde(default)]
    pub seed: u64,
}

fn one() -> usize {
    1
}

/// What we report (its `{result}` file).
#[derive(Clone, Debug, Serialize)]
pub struct PeerResult {
    pub load_s: f64,
    pub prefill_s: Vec<f64>,
    pub decode_step_s: Vec<f64>,
    /// The last timed prefill's argmax, then one per decode step.
    pub argmax: Vec<u32>,
    pub weights: String,
    pub compute_dtype: String,
    pub threads: String,
    pub notes: Vec<String>,
    pub native_bytes: String,
}

#[derive(Clone, Debug)]
pub struct PeerOptions {
    pub model: PathBuf,
    pub tokens: PathBuf,
    pub result: PathBuf,
    pub backend: Backend,
    pub adapter: Option<String>,
    pub skip: SkipMode,
    pub kv_cache: KvDtype,
    /// Longest batched-prefill chunk (0: token by token through the decode graph).
    pub chunk: usize,
}

/// Reads and checks the token file (an empty prompt or zero timed prefills cannot be timed).
pub fn read_tokens(path: &Path) -> anyhow::Result<PeerTokens> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--peer-tokens {}", path.display()))?;
    let tokens: PeerTokens = serde_json::from_str(&text).with_context(|| {
        format!(
            "--peer-tokens {}: not a peer-bench token file",
            path.display()
        )
    })?;
    if tokens.prompt.is_empty() {
        bail!("--peer-tokens {}: \"prompt\" is empty", path.display());
    }
    if tokens.prefill_reps == 0 {
        bail!(
            "--peer-tokens {}: \"prefill_reps\" must be at least 1",
            path.display()
        );
    }
    Ok(tokens)
}

/// First index of the largest logit (NaN never wins), as the driver's `argmax`.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// Runs the protocol and writes `options.result`; `progress` gets one line per phase.
pub fn run(options: &PeerOptions, progress: &mut dyn FnMut(&str)) -> anyhow::Result<PeerResult> {
    let tokens = read_tokens(&options.tokens)?;
    if let Some(dir) = options
        .result
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        bail!(
            "--peer-result {}: no such directory {}",
            options.result.display(),
            dir.display()
        );
    }
    let engine_options = EngineOptions {
        backend: options.backend,
        skip: options.skip,
        kv_cache: options.kv_cache,
        context: tokens.prompt.len() + tokens.decode.len(),
        strategy: None,
        adapter: options.adapter.clone(),
        columns: None,
        prefill_chunk: Some(options.chunk),
        prefill_logits: false,
    };
    progress(&format!("loading {}", options.model.display()));
    let start = Instant::now();
    let bundle = Bundle::open(&options.model)
        .with_context(|| format!("--model {}", options.model.display()))?;
    let model = Model::load(Arc::new(bundle), &engine_options, &mut |_| {})?;
    let load_s = start.elapsed().as_secs_f64();
    progress(&format!("running on {}", model.describe_path()));

    // Each prefill from a fresh state: a new session (what a new request gets).
    let prefill = || -> anyhow::Result<(f64, u32, Session)> {
        let mut session = model.session()?;
        let start = Instant::now();
        let logits = session.forward_tokens(&tokens.prompt)?;
        let id = argmax(&logits);
        Ok((start.elapsed().as_secs_f64(), id, session))
    };
    for i in 0..tokens.prefill_warmup {
        progress(&format!(
            "warm-up prefill {}/{}",
            i + 1,
            tokens.prefill_warmup
        ));
        prefill()?;
    }
    let mut prefill_s = Vec::with_capacity(tokens.prefill_reps);
    let mut last = None;
    for i in 0..tokens.prefill_reps {
        let (secs, id, session) = prefill()?;
        progress(&format!(
            "prefill {}/{}: {:.3} s",
            i + 1,
            tokens.prefill_reps,
            secs
        ));
        prefill_s.push(secs);
        last = Some((id, session));
    }
    let (id, mut session) = last.context("no timed prefill (prefill_reps is 0)")?;
    let batched = session.batched_prefill();
    let mut argmaxes = vec![id];
    let mut decode_step_s = Vec::with_capacity(tokens.decode.len());
    for &id in &tokens.decode {
        let start = Instant::now();
        let logits = session.forward_tokens(&[id])?;
        argmaxes.push(argmax(&logits));
        decode_step_s.push(start.elapsed().as_secs_f64());
    }
    if let Some(median) = median(&decode_step_s[tokens.decode_warmup.min(decode_step_s.len())..]) {
        progress(&format!(
            "decode: {} steps, median {:.1} ms",
            decode_step_s.len(),
            median * 1e3
        ));
    }

    let cpu = model.backend() == Backend::Cpu;
    let result = PeerResult {
        load_s,
        prefill_s,
        decode_step_s,
        argmax: argmaxes,
        weights: "the bundle's tensors as stored (packed 4/8-bit affine, MXFP4 or float), \
                  memory-mapped, decoded inside the matvec"
            .into(),
        compute_dtype: "f32".into(),
        threads: if cpu {
            format!("{} (rayon global pool)", zaya_cpu::matvec_threads())
        } else {
            "GPU".into()
        },
        notes: vec![
            format!(
                "zaya-graph {} backend, strategy {}",
                model.backend(),
                model.strategy()
            ),
            if cpu {
                format!(
                    "cpu dot kernels: {}",
                    zaya_model::quant::simd::Level::detected()
                )
            } else {
                "wgpu".into()
            },
            if batched {
                format!(
                    "prefill = the batched prefill graph, chunks of up to {} tokens",
                    options.chunk
                )
            } else {
                "prefill = the decode graph once per prompt token".into()
            },
            "weights are memory-mapped: load_s excludes paging them in; the warm-up prefill \
             pays it"
                .into(),
        ],
        native_bytes: "bundle".into(),
    };
    let text = serde_json::to_string_pretty(&result)?;
    std::fs::write(&options.result, text + "\n")
        .with_context(|| format!("--peer-result {}", options.result.display()))?;
    Ok(result)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::DEFAULT_PREFILL_CHUNK;

    #[test]
    fn token_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(
            &path,
            r#"{"prompt": [1, 2], "decode": [3, 4, 5], "decode_warmup": 2, "prefill_warmup": 0, "prefill_reps": 2, "seed": 7}"#,
        )
        .unwrap();
        let t = read_tokens(&path).unwrap();
        assert_eq!(
            (t.prompt, t.decode, t.prefill_reps),
            (vec![1, 2], vec![3, 4, 5], 2)
        );
        std::fs::write(&path, r#"{"prompt": [], "decode": []}"#).unwrap();
        let err = format!("{:#}", read_tokens(&path).unwrap_err());
        assert!(
            err.contains("\"prompt\" is empty") && err.contains("tokens.json"),
            "{err}"
        );
        std::fs::write(&path, r#"{"decode": []}"#).unwrap();
        let err = format!("{:#}", read_tokens(&path).unwrap_err());
        assert!(err.contains("not a peer-bench token file"), "{err}");
    }

    /// The protocol on the demo-size model: shapes of the result, and the same argmax as the
    /// engine driven directly (fresh state per prefill, decode continuing from the last one).
    #[test]
    fn the_protocol_reports_the_engines_own_argmax() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        zaya_model::random::write_random_bundle(&crate::demo::demo_config(), &model, 3).unwrap();
        let tokens = dir.path().join("tokens.json");
        std::fs::write(
            &tokens,
            r#"{"prompt": [5, 6, 7], "decode": [8, 9, 10], "decode_warmup": 2, "prefill_warmup": 1, "prefill_reps": 2, "seed": 0}"#,
        )
        .unwrap();
        let options = PeerOptions {
            model: model.clone(),
            tokens,
            result: dir.path().join("result.json"),
            backend: Backend::Cpu,
            adapter: None,
            skip: SkipMode::default(),
            kv_cache: KvDtype::default(),
            chunk: DEFAULT_PREFILL_CHUNK,
        };
        let result = run(&options, &mut |_| {}).unwrap();
        assert_eq!((result.prefill_s.len(), result.decode_step_s.len()), (2, 3));
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&options.result).unwrap()).unwrap();
        assert!(written["load_s"].as_f64().unwrap() > 0.0);
        assert_eq!(written["native_bytes"], "bundle");

        let bundle = Arc::new(Bundle::open(&model).unwrap());
        let direct = Model::load(bundle, &EngineOptions::cpu(6), &mut |_| {}).unwrap();
        let mut session = direct.session().unwrap();
        let mut want = vec![argmax(&session.forward_tokens(&[5, 6, 7]).unwrap())];
        for id in [8, 9, 10] {
            want.push(argmax(&session.forward_tokens(&[id]).unwrap()));
        }
        assert_eq!(result.argmax, want);
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, 0.5]), 2);
    }
}
