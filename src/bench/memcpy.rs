//! The CPU's copy bandwidth, the yardstick of `--backend cpu`: the interpreter's matvecs run
//! on every core (rayon), so the copy is split across every core too. Counted like the GPU
//! copy kernel: read plus written bytes.

use std::time::Instant;

/// The result of [`memcpy_bandwidth`].
#[derive(Clone, Debug, PartialEq)]
pub struct MemcpyBandwidth {
    pub bytes: u64,
    pub threads: usize,
    pub iterations: usize,
    pub median_seconds: f64,
    /// `2 * bytes / median_seconds / 1e9`.
    pub gb_per_s: f64,
}

/// Copies `bytes` (at least 1 MiB) between two buffers `iterations` times after one warm-up
/// copy (which also faults the pages in); reports the median.
pub fn memcpy_bandwidth(bytes: u64, iterations: usize) -> anyhow::Result<MemcpyBandwidth> {
    let bytes = bytes.max(1 << 20);
    let n = usize::try_from(bytes)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let src: Vec<u8> = (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
        .collect();
    let mut dst = vec![0u8; n];
    let chunk = n.div_ceil(threads);
    let copy = |dst: &mut [u8]| {
        std::thread::scope(|s| {
            for (d, sr) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
                s.spawn(move || d.copy_from_slice(sr));
            }
        });
    };
    copy(&mut dst);
    let mut seconds = Vec::with_capacity(iterations.max(1));
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        copy(&mut dst);
        seconds.push(t.elapsed().as_secs_f64());
        // Keep the copy observable so it cannot be optimized away.
        std::hint::black_box(&dst);
    }
    let stats = super::stats::TimeStats::of(&seconds).expect("at least one iteration");
    Ok(MemcpyBandwidth {
        bytes,
        threads,
        iterations: seconds.len(),
        median_seconds: stats.median_s,
        gb_per_s: 2.0 * bytes as f64 / stats.median_s / 1e9,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn memcpy_bandwidth_is_positive() {
        let m = super::memcpy_bandwidth(4 << 20, 2).unwrap();
        assert!(m.gb_per_s > 0.0 && m.gb_per_s.is_finite());
        assert_eq!(m.iterations, 2);
    }
}
