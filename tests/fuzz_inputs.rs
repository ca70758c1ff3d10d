//! Fuzzing every file a user hands the engine, on the stable toolchain: proptest mutates the
//! real fixture files (bytes, and JSON structure with boundary values) and each parser must
//! return (an error or a value) without panicking, within a time limit.
//!
//! Targets: the safetensors header parser, `model.safetensors.index.json`, `config.json`
//! (legacy fields in a real bundle, HF fields in an HF-named checkpoint; each mutated config
//! is also opened against the real files), `jang_config.json`, `tokenizer.json`, the chat
//! template. A watchdog aborts the run, naming the target, if one case runs 10 s.
//!
//! Short run (part of the suite): `FUZZ_CASES` cases per target, 200 by default.
//! Long run (>= 100k cases per target):
//!     cargo test --release --test fuzz_inputs -- --ignored --nocapture
//! (`FUZZ_CASES=N` overrides the 100k.)
mod common;
#[path = "../crates/model/tests/common/hf_twin.rs"]
mod hf_twin;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use zaya_chat::{ChatTemplate, Message, RenderOptions, Tokenizer};
use zaya_model::{Bundle, Config, parse_index, parse_safetensors_header, verify};

const HANG_LIMIT: Duration = Duration::from_secs(10);

/// One mutation: what to do, where, with which value.
type Op = (u8, u64, u64);

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec((any::<u8>(), any::<u64>(), any::<u64>()), 1..6)
}

/// Values at the edges of every parser's assumptions.
fn interesting(v: u64) -> Value {
    let big = serde_json::Number::from_f64(1e308).map(Value::Number);
    match v % 22 {
        0 => 0.into(),
        1 => 1.into(),
        2 => (-1).into(),
        3 => 3.into(),
        4 => (1u64 << 31).into(),
        5 => (1u64 << 32).into(),
        6 => 1_099_511_627_776u64.into(),
        7 => (1u64 << 63).into(),
        8 => u64::MAX.into(),
        9 => big.unwrap_or(Value::Null),
        10 => 0.5.into(),
        11 => (-7.25).into(),
        12 => "".into(),
        13 => "affine".into(),
        14 => Value::Null,
        15 => true.into(),
        16 => false.into(),
        17 => Value::Array(vec![]),
        18 => Value::Object(Default::default()),
        19 => "../../etc/passwd".into(),
        20 => Value::Array(vec![1.into(); 3]),
        _ => (v >> 8).into(),
    }
}

/// Every node of a JSON tree, depth first, as a path of keys/indices.
fn node_paths(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(path.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(k.clone().into());
                node_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(i.into());
                node_paths(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |node, key| match key {
        Value::String(k) => node.get_mut(k.as_str()),
        Value::Number(i) => node.get_mut(i.as_u64()? as usize),
        _ => None,
    })
}

/// Structural mutations of a JSON document: replace a node by a boundary value, delete a key,
/// duplicate a subtree into another place, or nest a node.
fn mutate_json(v: &mut Value, ops: &[Op]) {
    for &(kind, at, val) in ops {
        let mut paths = Vec::new();
        node_paths(v, &mut Vec::new(), &mut paths);
        let path = &paths[(at % paths.len() as u64) as usize];
        match kind % 4 {
            0 | 1 => {
                if let Some(node) = node_mut(v, path) {
                    *node = interesting(val);
                }
            }
            2 => {
                if let Some((Value::String(key), parent)) = path.split_last() {
                    if let Some(Value::Object(m)) = node_mut(v, parent) {
                        m.remove(key);
                    }
                }
            }
            _ => {
                let donor = paths[(val % paths.len() as u64) as usize].clone();
                let copy = node_mut(v, &donor).map(|n| n.clone());
                if let (Some(copy), Some(node)) = (copy, node_mut(v, path)) {
                    *node = Value::Array(vec![copy]);
                }
            }
        }
    }
}

/// Byte mutations: flip, set, insert, delete a range, truncate, duplicate a range. `focus`
/// biases positions into the first bytes (a header) half of the time.
fn mutate_bytes(bytes: &mut Vec<u8>, ops: &[Op], focus: usize) {
    for &(kind, at, val) in ops {
        if bytes.is_empty() {
            bytes.push(val as u8);
            continue;
        }
        let span = if kind & 0x80 != 0 {
            focus.clamp(1, bytes.len())
        } else {
            bytes.len()
        };
        let i = (at % span as u64) as usize;
        let n = 1 + (val as usize >> 8) % 64;
        match kind % 6 {
            0 => bytes[i] ^= 1 << (val % 8),
            1 => bytes[i] = val as u8,
            2 => bytes
                .splice(i..i, std::iter::repeat_n(val as u8, n))
                .for_each(drop),
            3 => drop(bytes.drain(i..(i + n).min(bytes.len()))),
            4 => bytes.truncate(i),
            _ => {
                let chunk: Vec<u8> = bytes[i..(i + n).min(bytes.len())].to_vec();
                bytes.splice(i..i, chunk).for_each(drop);
            }
        }
    }
}

/// JSON text mutated structurally (even op lists) or as bytes (odd ones), or both.
fn mutate_text(base: &str, ops: &[Op]) -> Vec<u8> {
    let mode = ops.first().map_or(0, |o| o.0 >> 5) % 3;
    let mut bytes = if mode == 1 {
        base.as_bytes().to_vec()
    } else {
        let mut v: Value = serde_json::from_str(base).expect("fixture JSON");
        mutate_json(&mut v, ops);
        serde_json::to_string_pretty(&v).unwrap().into_bytes()
    };
    if mode != 0 {
        mutate_bytes(&mut bytes, ops, 4096);
    }
    bytes
}

/// The time the current case started (ms since the run began) and its target, for the
/// watchdog.
static CASE_STARTED_MS: AtomicU64 = AtomicU64::new(u64::MAX);
static CURRENT: Mutex<&str> = Mutex::new("");

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn start_watchdog() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        epoch();
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                let started = CASE_STARTED_MS.load(Ordering::Relaxed);
                let now = epoch().elapsed().as_millis() as u64;
                if started != u64::MAX
                    && now.saturating_sub(started) > HANG_LIMIT.as_millis() as u64
                {
                    let target = *CURRENT.lock().unwrap_or_else(|e| e.into_inner());
                    eprintln!("fuzz: a `{target}` case ran over {HANG_LIMIT:?}: hang");
                    std::process::abort();
                }
            }
        });
    });
}

/// Runs `cases` mutated inputs through `check`; returns (cases, slowest case).
fn fuzz(
    target: &'static str,
    cases: u32,
    check: impl Fn(&[Op]) -> Result<(), TestCaseError>,
) -> (u32, Duration) {
    start_watchdog();
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = target;
    let config = RunnerConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..RunnerConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let slowest = Mutex::new(Duration::ZERO);
    let count = AtomicU64::new(0);
    let result = runner.run(&ops(), |ops| {
        CASE_STARTED_MS.store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
        let t = Instant::now();
        let r = check(&ops);
        let took = t.elapsed();
        CASE_STARTED_MS.store(u64::MAX, Ordering::Relaxed);
        count.fetch_add(1, Ordering::Relaxed);
        let mut s = slowest.lock().unwrap();
        *s = (*s).max(took);
        r
    });
    if let Err(e) = result {
        panic!("fuzz `{target}`: {e}");
    }
    let slowest = *slowest.lock().unwrap();
    eprintln!(
        "fuzz {target:<22} {:>7} cases, 0 panics, 0 hangs, slowest case {:.1} ms",
        count.load(Ordering::Relaxed),
        slowest.as_secs_f64() * 1e3
    );
    (cases, slowest)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tiny(which: &str) -> PathBuf {
    common::fixtures().join("zaya-tiny-a").join(which)
}

/// A bundle directory whose config.json is rewritten per case (shards copied once).
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn copy_of(src: &Path) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
        Scratch { dir }
    }

    /// Writes `file`, opens the bundle and verifies it: errors are fine, panics are not,
    /// and an error is one line.
    fn open_with(&self, file: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
        std::fs::write(self.dir.path().join(file), bytes).unwrap();
        if let Err(e) = Bundle::open(self.dir.path()) {
            let msg = e.to_string();
            prop_assert!(!msg.contains('\n'), "multi-line error: {msg}");
            let report = verify::verify(self.dir.path());
            prop_assert!(!report.usable, "verify accepted what open refused: {msg}");
        }
        Ok(())
    }
}

fn run_all(cases: u32) {
    // safetensors: structural mutations of the header JSON (re-framed with a correct
    // length), then byte mutations focused on the header.
    let shard =
        std::fs::read(tiny("bundle_affine").join("model-00001-of-00001.safetensors")).unwrap();
    let n = u64::from_le_bytes(shard[..8].try_into().unwrap()) as usize;
    let header_json = std::str::from_utf8(&shard[8..8 + n])
        .unwrap()
        .trim_end()
        .to_string();
    let file = Path::new("fuzz.safetensors");
    fuzz("safetensors header", cases, |ops| {
        let mut bytes = if ops[0].0 & 1 == 0 {
            let mut v: Value = serde_json::from_str(&header_json).unwrap();
            mutate_json(&mut v, &ops[..1]);
            let json = v.to_string();
            let mut b = (json.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(json.as_bytes());
            b.extend_from_slice(&shard[8 + n..]);
            b
        } else {
            shard.clone()
        };
        mutate_bytes(&mut bytes, &ops[1..], 8 + n);
        if let Ok(entries) = parse_safetensors_header(file, &bytes) {
            for e in entries {
                prop_assert!(e.start <= e.end && e.end <= bytes.len(), "{e:?}");
            }
        }
        Ok(())
    });

    let index = read(&tiny("bundle_affine").join("model.safetensors.index.json"));
    fuzz("index", cases, |ops| {
        let bytes = mutate_text(&index, ops);
        if let Ok(map) = parse_index(Path::new("index.json"), &String::from_utf8_lossy(&bytes)) {
            prop_assert!(map.values().all(|s| !s.contains('/') && s != ".."));
        }
        Ok(())
    });

    let legacy = read(&tiny("bundle_affine").join("config.json"));
    let bundle = Scratch::copy_of(&tiny("bundle_affine"));
    fuzz("config.json (legacy)", cases, |ops| {
        let bytes = mutate_text(&legacy, ops);
        let _ = Config::from_json_str(&String::from_utf8_lossy(&bytes), Path::new("c.json"));
        bundle.open_with("config.json", &bytes)
    });

    let twin = tempfile::tempdir().unwrap();
    hf_twin::write_hf_twin(&tiny("source"), twin.path(), hf_twin::TwinDtype::Same, 1);
    let hf = read(&twin.path().join("config.json"));
    let hf_bundle = Scratch::copy_of(twin.path());
    fuzz("config.json (HF)", cases, |ops| {
        let bytes = mutate_text(&hf, ops);
        hf_bundle.open_with("config.json", &bytes)
    });

    let jang = read(&tiny("bundle_mxfp4").join("jang_config.json"));
    let base = Config::from_json_str(
        &read(&tiny("bundle_mxfp4").join("config.json")),
        Path::new("c"),
    )
    .unwrap();
    fuzz("jang_config.json", cases, |ops| {
        let bytes = mutate_text(&jang, ops);
        let mut c = base.clone();
        let _ = c.merge_jang_json(
            &String::from_utf8_lossy(&bytes),
            Path::new("jang_config.json"),
        );
        Ok(())
    });

    let chat = common::fixtures().join("chat");
    let tokenizer = read(&chat.join("tokenizer.json"));
    fuzz("tokenizer.json", cases, |ops| {
        let bytes = mutate_text(&tokenizer, ops);
        if let Ok(t) = Tokenizer::from_json(&String::from_utf8_lossy(&bytes)) {
            if let Ok(ids) = t.encode("<|im_start|>user\nHello, wörld 🙂<|im_end|>") {
                let _ = t.decode(&ids);
            }
        }
        Ok(())
    });

    let template = read(&chat.join("chat_template.reconstructed.jinja"));
    let messages = [
        Message::system("be brief"),
        Message::user("Hi <b>"),
        Message::assistant("Hello."),
        Message::user("And?"),
    ];
    fuzz("chat template", cases, |ops| {
        let mut bytes = template.clone().into_bytes();
        let len = bytes.len();
        mutate_bytes(&mut bytes, ops, len);
        if let Ok(t) = ChatTemplate::from_source("fuzz", &String::from_utf8_lossy(&bytes)) {
            let options = RenderOptions {
                add_generation_prompt: true,
                enable_thinking: Some(ops[0].1 % 2 == 0),
                ..RenderOptions::default()
            };
            let _ = t.render(&messages, &options);
        }
        Ok(())
    });
}

fn cases_from_env(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_inputs_neither_panic_nor_hang() {
    run_all(cases_from_env(200));
}

#[test]
#[ignore = "long run (minutes): cargo test --release --test fuzz_inputs -- --ignored --nocapture"]
fn long_fuzz_run() {
    run_all(cases_from_env(100_000));
}
