//! `run`, `chat` and `smoke` from the outside: on the built-in random demo model and on a tiny
//! fixture bundle with the fixture tokenizer and template beside it. Checks determinism, that
//! stdout carries only the model's output, that chat keeps the model state between turns, and
//! that bad input fails with one clear line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One demo cache for all tests (they also race to create it, which the demo must survive).
fn demo_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("generate-cli-cache")
}

fn zaya(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zaya-graph"))
        .args(args)
        .env("XDG_CACHE_HOME", demo_cache())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.as_bytes())
        .expect("stdin accepts input");
    drop(input);
    child.wait_with_output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(args: &[&str], stdin: &str) -> (String, String) {
    let out = zaya(args, stdin);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// Runs a command that must fail and returns its only stderr line.
fn fails(args: &[&str], stdin: &str) -> String {
    let out = zaya(args, stdin);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "{args:?}: expected one error line:\n{stderr}"
    );
    errors[0].to_string()
}

/// A bundle directory with the tiny-a MXFP4 weights plus the chat fixtures, as a real bundle
/// ships them.
fn fixture_bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bundle = fixtures().join("zaya-tiny-a/bundle_mxfp4");
    for entry in std::fs::read_dir(&bundle).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let chat = fixtures().join("chat");
    std::fs::copy(
        chat.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::copy(
        chat.join("chat_template.reconstructed.jinja"),
        dir.path().join("chat_template.jinja"),
    )
    .unwrap();
    dir
}

fn path(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().unwrap()
}

/// Lines that only diagnostics may contain.
fn assert_no_diagnostics(stdout: &str) {
    for marker in [
        "tok/s", "loaded", "note:", "DEMO", "seed", "prefill", "error",
    ] {
        assert!(!stdout.contains(marker), "stdout has {marker:?}:\n{stdout}");
    }
}

#[test]
fn run_on_the_demo_streams_only_model_output() {
    let (stdout, stderr) = ok(&["run", "--greedy", "--max-tokens", "12", "Hello"], "");
    assert!(!stdout.trim().is_empty(), "no output; stderr:\n{stderr}");
    assert_no_diagnostics(&stdout);
    assert!(
        stderr.contains("DEMO") && stderr.contains("RANDOM"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--model /path/to/ZAYA1-8B-MXFP4"),
        "{stderr}"
    );
    assert!(
        stderr.contains("prefill") && stderr.contains("decode"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tok/s") && stderr.contains("finish:"),
        "{stderr}"
    );
}

#[test]
fn run_reads_the_prompt_from_stdin() {
    let args = ["run", "--greedy", "--max-tokens", "6"];
    let (from_arg, _) = ok(&[&args[..], &["Hello"]].concat(), "");
    let (from_stdin, _) = ok(&args, "Hello\n");
    let (from_dash, _) = ok(&[&args[..], &["-"]].concat(), "Hello");
    assert_eq!(from_arg, from_stdin);
    assert_eq!(from_arg, from_dash);
}

#[test]
fn greedy_and_seeded_runs_repeat() {
    let greedy = ["run", "--greedy", "--max-tokens", "16", "Hi there"];
    assert_eq!(ok(&greedy, "").0, ok(&greedy, "").0);
    let seeded = |seed: &str| {
        ok(
            &["run", "--seed", seed, "--max-tokens", "16", "Hi there"],
            "",
        )
        .0
    };
    let first = seeded("1");
    assert_eq!(first, seeded("1"));
    let others = [seeded("2"), seeded("3")];
    assert!(
        others.iter().any(|o| *o != first),
        "three seeds gave the same text: {first:?}"
    );
}

#[test]
fn run_on_a_fixture_bundle_raw_and_templated() {
    let dir = fixture_bundle();
    let model = path(&dir);
    let templated = [
        "run",
        "--model",
        model,
        "--greedy",
        "--max-tokens",
        "8",
        "Hi",
    ];
    let (a, stderr) = ok(&templated, "");
    assert!(!stderr.contains("DEMO"), "{stderr}");
    assert_no_diagnostics(&a);
    assert_eq!(a, ok(&templated, "").0);
    let raw = [
        "run",
        "--model",
        model,
        "--raw",
        "--greedy",
        "--max-tokens",
        "8",
        "Hello world",
    ];
    let (raw_out, raw_err) = ok(&raw, "");
    assert!(raw_err.contains("prompt 2 tokens"), "{raw_err}");
    assert_no_diagnostics(&raw_out);
}

#[test]
fn json_output_parses() {
    let dir = fixture_bundle();
    for model in [Some(path(&dir)), None] {
        let mut args = vec!["run", "--json", "--greedy", "--max-tokens", "8", "--think"];
        if let Some(model) = model {
            args.extend(["--model", model]);
        }
        args.push("What is 2+2?");
        let (stdout, _) = ok(&args, "");
        let report: serde_json::Value =
            serde_json::from_str(stdout.trim()).expect("one JSON object");
        assert!(report["prompt_tokens"].as_u64().unwrap() > 0, "{report}");
        assert!(report["content"].is_string(), "{report}");
        assert!(report["tool_calls"].is_array(), "{report}");
        // Thinking on: the output starts inside reasoning.
        assert!(report["reasoning"].is_string(), "{report}");
        let finish = report["finish_reason"].as_str().unwrap();
        assert!(
            ["stop_token", "stop_string", "max_tokens", "context_full"].contains(&finish),
            "{report}"
        );
        let timings = &report["timings"];
        assert!(
            timings["prefill_tokens_per_sec"].as_f64().unwrap() > 0.0,
            "{report}"
        );
        assert!(timings["decode_tokens_per_sec"].is_number(), "{report}");
    }
}

#[test]
fn stop_strings_cut_the_output() {
    let (full, _) = ok(
        &["run", "--greedy", "--max-tokens", "24", "--raw", "Hello"],
        "",
    );
    let full = full.trim_end_matches('\n');
    let Some(cut) = full.char_indices().nth(4).map(|(i, _)| i) else {
        return;
    };
    let stop = &full[cut..full.len().min(cut + 3)];
    let args = [
        "run",
        "--json",
        "--greedy",
        "--max-tokens",
        "24",
        "--raw",
        "--stop",
        stop,
        "Hello",
    ];
    let report: serde_json::Value = serde_json::from_str(ok(&args, "").0.trim()).unwrap();
    assert_eq!(report["finish_reason"], "stop_string", "{report}");
    assert!(!report["text"].as_str().unwrap().contains(stop), "{report}");
}

/// `(fed, prompt)` of each `[turn N: prefill F of P prompt tokens ...]` line.
fn turns(stderr: &str) -> Vec<(usize, usize)> {
    stderr
        .lines()
        .filter_map(|l| l.split_once(": prefill ").map(|(_, rest)| rest))
        .map(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            (words[0].parse().unwrap(), words[2].parse().unwrap())
        })
        .collect()
}

#[test]
fn chat_through_a_pipe_keeps_the_model_state() {
    let dir = fixture_bundle();
    for model in [Some(path(&dir)), None] {
        let mut args = vec!["chat", "--greedy", "--max-tokens", "1"];
        if let Some(model) = model {
            args.extend(["--model", model]);
        }
        let input = "Hi\nHow are you?\n/reset\nHi\n/exit\nnever read\n";
        let (stdout, stderr) = ok(&args, input);
        assert_no_diagnostics(&stdout);
        let turns = turns(&stderr);
        assert_eq!(turns.len(), 3, "{stderr}");
        let (first_fed, first_prompt) = turns[0];
        assert_eq!(first_fed, first_prompt, "{stderr}");
        // The second turn feeds only what the model has not seen.
        let (fed, prompt) = turns[1];
        assert!(prompt > first_prompt, "{stderr}");
        assert!(
            fed < prompt,
            "second turn re-fed the whole history:\n{stderr}"
        );
        assert!(stderr.contains("[conversation reset]"), "{stderr}");
        // After /reset the same message is a fresh first turn.
        assert_eq!(turns[2], turns[0], "{stderr}");
    }
}

#[test]
fn smoke_runs_end_to_end_and_fails_honestly_on_random_weights() {
    let dir = fixture_bundle();
    for model in [Some(path(&dir)), None] {
        let mut args = vec!["smoke", "--max-tokens", "6", "--think-max-tokens", "12"];
        if let Some(model) = model {
            args.extend(["--model", model]);
        }
        let out = zaya(&args, "");
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("What is 2+2? Answer with only the number."),
            "{stdout}"
        );
        assert!(stdout.contains("capital of France"), "{stdout}");
        assert!(stdout.contains("(thinking on)"), "{stdout}");
        assert_eq!(
            stdout.matches("FAIL").count() + stdout.matches("PASS").count(),
            4
        );
        assert!(stdout.contains("FAIL"), "{stdout}");
        assert!(stdout.contains("passed"), "{stdout}");
        // Deterministic: greedy.
        assert_eq!(stdout, text(&zaya(&args, "").stdout));
    }
}

#[test]
fn missing_tokenizer_names_the_file_and_the_directory() {
    let dir = fixture_bundle();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let error = fails(&["run", "--model", path(&dir), "Hi"], "");
    assert!(error.contains("tokenizer.json"), "{error}");
    assert!(error.contains(path(&dir)), "{error}");
}

#[test]
fn broken_template_quotes_its_line() {
    let dir = fixture_bundle();
    std::fs::write(
        dir.path().join("chat_template.jinja"),
        "{{ bos_token }}\n{% if messages %}{{ messages[0].content }}\n",
    )
    .unwrap();
    let error = fails(&["run", "--model", path(&dir), "Hi"], "");
    assert!(error.contains("chat_template.jinja"), "{error}");
    assert!(error.contains("line"), "{error}");
    assert!(error.contains("{% if messages %}"), "{error}");
}

#[test]
fn empty_prompt_is_rejected() {
    for (args, stdin) in [
        (&["run", ""][..], ""),
        (&["run"][..], ""),
        (&["run", "-"][..], "  \n"),
    ] {
        let error = fails(args, stdin);
        assert!(error.contains("empty prompt"), "{error}");
    }
}

#[test]
fn prompt_longer_than_the_context_says_the_numbers_and_the_flag() {
    let dir = fixture_bundle();
    let error = fails(
        &["run", "--model", path(&dir), "--context", "8", "Hello"],
        "",
    );
    assert!(
        error.contains("--context") && error.contains(" 8 "),
        "{error}"
    );
    assert!(error.contains("prompt too long"), "{error}");
}

#[test]
fn tokenizer_larger_than_the_model_vocab_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = zaya_graph::demo::demo_config();
    config.vocab_size = 256;
    zaya_model::random::write_random_bundle(&config, dir.path(), 1).unwrap();
    let chat = fixtures().join("chat");
    std::fs::copy(
        chat.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::copy(
        chat.join("chat_template.reconstructed.jinja"),
        dir.path().join("chat_template.jinja"),
    )
    .unwrap();
    let error = fails(&["run", "--model", path(&dir), "Hi"], "");
    assert!(error.contains("479") && error.contains("256"), "{error}");
}

#[test]
fn unknown_strategy_and_bad_flags_are_rejected() {
    let error = fails(&["run", "--strategy", "fastest", "Hi"], "");
    assert!(
        error.contains("--strategy") && error.contains("`fastest`"),
        "{error}"
    );
    let error = fails(&["run", "--max-tokens", "0", "Hi"], "");
    assert!(error.contains("--max-tokens"), "{error}");
    let error = fails(&["run", "--temperature=-1", "Hi"], "");
    assert!(error.contains("temperature"), "{error}");
    let dir = fixture_bundle();
    let error = fails(
        &["run", "--model", path(&dir), "--context", "999999", "Hi"],
        "",
    );
    assert!(error.contains("--context 999999"), "{error}");
}

#[test]
fn missing_model_directory_is_reported() {
    let error = fails(&["run", "--model", "/nonexistent/zaya", "Hi"], "");
    assert!(error.contains("/nonexistent/zaya"), "{error}");
}

#[test]
fn demo_bundle_is_regenerated_when_damaged() {
    let root = tempfile::tempdir().unwrap();
    let dir = zaya_graph::demo::ensure_demo_bundle_in(root.path()).unwrap();
    let shard = dir.join("model-00001-of-00001.safetensors");
    let original = std::fs::read(&shard).unwrap();
    assert_eq!(
        zaya_graph::demo::ensure_demo_bundle_in(root.path()).unwrap(),
        dir
    );
    std::fs::write(&shard, &original[..original.len() / 2]).unwrap();
    let again = zaya_graph::demo::ensure_demo_bundle_in(root.path()).unwrap();
    assert_eq!(again, dir);
    assert_eq!(std::fs::read(&shard).unwrap(), original);
    // The demo is an ordinary bundle: the loader and the chat assets accept it.
    let bundle = zaya_model::Bundle::open(&dir).unwrap();
    assert_eq!(bundle.config, zaya_graph::demo::demo_config());
    zaya_chat::ChatAssets::load(&dir).unwrap();
}

#[test]
fn cpu_engine_checks_ids_before_feeding_and_resets() {
    use std::sync::Arc;
    use zaya_chat::TokenModel;
    use zaya_graph::engine::{EngineOptions, Model};
    let bundle =
        Arc::new(zaya_model::Bundle::open(&fixtures().join("zaya-tiny-a/bundle_mxfp4")).unwrap());
    let load = |options: &EngineOptions| {
        Model::load(Arc::clone(&bundle), options, &mut |_| {}).and_then(|m| m.session())
    };
    let mut engine = load(&EngineOptions::cpu(16)).unwrap();
    assert_eq!(engine.logits_len(), 512);
    assert_eq!(engine.context_len(), 16);
    let logits = engine.forward(&[2, 105, 300]).unwrap();
    assert_eq!(logits.len(), 512);
    assert!(logits.iter().all(|x| x.is_finite()));
    assert_eq!(engine.position(), 3);
    let error = engine.forward(&[5, 9999]).unwrap_err().to_string();
    assert!(error.contains("9999") && error.contains("512"), "{error}");
    assert_eq!(engine.position(), 3);
    engine.reset();
    assert_eq!(engine.position(), 0);
    assert_eq!(engine.forward(&[2, 105, 300]).unwrap(), logits);

    // A fused strategy computes the same logits.
    let mut options = EngineOptions::cpu(16);
    options.strategy = Some("all".into());
    let mut fused = load(&options).unwrap();
    let fused_logits = fused.forward(&[2, 105, 300]).unwrap();
    let worst = fused_logits
        .iter()
        .zip(&logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst <= 1e-5, "{worst}");

    options.strategy = Some("fastest".into());
    let error = load(&options).err().unwrap().to_string();
    assert!(
        error.contains("--strategy") && error.contains("`fastest`"),
        "{error}"
    );
}

/// Issue 19: the demo model writes control and unused tokens; the text hides them unless
/// `--special`, and `--json` lists every generated id either way.
#[test]
fn control_tokens_are_hidden_unless_special() {
    let hidden = [
        "<unused",
        "<pad>",
        "<bos>",
        "<eos>",
        "<|im_start|>",
        "<zyphra_tool_response>",
    ];
    let args = ["run", "--seed", "1", "--max-tokens", "48", "Hello"];
    let json = |special: bool| -> serde_json::Value {
        let mut a = vec!["--json"];
        if special {
            a.push("--special");
        }
        serde_json::from_str(ok(&[&args[..], &a].concat(), "").0.trim()).unwrap()
    };
    let (plain, special) = (json(false), json(true));
    assert_eq!(
        plain["tokens"], special["tokens"],
        "the same ids either way"
    );
    assert_eq!(plain["tokens"].as_array().unwrap().len(), 48);
    let (plain_text, special_text) = (
        plain["text"].as_str().unwrap(),
        special["text"].as_str().unwrap(),
    );
    assert!(
        hidden.iter().all(|h| !plain_text.contains(h)),
        "{plain_text:?}"
    );
    assert!(special_text.contains("<unused"), "{special_text:?}");
    // The streamed text too.
    let (streamed, _) = ok(&args, "");
    assert!(hidden.iter().all(|h| !streamed.contains(h)), "{streamed:?}");
    let (streamed, _) = ok(&[&args[..], &["--special"]].concat(), "");
    assert!(streamed.contains("<unused"), "{streamed:?}");
}

#[test]
fn kv_dtype_f16_runs_on_the_cpu_and_says_so() {
    let f16 = [
        "run",
        "--backend",
        "cpu",
        "--greedy",
        "--max-tokens",
        "8",
        "--kv-dtype",
        "f16",
        "Hi",
    ];
    let (out16, stderr) = ok(&f16, "");
    assert!(stderr.contains("KV cache f16"), "{stderr}");
    assert!(!out16.is_empty(), "f16 run produced no text");
    let err = fails(&["run", "--kv-dtype", "f8", "Hi"], "");
    assert!(err.contains("--kv-dtype") && err.contains("f16"), "{err}");
}
