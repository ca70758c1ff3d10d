//! The crate's error type: one enum so a CLI can report any failure with its cause and file.

use std::path::PathBuf;

/// What a backend returns when a forward pass fails; boxed so any backend error fits.
pub type ModelFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure of loading, rendering, tokenizing, sampling or generating.
///
/// Variants name the file, argument or limit involved so that the message alone tells the user
/// what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A file that must exist is absent (tokenizer.json, an explicitly named template...).
    #[error("missing {what}: {path} does not exist")]
    MissingFile { what: &'static str, path: PathBuf },

    /// A file exists but could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A JSON side file (tokenizer_config.json, generation_config.json) is malformed.
    #[error("invalid {path}: {message}")]
    InvalidConfig { path: PathBuf, message: String },

    /// The `tokenizers` crate rejected tokenizer.json.
    #[error("cannot load tokenizer {path}: {message}")]
    TokenizerLoad { path: PathBuf, message: String },

    /// Encoding or decoding text failed inside the `tokenizers` crate.
    #[error("tokenizer failed to {action}: {message}")]
    Tokenizer {
        action: &'static str,
        message: String,
    },

    /// The bundle has neither chat_template.jinja nor a `chat_template` in tokenizer_config.json.
    #[error(
        "no chat template in {dir}: expected chat_template.jinja or a \"chat_template\" entry in tokenizer_config.json"
    )]
    MissingTemplate { dir: PathBuf },

    /// The chat template failed to compile or to render; `line` is the template line when known.
    #[error("chat template {template}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Template {
        template: String,
        line: Option<usize>,
        message: String,
    },

    /// A sampler setting is out of range.
    #[error("invalid sampler setting {field} = {value}: {reason}")]
    InvalidSampler {
        field: &'static str,
        value: String,
        reason: &'static str,
    },

    /// A generation argument is unusable (e.g. `max_tokens` = 0).
    #[error("invalid argument {argument}: {reason}")]
    InvalidArgument {
        argument: &'static str,
        reason: String,
    },

    /// Generation needs at least one token to feed.
    #[error("empty prompt: at least one token must be fed to produce logits")]
    EmptyPrompt,

    /// The prompt (plus what the model state already holds) leaves no room in the context.
    #[error(
        "prompt too long: {prompt_tokens} new tokens + {cached_tokens} already in the model state leave no room for output in the context of {context_len} tokens"
    )]
    PromptTooLong {
        prompt_tokens: usize,
        cached_tokens: usize,
        context_len: usize,
    },

    /// The caller's record of the model state disagrees with the model's own position.
    #[error(
        "model state mismatch: the caller says {cached_tokens} tokens are cached but the model is at position {position}; reset the model or pass the right cached tokens"
    )]
    StateMismatch {
        cached_tokens: usize,
        position: usize,
    },

    /// Sampling could not pick a token (all candidates masked or NaN, empty logits...).
    #[error("sampling failed: {0}")]
    Sample(#[from] crate::sampling::SampleError),

    /// The backend failed during a forward pass.
    #[error("model forward pass failed: {0}")]
    Model(#[source] ModelFailure),
}

impl ChatError {
    /// Wraps a minijinja error, keeping its line and the template's file name.
    pub(crate) fn template(template: &str, err: &minijinja::Error) -> Self {
        let mut message = err.to_string();
        // Errors raised inside filters/functions may carry a cause; show it too.
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ChatError::Template {
            template: template.to_string(),
            line: err.line(),
            message,
        }
    }
}
