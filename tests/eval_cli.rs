//! `zaya-graph eval` from the outside: the file it writes matches the HF goldens, and bad
//! arguments fail with a clear message.

mod common;
use common::*;
use std::process::Command;

fn eval(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zaya-graph"))
        .arg("eval")
        .args(args)
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
fn eval_writes_logits_and_router_choices_matching_the_golden() {
    let dir = tempfile::tempdir().unwrap();
    for (skip, file) in [
        ("zero", "golden.safetensors"),
        ("passthrough", "golden_mod_passthrough.safetensors"),
    ] {
        let golden = Golden::open(&tiny_a().join("golden_mxfp4").join(file));
        let out = dir.path().join(format!("{skip}.safetensors"));
        let model = tiny_a().join("bundle_mxfp4");
        let prompt = ids(&golden.ints("seq1.prompt_ids"));
        let decode = ids(&golden.ints("seq1.decode_ids"));
        let o = eval(&[
            "--model",
            model.to_str().unwrap(),
            "--prompt-ids",
            &prompt,
            "--decode-ids",
            &decode,
            "--mod-skip",
            skip,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let got = Golden::open(&out);
        assert_eq!(
            got.shape("prefill_logits"),
            golden.shape("seq1.prefill_logits")
        );
        assert_close(
            "prefill",
            &got.f32("prefill_logits"),
            &golden.f32("seq1.prefill_logits"),
            1e-3,
        );
        assert_close(
            "decode",
            &got.f32("decode_logits"),
            &golden.f32("seq1.decode_logits"),
            1e-3,
        );
        assert_eq!(
            got.ints("router_choice"),
            golden.ints("seq1.router_choice"),
            "{skip}"
        );
    }
}

#[test]
fn eval_rejects_bad_arguments_with_a_clear_message() {
    let model = tiny_a().join("bundle_affine");
    let out = std::env::temp_dir().join("zaya-eval-unused.safetensors");
    let o = eval(&[
        "--model",
        model.to_str().unwrap(),
        "--prompt-ids",
        "1,512",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--prompt-ids: token id 512 is out of range"),
        "{err}"
    );

    let o = eval(&[
        "--model",
        "/nonexistent/bundle",
        "--prompt-ids",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/bundle"));

    let o = eval(&[
        "--model",
        model.to_str().unwrap(),
        "--prompt-ids",
        "1",
        "--mod-skip",
        "sometimes",
        "--out",
        "x",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown skip mode"));
}

/// `--prefill batched` (the default) with odd chunk lengths writes what `--prefill
/// sequential` writes (1e-4), and both match the golden.
#[test]
fn eval_batched_prefill_equals_sequential_at_any_chunk_length() {
    let dir = tempfile::tempdir().unwrap();
    let golden = Golden::open(&tiny_a().join("golden_affine").join("golden.safetensors"));
    let model = tiny_a().join("bundle_affine");
    let prompt = ids(&golden.ints("seq1.prompt_ids"));
    let decode = ids(&golden.ints("seq1.decode_ids"));
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(format!("{name}.safetensors"));
        let mut args = vec![
            "--model",
            model.to_str().unwrap(),
            "--prompt-ids",
            &prompt,
            "--decode-ids",
            &decode,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = eval(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Golden::open(&out)
    };
    let seq = run("seq", &["--prefill", "sequential"]);
    for chunk in ["1", "3", "5", "64"] {
        let got = run(&format!("chunk{chunk}"), &["--chunk", chunk]);
        for name in ["prefill_logits", "decode_logits"] {
            assert_eq!(got.shape(name), seq.shape(name));
            assert_close(
                &format!("chunk {chunk} {name}"),
                &got.f32(name),
                &seq.f32(name),
                1e-4,
            );
        }
        assert_eq!(got.ints("router_choice"), seq.ints("router_choice"));
        assert_close(
            "batched prefill vs golden",
            &got.f32("prefill_logits"),
            &golden.f32("seq1.prefill_logits"),
            1e-3,
        );
    }
    let o = eval(&[
        "--model",
        model.to_str().unwrap(),
        "--prompt-ids",
        &prompt,
        "--chunk",
        "0",
        "--out",
        dir.path().join("x.safetensors").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--chunk"));
}
