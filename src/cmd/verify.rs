//! `zaya-graph verify <DIR>` (owned by the bundle-loader work; placeholder signature).
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
    anyhow::bail!("verify is not wired yet: {}", args.dir.display())
}
