//! CPU token sampling with Hugging Face semantics: repetition penalty, then temperature, top-k,
//! top-p and min-p (in transformers' order), greedy when `temperature == 0`.
//!
//! Columns at or beyond the tokenizer's vocab size are padding rows of the embedding and are
//! never sampled. Candidate selection uses partial selection (`select_nth_unstable`), so a
//! 262k-column vocab is never fully sorted.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::ChatError;

/// Sampling settings. Defaults are Zyphra's suggestion for chat (temperature 1.0, top_p 0.95).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerConfig {
    /// 0 = greedy (argmax). Must be finite and >= 0.
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// Keep the smallest most-likely set whose probability reaches top_p; 1.0 = off. In (0, 1].
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times the top probability; 0 = off.
    pub min_p: f32,
    /// HF repetition penalty over every token in the context: positive logits are divided by it,
    /// negative ones multiplied. 1.0 = off. Must be > 0.
    pub repetition_penalty: f32,
    /// Seed for reproducible sampling; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 0.95,
            min_p: 0.0,
            repetition_penalty: 1.0,
            seed: None,
        }
    }
}

impl SamplerConfig {
    /// Deterministic argmax decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            ..Self::default()
        }
    }

    /// Rejects out-of-range settings with the offending field named.
    pub fn validate(&self) -> Result<(), ChatError> {
        let bad = |field, value: f32, reason| ChatError::InvalidSampler {
            field,
            value: value.to_string(),
            reason,
        };
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(bad(
                "temperature",
                self.temperature,
                "must be finite and >= 0",
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(bad("top_p", self.top_p, "must be in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(bad("min_p", self.min_p, "must be in [0, 1]"));
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return Err(bad(
                "repetition_penalty",
                self.repetition_penalty,
                "must be finite and > 0",
            ));
        }
        Ok(())
    }

    /// True when the result is the argmax (no randomness involved).
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == 1
    }
}

/// Why no token could be sampled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("the model returned no logits")]
    EmptyLogits,
    #[error("no samplable token: every logit below the vocab size {vocab_size} is NaN or -inf")]
    NoCandidates { vocab_size: usize },
}

/// A seeded sampler with reusable scratch buffers (one per generation stream).
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplerConfig,
    vocab_size: usize,
    rng: StdRng,
    scores: Vec<f32>,
    indices: Vec<u32>,
    seen: Vec<bool>,
}

impl Sampler {
    /// `vocab_size` is the tokenizer's ([`crate::Tokenizer::vocab_size`]): logit columns at or
    /// beyond it are masked.
    pub fn new(config: SamplerConfig, vocab_size: usize) -> Result<Self, ChatError> {
        config.validate()?;
        if vocab_size == 0 {
            return Err(ChatError::InvalidArgument {
                argument: "vocab_size",
                reason: "must be > 0".into(),
            });
        }
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Ok(Self {
            config,
            vocab_size,
            rng,
            scores: Vec::new(),
            indices: Vec::new(),
            seen: Vec::new(),
        })
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Number of samplable columns.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Restarts the random stream (same seed → same samples again).
    pub fn reseed(&mut self, seed: u64) {
        self.config.seed = Some(seed);
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// A uniform number in [0, 1) from this sampler's stream, so a device-side sampler can
    /// consume the same seeded randomness.
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Picks the next token from one row of logits. `history` is every token in the context
    /// (prompt and generated), used by the repetition penalty.
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, SampleError> {
        let n = logits.len().min(self.vocab_size);
        if n == 0 {
            return Err(SampleError::EmptyLogits);
        }
        self.prepare_scores(&logits[..n], history);
        let scores = &self.scores;
        // Argmax, first index on ties; NaN were turned into -inf.
        let mut best = 0usize;
        for (i, &s) in scores.iter().enumerate() {
            if s > scores[best] {
                best = i;
            }
        }
        let max = scores[best];
        if max == f32::NEG_INFINITY {
            return Err(SampleError::NoCandidates {
                vocab_size: self.vocab_size,
            });
        }
        if self.config.is_greedy() {
            return Ok(best as u32);
        }
        let inv_t = 1.0 / f64::from(self.config.temperature);
        let max = f64::from(max);
        // Unnormalized probability of a raw (penalized) score.
        let weight = |s: f32| ((f64::from(s) - max) * inv_t).exp();

        let top_k = match self.config.top_k {
            0 => n,
            k => k.min(n),
        };
        let top_p = f64::from(self.config.top_p);
        // Candidate list, most likely first, or `None` for "the whole vocab".
        let mut candidates: Option<usize> = None; // length of the prefix of self.indices
        if top_k < n {
            self.select_top(top_k);
            candidates = Some(top_k);
        }
        if top_p < 1.0 {
            match candidates {
                Some(k) => {
                    let total: f64 = self.indices[..k]
                        .iter()
                        .map(|&i| weight(self.scores[i as usize]))
                        .sum();
                    candidates = Some(self.nucleus_len(k, total * top_p, &weight));
                }
                None => {
                    let total: f64 = self.scores.iter().map(|&s| weight(s)).sum();
                    // Grow the partially selected head until it holds top_p of the mass.
                    let mut m = 256.min(n);
                    loop {
                        self.select_top(m);
                        let head: f64 = self.indices[..m]
                            .iter()
                            .map(|&i| weight(self.scores[i as usize]))
                            .sum();
                        if head >= total * top_p || m == n {
                            candidates = Some(self.nucleus_len(m, total * top_p, &weight));
                            break;
                        }
                        m = (m * 4).min(n);
                    }
                }
            }
        }
        // min_p keeps tokens with p >= min_p * p_max; the ratio is unaffected by truncation.
        let min_p = f64::from(self.config.min_p);
        let keep = |s: f32| min_p <= 0.0 || weight(s) >= min_p;

        let u = self.rng.random::<f64>();
        let pick = match candidates {
            Some(len) => {
                let list = &self.indices[..len];
                let total: f64 = list
                    .iter()
                    .map(|&i| self.scores[i as usize])
                    .filter(|&s| keep(s))
                    .map(weight)
                    .sum();
                let mut target = u * total;
                let mut chosen = list[0];
                for &i in list {
                    let s = self.scores[i as usize];
                    if s == f32::NEG_INFINITY || !keep(s) {
                        continue;
                    }
                    chosen = i;
                    target -= weight(s);
                    if target < 0.0 {
                        break;
                    }
                }
                chosen
            }
            None => {
                let total: f64 = self
                    .scores
                    .iter()
                    .filter(|&&s| keep(s))
                    .map(|&s| weight(s))
                    .sum();
                let mut target = u * total;
                let mut chosen = best as u32;
                for (i, &s) in self.scores.iter().enumerate() {
                    if s == f32::NEG_INFINITY || !keep(s) {
                        continue;
                    }
                    chosen = i as u32;
                    target -= weight(s);
                    if target < 0.0 {
                        break;
                    }
                }
                chosen
            }
        };
        Ok(pick)
    }

    /// Copies the samplable logits into `scores`, NaN → -inf, with the repetition penalty.
    fn prepare_scores(&mut self, logits: &[f32], history: &[u32]) {
        self.scores.clear();
        self.scores.extend(
            logits
                .iter()
                .map(|&x| if x.is_nan() { f32::NEG_INFINITY } else { x }),
        );
        let penalty = self.config.repetition_penalty;
        if penalty != 1.0 {
            let n = self.scores.len();
            self.seen.clear();
            self.seen.resize(n, false);
            for &t in history {
                let t = t as usize;
                if t < n && !self.seen[t] {
                    self.seen[t] = true;
                    let s = &mut self.scores[t];
                    *s = if *s < 0.0 { *s * penalty } else { *s / penalty };
                }
            }
        }
    }

    /// Puts the `m` highest-scoring ids, sorted descending (ties: lower id first), at the front
    /// of `indices`.
    fn select_top(&mut self, m: usize) {
        let scores = &self.scores;
        let n = scores.len();
        self.indices.clear();
        self.indices.extend(0..n as u32);
        let cmp = |a: &u32, b: &u32| {
            scores[*b as usize]
                .total_cmp(&scores[*a as usize])
                .then(a.cmp(b))
        };
        if m < n {
            self.indices.select_nth_unstable_by(m, cmp);
        }
        self.indices[..m].sort_unstable_by(cmp);
    }

    /// Length of the shortest prefix of the sorted head whose weight reaches `target`
    /// (at least one token, as transformers keeps).
    fn nucleus_len(&self, len: usize, target: f64, weight: &impl Fn(f32) -> f64) -> usize {
        let mut acc = 0.0;
        for (j, &i) in self.indices[..len].iter().enumerate() {
            acc += weight(self.scores[i as usize]);
            if acc >= target {
                return j + 1;
            }
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(config: SamplerConfig, vocab: usize) -> Sampler {
        Sampler::new(config, vocab).unwrap()
    }

    #[test]
    fn validation_names_the_field() {
        let err = Sampler::new(
            SamplerConfig {
                top_p: 0.0,
                ..SamplerConfig::default()
            },
            10,
        )
        .unwrap_err();
        assert!(err.to_string().contains("top_p"), "{err}");
        let err = Sampler::new(
            SamplerConfig {
                temperature: -1.0,
                ..SamplerConfig::default()
            },
            10,
        )
        .unwrap_err();
        assert!(err.to_string().contains("temperature"), "{err}");
        let err = Sampler::new(
            SamplerConfig {
                repetition_penalty: 0.0,
                ..SamplerConfig::default()
            },
            10,
        )
        .unwrap_err();
        assert!(err.to_string().contains("repetition_penalty"), "{err}");
    }

    #[test]
    fn greedy_is_argmax_and_masks_padding_columns() {
        let mut s = sampler(SamplerConfig::greedy(), 4);
        // Column 5 is beyond the vocab: never chosen even though it is the largest.
        let logits = [0.0, 3.0, f32::NAN, 1.0, 0.0, 100.0];
        assert_eq!(s.sample(&logits, &[]).unwrap(), 1);
    }

    #[test]
    fn repetition_penalty_follows_hf() {
        let mut s = sampler(
            SamplerConfig {
                repetition_penalty: 2.0,
                ..SamplerConfig::greedy()
            },
            3,
        );
        // 4.0 / 2 = 2.0 < 3.0: token 0 loses to token 1.
        assert_eq!(s.sample(&[4.0, 3.0, -1.0], &[0, 0]).unwrap(), 1);
        // Negative logits get more negative: -1 * 2 = -2 < -1.5.
        assert_eq!(s.sample(&[-1.0, -1.5, -3.0], &[0]).unwrap(), 1);
    }

    #[test]
    fn all_masked_is_an_error() {
        let mut s = sampler(SamplerConfig::default(), 2);
        assert_eq!(
            s.sample(&[f32::NEG_INFINITY, f32::NAN, 5.0], &[]),
            Err(SampleError::NoCandidates { vocab_size: 2 })
        );
        assert_eq!(s.sample(&[], &[]), Err(SampleError::EmptyLogits));
    }
}
