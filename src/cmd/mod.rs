//! One module per subcommand, plus the arguments they share.
pub mod bench;
pub mod chat;
pub mod convert;
pub mod devices;
pub mod dump;
pub mod eval;
pub mod generation;
pub mod run;
pub mod smoke;
pub mod verify;

/// Where a graph runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The reference interpreter (`zaya-cpu`).
    Cpu,
    /// The wgpu backend (`zaya-wgpu`; `--adapter NAME`, `WGPU_BACKEND=vulkan|metal|gl|dx12`).
    Wgpu,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
        })
    }
}
