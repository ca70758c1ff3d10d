//! `zaya-graph bench` from the outside: on the tiny fixture and on a ZAYA1-8B-width random model
//! (2 layers, shrunk vocabulary), on the CPU interpreter and on wgpu (lavapipe in CI), with the
//! correctness gate, JSON, SVG, kernel benchmarks, the profile, and bad input.
//!
//! Sizes are tiny on purpose (few tokens, small copies): these tests check that every figure is
//! produced and honest in form, not how fast anything is.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

struct Out {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn bench(args: &[&str]) -> Out {
    bench_with(args, &[("ZAYA_TUNE", "off")])
}

/// `bench` with extra environment (a tuning cache of its own, say); the user's cache is
/// ignored by default so reports do not depend on what this machine tuned before.
fn bench_with(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zaya-graph"));
    c.arg("bench").args(args).env("NODEVICE_SELECT", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("runs");
    Out {
        ok: o.status.success(),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

/// Whether a GPU adapter exists; with `CI=true` its absence fails the test instead.
fn gpu_available() -> bool {
    let found = !zaya_graph::gpu::list_adapters().is_empty();
    if !found {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true and no GPU adapter: the wgpu bench tests must run in CI"
        );
        eprintln!("skipping: no GPU adapter");
    }
    found
}

fn tiny() -> String {
    tiny_a().join("bundle_affine").display().to_string()
}

/// Small and quick: few tokens, a 4 MiB copy.
const QUICK: &[&str] = &[
    "--tokens",
    "3",
    "--warmup",
    "1",
    "--context",
    "4",
    "--check-tokens",
    "2",
    "--copy-mib",
    "4",
];

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("json written");
    serde_json::from_str(&text).expect("valid JSON")
}

fn check_svg(path: &Path, names: &[&str]) {
    let svg = std::fs::read_to_string(path).expect("svg written");
    assert!(
        svg.trim_start().starts_with("<svg"),
        "{}",
        &svg[..80.min(svg.len())]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    for n in names {
        assert!(svg.contains(n), "{n} in the chart");
    }
}

/// Every strategy row has all figures, the check passed, and the numbers are sane.
fn check_report(json: &Value, backend: &str, strategies: &[&str]) {
    assert_eq!(json["backend"], backend);
    let copy = json["copy"]["gb_per_s"].as_f64().unwrap();
    assert!(copy.is_finite() && copy > 0.0, "copy bandwidth {copy}");
    let rows = json["strategies"].as_array().unwrap();
    assert_eq!(rows.len(), strategies.len());
    for (row, name) in rows.iter().zip(strategies) {
        assert_eq!(row["name"], *name);
        assert_eq!(row["status"], "ok", "{row}");
        let checks = row["checks"].as_array().unwrap();
        assert!(checks.iter().all(|c| c["passed"] == true));
        assert!(checks.iter().any(|c| c["against"] == "cpu none"));
        assert_eq!(row["decode_wall"]["samples"], 3);
        for key in [
            "decode_tokens_per_s",
            "prefill_tokens_per_s",
            "effective_gb_per_s",
            "fraction_of_copy",
            "useful_gb_per_s",
            "useful_fraction_of_copy",
        ] {
            let x = row[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{key} in {row}"));
            assert!(x.is_finite() && x > 0.0, "{key} = {x}");
        }
        assert!(row["plan"]["dispatches"].as_u64().unwrap() > 0);
        assert!(row["plan"]["lower_bound_bytes"].as_u64().unwrap() > 0);
        assert!(row["plan"]["peak_activation_bytes"].as_u64().is_some());
    }
}

fn check_stdout(out: &Out, strategies: &[&str]) {
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("copy bandwidth"), "{}", out.stdout);
    assert!(out.stdout.contains("| strategy | check |"));
    for s in strategies {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("| {s} | ok"))),
            "{s}: {}",
            out.stdout
        );
        assert!(out.stderr.contains(&format!("check {s} vs cpu none")));
    }
}

#[test]
fn cpu_on_the_tiny_fixture_checks_times_and_writes_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("b.json"), dir.path().join("b.svg"));
    let tiny = tiny();
    let mut args = vec!["--model", &tiny, "--backend", "cpu", "--profile"];
    args.extend_from_slice(QUICK);
    let (j, s) = (json.display().to_string(), svg.display().to_string());
    args.extend_from_slice(&["--json", &j, "--svg", &s]);
    let out = bench(&args);
    let all = ["none", "dequant", "dequant+epilogue", "cca", "all"];
    check_stdout(&out, &all);
    // The CPU interpreter has no per-kernel clock, and the report says so.
    assert!(
        out.stdout.contains("profile (unavailable)"),
        "{}",
        out.stdout
    );
    let report = read_json(&json);
    check_report(&report, "cpu", &all);
    assert!(
        report["copy"]["method"]
            .as_str()
            .unwrap()
            .contains("memcpy")
    );
    check_svg(&svg, &all);
}

#[test]
fn cpu_on_a_zaya1_8b_width_random_model() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let j = json.display().to_string();
    let mut args = vec![
        "--layers",
        "2",
        "--vocab",
        "1024",
        "--backend",
        "cpu",
        "--strategies",
        "none,all",
        "--json",
        &j,
    ];
    args.extend_from_slice(QUICK);
    let out = bench(&args);
    check_stdout(&out, &["none", "all"]);
    assert!(
        out.stderr.contains("generated the random model"),
        "{}",
        out.stderr
    );
    let report = read_json(&json);
    check_report(&report, "cpu", &["none", "all"]);
    assert_eq!(report["model"]["hidden_size"], 2048);
    assert_eq!(report["model"]["layers"], 2);
    assert_eq!(report["model"]["vocab_size"], 1024);
    let generated = report["model"]["generated"]["seconds"].as_f64().unwrap();
    assert!(generated < report["seconds_total"].as_f64().unwrap());
    // The plan's figures at ZAYA1-8B width: fusion removes dispatches and dequantized copies.
    let rows = report["strategies"].as_array().unwrap();
    let (none, all) = (&rows[0]["plan"], &rows[1]["plan"]);
    assert!(all["dispatches"].as_u64() < none["dispatches"].as_u64());
    assert!(all["bytes_read"].as_u64() < none["bytes_read"].as_u64());
    assert!(all["ratio"].as_f64().unwrap() < 1.1);
    // The CPU times batched prefill too, checked against the token-by-token prompt.
    for row in rows {
        let batched = row["batched_prefill_tokens_per_s"].as_f64();
        assert!(batched.is_some_and(|x| x > 0.0), "{row}");
        assert!(
            row["batched_prefill_max_diff"].as_f64().unwrap() <= 1e-3,
            "{row}"
        );
        assert!(row["prefill_over_decode"].as_f64().is_some(), "{row}");
    }
}

#[test]
fn a_broken_strategy_is_refused_and_not_timed() {
    let tiny = tiny();
    let mut args = vec![
        "--model",
        &tiny,
        "--backend",
        "cpu",
        "--strategies",
        "none,dequant,all",
        "--inject-fault",
        "dequant",
    ];
    args.extend_from_slice(QUICK);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let j = json.display().to_string();
    args.extend_from_slice(&["--json", &j]);
    let out = bench(&args);
    assert!(!out.ok, "a refused strategy makes the command fail");
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("| dequant | FAIL |")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("refused, not timed"), "{}", out.stdout);
    // The others still ran and were timed.
    assert!(out.stdout.lines().any(|l| l.starts_with("| all | ok")));
    let report = read_json(&json);
    let dequant = &report["strategies"][1];
    assert_eq!(dequant["status"], "fail");
    assert!(
        dequant["decode_wall"].is_null(),
        "a refused strategy has no timing"
    );
    assert!(dequant["decode_tokens_per_s"].is_null());
    assert!(
        report["strategies"][2]["decode_tokens_per_s"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn bad_flags_are_errors_that_name_the_flag() {
    let tiny = tiny();
    for (args, flag) in [
        (vec!["--strategies", "none,fancy"], "--strategies fancy"),
        (vec!["--tokens", "0"], "--tokens"),
        (vec!["--layers", "3"], "--layers 3"),
        (vec!["--model", &tiny, "--layers", "2"], "--layers"),
        (vec!["--model", "/no/such/dir"], "--model /no/such/dir"),
        (vec!["--vocab", "1"], "--vocab 1"),
        (
            vec!["--inject-fault", "cca", "--strategies", "none"],
            "--inject-fault cca",
        ),
        (vec!["--adapter", "x"], "--adapter x"),
        (vec!["--json", "/no/such/dir/b.json"], "--json"),
    ] {
        let mut all = args.clone();
        all.extend_from_slice(&["--backend", "cpu"]);
        let out = bench(&all);
        assert!(!out.ok, "{args:?} must fail");
        assert!(
            out.stderr.contains(&format!("error: {flag}")),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    let out = bench(&["--backend", "tpu"]);
    assert!(
        !out.ok && out.stderr.contains("--backend"),
        "{}",
        out.stderr
    );
}

#[test]
fn wgpu_on_the_tiny_fixture_and_a_zaya1_8b_width_model() {
    if !gpu_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("g.json"), dir.path().join("g.svg"));
    let (j, s) = (json.display().to_string(), svg.display().to_string());
    let tiny = tiny();
    let strategies = ["none", "dequant", "all"];
    let mut args = vec![
        "--model",
        &tiny,
        "--backend",
        "wgpu",
        "--strategies",
        "none,dequant,all",
        "--profile",
        "--json",
        &j,
        "--svg",
        &s,
    ];
    args.extend_from_slice(QUICK);
    let out = bench(&args);
    check_stdout(&out, &strategies);
    // On a GPU each strategy is also held against the unfused graph on the same GPU.
    assert!(
        out.stderr.contains("check all vs wgpu none"),
        "{}",
        out.stderr
    );
    let report = read_json(&json);
    check_report(&report, "wgpu", &strategies);
    assert!(report["copy"]["method"].as_str().unwrap().contains("gpu"));
    for row in report["strategies"].as_array().unwrap() {
        assert!(row["recorded_dispatches"].as_u64().unwrap() > 0);
        let profile = &row["profile"];
        if report["timestamp_query"] == true {
            assert_eq!(profile["method"], "gpu-timestamps");
            let shares: f64 = profile["kernels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["share"].as_f64().unwrap())
                .sum();
            assert!((shares - 1.0).abs() < 1e-6, "shares sum to {shares}");
            assert!(row["decode_gpu"]["median_s"].as_f64().unwrap() > 0.0);
            for k in profile["kernels"].as_array().unwrap() {
                assert!(k["workgroups"].as_u64().unwrap() >= 1, "{k}");
            }
            // The 4-token prompt's batched prefill, timed kernel by kernel.
            let prefill = &row["prefill_profile"];
            let kernels = prefill["kernels"].as_array().unwrap();
            let runs: u64 = kernels
                .iter()
                .map(|k| k["backend_kernels"].as_u64().unwrap())
                .sum();
            assert!(
                runs > 0
                    && kernels
                        .iter()
                        .all(|k| k["seconds"].as_f64().unwrap() >= 0.0),
                "{prefill}"
            );
        } else {
            assert_eq!(profile["method"], "unavailable");
        }
    }
    check_svg(&svg, &strategies);

    // ZAYA1-8B width (2 layers, small vocab): the real packed formats and shapes on the GPU.
    let mut args = vec![
        "--layers",
        "2",
        "--vocab",
        "512",
        "--backend",
        "wgpu",
        "--strategies",
        "none,all",
        "--json",
        &j,
    ];
    args.extend_from_slice(QUICK);
    let out = bench(&args);
    check_stdout(&out, &["none", "all"]);
    let report = read_json(&json);
    check_report(&report, "wgpu", &["none", "all"]);
    // Both strategies bind one upload of the weights: about one model, not two.
    let gpu = report["gpu_weight_bytes"].as_f64().unwrap();
    let bundle = report["model"]["bundle_bytes"].as_f64().unwrap();
    assert!(
        gpu > 0.5 * bundle && gpu < 1.5 * bundle,
        "{gpu} vs {bundle}"
    );
    assert!(out.stdout.contains("uploaded once"), "{}", out.stdout);
}

/// On a tuned adapter the bench also runs the last fused strategy with the default kernels,
/// through the same correctness gate, so the report shows what tuning bought.
#[test]
fn a_tuned_adapter_is_benchmarked_against_its_default_kernels() {
    if !gpu_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().display().to_string();
    let tiny = tiny();
    let tune = Command::new(env!("CARGO_BIN_EXE_zaya-graph"))
        .args(["tune", "--model", &tiny, "--seconds", "20"])
        .env("ZAYA_TUNE_DIR", &cache)
        .env("NODEVICE_SELECT", "1")
        .output()
        .expect("runs");
    assert!(
        tune.status.success(),
        "{}",
        String::from_utf8_lossy(&tune.stderr)
    );
    let json = dir.path().join("t.json");
    let j = json.display().to_string();
    let mut args = vec![
        "--model",
        &tiny,
        "--backend",
        "wgpu",
        "--strategies",
        "none,all",
        "--json",
        &j,
    ];
    args.extend_from_slice(QUICK);
    let out = bench_with(&args, &[("ZAYA_TUNE_DIR", &cache)]);
    assert!(out.ok, "{}", out.stderr);
    let report = read_json(&json);
    let names: Vec<&str> = report["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["none", "all", "all (untuned)"], "{}", out.stderr);
    for s in report["strategies"].as_array().unwrap() {
        assert_eq!(s["status"], "ok", "{s}");
        assert!(s["decode_tokens_per_s"].as_f64().unwrap() > 0.0, "{s}");
    }
}

#[test]
fn kernel_benchmarks_on_cpu_and_wgpu() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("k.json"), dir.path().join("k.svg"));
    let (j, s) = (json.display().to_string(), svg.display().to_string());
    let mut backends = vec!["cpu"];
    if gpu_available() {
        backends.push("wgpu");
    }
    for backend in backends {
        let out = bench(&[
            "--kernels",
            "--layers",
            "2",
            "--vocab",
            "512",
            "--backend",
            backend,
            "--kernel-iterations",
            "2",
            "--warmup",
            "1",
            "--copy-mib",
            "4",
            "--json",
            &j,
            "--svg",
            &s,
        ]);
        assert!(out.ok, "{backend}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("### kernels"), "{}", out.stdout);
        let report = read_json(&json);
        let kernels = report["kernels"].as_array().unwrap();
        assert_eq!(kernels.len(), zaya_graph::bench::kernels::CASES.len());
        for k in kernels {
            assert!(k["error"].is_null(), "{backend}: {k}");
            let f = k["fraction_of_copy"].as_f64().unwrap();
            assert!(f.is_finite() && f > 0.0, "{k}");
            assert!(k["bytes"].as_u64().unwrap() > 0);
        }
        // ZAYA1-8B shapes: the packed q/k/v reads 1024 + 256 + 2x128 rows of 2048 columns.
        let qkv = kernels.iter().find(|k| k["short"] == "qkv").unwrap();
        let weights = qkv["weights"].to_string();
        assert!(weights.contains("[1024, 2048]") && weights.contains("[256, 2048]"));
        check_svg(&svg, &["qkv", "cca", "router"]);
    }
}
