//! Chat support for zaya-graph: tokenizer, chat template, sampling, stop rules, reasoning and
//! tool-call parsing, and a backend-independent generation driver.
//!
//! Typical flow (the model side is any [`TokenModel`]):
//!
//! ```no_run
//! # use std::ops::ControlFlow;
//! # use zaya_chat::*;
//! # fn run(model: &mut dyn TokenModel) -> Result<(), ChatError> {
//! let assets = ChatAssets::load("path/to/bundle")?;
//! let mut generator = assets.generator(SamplerConfig::default(), assets.stop_conditions())?;
//! let mut chat = Conversation::new();
//! chat.push_user("Hi");
//! let answer = chat.respond(&assets.template, model, &mut generator, |piece| {
//!     print!("{}", piece.text);
//!     ControlFlow::Continue(())
//! })?;
//! println!("\n{:?} {:.1} tok/s", answer.finish_reason, answer.timings.decode_tokens_per_sec());
//! # Ok(()) }
//! ```

mod assets;
mod conversation;
mod error;
mod generate;
mod message;
mod parse;
mod pyjson;
mod sampling;
mod stop;
mod strftime;
mod template;
mod tokenizer;

pub use assets::{ChatAssets, GENERATION_CONFIG_FILE, TOKENIZER_FILE};
pub use conversation::{Conversation, PromptCache, TurnPrompt};
pub use error::{ChatError, ModelFailure};
pub use generate::{FinishReason, Generation, Generator, TextPiece, Timings, TokenModel};
pub use message::{Message, ToolCall};
pub use parse::{
    Channel, ParsedOutput, ReasoningSplitter, parse_output, parse_tool_calls, split_reasoning,
};
pub use sampling::{SampleError, Sampler, SamplerConfig};
pub use stop::{StopConditions, StopStringMatcher};
pub use template::{ChatTemplate, RenderOptions, TEMPLATE_FILE, TOKENIZER_CONFIG_FILE};
pub use tokenizer::{SpecialTokens, TextStream, Tokenizer, tokens};
