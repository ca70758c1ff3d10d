//! `zaya-graph verify`: is this directory a complete, usable bundle?
//!
//! Reads the config and the safetensors headers only (memory-mapped, no tensor data) plus
//! the tiny `balancing_biases`, so it takes well under a second on the 5.45 GiB bundle.
//! A missing tokenizer or chat template is a *warning*: the weights are fine and usable for
//! graph work, but `chat` will need them, so the report says so and the exit code stays 0.
use crate::config::Config;
use crate::error::ModelError;
use crate::hf_names::{self, Naming};
use crate::names::{self, Kind, StoredTensor};
use crate::scan::Scan;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the verification list.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct KindBytes {
    pub tensors: usize,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    pub name: String,
    pub file_bytes: u64,
    pub header_bytes: usize,
    pub tensors: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TensorCounts {
    pub found: usize,
    pub expected: usize,
    pub missing: usize,
    pub unexpected: usize,
    pub wrong_shape_or_dtype: usize,
    pub local_experts: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenizerReport {
    pub tokenizer_json: bool,
    pub tokenizer_config_json: bool,
    /// `chat_template.jinja`, `tokenizer_config.json#chat_template`, or none.
    pub chat_template: Option<String>,
}

/// Whether the skip (MoD) route can ever win in one MoE layer (spec §4): only if
/// `max_e b_e - b_skip < 1`.
#[derive(Clone, Debug, Serialize)]
pub struct SkipRoute {
    pub layer: usize,
    pub max_expert_bias: f32,
    pub skip_bias: f32,
    pub margin: f32,
    pub reachable: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub dir: PathBuf,
    /// True when `Bundle::open` will accept the directory.
    pub usable: bool,
    /// One-line cause when not usable.
    pub error: Option<String>,
    pub checks: Vec<Check>,
    /// Every tensor-level problem (the first is `error`).
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    pub config: Option<Config>,
    pub weight_format: Option<String>,
    /// Tensor naming of the files: original (and MLX bundle) or HF transformers.
    pub naming: Option<Naming>,
    pub files: Vec<FileReport>,
    pub tensors: TensorCounts,
    pub bytes_by_kind: BTreeMap<String, KindBytes>,
    pub total_tensor_bytes: u64,
    pub tokenizer: TokenizerReport,
    pub skip_route: Vec<SkipRoute>,
    pub elapsed_ms: f64,
}

/// Builds the report; never fails (failures are what it reports).
/// Whether the skip route (index `experts`) of one MoE layer can win the biased top-1 choice
/// (spec §4): probabilities are in [0, 1], so skip can win only if
/// `max_e b_e - b_skip < 1`. NaN biases count as reachable (the unsafe side).
pub fn skip_route(layer: usize, balancing_biases: &[f32], experts: usize) -> SkipRoute {
    let skip_bias = balancing_biases.get(experts).copied().unwrap_or(f32::NAN);
    let max_expert_bias = balancing_biases[..experts.min(balancing_biases.len())]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let margin = max_expert_bias - skip_bias;
    SkipRoute {
        layer,
        max_expert_bias,
        skip_bias,
        margin,
        reachable: margin.is_nan() || margin < 1.0,
    }
}

/// The skip route of every MoE layer of an opened bundle (reads only the small bias vectors).
pub fn skip_routes(bundle: &crate::Bundle) -> Result<Vec<SkipRoute>, crate::ModelError> {
    let config = &bundle.config;
    (1..config.num_layers)
        .step_by(2)
        .map(|layer| {
            let b = bundle.vector_f32(&names::balancing_biases(layer))?;
            Ok(skip_route(layer, &b, config.num_experts))
        })
        .collect()
}

pub fn verify(dir: &Path) -> Report {
    let started = Instant::now();
    let mut report = Report::empty(dir);
    match Scan::read(dir) {
        Ok(scan) => report.fill(&scan),
        Err(err) => report.fail("bundle files", &err),
    }
    report.check_tokenizer(dir);
    report.usable = report.error.is_none();
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    report
}

impl Report {
    fn empty(dir: &Path) -> Report {
        Report {
            dir: dir.to_path_buf(),
            usable: false,
            error: None,
            checks: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
            config: None,
            weight_format: None,
            naming: None,
            files: Vec::new(),
            tensors: TensorCounts::default(),
            bytes_by_kind: BTreeMap::new(),
            total_tensor_bytes: 0,
            tokenizer: TokenizerReport::default(),
            skip_route: Vec::new(),
            elapsed_ms: 0.0,
        }
    }

    fn check(&mut self, name: &str, status: Status, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            status,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, check: &str, err: &ModelError) {
        self.check(check, Status::Fail, err.to_string());
        self.error.get_or_insert_with(|| err.to_string());
    }

    fn fill(&mut self, scan: &Scan) {
        let config = &scan.config;
        self.check("config", Status::Ok, describe_config(config));
        self.weight_format = Some(describe_format(config, scan.naming));
        self.naming = Some(scan.naming);
        self.config = Some(config.clone());
        self.files = scan
            .shards
            .iter()
            .map(|s| FileReport {
                name: s
                    .path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                file_bytes: s.map.len() as u64,
                header_bytes: s.header_bytes,
                tensors: s.tensor_count,
            })
            .collect();
        let headers = self.files.iter().map(|f| f.header_bytes).sum::<usize>();
        let detail = format!(
            "{} file(s), {} tensors, {headers} header bytes",
            self.files.len(),
            scan.tensors.len()
        );
        self.check("safetensors headers", Status::Ok, detail);

        let expected = scan.expected();
        let problems = scan.problems(&expected);
        self.count_tensors(scan, &expected, &problems);
        self.check_tensor_set(config, &problems);
        self.tally_bytes(scan, &expected);
        self.skip_routes(scan);
        self.problems = problems.iter().map(ToString::to_string).collect();
        if let Some(first) = problems.first() {
            self.error.get_or_insert_with(|| first.to_string());
        }
    }

    fn count_tensors(&mut self, scan: &Scan, expected: &[StoredTensor], problems: &[ModelError]) {
        let count = |f: fn(&ModelError) -> bool| problems.iter().filter(|p| f(p)).count();
        self.tensors = TensorCounts {
            found: scan.tensors.len(),
            expected: expected.len(),
            missing: count(|p| matches!(p, ModelError::MissingTensor { .. })),
            unexpected: count(|p| matches!(p, ModelError::UnexpectedTensor { .. })),
            wrong_shape_or_dtype: count(|p| {
                matches!(
                    p,
                    ModelError::WrongShape { .. } | ModelError::WrongDtype { .. }
                )
            }),
            local_experts: scan
                .tensors
                .keys()
                .filter(|n| n.contains(names::LOCAL_EXPERTS))
                .count(),
        };
    }

    fn check_tensor_set(&mut self, config: &Config, problems: &[ModelError]) {
        let t = self.tensors.clone();
        let first =
            |f: fn(&ModelError) -> bool| problems.iter().find(|p| f(p)).map(|p| format!(": {p}"));
        let set_ok = t.missing == 0 && t.unexpected == 0;
        let detail = format!(
            "{} found, {} expected; {} missing, {} unexpected{}",
            t.found,
            t.expected,
            t.missing,
            t.unexpected,
            first(|p| matches!(
                p,
                ModelError::MissingTensor { .. } | ModelError::UnexpectedTensor { .. }
            ))
            .unwrap_or_default()
        );
        self.check(
            "tensor set",
            if set_ok { Status::Ok } else { Status::Fail },
            detail,
        );

        if config.quantization.is_some() {
            let (status, detail) = match t.local_experts {
                0 => (
                    Status::Ok,
                    format!(
                        "none; experts stacked as switch_mlp [E={}, out, in]",
                        config.num_experts
                    ),
                ),
                n => (
                    Status::Fail,
                    format!("{n} unstacked local_experts tensors: not a converted bundle"),
                ),
            };
            self.check("no local_experts", status, detail);
        } else {
            let detail = "unquantized checkpoint: experts stored as local_experts, stacked at load";
            self.check("expert layout", Status::Ok, detail);
            self.warnings.push(
                "unquantized checkpoint (no `quantization` in config.json), not a converted bundle"
                    .into(),
            );
        }
        let wrong = t.wrong_shape_or_dtype;
        let detail = match first(|p| {
            matches!(
                p,
                ModelError::WrongShape { .. } | ModelError::WrongDtype { .. }
            )
        }) {
            Some(example) => format!("{wrong} tensor(s) wrong{example}"),
            None => "all match the config and quantization".to_string(),
        };
        self.check(
            "shapes and dtypes",
            if wrong == 0 { Status::Ok } else { Status::Fail },
            detail,
        );
    }

    fn tally_bytes(&mut self, scan: &Scan, expected: &[StoredTensor]) {
        let kinds: HashMap<&str, Kind> =
            expected.iter().map(|s| (s.name.as_str(), s.kind)).collect();
        for (name, t) in &scan.tensors {
            let label = kinds.get(name.as_str()).map_or("unexpected", |k| k.label());
            let entry = self.bytes_by_kind.entry(label.to_string()).or_default();
            entry.tensors += 1;
            entry.bytes += (t.end - t.start) as u64;
            self.total_tensor_bytes += (t.end - t.start) as u64;
        }
    }

    fn skip_routes(&mut self, scan: &Scan) {
        let config = &scan.config;
        for layer in (1..config.num_layers).step_by(2) {
            let mut name = names::balancing_biases(layer);
            if scan.naming == Naming::Hf {
                name = hf_names::to_hf(&name, config.num_layers).unwrap_or(name);
            }
            let Ok(b) = scan.read_f32(&name) else {
                continue;
            };
            if b.len() != config.num_experts + 1 {
                continue; // reported as a shape problem
            }
            let route = skip_route(layer, &b, config.num_experts);
            self.skip_route.push(route);
        }
        let reachable: Vec<usize> = self
            .skip_route
            .iter()
            .filter(|s| s.reachable)
            .map(|s| s.layer)
            .collect();
        let detail = match reachable.len() {
            0 => format!(
                "unreachable in all {} MoE layers: zero and passthrough skip modes agree",
                self.skip_route.len()
            ),
            n => format!(
                "reachable in {n} of {} MoE layers {reachable:?}: `zero` and `passthrough` skip modes can differ",
                self.skip_route.len()
            ),
        };
        self.check("skip route", Status::Ok, detail);
    }

    fn check_tokenizer(&mut self, dir: &Path) {
        let t = &mut self.tokenizer;
        t.tokenizer_json = dir.join("tokenizer.json").is_file();
        let config_path = dir.join("tokenizer_config.json");
        t.tokenizer_config_json = config_path.is_file();
        if dir.join("chat_template.jinja").is_file() {
            t.chat_template = Some("chat_template.jinja".into());
        } else if template_in_tokenizer_config(&config_path) {
            t.chat_template = Some("tokenizer_config.json#chat_template".into());
        }
        let mut missing = Vec::new();
        if !t.tokenizer_json {
            missing.push("tokenizer.json");
        }
        if !t.tokenizer_config_json {
            missing.push("tokenizer_config.json");
        }
        if t.chat_template.is_none() {
            missing
                .push("chat template (chat_template.jinja or tokenizer_config.json#chat_template)");
        }
        if missing.is_empty() {
            let detail = format!(
                "tokenizer.json, tokenizer_config.json, {}",
                t.chat_template.as_deref().unwrap_or("")
            );
            self.check("tokenizer", Status::Ok, detail);
        } else {
            let detail = format!(
                "missing {}: weights usable, but chat needs them",
                missing.join(", ")
            );
            self.warnings.push(format!("tokenizer: {detail}"));
            self.check("tokenizer", Status::Warn, detail);
        }
    }

    /// The human-readable report.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let verdict = if self.usable { "USABLE" } else { "NOT USABLE" };
        let _ = writeln!(s, "bundle {}: {verdict}", self.dir.display());
        if let Some(f) = &self.weight_format {
            let _ = writeln!(s, "  format: {f}");
        }
        for c in &self.checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            let _ = writeln!(s, "  [{mark}] {}: {}", c.name, c.detail);
        }
        self.render_files(&mut s);
        self.render_skip(&mut s);
        self.render_problems(&mut s);
        let _ = writeln!(s, "  ({:.1} ms)", self.elapsed_ms);
        s
    }

    fn render_files(&self, s: &mut String) {
        if !self.files.is_empty() {
            let _ = writeln!(s, "  files:");
            for f in &self.files {
                let _ = writeln!(
                    s,
                    "    {} ({} bytes, {} tensors)",
                    f.name, f.file_bytes, f.tensors
                );
            }
        }
        if !self.bytes_by_kind.is_empty() {
            let _ = writeln!(s, "  tensor bytes by kind:");
            for (kind, k) in &self.bytes_by_kind {
                let _ = writeln!(
                    s,
                    "    {kind:<12} {:>5} tensors {:>15} bytes",
                    k.tensors, k.bytes
                );
            }
            let gib = self.total_tensor_bytes as f64 / (1u64 << 30) as f64;
            let _ = writeln!(
                s,
                "    {:<12} {:>5} tensors {:>15} bytes ({gib:.2} GiB)",
                "total", self.tensors.found, self.total_tensor_bytes
            );
        }
    }

    fn render_skip(&self, s: &mut String) {
        if self.skip_route.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "  skip route per MoE layer (reachable iff max_e b_e - b_skip < 1):"
        );
        for r in &self.skip_route {
            let word = if r.reachable {
                "reachable"
            } else {
                "unreachable"
            };
            let _ = writeln!(
                s,
                "    layer {:>3}: margin {:>8.4} -> {word}",
                r.layer, r.margin
            );
        }
    }

    fn render_problems(&self, s: &mut String) {
        const SHOWN: usize = 20;
        let shown_as_check = |w: &str| {
            self.checks
                .iter()
                .any(|c| c.status == Status::Warn && w.contains(&c.detail))
        };
        for w in self.warnings.iter().filter(|w| !shown_as_check(w)) {
            let _ = writeln!(s, "  warning: {w}");
        }
        if self.problems.is_empty() {
            if let Some(e) = &self.error {
                let _ = writeln!(s, "  error: {e}");
            }
            return;
        }
        let _ = writeln!(s, "  problems ({}):", self.problems.len());
        for p in self.problems.iter().take(SHOWN) {
            let _ = writeln!(s, "    {p}");
        }
        if self.problems.len() > SHOWN {
            let _ = writeln!(
                s,
                "    ... and {} more (see --json)",
                self.problems.len() - SHOWN
            );
        }
    }
}

fn template_in_tokenizer_config(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    value.get("chat_template").is_some_and(|t| !t.is_null())
}

fn describe_config(c: &Config) -> String {
    format!(
        "L={} H={} heads {}q/{}kv hd {} experts E={} I={} router D={} vocab {}",
        c.num_layers,
        c.hidden_size,
        c.num_q_heads,
        c.num_kv_heads,
        c.head_dim,
        c.num_experts,
        c.expert_intermediate,
        c.router_hidden,
        c.vocab_size
    )
}

fn describe_format(c: &Config, naming: Naming) -> String {
    let Some(q) = &c.quantization else {
        return match naming {
            Naming::Original => "unquantized (float) checkpoint, original naming".into(),
            Naming::Hf => "unquantized (float) checkpoint, HF transformers naming".into(),
        };
    };
    let d = q.default;
    let mut s = format!("{:?} {}-bit group {}", d.mode, d.bits, d.group_size).to_lowercase();
    let embed = q.overrides.get(names::EMBED).copied().flatten().or(q.embed);
    if let Some(e) = embed {
        let _ = write!(
            s,
            "; embedding {} {}-bit group {}",
            format!("{:?}", e.mode).to_lowercase(),
            e.bits,
            e.group_size
        );
    }
    s
}
