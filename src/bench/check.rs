//! The correctness gate in front of every timing: a strategy is only timed after its logits
//! match the unfused reference. A fast wrong kernel is not a result, and fusion bugs that
//! would otherwise show up as "speedups" are caught here.

use super::runner::StepRunner;
use serde::Serialize;

/// Default largest |logit difference| accepted against a reference.
pub const DEFAULT_TOLERANCE: f32 = 1e-3;

/// The outcome of comparing one strategy's logits with one reference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// What the logits were compared with (e.g. `cpu none`, `wgpu none`).
    pub against: String,
    pub tokens: usize,
    pub max_abs_diff: f32,
    /// Tokens whose argmax differs from the reference's.
    pub argmax_mismatches: usize,
    pub tolerance: f32,
    pub passed: bool,
    /// Why it failed, in words (absent when it passed).
    pub reason: Option<String>,
}

/// Feeds `tokens` one at a time and returns the logits after each.
pub fn collect_logits(
    runner: &mut dyn StepRunner,
    tokens: &[u32],
) -> anyhow::Result<Vec<Vec<f32>>> {
    tokens
        .iter()
        .map(|&t| {
            runner
                .step(t, true)?
                .ok_or_else(|| anyhow::anyhow!("the backend returned no logits"))
        })
        .collect()
}

/// Compares logits token by token: every |difference| within `tolerance` (NaN on one side
/// only counts as infinitely far) and the same argmax.
pub fn compare_logits(
    reference: &[Vec<f32>],
    got: &[Vec<f32>],
    tolerance: f32,
    against: &str,
) -> Check {
    let mut max_abs_diff = 0f32;
    let mut argmax_mismatches = 0;
    let mut shape_error = None;
    if reference.len() != got.len() {
        shape_error = Some(format!(
            "{} tokens of logits, the reference has {}",
            got.len(),
            reference.len()
        ));
    }
    for (t, (r, g)) in reference.iter().zip(got).enumerate() {
        if r.len() != g.len() {
            shape_error = Some(format!(
                "token {t}: {} logits, the reference has {}",
                g.len(),
                r.len()
            ));
            break;
        }
        for (&a, &b) in r.iter().zip(g) {
            let d = match (a.is_nan(), b.is_nan()) {
                (true, true) => 0.0,
                (false, false) => (a - b).abs(),
                _ => f32::INFINITY,
            };
            max_abs_diff = max_abs_diff.max(d);
        }
        if argmax(r) != argmax(g) {
            argmax_mismatches += 1;
        }
    }
    let reason = if let Some(e) = shape_error {
        Some(e)
    } else if max_abs_diff.is_nan() || max_abs_diff > tolerance {
        Some(format!(
            "logits differ from {against} by up to {max_abs_diff:.3e} (tolerance {tolerance:.0e})"
        ))
    } else if argmax_mismatches > 0 {
        Some(format!(
            "argmax differs from {against} on {argmax_mismatches} of {} tokens",
            reference.len()
        ))
    } else {
        None
    };
    Check {
        against: against.to_string(),
        tokens: reference.len(),
        max_abs_diff,
        argmax_mismatches,
        tolerance,
        passed: reason.is_none(),
        reason,
    }
}

/// Index of the largest value (first on ties; NaN never wins).
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] || x[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runner that returns fixed logits, optionally corrupted: the checker must refuse it.
    struct Fake {
        logits: Vec<Vec<f32>>,
        pos: usize,
        offset: f32,
    }

    impl StepRunner for Fake {
        fn step(&mut self, _token: u32, want: bool) -> anyhow::Result<Option<Vec<f32>>> {
            let mut l = self.logits[self.pos].clone();
            l[1] += self.offset;
            self.pos += 1;
            Ok(want.then_some(l))
        }
        fn finish(&mut self) -> anyhow::Result<()> {
            Ok(())
        }
        fn reset(&mut self) -> anyhow::Result<()> {
            self.pos = 0;
            Ok(())
        }
        fn position(&self) -> usize {
            self.pos
        }
    }

    fn reference() -> Vec<Vec<f32>> {
        vec![vec![0.5, 0.1, -0.2], vec![0.0, 0.3, 0.2]]
    }

    #[test]
    fn an_exact_runner_passes_and_a_faulty_one_is_refused() {
        let tokens = [1, 2];
        let mut ok = Fake {
            logits: reference(),
            pos: 0,
            offset: 1e-5,
        };
        let c = compare_logits(
            &reference(),
            &collect_logits(&mut ok, &tokens).unwrap(),
            DEFAULT_TOLERANCE,
            "cpu none",
        );
        assert!(c.passed, "{c:?}");
        let mut small = Fake {
            logits: reference(),
            pos: 0,
            offset: 0.01,
        };
        let c = compare_logits(
            &reference(),
            &collect_logits(&mut small, &tokens).unwrap(),
            DEFAULT_TOLERANCE,
            "cpu none",
        );
        assert!(!c.passed);
        assert_eq!(c.argmax_mismatches, 0);
        assert!(c.reason.unwrap().contains("differ from cpu none"));
        let mut flips = Fake {
            logits: reference(),
            pos: 0,
            offset: 1.0,
        };
        let got = collect_logits(&mut flips, &tokens).unwrap();
        // Even a generous tolerance does not excuse a different next token.
        let c = compare_logits(&reference(), &got, 10.0, "cpu none");
        // Token 0 flips to index 1; token 1 already had its maximum there.
        assert_eq!(c.argmax_mismatches, 1);
        assert!(!c.passed);
    }

    #[test]
    fn nan_and_shape_mismatches_fail() {
        let mut got = reference();
        got[0][2] = f32::NAN;
        assert!(!compare_logits(&reference(), &got, 1.0, "x").passed);
        let c = compare_logits(&reference(), &reference()[..1], 1.0, "x");
        assert!(!c.passed && c.reason.unwrap().contains("1 tokens"));
    }
}
