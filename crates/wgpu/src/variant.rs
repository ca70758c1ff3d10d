//! The parameters of the fused matvec template (`shaders/fused_matvec.wgsl.j2`) and the one
//! function that picks them, so the launch math and the shader text come from the same
//! numbers.
//!
//! A workgroup computes [`MatVecVariant::rows_per_wg`] consecutive output rows. Its threads
//! form *teams*; a team computes [`MatVecVariant::rows_per_pass`] rows at once (the vector
//! chunk it loads is reused for all of them), its threads striding over the row's groups.
//! With subgroups a team is one subgroup and the row sums are `subgroupAdd`s; without, a team
//! is [`MatVecVariant::tpr`] threads and the sums go through workgroup memory. Weights are
//! read a whole group at a time (one scale and bias per group, `vec4<u32>` loads when
//! `vec == 4`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Version of the variant space: a tuning cache written for another version is ignored.
pub const VARIANT_SPACE_VERSION: u32 = 1;

/// One point of the fused matvec's parameter space. Its `Display` is the pipeline label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MatVecVariant {
    /// Threads per workgroup (a power of two).
    pub wg: u32,
    /// Output rows per workgroup (a multiple of the rows of one pass of every team).
    pub rows_per_wg: u32,
    /// Rows a team computes at once.
    pub rows_per_pass: u32,
    /// Threads per team without subgroups (a power of two dividing `wg`); unused with
    /// subgroups, where a team is one subgroup.
    pub tpr: u32,
    /// Words per weight load: 4 (`vec4<u32>`) or 1.
    pub vec: u32,
    /// Row sums by `subgroupAdd` (needs `Features::SUBGROUP`).
    pub subgroups: bool,
    /// Stage the (normed) vector in workgroup memory when it fits.
    pub stage_x: bool,
}

impl fmt::Display for MatVecVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wg{}_r{}_p{}_{}_v{}{}",
            self.wg,
            self.rows_per_wg,
            self.rows_per_pass,
            if self.subgroups {
                "sg".to_string()
            } else {
                format!("t{}", self.tpr)
            },
            self.vec,
            if self.stage_x { "_xs" } else { "" }
        )
    }
}

/// What the template may use on a device, and the tuned variants of this device by shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatVecTarget {
    /// `Features::SUBGROUP` is enabled.
    pub subgroups: bool,
    /// Bytes of workgroup memory one workgroup may use.
    pub workgroup_bytes: u32,
    /// Threads one workgroup may have.
    pub max_threads: u32,
    /// Winners of `zaya-graph tune` by [`MatVecShape`] key.
    pub tuned: BTreeMap<String, MatVecVariant>,
    /// One variant for every shape it fits (tests and sweeps), after the tuned ones.
    #[serde(default)]
    pub force: Option<MatVecVariant>,
    /// Threads per output row of the prefill `matmul` (one of [`MATMUL_TEAMS`]), as
    /// `zaya-graph tune` chose it for the device.
    #[serde(default = "default_matmul_team")]
    pub matmul_team: u32,
}

/// The `matmul` team widths a device can choose from: 1 gives each thread whole rows (a
/// SIMD-on-CPU adapter, where lanes are threads, wants that); wider teams read a row's words
/// side by side (a GPU's memory wants that) and reduce in workgroup memory.
pub const MATMUL_TEAMS: [u32; 4] = [1, 4, 16, 64];

/// The untuned `matmul` team width: 16 threads per row, 4 rows per 64-thread workgroup.
pub const DEFAULT_MATMUL_TEAM: u32 = 16;

fn default_matmul_team() -> u32 {
    DEFAULT_MATMUL_TEAM
}

impl Default for MatVecTarget {
    /// WebGPU's guaranteed limits, no subgroups, nothing tuned: what a device-free lowering
    /// assumes.
    fn default() -> Self {
        MatVecTarget {
            subgroups: false,
            workgroup_bytes: 16384,
            max_threads: 256,
            tuned: BTreeMap::new(),
            force: None,
            matmul_team: DEFAULT_MATMUL_TEAM,
        }
    }
}

impl MatVecTarget {
    /// The target of a device with `limits` and (maybe) subgroups, nothing tuned.
    pub fn of_device(limits: &wgpu::Limits, subgroups: bool) -> Self {
        MatVecTarget {
            subgroups,
            workgroup_bytes: limits.max_compute_workgroup_storage_size,
            max_threads: limits.max_compute_invocations_per_workgroup,
            tuned: BTreeMap::new(),
            force: None,
            matmul_team: DEFAULT_MATMUL_TEAM,
        }
    }
}

/// The shape of one fused matvec group, as far as the choice of a variant goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MatVecShape {
    /// Rows of every matvec class (matvecs with the same row count compute together).
    pub class_rows: Vec<u64>,
    /// Vector length (columns).
    pub cols: u64,
    /// Format tags of the matvecs.
    pub formats: Vec<String>,
    /// With an RMSNorm prologue.
    pub norm: bool,
    /// With an argmax over the rows.
    pub argmax: bool,
}

impl fmt::Display for MatVecShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<String> = self.class_rows.iter().map(u64::to_string).collect();
        write!(
            f,
            "{}x{} {}{}{}",
            rows.join("+"),
            self.cols,
            self.formats.join(","),
            if self.norm { " norm" } else { "" },
            if self.argmax { " argmax" } else { "" }
        )
    }
}

/// What the fused kernel can do at a shape, found by the generator: the vector length in
/// `vec4`s is whole, the weights' groups are whole `vec4<u32>`s, the vector fits workgroup
/// memory next to `part_words(variant)` words of reduction arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    /// Every weight of the group can be loaded as `vec4<u32>`.
    pub vec4: bool,
    /// f32 words of the vector staged in workgroup memory (0: cannot be staged).
    pub stage_words: u64,
    /// Matvecs of the largest class (partial-sum arrays without subgroups).
    pub max_class_matvecs: u64,
    /// An argmax finished in the same launch needs all rows in one workgroup.
    pub one_pass_argmax: bool,
}

/// A fused matvec as generated: its shape, what the kernel could do there, the variant used.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MatVecPoint {
    pub shape: MatVecShape,
    pub cap: Capability,
    pub variant: MatVecVariant,
}

/// Largest argmax a fused matvec finishes in one launch (one workgroup). The backend tells
/// the optimizer through its `Target` (`crate::plan::target`), so the plan counts one
/// dispatch up to this many elements and two above.
pub const ONE_PASS_ARGMAX: u64 = 64;

/// How a variant is launched on a shape: the one source of the workgroup counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// First workgroup of each class; the last entry is the total.
    pub class_wg: Vec<u64>,
}

impl Launch {
    pub fn of(v: &MatVecVariant, class_rows: &[u64]) -> Launch {
        let mut class_wg = vec![0];
        for &rows in class_rows {
            let last = *class_wg.last().unwrap_or(&0);
            class_wg.push(last + rows.div_ceil(v.rows_per_wg as u64));
        }
        Launch { class_wg }
    }

    pub fn workgroups(&self) -> u64 {
        *self.class_wg.last().unwrap_or(&0)
    }
}

/// Words of workgroup memory a variant uses besides the staged vector: partial sums (without
/// subgroups) and the two arrays of `reduce_wg`.
pub fn reduction_words(v: &MatVecVariant, matvecs: u64) -> u64 {
    let parts = if v.subgroups {
        0
    } else {
        matvecs * v.rows_per_pass as u64 * v.wg as u64
    };
    parts + 2 * v.wg as u64
}

impl MatVecVariant {
    /// Whether this variant is well formed and can run `shape` on `target`.
    pub fn fits(&self, target: &MatVecTarget, shape: &MatVecShape, cap: &Capability) -> bool {
        let pow2 = |n: u32| n.is_power_of_two();
        let total: u64 = shape.class_rows.iter().sum();
        let teams_rows = if self.subgroups {
            self.rows_per_pass
        } else {
            (self.wg / self.tpr.max(1)) * self.rows_per_pass
        };
        let words = reduction_words(self, cap.max_class_matvecs)
            + if self.stage_x { cap.stage_words } else { 0 };
        pow2(self.wg)
            && self.wg <= target.max_threads
            && (1..=8).contains(&self.rows_per_pass)
            && self.rows_per_wg >= 1
            && self.rows_per_wg.is_multiple_of(teams_rows)
            && (self.subgroups || (pow2(self.tpr) && self.tpr <= self.wg))
            && (!self.subgroups || target.subgroups)
            && matches!(self.vec, 1 | 4)
            && (self.vec == 1 || cap.vec4)
            && (!self.stage_x || cap.stage_words > 0)
            && words * 4 <= target.workgroup_bytes as u64
            && (!shape.argmax || !cap.one_pass_argmax || self.rows_per_wg as u64 >= total)
    }
}

/// The variant a shape gets on a target: the tuned one when it is valid, else the default.
pub fn choose(target: &MatVecTarget, shape: &MatVecShape, cap: &Capability) -> MatVecVariant {
    let tuned = target.tuned.get(&shape.to_string());
    match tuned
        .into_iter()
        .chain(&target.force)
        .find(|v| v.fits(target, shape, cap))
    {
        Some(v) => *v,
        None => default_variant(target, shape, cap),
    }
}

/// Sensible defaults: GPU-KERNELS.md §7 (teams of one subgroup or 8 threads, 4 rows at once,
/// 16-byte loads), and at least ~64 workgroups so a real GPU has them to spread.
pub fn default_variant(
    target: &MatVecTarget,
    shape: &MatVecShape,
    cap: &Capability,
) -> MatVecVariant {
    let total: u64 = shape.class_rows.iter().sum();
    let mut v = MatVecVariant {
        wg: 64,
        rows_per_wg: 32,
        rows_per_pass: 4,
        tpr: 8,
        vec: if cap.vec4 { 4 } else { 1 },
        subgroups: target.subgroups,
        stage_x: cap.stage_words > 0,
    };
    // Few rows (the router's down_proj: 256): fewer rows per pass, so the rows still make
    // at least 32 workgroups for the device to spread.
    while v.rows_per_pass > 1 && total / u64::from(pass_rows(&v)) < 32 {
        v.rows_per_pass /= 2;
    }
    let step = pass_rows(&v);
    let want = (total / 64).clamp(step as u64, 64) as u32;
    v.rows_per_wg = (want / step).max(1) * step;
    if shape.argmax && cap.one_pass_argmax {
        v.rows_per_wg = (total as u32).next_multiple_of(step);
    }
    if !v.fits(target, shape, cap) {
        v.stage_x = false;
    }
    if !v.fits(target, shape, cap) {
        // The portable floor: small teams, one row at a time.
        v = MatVecVariant {
            wg: 64,
            rows_per_wg: 8,
            rows_per_pass: 1,
            tpr: 8,
            vec: 1,
            subgroups: false,
            stage_x: false,
        };
        if shape.argmax && cap.one_pass_argmax {
            v.rows_per_wg = (total as u32).next_multiple_of(8);
        }
    }
    v
}

/// Rows one pass of all teams covers (the granularity of `rows_per_wg`): with subgroups the
/// team count is only known on the device, so one team's rows.
fn pass_rows(v: &MatVecVariant) -> u32 {
    if v.subgroups {
        v.rows_per_pass
    } else {
        (v.wg / v.tpr) * v.rows_per_pass
    }
}

/// The variants `tune` times for a shape (valid ones only), the default first.
pub fn candidates(
    target: &MatVecTarget,
    shape: &MatVecShape,
    cap: &Capability,
) -> Vec<MatVecVariant> {
    let total: u64 = shape.class_rows.iter().sum();
    let mut out = vec![default_variant(target, shape, cap)];
    let sg_modes: &[bool] = if target.subgroups {
        &[true, false]
    } else {
        &[false]
    };
    for &subgroups in sg_modes {
        for wg in [32u32, 64, 128] {
            for rows_per_pass in [2u32, 4, 8] {
                for tpr in if subgroups { vec![8] } else { vec![4, 8, 16] } {
                    for stage_x in [true, false] {
                        let mut v = MatVecVariant {
                            wg,
                            rows_per_wg: 0,
                            rows_per_pass,
                            tpr,
                            vec: if cap.vec4 { 4 } else { 1 },
                            subgroups,
                            stage_x,
                        };
                        let step = pass_rows(&v);
                        let rpws: Vec<u32> = if shape.argmax && cap.one_pass_argmax {
                            vec![(total as u32).next_multiple_of(step)]
                        } else {
                            [1u32, 2, 4, 8].iter().map(|k| k * step).collect()
                        };
                        for rows_per_wg in rpws {
                            v.rows_per_wg = rows_per_wg;
                            if rows_per_wg as u64 <= total.next_multiple_of(step as u64)
                                && v.fits(target, shape, cap)
                                && !out.contains(&v)
                            {
                                out.push(v);
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(rows: u64) -> MatVecShape {
        MatVecShape {
            class_rows: vec![rows],
            cols: 2048,
            formats: vec!["affine4".into()],
            norm: false,
            argmax: false,
        }
    }

    const CAP: Capability = Capability {
        vec4: true,
        stage_words: 2048,
        max_class_matvecs: 2,
        one_pass_argmax: false,
    };

    #[test]
    fn defaults_fit_and_launch_covers_every_row() {
        for sg in [false, true] {
            let target = MatVecTarget {
                subgroups: sg,
                ..Default::default()
            };
            for rows in [1u64, 7, 64, 1536, 262272] {
                let s = shape(rows);
                let v = choose(&target, &s, &CAP);
                assert!(v.fits(&target, &s, &CAP), "{v} for {s}");
                let l = Launch::of(&v, &s.class_rows);
                assert!(l.workgroups() * v.rows_per_wg as u64 >= rows);
                assert_eq!(v.subgroups, sg);
            }
        }
    }

    #[test]
    fn a_tuned_variant_wins_only_when_it_fits() {
        let s = shape(1536);
        let mut target = MatVecTarget::default();
        let good = MatVecVariant {
            wg: 32,
            rows_per_wg: 16,
            rows_per_pass: 2,
            tpr: 8,
            vec: 4,
            subgroups: false,
            stage_x: true,
        };
        target.tuned.insert(s.to_string(), good);
        assert_eq!(choose(&target, &s, &CAP), good);
        let bad = MatVecVariant {
            subgroups: true,
            ..good
        };
        target.tuned.insert(s.to_string(), bad);
        assert_ne!(
            choose(&target, &s, &CAP),
            bad,
            "no subgroups on this target"
        );
        assert_eq!(good.to_string(), "wg32_r16_p2_t8_v4_xs");
    }

    #[test]
    fn candidates_are_valid_and_distinct() {
        let target = MatVecTarget {
            subgroups: true,
            ..Default::default()
        };
        let s = shape(2048);
        let c = candidates(&target, &s, &CAP);
        assert!(c.len() > 10);
        for (i, v) in c.iter().enumerate() {
            assert!(v.fits(&target, &s, &CAP));
            assert!(!c[..i].contains(v));
        }
    }
}
