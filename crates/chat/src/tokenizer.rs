//! Tokenizer wrapper: encoding without added special tokens, vocab size for logit masking,
//! special tokens looked up by content, and a UTF-8-safe streaming detokenizer.

use std::path::Path;
use std::sync::Arc;

use crate::error::ChatError;

/// Text of the special tokens the chat stack cares about. Ids are never hard-coded because the
/// real ZAYA tokenizer and the test fixture place some of them (`<think>`...) differently.
pub mod tokens {
    pub const BOS: &str = "<bos>";
    pub const EOS: &str = "<eos>";
    pub const PAD: &str = "<pad>";
    pub const IM_START: &str = "<|im_start|>";
    pub const IM_END: &str = "<|im_end|>";
    pub const THINK_START: &str = "<think>";
    pub const THINK_END: &str = "</think>";
    pub const TOOL_CALL_START: &str = "<zyphra_tool_call>";
    pub const TOOL_CALL_END: &str = "</zyphra_tool_call>";
    pub const TOOL_RESPONSE_START: &str = "<zyphra_tool_response>";
    pub const TOOL_RESPONSE_END: &str = "</zyphra_tool_response>";
}

/// Ids of the special tokens, resolved by content when the tokenizer is loaded (`None` when the
/// tokenizer lacks the token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpecialTokens {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub pad: Option<u32>,
    pub im_start: Option<u32>,
    pub im_end: Option<u32>,
    pub think_start: Option<u32>,
    pub think_end: Option<u32>,
    pub tool_call_start: Option<u32>,
    pub tool_call_end: Option<u32>,
    pub tool_response_start: Option<u32>,
    pub tool_response_end: Option<u32>,
}

/// A loaded Hugging Face `tokenizer.json`. Cheap to clone (the model is shared).
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    vocab_size: usize,
    special: SpecialTokens,
    /// Sorted ids of the control and unused tokens text output hides (see
    /// [`Tokenizer::is_control`]).
    control: Arc<[u32]>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("special", &self.special)
            .finish()
    }
}

/// Parses tokenizer JSON. The tokenizers crate panics on some malformed files (an `unwrap` in
/// its decoder deserialization, found by tests/fuzz_inputs.rs), so a panic is caught here and
/// reported as a load error naming the file instead of taking the process down.
fn parse_tokenizer(bytes: &[u8], path: &Path) -> Result<tokenizers::Tokenizer, ChatError> {
    let load_error = |message: String| ChatError::TokenizerLoad {
        path: path.to_path_buf(),
        message,
    };
    // The tokenizers crate panics (and prints the panic) on some malformed JSON inside its
    // decoder definitions; a syntax check first turns those into a plain error with the line.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(load_error(format!("not valid JSON: {e}")));
    }
    match std::panic::catch_unwind(|| tokenizers::Tokenizer::from_bytes(bytes)) {
        Ok(parsed) => parsed.map_err(|e| load_error(e.to_string())),
        Err(_) => Err(load_error(
            "malformed tokenizer definition (the tokenizers parser rejected it)".into(),
        )),
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json`; a missing file is reported as such (not as a parse error).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ChatError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(ChatError::MissingFile {
                what: "tokenizer file",
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(|source| ChatError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::from_inner(parse_tokenizer(&bytes, path)?))
    }

    /// Builds from the JSON text of a tokenizer (tests, embedded tokenizers).
    pub fn from_json(json: &str) -> Result<Self, ChatError> {
        let path = Path::new("<in-memory tokenizer.json>");
        Ok(Self::from_inner(parse_tokenizer(json.as_bytes(), path)?))
    }

    /// Wraps an already-built `tokenizers::Tokenizer`.
    pub fn from_inner(inner: tokenizers::Tokenizer) -> Self {
        // `get_vocab_size(true)` can double-count added tokens that are also in the model vocab,
        // so the mask boundary is the largest id actually present, plus one.
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        let id = |t: &str| inner.token_to_id(t);
        let special = SpecialTokens {
            bos: id(tokens::BOS),
            eos: id(tokens::EOS),
            pad: id(tokens::PAD),
            im_start: id(tokens::IM_START),
            im_end: id(tokens::IM_END),
            think_start: id(tokens::THINK_START),
            think_end: id(tokens::THINK_END),
            tool_call_start: id(tokens::TOOL_CALL_START),
            tool_call_end: id(tokens::TOOL_CALL_END),
            tool_response_start: id(tokens::TOOL_RESPONSE_START),
            tool_response_end: id(tokens::TOOL_RESPONSE_END),
        };
        let control = control_tokens(&inner, &special);
        Self {
            inner: Arc::new(inner),
            vocab_size,
            special,
            control,
        }
    }

    /// Number of token ids the tokenizer knows (model vocab and added tokens). The model has more
    /// logit columns (262272 for ZAYA1-8B); columns at or beyond this are padding and must never
    /// be sampled.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Special-token ids resolved by content.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// True for a control or unused token that text output hides unless asked (`--special`):
    /// the tokenizer's special added tokens (`<pad>`, `<bos>`, `<|im_start|>`...), every
    /// `<unusedN>` and the tool-response tags, which only the template writes. The think and
    /// tool-call tags are not control tokens: the output parsers give them their meaning.
    pub fn is_control(&self, id: u32) -> bool {
        self.control.binary_search(&id).is_ok()
    }

    /// Id of a token given its exact content (e.g. `"</think>"`).
    pub fn token_id(&self, content: &str) -> Option<u32> {
        self.inner.token_to_id(content)
    }

    /// Content of a token id.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Default end-of-turn ids: `<|im_end|>` (ZAYA's eos) and `<eos>`, whichever exist.
    pub fn default_stop_tokens(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = [self.special.im_end, self.special.eos]
            .into_iter()
            .flatten()
            .collect();
        ids.dedup();
        ids
    }

    /// Encodes a rendered prompt. No special tokens are added: the chat template writes `<bos>`
    /// itself, and the post-processor would add a second `<bos>` and a trailing `<|im_end|>`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ChatError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| ChatError::Tokenizer {
                action: "encode",
                message: e.to_string(),
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes ids to text, keeping special tokens (tags such as `<think>` are needed by the
    /// output parsers). Use [`Tokenizer::decode_stream`] for incremental output.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ChatError> {
        self.decode_with(ids, false)
    }

    /// Decodes ids, optionally dropping special tokens.
    pub fn decode_with(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, ChatError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| ChatError::Tokenizer {
                action: "decode",
                message: e.to_string(),
            })
    }

    /// Starts an incremental detokenizer.
    pub fn decode_stream(&self) -> TextStream {
        TextStream {
            tokenizer: self.clone(),
            ids: Vec::new(),
            prefix: String::new(),
            prefix_index: 0,
        }
    }

    /// The underlying `tokenizers` object, for anything this wrapper does not cover.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// The ids [`Tokenizer::is_control`] is true for, sorted.
fn control_tokens(inner: &tokenizers::Tokenizer, special: &SpecialTokens) -> Arc<[u32]> {
    let meaningful = [
        special.think_start,
        special.think_end,
        special.tool_call_start,
        special.tool_call_end,
    ];
    let markup = [special.tool_response_start, special.tool_response_end];
    let flagged = inner
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, token)| token.special)
        .map(|(id, _)| id);
    let unused = inner
        .get_vocab(true)
        .into_iter()
        .filter(|(text, _)| is_unused_token(text))
        .map(|(_, id)| id);
    let mut ids: Vec<u32> = flagged
        .chain(unused)
        .chain(markup.into_iter().flatten())
        .filter(|id| !meaningful.contains(&Some(*id)))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into()
}

/// `<unused0>`, `<unused42>`...: reserved rows a model should never emit.
fn is_unused_token(text: &str) -> bool {
    text.strip_prefix("<unused")
        .and_then(|rest| rest.strip_suffix('>'))
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Incremental detokenizer (the prefix/read-offset technique of HF `DecodeStream` and TGI).
///
/// Decoding token by token is wrong for SentencePiece-style tokenizers: byte-fallback tokens
/// (`<0xE2>`) may split a character, and decoders may treat the first token specially. So each
/// step decodes a short window of recent ids and emits only the text beyond what the window's
/// prefix already produced; while the window ends in an incomplete UTF-8 sequence (decoded as
/// U+FFFD) nothing is emitted. [`TextStream::flush`] releases whatever is still held at the end.
#[derive(Debug, Clone)]
pub struct TextStream {
    tokenizer: Tokenizer,
    /// Window of ids: `[..prefix_index]` decodes to `prefix`, the rest is not emitted yet.
    ids: Vec<u32>,
    prefix: String,
    prefix_index: usize,
}

const REPLACEMENT: char = '\u{FFFD}';

impl TextStream {
    /// Feeds one id; returns the newly completed text, if any.
    pub fn step(&mut self, id: u32) -> Result<Option<String>, ChatError> {
        if self.prefix.is_empty() && !self.ids.is_empty() {
            let new_prefix = self.tokenizer.decode(&self.ids)?;
            if !new_prefix.ends_with(REPLACEMENT) {
                self.prefix = new_prefix;
                self.prefix_index = self.ids.len();
            }
        }
        self.ids.push(id);
        let text = self.tokenizer.decode(&self.ids)?;
        if text.len() > self.prefix.len() && !text.ends_with(REPLACEMENT) {
            let new_text = text_after(&text, &self.prefix).to_string();
            // Slide the window: keep only the ids after the old prefix.
            let new_prefix_index = self.ids.len() - self.prefix_index;
            self.ids.drain(..self.prefix_index);
            self.prefix = self.tokenizer.decode(&self.ids)?;
            self.prefix_index = new_prefix_index;
            Ok((!new_text.is_empty()).then_some(new_text))
        } else {
            Ok(None)
        }
    }

    /// Emits whatever is held back (an incomplete character becomes U+FFFD) and resets.
    pub fn flush(&mut self) -> Result<Option<String>, ChatError> {
        if self.ids.len() <= self.prefix_index {
            return Ok(None);
        }
        let text = self.tokenizer.decode(&self.ids)?;
        let rest = text_after(&text, &self.prefix).to_string();
        self.ids.clear();
        self.prefix.clear();
        self.prefix_index = 0;
        Ok((!rest.is_empty()).then_some(rest))
    }
}

/// The part of `text` beyond `prefix`; if a decoder rewrote the prefix, beyond the longest common
/// prefix (on a char boundary) so that no text is duplicated.
fn text_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    if let Some(rest) = text.strip_prefix(prefix) {
        return rest;
    }
    let mut common = 0;
    for ((i, a), b) in text.char_indices().zip(prefix.chars()) {
        if a != b {
            break;
        }
        common = i + a.len_utf8();
    }
    &text[common..]
}
