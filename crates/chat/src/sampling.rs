//! CPU token sampling with Hugging Face semantics: repetition penalty, then temperature, top-k,
//! top-p and min-p (in transformers' order), greedy when `temperature == 0`.
//!
//! Columns at or beyond the tokenizer's vocab size are padding rows of the embedding and are
//! never sampled. Top-k/top-p find their cut with a score histogram and sort only the tokens
//! of the bin where the cut falls, so a 262k-column vocab is never fully sorted.

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
    // Scratch buffers reused across calls (the vocab is large).
    scores: Vec<f32>,
    weights: Vec<f32>,
    bins: Vec<u16>,
    bin_count: Vec<usize>,
    bin_mass: Vec<f64>,
    crossing: Vec<u32>,
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
            weights: Vec::new(),
            bins: Vec::new(),
            bin_count: Vec::new(),
            bin_mass: Vec::new(),
            crossing: Vec::new(),
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
        // Weights relative to the top token (which gets exactly 1).
        let inv_t = 1.0 / self.config.temperature;
        self.weights.clear();
        self.weights
            .extend(self.scores.iter().map(|&s| ((s - max) * inv_t).exp()));

        let top_k = match self.config.top_k {
            0 => n,
            k => k.min(n),
        };
        let top_p = f64::from(self.config.top_p);
        let candidates = if top_k < n || top_p < 1.0 {
            Some(self.truncate(max, inv_t, top_k, top_p))
        } else {
            None
        };
        // min_p keeps tokens with p >= min_p * p_max; the ratio is unaffected by truncation.
        let min_p = self.config.min_p;
        let weights = &self.weights;
        let keep = |i: u32| {
            let w = weights[i as usize];
            w > 0.0 && (min_p <= 0.0 || w >= min_p)
        };
        let u = self.rng.random::<f64>();
        let pick = match candidates {
            Some(len) => draw(self.indices[..len].iter().copied(), &keep, weights, u),
            None => draw(0..n as u32, &keep, weights, u),
        };
        Ok(pick.unwrap_or(best as u32))
    }

    /// Exact top-k then top-p truncation without sorting the vocab: tokens are bucketed by
    /// score (fine bins over the top 40 nats, one tail bin), whole bins above the cut are taken
    /// as they are and only the bin where the cut falls is sorted. Fills `indices` with the
    /// candidates and returns their number.
    fn truncate(&mut self, max: f32, inv_t: f32, top_k: usize, top_p: f64) -> usize {
        const BINS: usize = 4096;
        const RANGE_NATS: f32 = 40.0;
        const NONE: u16 = u16::MAX;
        let scale = BINS as f32 / RANGE_NATS;
        self.bin_count.clear();
        self.bin_count.resize(BINS + 1, 0);
        self.bin_mass.clear();
        self.bin_mass.resize(BINS + 1, 0.0);
        self.bins.clear();
        for (&s, &w) in self.scores.iter().zip(&self.weights) {
            if s == f32::NEG_INFINITY {
                self.bins.push(NONE);
                continue;
            }
            // Saturating float-to-int cast: huge values (tiny temperatures) land in the tail.
            let b = (((max - s) * inv_t * scale) as usize).min(BINS);
            self.bins.push(b as u16);
            self.bin_count[b] += 1;
            self.bin_mass[b] += f64::from(w);
        }
        let valid: usize = self.bin_count.iter().sum();

        // The candidate set is a prefix in rank order: every token of bins < cut_bin plus the
        // first cut_take (by rank) of bin cut_bin.
        let (mut cut_bin, mut cut_take) = (BINS, self.bin_count[BINS]);
        if top_k < valid {
            let mut cum = 0;
            for b in 0..=BINS {
                if cum + self.bin_count[b] >= top_k {
                    cut_bin = b;
                    cut_take = top_k - cum;
                    break;
                }
                cum += self.bin_count[b];
            }
        }
        let mut sorted_bin = None;
        if cut_take < self.bin_count[cut_bin] {
            self.sort_bin(cut_bin);
            sorted_bin = Some(cut_bin);
        }
        if top_p < 1.0 {
            let weight = |i: &u32| f64::from(self.weights[*i as usize]);
            let cut_mass = match sorted_bin {
                Some(_) => self.crossing[..cut_take].iter().map(weight).sum::<f64>(),
                None => self.bin_mass[cut_bin],
            };
            let target = top_p * (self.bin_mass[..cut_bin].iter().sum::<f64>() + cut_mass);
            let mut cum = 0.0;
            let last_bin = cut_bin;
            for b in 0..=last_bin {
                if b < last_bin && cum + self.bin_mass[b] < target {
                    cum += self.bin_mass[b];
                    continue;
                }
                // The nucleus ends inside bin b.
                if sorted_bin != Some(b) {
                    self.sort_bin(b);
                    sorted_bin = Some(b);
                }
                let limit = if b == last_bin {
                    cut_take
                } else {
                    self.crossing.len()
                };
                let mut take = limit;
                for (j, &i) in self.crossing[..limit].iter().enumerate() {
                    cum += f64::from(self.weights[i as usize]);
                    if cum >= target {
                        take = j + 1;
                        break;
                    }
                }
                cut_bin = b;
                cut_take = take;
                break;
            }
        }
        self.indices.clear();
        // Bins taken whole (the tail marker NONE is above every bin).
        let whole = sorted_bin != Some(cut_bin);
        let below = if whole { cut_bin + 1 } else { cut_bin };
        for (i, &b) in self.bins.iter().enumerate() {
            if usize::from(b) < below {
                self.indices.push(i as u32);
            }
        }
        if !whole {
            self.indices.extend_from_slice(&self.crossing[..cut_take]);
        }
        self.indices.len()
    }

    /// Collects the members of bin `b` into `crossing`, sorted by rank.
    fn sort_bin(&mut self, b: usize) {
        self.crossing.clear();
        for (i, &bin) in self.bins.iter().enumerate() {
            if usize::from(bin) == b {
                self.crossing.push(i as u32);
            }
        }
        let scores = &self.scores;
        self.crossing.sort_unstable_by(|a, b| rank(scores, *a, *b));
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
}

/// Draws from `candidates` with probability proportional to their weight (those `keep`
/// accepts). `None` only when nothing has weight.
fn draw(
    candidates: impl Iterator<Item = u32> + Clone,
    keep: &impl Fn(u32) -> bool,
    weights: &[f32],
    u: f64,
) -> Option<u32> {
    let total: f64 = candidates
        .clone()
        .filter(|&i| keep(i))
        .map(|i| f64::from(weights[i as usize]))
        .sum();
    let mut target = u * total;
    let mut chosen = None;
    for i in candidates.filter(|&i| keep(i)) {
        chosen = Some(i);
        target -= f64::from(weights[i as usize]);
        if target < 0.0 {
            break;
        }
    }
    chosen
}

/// Descending score, then ascending id, so selection is deterministic.
fn rank(scores: &[f32], a: u32, b: u32) -> std::cmp::Ordering {
    scores[b as usize]
        .total_cmp(&scores[a as usize])
        .then(a.cmp(&b))
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
