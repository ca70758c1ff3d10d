//! A modeled decode cost on GPUs we do not have (`dump --device NAME`): each kernel's bytes
//! over the device's memory bandwidth, scaled by the share of the device its workgroups can
//! occupy, plus one launch. It is a model, labelled as one wherever it is printed: it ignores
//! caches, compute limits and overlap between kernels, so it is an upper bound on speed for
//! bandwidth-bound kernels that spread well and a warning for those that do not.
//!
//! Every figure of [`PROFILES`] names its source (docs/BENCHMARKS.md repeats them).

/// What the model knows of one device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeviceProfile {
    /// `--device` name (lowercase, dashes).
    pub name: &'static str,
    /// Peak memory bandwidth, GB/s (10^9 bytes).
    pub bandwidth_gbs: f64,
    /// GPU cores (Apple) or streaming multiprocessors (NVIDIA).
    pub cores: u32,
    /// Workgroups each core must hold for a streaming kernel to reach the bandwidth (a
    /// modeling assumption: two, so one's loads overlap the other's arithmetic).
    pub workgroups_per_core: u32,
    /// Cost of one dispatch inside a compute pass, µs.
    pub launch_us: f64,
    /// Where the bandwidth and core count come from.
    pub source: &'static str,
}

const APPLE_LAUNCH_US: f64 = 5.0; // spec/ZAYA.md §8: 2.5-10 µs per dispatch on Metal
const APPLE_SPEC: &str = "Apple's technical specifications of the Macs with that chip \
                          (support.apple.com/specs), the largest GPU configuration";

macro_rules! apple {
    ($name:literal, $gbs:expr, $cores:expr) => {
        DeviceProfile {
            name: $name,
            bandwidth_gbs: $gbs,
            cores: $cores,
            workgroups_per_core: 2,
            launch_us: APPLE_LAUNCH_US,
            source: APPLE_SPEC,
        }
    };
}

/// The devices `dump --device` models. Apple made no M4 Ultra (the Mac Studio of 2025 has
/// the M3 Ultra), so the M4 row has no Ultra.
pub const PROFILES: &[DeviceProfile] = &[
    apple!("m1", 68.25, 8),
    apple!("m1-pro", 200.0, 16),
    apple!("m1-max", 400.0, 32),
    apple!("m1-ultra", 800.0, 64),
    apple!("m2", 100.0, 10),
    apple!("m2-pro", 200.0, 19),
    apple!("m2-max", 400.0, 38),
    apple!("m2-ultra", 800.0, 76),
    apple!("m3", 100.0, 10),
    apple!("m3-pro", 150.0, 18),
    apple!("m3-max", 400.0, 40),
    apple!("m3-ultra", 819.0, 80),
    apple!("m4", 120.0, 10),
    apple!("m4-pro", 273.0, 20),
    apple!("m4-max", 546.0, 40),
    DeviceProfile {
        name: "h200",
        bandwidth_gbs: 4800.0,
        cores: 132,
        workgroups_per_core: 2,
        // A dispatch recorded in one Vulkan compute pass; CUDA's launch is ~2-4 µs, a
        // dispatch inside a recorded command buffer less.
        launch_us: 2.0,
        source: "NVIDIA H200 Tensor Core GPU datasheet (4.8 TB/s HBM3e); 132 SMs as the H100 SXM \
                 it is built on (NVIDIA Hopper architecture whitepaper)",
    },
];

/// The profile called `name` (case-insensitive), or an error listing the known ones.
pub fn profile(name: &str) -> Result<&'static DeviceProfile, UnknownDevice> {
    PROFILES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| UnknownDevice(name.to_string()))
}

#[derive(Debug, thiserror::Error)]
#[error("--device {0}: no such device profile (known: {known})", known = known_names())]
pub struct UnknownDevice(pub String);

fn known_names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the model needs of one kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelWork {
    pub name: String,
    /// Bytes it reads and writes per token.
    pub bytes: u64,
    /// Workgroups it launches (summed over its dispatches).
    pub workgroups: u64,
    pub dispatches: u32,
}

/// One kernel's modeled time.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    pub name: String,
    pub bytes: u64,
    pub workgroups: u64,
    /// Share of the device's bandwidth its workgroups can draw (0-1].
    pub occupancy: f64,
    pub micros: f64,
}

/// The token's modeled time, kernel by kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenTime {
    pub device: DeviceProfile,
    pub kernels: Vec<KernelTime>,
    pub micros: f64,
    pub bytes: u64,
}

impl TokenTime {
    /// Useful bytes over the modeled time, as a share of the device's bandwidth.
    pub fn bandwidth_share(&self) -> f64 {
        if self.micros <= 0.0 {
            return 0.0;
        }
        self.bytes as f64 / (self.micros * 1e-6) / (self.device.bandwidth_gbs * 1e9)
    }

    pub fn tokens_per_second(&self) -> f64 {
        if self.micros <= 0.0 {
            0.0
        } else {
            1e6 / self.micros
        }
    }
}

/// Models `kernels` on `device`: `bytes / (bandwidth · occupancy) + dispatches · launch`,
/// occupancy = `min(1, workgroups / (cores · workgroups_per_core))`.
pub fn model(device: &DeviceProfile, kernels: &[KernelWork]) -> TokenTime {
    let saturating = (device.cores * device.workgroups_per_core).max(1) as f64;
    let bytes_per_us = device.bandwidth_gbs * 1e3;
    let kernels: Vec<KernelTime> = kernels
        .iter()
        .map(|k| {
            let occupancy = (k.workgroups.max(1) as f64 / saturating).min(1.0);
            let micros = k.bytes as f64 / (bytes_per_us * occupancy)
                + k.dispatches as f64 * device.launch_us;
            KernelTime {
                name: k.name.clone(),
                bytes: k.bytes,
                workgroups: k.workgroups,
                occupancy,
                micros,
            }
        })
        .collect();
    TokenTime {
        device: *device,
        micros: kernels.iter().map(|k| k.micros).sum(),
        bytes: kernels.iter().map(|k| k.bytes).sum(),
        kernels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(bytes: u64, workgroups: u64) -> KernelWork {
        KernelWork {
            name: "k".into(),
            bytes,
            workgroups,
            dispatches: 1,
        }
    }

    #[test]
    fn a_kernel_that_fills_the_device_runs_at_bandwidth_plus_one_launch() {
        let m4 = profile("M4-Max").unwrap();
        let t = model(m4, &[work(546_000, 80)]);
        // 546 kB at 546 GB/s = 1 µs, plus 5 µs of launch.
        assert!((t.micros - 6.0).abs() < 1e-9, "{}", t.micros);
        assert_eq!(t.kernels[0].occupancy, 1.0);
    }

    #[test]
    fn one_workgroup_gets_one_share_of_the_device() {
        let m4 = profile("m4-max").unwrap();
        let wide = model(m4, &[work(1 << 20, 80)]).micros;
        let serial = model(m4, &[work(1 << 20, 1)]).micros;
        let (launch, stream) = (m4.launch_us, wide - m4.launch_us);
        assert!(
            (serial - launch - 80.0 * stream).abs() < 1e-6,
            "{serial} vs {wide}"
        );
    }

    #[test]
    fn the_share_of_bandwidth_counts_launches() {
        let h200 = profile("h200").unwrap();
        let t = model(h200, &[work(4_800_000, 264), work(4_800_000, 264)]);
        // 2 µs of streaming + 4 µs of launches: a third of the bandwidth.
        assert!((t.bandwidth_share() - 1.0 / 3.0).abs() < 1e-9);
        assert!((t.tokens_per_second() - 1e6 / 6.0).abs() < 1e-6);
    }

    #[test]
    fn unknown_devices_name_the_known_ones() {
        let e = profile("m9").unwrap_err().to_string();
        assert!(
            e.contains("--device m9") && e.contains("m4-max") && e.contains("h200"),
            "{e}"
        );
    }
}
