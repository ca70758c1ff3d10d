//! `zaya-graph dump` from the outside.

mod common;
use common::*;
use std::process::Command;

fn dump(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_zaya-graph"))
        .arg("dump")
        .args(args)
        .output()
        .expect("runs");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn full_model_plan_is_byte_identical_across_runs_and_meets_the_summary_targets() {
    let (ok, a, _) = dump(&["--strategy", "all"]);
    assert!(ok);
    let (_, b, _) = dump(&["--strategy", "all"]);
    assert_eq!(a, b);
    assert!(
        a.contains("dispatches=483"),
        "{}",
        a.lines().last().unwrap_or("")
    );
    let (ok, table, _) = dump(&["--summary"]);
    assert!(ok);
    assert!(
        table.lines().any(|l| l.starts_with("| all | 483 |")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("| none | 4688 |")),
        "{table}"
    );
}

#[test]
fn formats_stages_layers_and_diffs() {
    let model = tiny_a().join("bundle_mxfp4");
    let m = model.to_str().unwrap();
    let (ok, text, _) = dump(&["--model", m, "--stage", "graph", "--strategy", "all"]);
    assert!(ok && text.contains("kernel k") && text.contains(" cca {"));
    let (ok, dot, _) = dump(&["--model", m, "--stage", "graph", "--format", "dot"]);
    assert!(ok && dot.starts_with("digraph"));
    let (ok, json, _) = dump(&["--model", m, "--format", "json"]);
    assert!(ok);
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(plan["totals"]["dispatches"], 43);
    let (ok, layer, _) = dump(&[
        "--model",
        m,
        "--stage",
        "graph",
        "--layer",
        "3",
        "--strategy",
        "none",
    ]);
    assert!(
        ok && layer.contains("l3.router_choice") && !layer.contains("l5."),
        "{layer}"
    );
    let (ok, diff, _) = dump(&["--model", m, "--stage", "graph", "--diff", "dequant", "all"]);
    assert!(
        ok && diff.starts_with("--- dequant") && diff.contains("+  kernel"),
        "{diff}"
    );
    let (ok, _, log) = dump(&["--model", m, "--passes", "dequant,siblings", "--log"]);
    assert!(
        ok && log.contains("pass siblings:") && log.contains("merged"),
        "{log}"
    );
}

#[test]
fn bad_arguments_fail_clearly() {
    let (ok, _, err) = dump(&["--strategy", "warp"]);
    assert!(
        !ok && err.contains("unknown strategy component `warp`"),
        "{err}"
    );
    let (ok, _, err) = dump(&["--layer", "99", "--stage", "graph"]);
    assert!(!ok && err.contains("--layer 99"), "{err}");
    let (ok, _, err) = dump(&["--config", "/nonexistent/config.json"]);
    assert!(!ok && err.contains("/nonexistent/config.json"), "{err}");
}

#[test]
fn prefill_graphs_dump_like_decode_graphs() {
    let model = tiny_a().join("bundle_mxfp4");
    let m = model.to_str().unwrap();
    let (ok, text, err) = dump(&[
        "--model",
        m,
        "--stage",
        "graph",
        "--strategy",
        "none",
        "--prefill",
        "5",
    ]);
    assert!(ok, "{err}");
    assert!(text.contains("zaya_prefill_5"), "{text}");
    assert!(
        text.contains("transpose") && text.contains("conv{groups="),
        "{text}"
    );
    assert!(text.contains("u32[5, 1]"), "the token input: {text}");
    let (ok, json, err) = dump(&["--model", m, "--format", "json", "--prefill", "5"]);
    assert!(ok, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(plan["totals"]["dispatches"].as_u64().unwrap() > 0);
    let (ok, _, err) = dump(&["--model", m, "--prefill", "0"]);
    assert!(!ok && err.contains("--prefill"), "{err}");
}

/// `--device`: the modeled step is labelled a model, accounts for every launch of the
/// lowering, and a wider device models faster; an unknown name lists the known ones.
#[test]
fn device_profiles_model_the_lowering() {
    let token_ms = |device: &str| -> (f64, String) {
        let (ok, out, err) = dump(&["--device", device, "--context", "1024"]);
        assert!(ok, "{err}");
        assert!(out.starts_with("# MODELED (not measured)"), "{out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("token: "))
            .expect("token line");
        assert!(line.contains("483 launches"), "{line}");
        let ms = line["token: ".len()..].split(' ').next().unwrap();
        (ms.parse().unwrap(), out)
    };
    let (m1, _) = token_ms("m1");
    let (m4_max, table) = token_ms("M4-Max");
    let (h200, _) = token_ms("h200");
    assert!(m1 > m4_max && m4_max > h200, "{m1} {m4_max} {h200}");
    // One row per kernel, with its launches summing to the total.
    let launches: u32 = table
        .lines()
        .filter(|l| l.starts_with("| k") && l.as_bytes()[3].is_ascii_digit())
        .map(|l| l.split('|').nth(2).unwrap().trim().parse::<u32>().unwrap())
        .sum();
    assert_eq!(launches, 483);
    let (ok, _, err) = dump(&["--device", "m9"]);
    assert!(!ok);
    assert!(
        err.contains("--device m9") && err.contains("m4-max"),
        "{err}"
    );
}

/// The wgpu lowering of a prefill function lists its matmuls (packed weights read over a
/// token chunk) and no per-token matvec.
#[test]
fn lowering_of_a_prefill_chunk_shows_its_matmuls() {
    let (ok, out, err) = dump(&["--stage", "lowering", "--prefill", "16"]);
    assert!(ok, "{err}");
    let matmuls = out
        .lines()
        .filter(|l| l.trim_start().starts_with("matmul_"))
        .count();
    assert!(matmuls > 0, "{out}");
    // Every matvec of the chunk became a matmul: none is left to run token by token.
    assert!(
        !out.lines().any(|l| l.trim_start().starts_with("matvec_")),
        "{out}"
    );
}
