//! The adapter's copy bandwidth: the yardstick a decode step is measured against.
//!
//! Decoding is bandwidth-bound (spec §8), so "how fast is the step" only means something next
//! to "how fast can this device move bytes at all". A plain storage-buffer copy kernel is the
//! practical ceiling a WGSL kernel can reach on the same adapter, driver and wgpu version, so
//! benchmarks report their effective GB/s as a fraction of it.
//!
//! Counting: a copy of `n` bytes moves `2n` bytes (it reads `n` and writes `n`), the STREAM
//! convention. Benchmarks count their own traffic the same way (bytes read + bytes written).
//!
//! Timing: with `TIMESTAMP_QUERY` each iteration is its own compute pass between two GPU
//! timestamps (device time only); without it, each iteration is submitted alone and timed
//! with the wall clock until the queue is idle (includes submission and wait latency, which
//! is negligible next to copying tens of MiB). The median iteration is reported.

use crate::context::GpuContext;
use crate::error::{GpuError, Result};
use std::time::Instant;

/// Bytes copied per iteration when the device allows it.
pub const DEFAULT_COPY_BYTES: u64 = 128 << 20;

/// Fewest bytes worth measuring: below this, launch latency dominates and the figure is not a
/// bandwidth any more.
pub const MIN_COPY_BYTES: u64 = 1 << 20;

const WORKGROUP: u32 = 256;

/// A grid-stride copy of `vec4<u32>`s: 16 bytes per invocation per trip, enough workgroups to
/// fill any device, no bounds beyond `arrayLength`.
const COPY_WGSL: &str = r#"
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = arrayLength(&src);
    let stride = nwg.x * 256u;
    for (var i = gid.x; i < n; i += stride) {
        dst[i] = src[i];
    }
}
"#;

/// How the iterations were timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// GPU timestamps around each iteration's compute pass.
    Timestamps,
    /// Wall clock from submission until the queue is idle.
    WallClock,
}

impl Timing {
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Timestamps => "gpu-timestamps",
            Timing::WallClock => "wall-clock",
        }
    }
}

/// The result of [`copy_bandwidth`].
#[derive(Clone, Debug, PartialEq)]
pub struct CopyBandwidth {
    /// Bytes of the source buffer (the same number is written).
    pub bytes: u64,
    pub iterations: usize,
    /// Seconds of each timed iteration.
    pub seconds: Vec<f64>,
    /// Median seconds per iteration.
    pub median_seconds: f64,
    /// `2 * bytes / median_seconds / 1e9`: read plus written bytes per second.
    pub gb_per_s: f64,
    pub timing: Timing,
}

/// The largest copy size up to `wanted` that one storage binding and one buffer may hold on
/// this device, rounded down to 16 bytes.
pub fn copy_size(limits: &wgpu::Limits, wanted: u64) -> u64 {
    let max = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    wanted.min(max) / 16 * 16
}

/// Measures the copy bandwidth of `ctx`'s device with a buffer of up to `wanted_bytes`
/// (clamped by [`copy_size`]): one untimed warm-up iteration, then `iterations` timed ones.
pub fn copy_bandwidth(
    ctx: &GpuContext,
    wanted_bytes: u64,
    iterations: usize,
) -> Result<CopyBandwidth> {
    let limits = ctx.limits();
    let bytes = copy_size(&limits, wanted_bytes);
    if bytes < MIN_COPY_BYTES {
        return Err(GpuError::BufferTooLarge {
            what: format!(
                "a copy-bandwidth measurement (at least {MIN_COPY_BYTES} bytes; {wanted_bytes} asked)"
            ),
            bytes: MIN_COPY_BYTES,
            limit: bytes,
        });
    }
    let iterations = iterations.max(1);
    let device = &ctx.device;
    let (pipeline, bind_group, workgroups) = ctx.scoped(|| {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("copy-bandwidth"),
            source: wgpu::ShaderSource::Wgsl(COPY_WGSL.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("copy-bandwidth"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let buffer = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let (src, dst) = (buffer("copy-src"), buffer("copy-dst"));
        // Nonzero contents, so no driver can shortcut a copy of cleared memory.
        let pattern: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let mut offset = 0;
        while offset < bytes {
            let n = (bytes - offset).min(pattern.len() as u64);
            ctx.queue.write_buffer(&src, offset, &pattern[..n as usize]);
            offset += n;
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("copy-bandwidth"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: src.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: dst.as_entire_binding(),
                },
            ],
        });
        let vec4s = bytes / 16;
        let workgroups = vec4s
            .div_ceil(WORKGROUP as u64)
            .min(limits.max_compute_workgroups_per_dimension as u64)
            .max(1) as u32;
        (pipeline, bind_group, workgroups)
    })?;
    let run = |timestamps: Option<&wgpu::QuerySet>| -> Result<Option<wgpu::Buffer>> {
        ctx.scoped(|| {
            let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("copy-bandwidth"),
            });
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("copy-bandwidth"),
                    timestamp_writes: timestamps.map(|set| wgpu::ComputePassTimestampWrites {
                        query_set: set,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    }),
                });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(workgroups, 1, 1);
            }
            let staged = timestamps.map(|set| {
                let resolve = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("copy-timestamps"),
                    size: 16,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                enc.resolve_query_set(set, 0..2, &resolve, 0);
                let staging = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("copy-timestamps-read"),
                    size: 16,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                enc.copy_buffer_to_buffer(&resolve, 0, &staging, 0, 16);
                staging
            });
            ctx.queue.submit([enc.finish()]);
            staged
        })
    };
    // Warm-up: first-use costs (pipeline, page faults of the destination) are not bandwidth.
    run(None)?;
    ctx.wait()?;
    let query = ctx.features.timestamp_query.then(|| {
        device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("copy-bandwidth"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        })
    });
    let period_s = ctx.queue.get_timestamp_period() as f64 * 1e-9;
    let mut seconds = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let staged = run(query.as_ref())?;
        ctx.wait()?;
        let wall = started.elapsed().as_secs_f64();
        seconds.push(match staged {
            Some(buf) => {
                let ticks = read_ticks(ctx, &buf)?;
                let t = ticks[1].saturating_sub(ticks[0]) as f64 * period_s;
                // A driver that reports zeros has no usable timestamps: fall back to the wall.
                if t > 0.0 { t } else { wall }
            }
            None => wall,
        });
    }
    let timing = if query.is_some() {
        Timing::Timestamps
    } else {
        Timing::WallClock
    };
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median_seconds = median_sorted(&sorted);
    Ok(CopyBandwidth {
        bytes,
        iterations,
        seconds,
        median_seconds,
        gb_per_s: 2.0 * bytes as f64 / median_seconds / 1e9,
        timing,
    })
}

fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

fn read_ticks(ctx: &GpuContext, buf: &wgpu::Buffer) -> Result<[u64; 2]> {
    let (tx, rx) = std::sync::mpsc::channel();
    buf.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let ticks = {
        let view = buf
            .get_mapped_range(..)
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&view[8 * i..8 * i + 8]);
            u64::from_le_bytes(b)
        };
        [word(0), word(1)]
    };
    buf.unmap();
    Ok(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_size_respects_the_binding_limit_and_alignment() {
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: (100 << 20) + 7,
            max_buffer_size: 1 << 30,
            ..wgpu::Limits::default()
        };
        assert_eq!(copy_size(&limits, DEFAULT_COPY_BYTES), (100 << 20));
        assert_eq!(copy_size(&limits, 1000), 992);
    }

    #[test]
    fn the_copy_kernel_is_valid_wgsl() {
        let module = naga::front::wgsl::parse_str(COPY_WGSL).expect("parses");
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .expect("validates");
    }
}
