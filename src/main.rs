//! The `zaya-graph` command line.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

#[derive(Parser)]
#[command(
    name = "zaya-graph",
    version,
    about = "Run and inspect Zyphra's ZAYA1-8B as a compute graph"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that a bundle on disk is complete and usable.
    Verify(cmd::verify::VerifyArgs),
    /// Run token ids through the engine; write logits and router choices (safetensors).
    Eval(cmd::eval::EvalArgs),
    /// List GPU adapters with their features and limits.
    Devices(cmd::devices::DevicesArgs),
    /// Show the decode graph or a strategy's execution plan (text, DOT, JSON; summary; diff).
    Dump(cmd::dump::DumpArgs),
    /// Answer one prompt, streaming the text to stdout (no --model: a tiny random demo model).
    Run(cmd::run::RunArgs),
    /// Multi-turn chat from stdin, one message per line (/reset, /exit).
    Chat(cmd::chat::ChatArgs),
    /// The bundle's runtime smoke tests (greedy); exit code 0 only if all pass.
    Smoke(cmd::smoke::SmokeArgs),
    /// Compare fusion strategies: correctness check, then interleaved timing vs copy bandwidth.
    Bench(cmd::bench::BenchArgs),
    /// Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions).
    Serve(cmd::serve::ServeArgs),
    /// Convert a float checkpoint (original or HF naming) into a quantized bundle.
    Convert(cmd::convert::ConvertArgs),
    /// Time the GPU kernel variants on this adapter; later runs use the fastest correct ones.
    Tune(cmd::tune::TuneArgs),
}

fn main() -> ExitCode {
    // Mesa's Vulkan device-select layer only reorders adapters (we rank them ourselves), and
    // without a Wayland session it prints "error: XDG_RUNTIME_DIR is invalid" on every probe,
    // which `--backend auto` now does on each run. Off unless the user set it.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: first statement of `main`, before any other thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => cmd::verify::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Dump(args) => cmd::dump::run(args),
        Command::Devices(args) => cmd::devices::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Chat(args) => cmd::chat::run(args),
        Command::Smoke(args) => cmd::smoke::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Tune(args) => cmd::tune::run(args),
        Command::Serve(args) => cmd::serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
