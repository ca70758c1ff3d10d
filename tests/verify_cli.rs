//! `zaya-graph verify` end to end: exit codes, text and JSON reports.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tiny(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zaya-tiny-a")
        .join(which)
}

fn verify(dir: &Path, json: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zaya-graph"));
    cmd.arg("verify").arg(dir);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

fn json_report(dir: &Path) -> (i32, serde_json::Value) {
    let out = verify(dir, true);
    let report = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    (out.status.code().unwrap(), report)
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    tmp
}

#[test]
fn affine_fixture_is_usable() {
    let out = verify(&tiny("bundle_affine"), false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("USABLE") && stdout.contains("201 found, 201 expected"),
        "{stdout}"
    );
    assert!(stdout.contains("[WARN] tokenizer"), "{stdout}");
    assert!(out.stderr.is_empty());
}

#[test]
fn json_reports_counts_and_kinds() {
    let (code, r) = json_report(&tiny("bundle_affine"));
    assert_eq!(code, 0);
    assert_eq!(r["usable"], true);
    assert_eq!(r["tensors"]["found"], 201);
    assert_eq!(r["bytes_by_kind"]["affine4"]["tensors"], 96);
    assert_eq!(r["bytes_by_kind"]["affine8"]["tensors"], 3);
    assert_eq!(r["skip_route"].as_array().unwrap().len(), 4);

    let (code, r) = json_report(&tiny("bundle_mxfp4"));
    assert_eq!(code, 0);
    assert_eq!(
        (
            r["tensors"]["found"].as_u64(),
            r["tensors"]["expected"].as_u64()
        ),
        (Some(169), Some(169))
    );
    assert_eq!(r["bytes_by_kind"]["mxfp4"]["tensors"], 64);
    assert_eq!(r["tensors"]["local_experts"], 0);
}

#[test]
fn unquantized_source_is_usable_with_warning() {
    let (code, r) = json_report(&tiny("source"));
    assert_eq!(code, 0);
    assert_eq!(r["tensors"]["found"], 155);
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("unquantized"))
    );
}

#[test]
fn tokenizer_files_are_found() {
    let dir = copy_dir(&tiny("bundle_affine"));
    let chat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat");
    std::fs::copy(
        chat.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"chat_template": "{{ messages }}"}"#,
    )
    .unwrap();
    let (code, r) = json_report(dir.path());
    assert_eq!(code, 0);
    assert_eq!(
        r["tokenizer"]["chat_template"],
        "tokenizer_config.json#chat_template"
    );
    let tok = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "tokenizer")
        .unwrap();
    assert_eq!(tok["status"], "ok");
}

/// Rewrites a shard's JSON header in place (data untouched).
fn edit_header(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut json = serde_json::to_vec(&header).unwrap();
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn wrong_shape_fails_with_one_line_cause() {
    let dir = copy_dir(&tiny("bundle_affine"));
    let name = "model.layers.4.self_attn.qkv.linear_k.weight";
    edit_header(&dir.path().join("model-00001-of-00001.safetensors"), |h| {
        h[name]["shape"] = serde_json::json!([32, 32])
    });
    let out = verify(dir.path(), false);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(name) && stderr.contains("[64, 16]"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("NOT USABLE") && stdout.contains("[FAIL] shapes and dtypes"),
        "{stdout}"
    );

    let (code, r) = json_report(dir.path());
    assert_eq!(code, 1);
    assert_eq!(r["usable"], false);
    assert_eq!(r["tensors"]["wrong_shape_or_dtype"], 1);
}

#[test]
fn truncated_shard_fails() {
    let dir = copy_dir(&tiny("bundle_mxfp4"));
    let shard = dir.path().join("model-00001-of-00001.safetensors");
    let len = std::fs::metadata(&shard).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (code, r) = json_report(dir.path());
    assert_eq!(code, 1);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("model-00001-of-00001.safetensors")
    );
}

#[test]
fn not_a_bundle_fails() {
    for path in [
        tiny("bundle_affine").join("config.json"),
        PathBuf::from("/nonexistent/bundle"),
    ] {
        let out = verify(&path, false);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not a bundle"), "{stderr}");
    }
    let empty = tempfile::tempdir().unwrap();
    let out = verify(empty.path(), true);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no config.json"));
}
