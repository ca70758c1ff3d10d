//! Shared by the GPU tests: one device per test binary, and the skip/fail policy.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use zaya_wgpu::{AdapterChoice, GpuContext};

/// The device every test of this binary shares, or `None` (test skipped) when there is no
/// adapter and CI is not set. With `CI=true` a missing adapter fails the test.
pub fn device() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| {
        GpuContext::new(&AdapterChoice::default())
            .map(Arc::new)
            .map_err(|e| e.to_string())
    });
    match ctx {
        Ok(ctx) => Some(Arc::clone(ctx)),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and no GPU adapter: {e}")
        }
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Largest |a - b| (NaN where exactly one side is NaN counts as infinite).
pub fn max_diff(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "lengths");
    got.iter()
        .zip(want)
        .map(|(&a, &b)| {
            if a.is_nan() && b.is_nan() {
                0.0
            } else if a.is_nan() || b.is_nan() {
                f32::INFINITY
            } else {
                (a - b).abs()
            }
        })
        .fold(0.0, f32::max)
}

pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}
