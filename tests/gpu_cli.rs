//! The CLI on the wgpu backend: `eval --backend wgpu --prefill batched` matches the HF
//! goldens (logits within 1e-3, identical router choices) under `none` and `all`, and a greedy `run --backend wgpu`
//! on the demo model prints exactly what the CPU backend prints. Skipped without an
//! adapter unless CI=true (then a missing adapter fails).

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn has_adapter() -> bool {
    if !zaya_wgpu::list_adapters().is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI=true and no GPU adapter"
    );
    eprintln!("skipping: no GPU adapter");
    false
}

fn zaya(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zaya-graph"))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gpu-cli-cache"),
        )
        .env("NODEVICE_SELECT", "1")
        // Not this machine's tuning cache: the CPU/GPU comparisons run the defaults.
        .env("ZAYA_TUNE", "off")
        .output()
        .expect("runs")
}

fn ids(v: &[i64]) -> String {
    v.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn eval_on_the_gpu_matches_the_golden_under_none_and_all() {
    if !has_adapter() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let golden = Golden::open(&tiny_a().join("golden_affine/golden.safetensors"));
    let model = tiny_a().join("bundle_affine");
    for strategy in ["none", "all"] {
        let out = dir.path().join(format!("{strategy}.safetensors"));
        let o = zaya(&[
            "eval",
            "--backend",
            "wgpu",
            "--strategy",
            strategy,
            "--model",
            model.to_str().unwrap(),
            "--prompt-ids",
            &ids(&golden.ints("seq0.prompt_ids")),
            "--decode-ids",
            &ids(&golden.ints("seq0.decode_ids")),
            "--out",
            out.to_str().unwrap(),
            // Batched prefill on wgpu, an odd chunk so boundaries fall inside the prompt.
            "--prefill",
            "batched",
            "--chunk",
            "3",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("fed token by token"), "{stderr}");
        let got = Golden::open(&out);
        for (mine, theirs) in [
            ("prefill_logits", "seq0.prefill_logits"),
            ("decode_logits", "seq0.decode_logits"),
        ] {
            let (g, w) = (got.f32(mine), golden.f32(theirs));
            assert_close(&format!("{strategy} {mine}"), &g, &w, 1e-3);
            let v = golden.shape(theirs)[1];
            for (a, b) in g.chunks(v).zip(w.chunks(v)) {
                assert_eq!(argmax(a), argmax(b), "{strategy} {mine}: argmax");
            }
        }
        assert_eq!(
            got.ints("router_choice"),
            golden.ints("seq0.router_choice"),
            "{strategy}"
        );
    }
}

/// `run --greedy --backend BACKEND` with `flags`, asserted to succeed: (stdout, stderr).
fn greedy_run(backend: &str, flags: &[&str]) -> (String, String) {
    let mut args = vec!["run", "--greedy", "--backend", backend];
    args.extend_from_slice(flags);
    let o = zaya(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    (String::from_utf8_lossy(&o.stdout).into_owned(), stderr)
}

#[test]
fn greedy_run_on_the_gpu_prints_what_the_cpu_prints() {
    if !has_adapter() {
        return;
    }
    let flags = ["--max-tokens", "12", "--strategy", "all", "Hello"];
    let cpu = greedy_run("cpu", &flags).0;
    assert!(!cpu.is_empty());
    assert_eq!(greedy_run("wgpu", &flags).0, cpu);
}

#[test]
fn seeded_sampling_on_the_gpu_is_reproducible_and_matches_the_cpu() {
    // The device sampler draws the CPU sampler's seeded uniforms and picks what it picks, so
    // the same seed gives the same text on both backends (the logits differ by float
    // rounding only, far from any pick boundary on these few tokens).
    if !has_adapter() {
        return;
    }
    let run = |backend: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "--max-tokens",
            "12",
            "--backend",
            backend,
            "--seed",
            "5",
            "--temperature",
            "0.8",
            "--top-p",
            "0.9",
        ];
        args.extend_from_slice(extra);
        args.push("Hello");
        let o = zaya(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("cannot sample"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let gpu = run("wgpu", &[]);
    assert!(!gpu.is_empty());
    assert_eq!(run("wgpu", &[]), gpu, "same seed, same output");
    assert_eq!(run("cpu", &[]), gpu, "the CPU backend with the same seed");
    // Top-k, min-p and the repetition penalty go through the device sampler too.
    let extra = [
        "--top-k",
        "20",
        "--min-p",
        "0.05",
        "--repetition-penalty",
        "1.3",
    ];
    assert_eq!(run("wgpu", &extra), run("cpu", &extra));
}

fn zaya_with_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_zaya-graph"))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gpu-cli-cache"),
        )
        .env("NODEVICE_SELECT", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("writes");
    child.wait_with_output().expect("finishes")
}

#[test]
fn chat_through_a_pipe_and_smoke_run_on_the_gpu_like_on_the_cpu() {
    if !has_adapter() {
        return;
    }
    let chat = |backend: &str| {
        let o = zaya_with_stdin(
            &[
                "chat",
                "--backend",
                backend,
                "--strategy",
                "all",
                "--greedy",
                "--max-tokens",
                "6",
            ],
            "Hello\nAnd again\n/exit\n",
        );
        assert!(
            o.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(err.contains("[turn 2:"), "{backend}: {err}");
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    assert_eq!(
        chat("wgpu"),
        chat("cpu"),
        "greedy chat on the GPU equals the CPU"
    );

    let smoke = |backend: &str| {
        let o = zaya(&[
            "smoke",
            "--backend",
            backend,
            "--max-tokens",
            "4",
            "--think-max-tokens",
            "8",
        ]);
        // Random weights: every check fails honestly (exit 1), but the run completes.
        assert_eq!(
            o.status.code(),
            Some(1),
            "{backend}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let (gpu, cpu) = (smoke("wgpu"), smoke("cpu"));
    assert!(
        gpu.contains("What is 2+2?") && gpu.contains("FAIL"),
        "{gpu}"
    );
    assert_eq!(gpu, cpu, "greedy smoke on the GPU equals the CPU");
}

/// `tune` writes the adapter's cache file (every chosen variant checked against the CPU
/// interpreter), and the next `run` on that adapter says it uses it; `ZAYA_TUNE=off` runs the
/// defaults and says so.
#[test]
fn tune_writes_a_cache_that_the_next_run_uses() {
    if !has_adapter() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let json = cache.path().join("report.json");
    let run = |args: &[&str], tune: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_zaya-graph"));
        c.args(args)
            .env("ZAYA_TUNE_DIR", cache.path())
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("gpu-cli-cache"),
            )
            .env("NODEVICE_SELECT", "1");
        if let Some(v) = tune {
            c.env("ZAYA_TUNE", v);
        }
        c.output().expect("runs")
    };
    let model = tiny_a().join("bundle_affine");
    let o = run(
        &[
            "tune",
            "--model",
            model.to_str().unwrap(),
            "--seconds",
            "30",
            "--json",
            json.to_str().unwrap(),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let shapes = report["shapes"].as_array().unwrap();
    assert!(!shapes.is_empty(), "no shape tuned: {stderr}");
    for s in shapes {
        assert!(s["timed"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["chosen_ms"].as_f64().unwrap() > 0.0, "{s}");
    }
    let file = report["cache"].as_str().unwrap();
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(
        stored["shapes"].as_object().unwrap().len(),
        shapes.len(),
        "{stored}"
    );
    // The prefill paths were timed on this adapter, and `run` follows the faster one.
    let prefill = &stored["prefill"];
    assert_eq!(prefill, &report["prefill"], "{stored}");
    let (batched, sequential) = (
        prefill["batched_s"].as_f64().unwrap(),
        prefill["sequential_s"].as_f64().unwrap(),
    );
    assert!(batched > 0.0 && sequential > 0.0, "{prefill}");
    let expected_path = if batched < sequential {
        format!("prefill in chunks of up to {}", prefill["chunk"])
    } else {
        "prompts token by token".to_string()
    };

    let generate = [
        "run",
        "--backend",
        "wgpu",
        "--greedy",
        "--max-tokens",
        "2",
        "hi",
    ];
    let tuned = run(&generate, None);
    let stderr = String::from_utf8_lossy(&tuned.stderr);
    assert!(tuned.status.success(), "{stderr}");
    assert!(stderr.contains(&expected_path), "{expected_path}: {stderr}");
    assert!(
        stderr.contains("strategy all (the device's default)")
            && stderr.contains(&format!("tuned kernels ({} shapes", shapes.len())),
        "{stderr}"
    );
    let off = run(&generate, Some("off"));
    let stderr = String::from_utf8_lossy(&off.stderr);
    assert!(off.status.success(), "{stderr}");
    assert!(stderr.contains("default kernels"), "{stderr}");
    // Tuned or not, the same greedy tokens.
    assert_eq!(
        String::from_utf8_lossy(&tuned.stdout),
        String::from_utf8_lossy(&off.stdout)
    );
}

/// Without `--backend`, generation takes a hardware GPU when there is one and the CPU
/// otherwise (lavapipe is software), and says which on stderr.
#[test]
fn run_without_flags_says_which_path_it_chose() {
    let hardware = zaya_wgpu::list_adapters()
        .iter()
        .any(|a| a.device_type != "Cpu");
    let o = zaya(&["run", "--greedy", "--max-tokens", "2", "hi"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("running on "))
        .unwrap_or_else(|| panic!("no path line: {stderr}"));
    if hardware {
        assert!(
            line.contains("wgpu backend") && line.contains("strategy all"),
            "{line}"
        );
    } else {
        assert!(
            line.contains("cpu backend on CPU interpreter") && line.contains("strategy none"),
            "{line}"
        );
    }
    assert!(
        line.contains("KV cache f32") && line.contains("context "),
        "{line}"
    );
    // The CPU prefills in chunks; a GPU says how it feeds prompts either way.
    assert!(
        line.contains("prefill in chunks of up to")
            || (hardware && line.contains("prompts token by token")),
        "{line}"
    );
}

/// `run` on wgpu with `flags` fails with exactly one `error:` line, which it returns.
fn refused_on_wgpu(flags: &[&str]) -> String {
    let mut args = vec!["run", "--backend", "wgpu", "--greedy", "--max-tokens", "1"];
    args.extend_from_slice(flags);
    args.push("hi");
    let o = zaya(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0].to_string()
}

#[test]
fn a_prefill_chunk_the_gpu_cannot_run_is_refused_in_one_line_naming_the_flag() {
    if !has_adapter() {
        return;
    }
    let error = refused_on_wgpu(&["--chunk", "2000"]);
    assert!(
        error.contains("--chunk 2000") && error.contains("1024"),
        "{error}"
    );
}

#[test]
fn an_explicit_chunk_prefills_batched_on_the_gpu_with_the_cpu_output() {
    if !has_adapter() {
        return;
    }
    let flags = [
        "--max-tokens",
        "6",
        "--chunk",
        "5",
        "Hello there, how are you today?",
    ];
    let run = |backend: &str| {
        let (stdout, stderr) = greedy_run(backend, &flags);
        assert!(stderr.contains("prefill in chunks of up to 5"), "{stderr}");
        stdout
    };
    assert_eq!(run("wgpu"), run("cpu"));
}

#[test]
fn kv_dtype_f16_on_wgpu_prints_what_the_cpu_prints() {
    if !has_adapter() {
        return;
    }
    let flags = [
        "--max-tokens",
        "12",
        "--strategy",
        "all",
        "--kv-dtype",
        "f16",
        "Hello there",
    ];
    let cpu = greedy_run("cpu", &flags).0;
    assert!(!cpu.is_empty());
    assert_eq!(greedy_run("wgpu", &flags).0, cpu);
}
