//! One error type for everything that reads a config or a bundle.
//!
//! Every variant names the file it is about and, where there is one, the tensor or config
//! field, because the person reading the message usually has a 6 GB directory in front of
//! them and needs to know where to look.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{}: not a bundle: {reason}", .path.display())]
    NotABundle { path: PathBuf, reason: String },

    #[error("{}: invalid JSON: {source}", .file.display())]
    Json {
        file: PathBuf,
        source: serde_json::Error,
    },

    #[error("{}: config field `{field}`: {reason}", .file.display())]
    Config {
        file: PathBuf,
        field: String,
        reason: String,
    },

    /// The safetensors header itself is unreadable (length, UTF-8, JSON).
    #[error("{}: safetensors header: {reason}", .file.display())]
    Header { file: PathBuf, reason: String },

    /// One tensor entry of a header is wrong (offsets, size, dtype).
    #[error("{}: tensor `{tensor}`: {reason}", .file.display())]
    Tensor {
        file: PathBuf,
        tensor: String,
        reason: String,
    },

    #[error("{}: missing tensor `{tensor}` (expected {expected})", .file.display())]
    MissingTensor {
        file: PathBuf,
        tensor: String,
        expected: String,
    },

    #[error("{}: unexpected tensor `{tensor}` (not part of this model)", .file.display())]
    UnexpectedTensor { file: PathBuf, tensor: String },

    #[error("{}: tensor `{tensor}`: expected shape {expected:?}, found {found:?}", .file.display())]
    WrongShape {
        file: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("{}: tensor `{tensor}`: expected dtype {expected}, found {found}", .file.display())]
    WrongDtype {
        file: PathBuf,
        tensor: String,
        expected: String,
        found: String,
    },

    #[error(
        "{}: tensor `{tensor}`: unstacked `local_experts` in a quantized bundle; experts must be \
         pre-stacked as `zaya_block.experts.switch_mlp.{{gate,up,down}}_proj` [E, out, in]",
        .file.display()
    )]
    LocalExperts { file: PathBuf, tensor: String },

    #[error("{}: index names shard `{shard}` (for tensor `{tensor}`), which is missing", .file.display())]
    MissingShard {
        file: PathBuf,
        shard: String,
        tensor: String,
    },

    /// `convert` refused or failed (the path is the source or the destination).
    #[error("{}: {reason}", .path.display())]
    Convert { path: PathBuf, reason: String },

    /// Stopped on request (Ctrl-C); nothing was left behind.
    #[error("interrupted; nothing was written")]
    Interrupted,

    /// A lookup by name (`Bundle::weight`, `Bundle::vector_f32`) found nothing usable.
    #[error("{}: `{name}`: {reason}", .file.display())]
    Lookup {
        file: PathBuf,
        name: String,
        reason: String,
    },
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(file: impl Into<PathBuf>, field: &str, reason: impl Into<String>) -> Self {
        ModelError::Config {
            file: file.into(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn tensor(
        file: impl Into<PathBuf>,
        tensor: &str,
        reason: impl Into<String>,
    ) -> Self {
        ModelError::Tensor {
            file: file.into(),
            tensor: tensor.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn header(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ModelError::Header {
            file: file.into(),
            reason: reason.into(),
        }
    }
}
