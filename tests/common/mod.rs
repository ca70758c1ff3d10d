//! Shared helpers for the integration tests: fixture paths and golden files.
#![allow(dead_code)]

use safetensors::{Dtype, SafeTensors};
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn tiny_a() -> PathBuf {
    fixtures().join("zaya-tiny-a")
}

/// A golden safetensors file read into memory.
pub struct Golden {
    bytes: Vec<u8>,
    pub path: PathBuf,
}

impl Golden {
    pub fn open(path: &Path) -> Golden {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Golden {
            bytes,
            path: path.to_path_buf(),
        }
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("golden parses")
    }

    pub fn has(&self, name: &str) -> bool {
        self.st().tensor(name).is_ok()
    }

    pub fn shape(&self, name: &str) -> Vec<usize> {
        self.st()
            .tensor(name)
            .unwrap_or_else(|_| panic!("{name} in golden"))
            .shape()
            .to_vec()
    }

    pub fn f32(&self, name: &str) -> Vec<f32> {
        let st = self.st();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("{name} in golden"));
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// Integer tensors (i64 or i32) as i64.
    pub fn ints(&self, name: &str) -> Vec<i64> {
        let st = self.st();
        let t = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("{name} in golden"));
        match t.dtype() {
            Dtype::I64 => t
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::I32 => t
                .data()
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                .collect(),
            d => panic!("{name}: unexpected dtype {d:?}"),
        }
    }

    pub fn sequences(&self) -> usize {
        (0..)
            .take_while(|s| self.has(&format!("seq{s}.prompt_ids")))
            .count()
    }
}

/// Max |a - b| with a readable failure message.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0.0f32, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        // Negated on purpose: a NaN difference must count as the worst.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(d <= worst.0) {
            worst = (d, i);
        }
    }
    assert!(
        worst.0 <= tol,
        "{what}: max abs diff {} at {} (got {}, want {}) exceeds {tol}",
        worst.0,
        worst.1,
        got[worst.1],
        want[worst.1]
    );
    worst.0
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
