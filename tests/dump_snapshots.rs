//! What the GPU runs, pinned as text: `dump --stage lowering` (kernels, dispatches,
//! workgroups, bytes read, bindings, refused fusions) and `dump --stage wgsl` (the generated
//! WGSL) of the tiny fixture under every named strategy, checked in under
//! `tests/snapshots/dump/`. A change to a pass, the lowering or a kernel shows up as a diff
//! here; `UPDATE_SNAPSHOTS=1` rewrites the files.

mod common;
use common::*;
use std::path::PathBuf;
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

/// Compares `got` with the snapshot `name`, failing with a unified diff.
fn snapshot(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/dump")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 to write)", path.display()));
    if want != got {
        let diff = similar::TextDiff::from_lines(&want, got);
        panic!(
            "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 to accept):\n{}",
            diff.unified_diff()
                .context_radius(2)
                .header("snapshot", "dump")
        );
    }
}

#[test]
fn lowering_and_wgsl_of_the_tiny_model_under_every_strategy() {
    let model = tiny_a().join("bundle_affine");
    let m = model.to_str().unwrap();
    for &strategy in zaya_graph::engine::STRATEGIES {
        let file = strategy.replace('+', "_");
        let args = ["--model", m, "--strategy", strategy, "--context", "256"];
        let (ok, lowering, err) = dump(&[&args[..], &["--stage", "lowering"]].concat());
        assert!(ok, "{strategy}: {err}");
        assert!(lowering.starts_with("lowering ctx=256: "), "{lowering}");
        assert!(lowering.contains("refused fusions:"), "{lowering}");
        snapshot(&format!("tiny-a.{file}.lowering.txt"), &lowering);
        let (ok, wgsl, err) = dump(&[&args[..], &["--stage", "wgsl"]].concat());
        assert!(ok, "{strategy}: {err}");
        assert!(wgsl.contains("@compute"), "{strategy}");
        snapshot(&format!("tiny-a.{file}.wgsl"), &wgsl);
    }
}

#[test]
fn wgsl_of_one_kernel_and_bad_selections() {
    let model = tiny_a().join("bundle_affine");
    let m = model.to_str().unwrap();
    let (ok, one, err) = dump(&[
        "--model",
        m,
        "--stage",
        "wgsl",
        "--kernel",
        "attention_split",
    ]);
    assert!(ok, "{err}");
    assert_eq!(one.matches("// ==== ").count(), 1, "{one}");
    assert!(one.starts_with("// ==== attention_split\n"), "{one}");
    let (ok, _, err) = dump(&["--model", m, "--stage", "wgsl", "--kernel", "k999"]);
    assert!(!ok && err.contains("--kernel k999"), "{err}");
    let (ok, _, err) = dump(&["--model", m, "--kernel", "k1"]);
    assert!(!ok && err.contains("--kernel"), "{err}");
    let (ok, _, err) = dump(&["--model", m, "--stage", "lowering", "--format", "json"]);
    assert!(!ok && err.contains("--stage lowering"), "{err}");
}
