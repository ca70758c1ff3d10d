//! The generation driver: prefill, decode loop, streaming, stop conditions, output parsing.
//! Independent of any backend: the model side is the [`TokenModel`] trait.

use std::ops::ControlFlow;
use std::time::Instant;

use serde_json::Value;

use crate::error::{ChatError, ModelFailure};
use crate::message::ToolCall;
use crate::parse::{Channel, ReasoningSplitter, parse_output};
use crate::sampling::{SampleError, Sampler, SamplerConfig};
use crate::stop::{StopConditions, StopStringMatcher};
use crate::tokenizer::Tokenizer;
use crate::tokenizer::tokens::{THINK_END, THINK_START};

/// The model side of generation: a stateful sequence (KV/conv caches) fed token chunks.
pub trait TokenModel {
    /// Feeds tokens (a prompt chunk or one sampled token) through the model's state and returns
    /// the logits of the LAST token (`logits_len()` values).
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelFailure>;

    /// Number of logit columns (262272 for ZAYA1-8B; may exceed the tokenizer's vocab).
    fn logits_len(&self) -> usize;

    /// Capacity in tokens: everything fed plus what is generated must fit.
    fn context_len(&self) -> usize;

    /// Tokens consumed so far (multi-turn chat keeps the state between turns).
    fn position(&self) -> usize;

    /// Clears the state (position back to 0).
    fn reset(&mut self);

    /// Feeds tokens and picks the next one. The default runs [`TokenModel::forward`] and the CPU
    /// sampler; a backend that samples on the device overrides it (reading
    /// [`Sampler::config`] and drawing randomness from [`Sampler::uniform`]) to avoid copying
    /// the logits back. `history` is every token of the context, for the repetition penalty.
    fn forward_and_sample(
        &mut self,
        tokens: &[u32],
        sampler: &mut Sampler,
        history: &[u32],
    ) -> Result<u32, ModelFailure> {
        let logits = self.forward(tokens)?;
        Ok(sampler.sample(&logits, history)?)
    }
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token (eos, `<|im_end|>`...) was sampled.
    StopToken(u32),
    /// A stop string appeared; it and anything after it were cut from the text.
    StopString(String),
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context is full.
    ContextFull,
    /// The streaming callback asked to stop.
    Cancelled,
}

/// Wall-clock split between prompt processing and token-by-token decoding.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timings {
    /// Tokens fed in the first (prefill) step.
    pub prefill_tokens: usize,
    /// Time of the prefill step, its sampling included.
    pub prefill_secs: f64,
    /// Single-token steps after the prefill.
    pub decode_tokens: usize,
    pub decode_secs: f64,
}

impl Timings {
    pub fn prefill_tokens_per_sec(&self) -> f64 {
        rate(self.prefill_tokens, self.prefill_secs)
    }
    pub fn decode_tokens_per_sec(&self) -> f64 {
        rate(self.decode_tokens, self.decode_secs)
    }
}

fn rate(tokens: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        tokens as f64 / secs
    } else {
        0.0
    }
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The decoded output (tags included, stop token excluded, cut at a stop string; control
    /// tokens only with [`Generator::set_show_special`]).
    pub text: String,
    /// Text inside `<think>...</think>`; `None` when there was no reasoning segment.
    pub reasoning: Option<String>,
    /// The answer without reasoning and without tool-call markup.
    pub content: String,
    /// Tool calls parsed from the content, arguments typed by the tools' schemas.
    pub tool_calls: Vec<ToolCall>,
    /// Every sampled token, the stop token included. The model state holds all but the last
    /// (see [`Generation::tokens_in_model_state`]).
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub timings: Timings,
    /// Whether the prompt left a `<think>` open, so the output began inside reasoning.
    pub started_in_reasoning: bool,
}

impl Generation {
    /// The sampled tokens that were fed back through the model (the last one never is).
    pub fn tokens_in_model_state(&self) -> &[u32] {
        &self.tokens[..self.tokens.len().saturating_sub(1)]
    }
}

/// A piece of streamed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPiece<'a> {
    pub text: &'a str,
    pub channel: Channel,
}

/// Drives generation for one stream: owns the sampler (and its seeded random state), the stop
/// rules and the tool schemas used to type parsed tool calls.
#[derive(Debug, Clone)]
pub struct Generator {
    tokenizer: Tokenizer,
    sampler: Sampler,
    stop: StopConditions,
    tools: Vec<Value>,
    starts_in_reasoning: Option<bool>,
    show_special: bool,
    split_reasoning: bool,
}

impl Generator {
    /// Validates the sampler settings; the vocab mask comes from the tokenizer.
    pub fn new(
        tokenizer: &Tokenizer,
        sampler: SamplerConfig,
        stop: StopConditions,
    ) -> Result<Self, ChatError> {
        if stop.max_tokens == Some(0) {
            return Err(ChatError::InvalidArgument {
                argument: "max_tokens",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            sampler: Sampler::new(sampler, tokenizer.vocab_size())?,
            tokenizer: tokenizer.clone(),
            stop,
            tools: Vec::new(),
            starts_in_reasoning: None,
            show_special: false,
            split_reasoning: true,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn sampler_mut(&mut self) -> &mut Sampler {
        &mut self.sampler
    }

    pub fn stop_conditions(&self) -> &StopConditions {
        &self.stop
    }

    /// Replaces the stop rules (`max_tokens` of 0 is rejected).
    pub fn set_stop_conditions(&mut self, stop: StopConditions) -> Result<(), ChatError> {
        if stop.max_tokens == Some(0) {
            return Err(ChatError::InvalidArgument {
                argument: "max_tokens",
                reason: "must be at least 1".into(),
            });
        }
        self.stop = stop;
        Ok(())
    }

    /// Tool schemas used to type the arguments of parsed tool calls.
    pub fn set_tools(&mut self, tools: Vec<Value>) {
        self.tools = tools;
    }

    pub fn tools(&self) -> &[Value] {
        &self.tools
    }

    /// Forces whether output starts inside reasoning; `None` (default) detects an unclosed
    /// `<think>` at the end of the prompt.
    pub fn set_starts_in_reasoning(&mut self, value: Option<bool>) {
        self.starts_in_reasoning = value;
    }

    /// Whether control and unused tokens ([`Tokenizer::is_control`]) appear in the text
    /// (`--special`); off by default, as llama.cpp and HF pipelines do. Their ids are always
    /// in [`Generation::tokens`].
    pub fn set_show_special(&mut self, show: bool) {
        self.show_special = show;
    }

    /// Whether streamed pieces go through the reasoning splitter (default) or are the raw
    /// text, think tags included, all tagged [`Channel::Content`] (raw completions). The
    /// parsed [`Generation`] fields are filled either way.
    pub fn set_split_reasoning(&mut self, split: bool) {
        self.split_reasoning = split;
    }

    /// Generates from `prompt`, the tokens to feed now. `cached` are the tokens the model state
    /// already holds (`cached.len()` must equal `model.position()`; pass `&[]` for a fresh
    /// model); they take part in the repetition penalty and reasoning detection.
    ///
    /// `on_piece` receives text as soon as it is final (complete UTF-8, not possibly part of a
    /// stop string or of a think tag), tagged reasoning or content; returning
    /// `ControlFlow::Break(())` stops generation with [`FinishReason::Cancelled`].
    pub fn generate<M, F>(
        &mut self,
        model: &mut M,
        cached: &[u32],
        prompt: &[u32],
        mut on_piece: F,
    ) -> Result<Generation, ChatError>
    where
        M: TokenModel + ?Sized,
        F: FnMut(TextPiece<'_>) -> ControlFlow<()>,
    {
        if prompt.is_empty() {
            return Err(ChatError::EmptyPrompt);
        }
        let position = model.position();
        if cached.len() != position {
            return Err(ChatError::StateMismatch {
                cached_tokens: cached.len(),
                position,
            });
        }
        let context_len = model.context_len();
        let room = context_len
            .checked_sub(position + prompt.len())
            .filter(|&room| room > 0)
            .ok_or(ChatError::PromptTooLong {
                prompt_tokens: prompt.len(),
                cached_tokens: position,
                context_len,
            })?;
        let budget = self.stop.max_tokens.map_or(room, |m| m.min(room));

        let mut history = Vec::with_capacity(cached.len() + prompt.len() + budget.min(4096));
        history.extend_from_slice(cached);
        history.extend_from_slice(prompt);
        let started_in_reasoning = self
            .starts_in_reasoning
            .unwrap_or_else(|| prompt_opens_reasoning(&self.tokenizer, &history));

        let mut stream = self.tokenizer.decode_stream();
        let mut matcher = StopStringMatcher::new(&self.stop.stop_strings);
        let mut splitter = self
            .split_reasoning
            .then(|| ReasoningSplitter::new(started_in_reasoning));
        let mut timings = Timings::default();
        let mut tokens: Vec<u32> = Vec::new();
        let mut feed: Vec<u32> = prompt.to_vec();
        let mut cancelled = false;

        let finish_reason = loop {
            if tokens.len() >= budget {
                break if self.stop.max_tokens.is_some_and(|m| m <= room) {
                    FinishReason::MaxTokens
                } else {
                    FinishReason::ContextFull
                };
            }
            let started = Instant::now();
            let token = model
                .forward_and_sample(&feed, &mut self.sampler, &history)
                .map_err(model_error)?;
            let secs = started.elapsed().as_secs_f64();
            if tokens.is_empty() {
                timings.prefill_tokens = feed.len();
                timings.prefill_secs = secs;
            } else {
                timings.decode_tokens += 1;
                timings.decode_secs += secs;
            }
            tokens.push(token);
            history.push(token);
            if self.stop.is_stop_token(token) {
                break FinishReason::StopToken(token);
            }
            let shown = self.show_special || !self.tokenizer.is_control(token);
            if let Some(piece) = shown.then(|| stream.step(token)).transpose()?.flatten() {
                let stopped = matcher.push(&piece);
                cancelled |= forward_text(&mut splitter, matcher.releasable(), &mut on_piece);
                if stopped {
                    break FinishReason::StopString(
                        matcher.matched().unwrap_or_default().to_string(),
                    );
                }
            }
            if cancelled {
                break FinishReason::Cancelled;
            }
            feed.clear();
            feed.push(token);
        };

        let mut finish_reason = finish_reason;
        if !matches!(finish_reason, FinishReason::StopString(_)) {
            // Bytes of an incomplete character still held by the detokenizer.
            if let Some(rest) = stream.flush()? {
                if matcher.push(&rest) {
                    finish_reason =
                        FinishReason::StopString(matcher.matched().unwrap_or_default().to_string());
                }
            }
        }
        if !cancelled {
            forward_text(&mut splitter, matcher.release_all(), &mut on_piece);
            if let Some(splitter) = &mut splitter {
                splitter.finish(&mut |channel, text| {
                    let _ = on_piece(TextPiece { text, channel });
                });
            }
        }

        let text = matcher.into_text();
        let parsed = parse_output(&text, started_in_reasoning, &self.tools);
        Ok(Generation {
            text,
            reasoning: parsed.reasoning,
            content: parsed.content,
            tool_calls: parsed.tool_calls,
            tokens,
            finish_reason,
            timings,
            started_in_reasoning,
        })
    }
}

/// Passes released text through the reasoning splitter (if any) to the callback; true if it
/// cancelled.
fn forward_text<F>(splitter: &mut Option<ReasoningSplitter>, text: &str, on_piece: &mut F) -> bool
where
    F: FnMut(TextPiece<'_>) -> ControlFlow<()>,
{
    if text.is_empty() {
        return false;
    }
    let Some(splitter) = splitter else {
        let channel = Channel::Content;
        return on_piece(TextPiece { text, channel }).is_break();
    };
    let mut cancelled = false;
    splitter.push(text, &mut |channel, text| {
        if on_piece(TextPiece { text, channel }).is_break() {
            cancelled = true;
        }
    });
    cancelled
}

/// Sampler failures surface as their own error, anything else as a model failure.
fn model_error(err: ModelFailure) -> ChatError {
    match err.downcast::<SampleError>() {
        Ok(sample) => ChatError::Sample(*sample),
        Err(other) => ChatError::Model(other),
    }
}

/// True when the end of the context leaves a `<think>` unclosed (thinking-on prompts end with
/// `<think>\n`). Only a short tail is decoded; earlier turns are closed anyway.
fn prompt_opens_reasoning(tokenizer: &Tokenizer, history: &[u32]) -> bool {
    let tail = &history[history.len().saturating_sub(32)..];
    let Ok(text) = tokenizer.decode(tail) else {
        return false;
    };
    match (text.rfind(THINK_START), text.rfind(THINK_END)) {
        (Some(start), Some(end)) => start > end,
        (Some(_), None) => true,
        _ => false,
    }
}
