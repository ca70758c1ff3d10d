//! Presenting a [`BenchReport`]: a markdown table for the terminal and the docs, JSON for
//! tools, and an SVG chart (drawn with `plotters`) for people comparing strategies at a glance.

use super::{BenchReport, Status, StrategyResult};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// `1.23 GB`, `45.6 MB`, `789 KB`, `12 B` (decimal units, like GB/s).
pub fn bytes(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.3} GB", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} MB", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} KB", x / 1e3)
    } else {
        format!("{n} B")
    }
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".into(), f)
}

fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The whole report as markdown: the header facts, the strategy table, failures, kernels and
/// profiles.
pub fn markdown(r: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## zaya-graph bench: {}", r.backend.as_str());
    let _ = writeln!(out);
    let _ = writeln!(out, "- device: {}", r.device);
    let _ = writeln!(
        out,
        "- model: {} (hidden {}, {} layers, vocab {}, {} of tensors)",
        r.model.description,
        r.model.hidden_size,
        r.model.layers,
        r.model.vocab_size,
        bytes(r.model.bundle_bytes)
    );
    if let Some(g) = &r.model.generated {
        let _ = writeln!(
            out,
            "- random model generated in {:.2} s ({})",
            g.seconds,
            bytes(g.bytes)
        );
    }
    let _ = writeln!(
        out,
        "- copy bandwidth: **{:.2} GB/s** ({}, {}, {} × {}; read + written bytes)",
        r.copy.gb_per_s,
        r.copy.method,
        r.copy.timing,
        r.copy.iterations,
        bytes(r.copy.bytes)
    );
    if let Some(b) = r.gpu_weight_bytes {
        let _ = writeln!(
            out,
            "- GPU weights: {} (uploaded once, bound by every strategy)",
            bytes(b)
        );
    }
    let s = &r.settings;
    let _ = writeln!(
        out,
        "- {} timed + {} warm-up decode tokens per strategy, interleaved; prefill {} tokens; checked on {} tokens (|Δlogit| ≤ {:.0e}, same argmax) before timing",
        s.tokens, s.warmup, s.context, s.check_tokens, s.tolerance
    );
    if !r.strategies.is_empty() {
        strategy_table(&mut out, r);
    }
    if let Some(kernels) = &r.kernels {
        let _ = writeln!(out);
        out.push_str(&super::kernels::markdown(kernels, r.copy.gb_per_s));
    }
    let mut notes_shown = std::collections::HashSet::new();
    for st in &r.strategies {
        let Some(p) = &st.profile else { continue };
        if p.kernels.is_empty() {
            // The same reason for every strategy: say it once.
            if notes_shown.insert(p.note.clone()) {
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "### profile ({}): {}.",
                    p.method,
                    p.note.as_deref().unwrap_or("")
                );
            }
            continue;
        }
        profile_table(&mut out, st, p, ProfileOf::DecodeStep);
    }
    for st in &r.strategies {
        if let Some(p) = &st.prefill_profile {
            profile_table(&mut out, st, p, ProfileOf::Prefill);
        }
    }
    out
}

fn strategy_table(out: &mut String, r: &BenchReport) {
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| strategy | check | dispatches/token (plan / recorded) | bytes read/token | ratio to lower bound | peak activations | decode ms/token median [p10, p90] | GPU ms/token | decode tok/s | prefill tok/s | batched prefill tok/s (× decode) | GB/s | % of copy | useful GB/s | useful % of copy |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for st in &r.strategies {
        let _ = writeln!(out, "{}", row(st));
    }
    let problems: Vec<&StrategyResult> = r
        .strategies
        .iter()
        .filter(|s| s.status != Status::Ok)
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out);
        for st in problems {
            let _ = writeln!(
                out,
                "- **{} {}**: {}",
                st.name,
                status_word(st.status),
                // One line per problem, whatever the error's own formatting.
                st.reason
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "GB/s = the plan's modeled bytes read + written per token / median decode time; useful GB/s = the plan's lower bound (weights touched once + KV) / the same time; both as a fraction of the copy bandwidth above."
    );
}

/// What a profile table is of: a decode step folded into plan kernels, or one batched
/// prefill summed per backend kernel label.
#[derive(Clone, Copy, PartialEq)]
enum ProfileOf {
    DecodeStep,
    Prefill,
}

fn profile_table(out: &mut String, st: &StrategyResult, p: &super::Profile, of: ProfileOf) {
    let (title, first_column, count_column) = match of {
        ProfileOf::DecodeStep => ("profile", "plan kernel", "backend kernels"),
        ProfileOf::Prefill => ("batched prefill profile", "backend kernel", "runs"),
    };
    let _ = writeln!(out);
    let _ = writeln!(out, "### {title}: {} ({})", st.name, p.method);
    if let Some(note) = &p.note {
        let _ = writeln!(out);
        let _ = writeln!(out, "{note}.");
    }
    let total: f64 = p.kernels.iter().map(|k| k.seconds).sum();
    let _ = writeln!(out);
    let _ = match of {
        ProfileOf::DecodeStep => writeln!(
            out,
            "median of {} steps, {} ms per step in {} plan kernels",
            p.steps,
            ms(total),
            p.kernels.len()
        ),
        ProfileOf::Prefill => writeln!(
            out,
            "{} ms in {} kernel runs",
            ms(total),
            p.kernels.iter().map(|k| k.backend_kernels).sum::<usize>()
        ),
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| {first_column} | {count_column} | workgroups | ms | share |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    // A decode step has hundreds of plan kernels: the top ones, then the rest in one row.
    let top = match of {
        ProfileOf::DecodeStep => 20,
        ProfileOf::Prefill => usize::MAX,
    };
    for k in p.kernels.iter().take(top) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            k.kernel,
            k.backend_kernels,
            workgroups(k.workgroups),
            ms(k.seconds),
            pct(k.share)
        );
    }
    if p.kernels.len() > top {
        let rest = &p.kernels[top..];
        let _ = writeln!(
            out,
            "| ({} more) | {} | {} | {} | {} |",
            rest.len(),
            rest.iter().map(|k| k.backend_kernels).sum::<usize>(),
            workgroups(
                rest.iter()
                    .try_fold(0, |sum, k| k.workgroups.map(|w| sum + w))
            ),
            ms(rest.iter().map(|k| k.seconds).sum()),
            pct(rest.iter().map(|k| k.share).sum())
        );
    }
}

/// A profile's workgroup count, or `-` where the backend reports none.
fn workgroups(w: Option<u64>) -> String {
    w.map_or_else(|| "-".into(), |w| w.to_string())
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Fail => "FAIL",
        Status::Error => "ERROR",
    }
}

fn row(st: &StrategyResult) -> String {
    let check = match st.status {
        Status::Ok => {
            let worst = st.checks.iter().map(|c| c.max_abs_diff).fold(0.0, f32::max);
            format!("ok ({worst:.1e})")
        }
        other => status_word(other).to_string(),
    };
    let decode = st.decode_wall.as_ref().map_or_else(
        || "-".to_string(),
        |w| format!("{} [{}, {}]", ms(w.median_s), ms(w.p10_s), ms(w.p90_s)),
    );
    format!(
        "| {} | {} | {} / {} | {} | {:.3} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        st.name,
        check,
        st.plan.dispatches,
        st.recorded_dispatches
            .map_or_else(|| "-".into(), |d| d.to_string()),
        bytes(st.plan.bytes_read),
        st.plan.ratio,
        bytes(st.plan.peak_activation_bytes),
        decode,
        opt(st.decode_gpu.as_ref().map(|g| g.median_s), ms),
        opt(st.decode_tokens_per_s, |x| format!("{x:.2}")),
        opt(st.prefill_tokens_per_s, |x| format!("{x:.2}")),
        match (st.batched_prefill_tokens_per_s, st.prefill_over_decode) {
            (Some(p), Some(r)) => format!("{p:.2} ({r:.1}×)"),
            (Some(p), None) => format!("{p:.2}"),
            _ => "-".into(),
        },
        opt(st.effective_gb_per_s, |x| format!("{x:.2}")),
        opt(st.fraction_of_copy, pct),
        opt(st.useful_gb_per_s, |x| format!("{x:.2}")),
        opt(st.useful_fraction_of_copy, pct),
    )
}

/// Draws the comparison: decode and prefill tokens/s per strategy, and the fraction of copy
/// bandwidth (modeled traffic and useful bytes); with kernel results, a third panel of each
/// kernel's fraction of copy bandwidth. Refused strategies are marked FAIL.
pub fn svg(r: &BenchReport, path: &Path) -> anyhow::Result<()> {
    let has_kernels = r.kernels.as_ref().is_some_and(|k| !k.is_empty());
    let height = if has_kernels { 900 } else { 480 };
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    draw(&root, r, has_kernels).map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    root.present()
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(root: &Area<'_>, r: &BenchReport, has_kernels: bool) -> DrawResult {
    root.fill(&WHITE)?;
    let title = format!(
        "zaya-graph bench: {} on {} (copy {:.2} GB/s)",
        r.model.description, r.device, r.copy.gb_per_s
    );
    let root = root.titled(&title, ("sans-serif", 16))?;
    let (top, bottom) = if has_kernels {
        let (a, b) = root.split_vertically(440);
        (a, Some(b))
    } else {
        (root.clone(), None)
    };
    let (left, right) = top.split_horizontally(600);
    let names: Vec<String> = r.strategies.iter().map(|s| s.name.clone()).collect();
    let failed: Vec<bool> = r
        .strategies
        .iter()
        .map(|s| s.status != Status::Ok)
        .collect();
    let decode: Vec<f64> = r
        .strategies
        .iter()
        .map(|s| s.decode_tokens_per_s.unwrap_or(0.0))
        .collect();
    let prefill: Vec<f64> = r
        .strategies
        .iter()
        .map(|s| {
            s.batched_prefill_tokens_per_s
                .or(s.prefill_tokens_per_s)
                .unwrap_or(0.0)
        })
        .collect();
    let batched = r
        .strategies
        .iter()
        .any(|s| s.batched_prefill_tokens_per_s.is_some());
    paired_bars(
        &left,
        "tokens/s (higher is better)",
        &names,
        &failed,
        ("decode", &decode),
        (
            if batched {
                "prefill (batched)"
            } else {
                "prefill"
            },
            &prefill,
        ),
        None,
    )?;
    let eff: Vec<f64> = r
        .strategies
        .iter()
        .map(|s| s.fraction_of_copy.unwrap_or(0.0))
        .collect();
    let useful: Vec<f64> = r
        .strategies
        .iter()
        .map(|s| s.useful_fraction_of_copy.unwrap_or(0.0))
        .collect();
    paired_bars(
        &right,
        "fraction of copy bandwidth (line: copy)",
        &names,
        &failed,
        ("modeled traffic", &eff),
        ("useful bytes", &useful),
        Some(1.0),
    )?;
    if let (Some(area), Some(kernels)) = (bottom, &r.kernels) {
        let names: Vec<String> = kernels.iter().map(|k| k.short.clone()).collect();
        let failed: Vec<bool> = kernels.iter().map(|k| k.error.is_some()).collect();
        let frac: Vec<f64> = kernels
            .iter()
            .map(|k| k.fraction_of_copy.unwrap_or(0.0))
            .collect();
        let zeros = vec![0.0; frac.len()];
        paired_bars(
            &area,
            "kernels: fraction of copy bandwidth",
            &names,
            &failed,
            ("GB/s / copy GB/s", &frac),
            ("", &zeros),
            Some(1.0),
        )?;
    }
    Ok(())
}

/// Two bars per category (the second omitted when its label is empty), FAIL marks, and an
/// optional horizontal reference line.
fn paired_bars(
    area: &Area<'_>,
    caption: &str,
    names: &[String],
    failed: &[bool],
    a: (&str, &[f64]),
    b: (&str, &[f64]),
    line: Option<f64>,
) -> DrawResult {
    let n = names.len().max(1);
    let max =
        a.1.iter()
            .chain(b.1)
            .copied()
            .chain(line)
            .filter(|x| x.is_finite())
            .fold(0.0f64, f64::max);
    let ymax = if max > 0.0 { max * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0..n).into_segmented(), 0f64..ymax)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    let blue = RGBColor(52, 101, 164);
    let orange = RGBColor(230, 140, 30);
    let single = b.0.is_empty();
    chart
        .draw_series(a.1.iter().enumerate().map(|(i, &v)| {
            let right = if single {
                SegmentValue::Exact(i + 1)
            } else {
                SegmentValue::CenterOf(i)
            };
            let mut bar =
                Rectangle::new([(SegmentValue::Exact(i), 0.0), (right, v)], blue.filled());
            bar.set_margin(0, 0, 6, if single { 6 } else { 0 });
            bar
        }))?
        .label(a.0)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], blue.filled()));
    if !single {
        chart
            .draw_series(b.1.iter().enumerate().map(|(i, &v)| {
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::CenterOf(i), 0.0),
                        (SegmentValue::Exact(i + 1), v),
                    ],
                    orange.filled(),
                );
                bar.set_margin(0, 0, 0, 6);
                bar
            }))?
            .label(b.0)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], orange.filled()));
    }
    chart.draw_series(
        failed
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| {
                Text::new(
                    "FAIL",
                    (SegmentValue::CenterOf(i), ymax * 0.05),
                    ("sans-serif", 14).into_font().color(&RED),
                )
            }),
    )?;
    if let Some(y) = line {
        chart.draw_series(LineSeries::new(
            [(SegmentValue::Exact(0), y), (SegmentValue::Exact(n), y)],
            BLACK.stroke_width(1),
        ))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
