//! Times each pass of `all` on the ZAYA1-8B decode graph (built from the embedded config, no
//! weights), and optionally writes the graph after each pass to a directory so two builds of
//! the optimizer can be diffed:
//!
//!     cargo run --release -p zaya-opt --example pass_times [-- OUT_DIR]
use std::time::Instant;
use zaya_model::graph::{GraphOptions, build_decode_graph};
use zaya_model::{Config, SkipMode};
use zaya_opt::{Strategy, run_passes};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).map(std::path::PathBuf::from);
    let cfg = Config::zaya1_8b();
    for skip in [SkipMode::Zero, SkipMode::Passthrough] {
        let mut g = build_decode_graph(
            &cfg,
            GraphOptions {
                skip,
                ..Default::default()
            },
        )?;
        println!("ZAYA1-8B decode ({skip}): {} instructions", g.insts.len());
        for pass in Strategy::parse("all", &zaya_model::graph::scope_fusions())?.passes {
            let t = Instant::now();
            let (next, logs) = run_passes(&g, &[pass.as_ref()])?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            println!(
                "  {:<14} {:>8.1} ms  {:>5} rewrites, kernels {} -> {}",
                pass.name(),
                ms,
                logs[0].rewrites.len(),
                logs[0].kernels_before,
                logs[0].kernels_after
            );
            g = next;
            if let Some(dir) = &out {
                std::fs::create_dir_all(dir)?;
                std::fs::write(
                    dir.join(format!("{skip}.{}.txt", pass.name())),
                    g.to_string(),
                )?;
            }
        }
    }
    Ok(())
}
