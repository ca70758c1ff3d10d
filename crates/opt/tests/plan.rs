//! Plans of the real model shapes: the targets of the optimizer (printed by `dump
//! --summary`), determinism, serialization, and a check of the memory plan.

use std::collections::HashMap;
use std::path::Path;
use zaya_model::graph::STRATEGIES;
use zaya_model::graph::{GraphOptions, build_decode_graph};
use zaya_model::{Config, SkipMode};
use zaya_opt::plan::Arena;
use zaya_opt::{Plan, PlanOptions, Strategy};

fn plan(cfg: &Config, strategy: &str, skip: SkipMode) -> Plan {
    let g = build_decode_graph(
        cfg,
        GraphOptions {
            skip,
            ..Default::default()
        },
    )
    .unwrap();
    let (g, _) = Strategy::parse(strategy, &zaya_model::graph::scope_fusions())
        .unwrap()
        .apply(&g)
        .unwrap();
    Plan::build(&g, strategy, PlanOptions::default())
}

fn tiny() -> Config {
    Config::from_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/zaya-tiny-c/bundle_affine"),
    )
    .unwrap()
}

#[test]
fn zaya1_8b_all_meets_the_dispatch_and_bandwidth_targets() {
    let cfg = Config::zaya1_8b();
    let pairs = cfg.num_layers as u32 / 2;
    for skip in [SkipMode::Zero, SkipMode::Passthrough] {
        let all = plan(&cfg, "all", skip).totals;
        // Per layer pair: qkv, the CCA's 5 phases (serial, grouped conv, serial, split-K
        // attention and its merge), o_proj, the router's 3 (down_proj, MLP, top-1), the
        // experts' 3; passthrough cuts the skip's norm out of the down_proj (2 more).
        assert!(
            all.dispatches <= 14 * pairs + 4,
            "{skip}: {} dispatches",
            all.dispatches
        );
        assert!(all.ratio <= 1.05, "{skip}: ratio {}", all.ratio);
        eprintln!(
            "all ({skip}): {} dispatches, ratio {:.4}, peak activations {} B",
            all.dispatches, all.ratio, all.peak_activation_bytes
        );
    }
    let none = plan(&cfg, "none", SkipMode::Zero).totals;
    assert!(none.dispatches > 1000, "{}", none.dispatches);
    // Packed weights in the arena: exactly the bundle's tensor bytes.
    assert_eq!(none.weight_arena_bytes, 5_849_666_544);
}

#[test]
fn plans_are_deterministic_and_round_trip_through_json() {
    let cfg = Config::zaya1_8b();
    let a = plan(&cfg, "all", SkipMode::Zero);
    let b = plan(&cfg, "all", SkipMode::Zero);
    assert_eq!(a.to_text(), b.to_text());
    let json = serde_json::to_string(&a).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
}

/// No two values that are alive at the same time share activation bytes. A value is alive
/// from the kernel that writes it to the last kernel that reads it (views alias their input).
fn assert_memory_plan_sound(p: &Plan) {
    let mut live: HashMap<u32, (usize, usize, u64, u64)> = HashMap::new();
    for (k, kernel) in p.kernels.iter().enumerate() {
        for b in kernel
            .outputs
            .iter()
            .filter(|b| b.arena == Arena::Activation)
        {
            live.entry(b.value).or_insert((k, k, b.offset, b.bytes));
        }
        for b in kernel
            .inputs
            .iter()
            .filter(|b| b.arena == Arena::Activation)
        {
            if let Some(e) = live.get_mut(&b.value) {
                e.1 = e.1.max(k);
            }
        }
    }
    let views: Vec<usize> = p
        .kernels
        .iter()
        .enumerate()
        .filter(|(_, k)| k.dispatches == 0)
        .map(|(i, _)| i)
        .collect();
    let vals: Vec<_> = live.into_iter().collect();
    for (i, (va, a)) in vals.iter().enumerate() {
        for (vb, b) in &vals[i + 1..] {
            let overlap_time = a.0 <= b.1 && b.0 <= a.1;
            let overlap_space = a.2 < b.2 + b.3 && b.2 < a.2 + a.3;
            let alias = a.2 == b.2 && (views.contains(&a.0) || views.contains(&b.0));
            assert!(
                !(overlap_time && overlap_space) || alias,
                "%{va} {a:?} and %{vb} {b:?} overlap in {}",
                p.strategy
            );
        }
    }
    assert!(
        p.kernels
            .iter()
            .flat_map(|k| &k.outputs)
            .all(|b| b.offset + b.bytes <= p.totals.peak_activation_bytes
                || b.arena != Arena::Activation)
    );
}

#[test]
fn activation_memory_is_reused_without_overlap() {
    for cfg in [tiny(), Config::zaya1_8b()] {
        for s in STRATEGIES {
            let p = plan(&cfg, s, SkipMode::Passthrough);
            assert_memory_plan_sound(&p);
        }
    }
    // Fusion keeps dequantized weights out of memory: peak activations shrink accordingly.
    let cfg = Config::zaya1_8b();
    let none = plan(&cfg, "none", SkipMode::Zero)
        .totals
        .peak_activation_bytes;
    let all = plan(&cfg, "all", SkipMode::Zero)
        .totals
        .peak_activation_bytes;
    assert!(all * 1000 < none, "none {none} all {all}");
}
