//! Robust summaries of repeated timings: medians and percentiles rather than means, because a
//! single descheduled step (or a GC-like driver hiccup) must not move the reported figure.

use serde::Serialize;

/// Summary of one set of samples, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeStats {
    pub samples: usize,
    pub median_s: f64,
    pub p10_s: f64,
    pub p90_s: f64,
    /// Median absolute deviation from the median.
    pub mad_s: f64,
    pub min_s: f64,
    pub max_s: f64,
}

impl TimeStats {
    /// `None` for no samples (nothing to summarize is not a zero time).
    pub fn of(samples: &[f64]) -> Option<TimeStats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = quantile(&sorted, 0.5);
        let mut dev: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Some(TimeStats {
            samples: sorted.len(),
            median_s: median,
            p10_s: quantile(&sorted, 0.1),
            p90_s: quantile(&sorted, 0.9),
            mad_s: quantile(&dev, 0.5),
            min_s: sorted[0],
            max_s: sorted[sorted.len() - 1],
        })
    }
}

/// Linear-interpolated quantile of sorted, non-empty data.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_percentiles_and_mad() {
        let s = TimeStats::of(&[5.0, 1.0, 3.0, 2.0, 4.0, 100.0]).unwrap();
        assert_eq!(s.median_s, 3.5);
        assert_eq!(s.min_s, 1.0);
        assert_eq!(s.max_s, 100.0);
        assert_eq!(s.mad_s, 1.5);
        assert!(s.p10_s >= 1.0 && s.p10_s <= 2.0);
        assert!(TimeStats::of(&[]).is_none());
    }
}
