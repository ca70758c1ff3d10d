//! File tests (cranelift's `filetests` style): each `tests/filetests/*.zir` holds its input
//! as IR text (or `; model: DIR`, a fixture config built by the model's builder), the passes
//! to run (`; passes: a,b` run in that order, or `; strategy: all`), and check lines the
//! optimized graph's text must match in order:
//!
//! - `; check: TEXT`: a later line contains TEXT;
//! - `; nextln: TEXT`: the line right after the previous match contains TEXT.
//!
//! In TEXT, `%name` (a letter first) stands for any value number and binds it: the same name
//! must be the same value everywhere, so checks survive renumbering. `%3` is literal.
//! A failure prints the checks against the lines they matched, and the closest line for the
//! one that failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use zaya_model::Config;
use zaya_model::graph::{GraphOptions, build_decode_graph};
use zaya_opt::Strategy;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Check,
    Next,
}

struct Directive {
    kind: Kind,
    text: String,
    line: usize,
}

#[derive(Debug, PartialEq)]
enum Piece {
    Lit(String),
    Var(String),
}

fn pieces(pattern: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' && chars.peek().is_some_and(|n| n.is_ascii_alphabetic()) {
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' {
                    name.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Piece::Lit(std::mem::take(&mut lit)));
            out.push(Piece::Var(name));
        } else {
            lit.push(c);
        }
    }
    out.push(Piece::Lit(lit));
    out
}

/// Whether `line` contains `pattern`; new bindings are added to `vars` on success.
fn matches(line: &str, pattern: &[Piece], vars: &mut HashMap<String, String>) -> bool {
    fn at(s: &str, ps: &[Piece], vars: &mut HashMap<String, String>) -> bool {
        let Some((first, rest)) = ps.split_first() else {
            return true;
        };
        match first {
            Piece::Lit(l) => s.starts_with(l.as_str()) && at(&s[l.len()..], rest, vars),
            Piece::Var(name) => {
                let Some(digits) = s.strip_prefix('%') else {
                    return false;
                };
                let n = digits
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(digits.len());
                if n == 0 {
                    return false;
                }
                let value = &s[..n + 1];
                match vars.get(name) {
                    Some(bound) => bound == value && at(&s[n + 1..], rest, vars),
                    None => {
                        let mut trial = vars.clone();
                        trial.insert(name.clone(), value.to_string());
                        if at(&s[n + 1..], rest, &mut trial) {
                            *vars = trial;
                            true
                        } else {
                            false
                        }
                    }
                }
            }
        }
    }
    line.char_indices()
        .map(|(i, _)| i)
        .chain([line.len()])
        .any(|i| at(&line[i..], pattern, vars))
}

/// The pattern with known bindings filled in (for the failure report).
fn shown(pattern: &str, vars: &HashMap<String, String>) -> String {
    pieces(pattern)
        .iter()
        .map(|p| match p {
            Piece::Lit(l) => l.clone(),
            Piece::Var(v) => vars.get(v).cloned().unwrap_or_else(|| format!("%{v}")),
        })
        .collect()
}

/// Runs the checks over `output`; on failure, the readable report.
fn run_checks(output: &str, checks: &[Directive]) -> Result<(), String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut vars = HashMap::new();
    let mut next = 0usize; // first line a `check:` may match
    let mut report = String::new();
    for (n, d) in checks.iter().enumerate() {
        let pat = pieces(&d.text);
        let found = match d.kind {
            Kind::Check => (next..lines.len()).find(|&i| matches(lines[i], &pat, &mut vars)),
            Kind::Next => (n > 0 && next < lines.len() && matches(lines[next], &pat, &mut vars))
                .then_some(next),
        };
        let tag = if d.kind == Kind::Check {
            "check"
        } else {
            "nextln"
        };
        match found {
            Some(i) => {
                report += &format!("  {:>4} | {}\n", i + 1, lines[i]);
                next = i + 1;
            }
            None => {
                let want = shown(&d.text, &vars);
                let range = match d.kind {
                    Kind::Check => next..lines.len(),
                    Kind::Next => next..(next + 1).min(lines.len()),
                };
                let closest = range.max_by(|&a, &b| {
                    let r = |i: usize| {
                        similar::TextDiff::from_chars(want.trim(), lines[i].trim()).ratio()
                    };
                    r(a).total_cmp(&r(b))
                });
                report += &format!("- {tag} (line {}): {want}\n", d.line);
                match closest {
                    Some(i) => {
                        report +=
                            &format!("+ {:>4} | {}   <- closest output line\n", i + 1, lines[i])
                    }
                    None => report += "+ (no output lines left)\n",
                }
                return Err(format!(
                    "checks against the output (matched lines, then the failing check):\n{report}\n--- output ---\n{}",
                    lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("{:>4} | {l}\n", i + 1))
                        .collect::<String>()
                ));
            }
        }
    }
    Ok(())
}

fn run_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut checks = Vec::new();
    let (mut passes, mut model) = (None, None);
    for (i, line) in text.lines().enumerate() {
        let Some(c) = line.trim_start().strip_prefix(';') else {
            continue;
        };
        let c = c.trim_start();
        let directive = |key: &str| c.strip_prefix(key).map(|t| t.trim().to_string());
        if let Some(t) = directive("check:") {
            checks.push(Directive {
                kind: Kind::Check,
                text: t,
                line: i + 1,
            });
        } else if let Some(t) = directive("nextln:") {
            checks.push(Directive {
                kind: Kind::Next,
                text: t,
                line: i + 1,
            });
        } else if let Some(t) = directive("passes:") {
            passes = Some((true, t));
        } else if let Some(t) = directive("strategy:") {
            passes = Some((false, t));
        } else if let Some(t) = directive("model:") {
            model = Some(t);
        }
    }
    let strategy = passes.ok_or("no `; passes:` or `; strategy:` line")?;
    if checks.is_empty() {
        return Err("no check lines".into());
    }
    let input = match model {
        Some(dir) => {
            let cfg = Config::from_dir(&path.parent().unwrap_or(Path::new(".")).join(dir))
                .map_err(|e| e.to_string())?;
            build_decode_graph(&cfg, GraphOptions::default()).map_err(|e| e.to_string())?
        }
        None => zaya_ir::parse(&text).map_err(|e| format!("input: {e}"))?,
    };
    // Scope fusions are the input graph's own declarations (`fusion` lines, or the model's).
    let strategy = match strategy {
        (true, list) => Strategy::from_passes(&list, &input.fusions),
        (false, spec) => Strategy::parse(&spec, &input.fusions),
    }
    .map_err(|e| e.to_string())?;
    let (out, _) = strategy.apply(&input).map_err(|e| e.to_string())?;
    run_checks(&out.to_string(), &checks)
}

#[test]
fn filetests() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/filetests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "zir"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected a file test per pass in {}",
        dir.display()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            run_file(f)
                .err()
                .map(|e| format!("=== {}\n{e}", f.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} file test(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn checks_bind_values_and_report_the_closest_line() {
    let out = "graph g {\n  %1: f32[4] = exp %0\n  %2: f32[4] = neg %1\n}\n";
    let d = |kind, t: &str| Directive {
        kind,
        text: t.into(),
        line: 1,
    };
    run_checks(
        out,
        &[d(Kind::Check, "%a: f32[4] = exp"), d(Kind::Next, "neg %a")],
    )
    .unwrap();
    // `%a` is bound to %1, so `neg %a` cannot match `neg %0`-style lines: %a != %2.
    let err = run_checks(
        out,
        &[
            d(Kind::Check, "%a: f32[4] = exp"),
            d(Kind::Next, "neg %b, %a"),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("- nextln (line 1): neg %b, %1") && err.contains("<- closest"),
        "{err}"
    );
    let err = run_checks(out, &[d(Kind::Check, "= neg"), d(Kind::Check, "= exp")]).unwrap_err();
    assert!(err.contains("- check (line 1): = exp"), "{err}");
}
