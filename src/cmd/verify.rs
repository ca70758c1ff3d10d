//! `zaya-graph verify <DIR> [--json]`: checks that a bundle on disk is complete and usable.
//!
//! Exit code 0 only when the bundle is usable (a missing tokenizer is a warning, not a
//! failure); otherwise 1, with the one-line cause on stderr.
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Bundle directory.
    pub dir: PathBuf,
    /// Print a JSON report instead of the human-readable one.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let report = zaya_model::verify::verify(&args.dir);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    if report.usable {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: {}",
        report.error.as_deref().unwrap_or("bundle is not usable")
    );
    Ok(ExitCode::from(1))
}
