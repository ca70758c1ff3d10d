//! Multi-turn chat on a stateful model: keeps the messages and the tokens the model state holds,
//! and feeds only the new suffix when the re-rendered conversation still starts with them.
//! [`PromptCache`] is that record alone, for callers that render prompts themselves (the
//! server: every request brings its whole history).

use std::ops::ControlFlow;

use serde_json::{Map, Value};

use crate::error::ChatError;
use crate::generate::{Generation, Generator, TextPiece, TokenModel};
use crate::message::Message;
use crate::template::{ChatTemplate, RenderOptions};
use crate::tokenizer::Tokenizer;

/// The encoded prompt of the next turn and how much of it the model state already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnPrompt {
    /// The whole conversation, rendered with the generation prompt and encoded.
    pub tokens: Vec<u32>,
    /// Leading tokens the model state already holds (0 when it must start over).
    pub reused: usize,
    /// The model state holds tokens that are not a prefix of `tokens` (the template re-rendered
    /// an earlier turn differently, e.g. dropped its reasoning, or a stop string cut the
    /// output): reset the model and feed `tokens` from the start.
    pub needs_reset: bool,
}

impl TurnPrompt {
    /// Tokens to feed now.
    pub fn to_feed(&self) -> &[u32] {
        &self.tokens[self.reused..]
    }

    /// Tokens the model state must already hold.
    pub fn cached(&self) -> &[u32] {
        &self.tokens[..self.reused]
    }
}

/// The tokens a stateful model holds, in order: a prompt that extends them is fed only its new
/// suffix (the KV, conv and value states of the rest are reused).
#[derive(Debug, Clone, Default)]
pub struct PromptCache {
    fed: Vec<u32>,
}

impl PromptCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens the model state holds according to this record.
    pub fn tokens(&self) -> &[u32] {
        &self.fed
    }

    /// Call after resetting the model outside [`PromptCache::generate`].
    pub fn clear(&mut self) {
        self.fed.clear();
    }

    /// How to feed `tokens` (a whole encoded prompt) given what the model state holds.
    pub fn plan(&self, tokens: Vec<u32>) -> TurnPrompt {
        // At least one new token is needed to get logits, so an identical or longer state
        // cannot be continued either.
        let continues = self.fed.len() < tokens.len() && tokens.starts_with(&self.fed);
        TurnPrompt {
            reused: if continues { self.fed.len() } else { 0 },
            needs_reset: !continues && !self.fed.is_empty(),
            tokens,
        }
    }

    /// Records a finished generation: the model holds the prompt plus the generated tokens it
    /// consumed.
    pub fn record(&mut self, prompt: &TurnPrompt, generation: &Generation) {
        self.fed.clear();
        self.fed.extend_from_slice(&prompt.tokens);
        self.fed
            .extend_from_slice(generation.tokens_in_model_state());
    }

    /// Generates from the encoded prompt `tokens`: resets the model when its state cannot be
    /// continued, feeds only the new suffix otherwise, and records the result. Returns the
    /// plan that was followed (`reused` tokens were not fed) with the generation. After an
    /// error the record is cleared, so the next call starts from a reset model.
    pub fn generate<M, F>(
        &mut self,
        model: &mut M,
        generator: &mut Generator,
        tokens: Vec<u32>,
        on_piece: F,
    ) -> Result<(TurnPrompt, Generation), ChatError>
    where
        M: TokenModel + ?Sized,
        F: FnMut(TextPiece<'_>) -> ControlFlow<()>,
    {
        if tokens.is_empty() {
            return Err(ChatError::EmptyPrompt);
        }
        let mut prompt = self.plan(tokens);
        if prompt.needs_reset || model.position() != prompt.reused {
            model.reset();
            self.fed.clear();
            prompt.reused = 0;
            prompt.needs_reset = false;
        }
        match generator.generate(model, prompt.cached(), prompt.to_feed(), on_piece) {
            Ok(generation) => {
                self.record(&prompt, &generation);
                Ok((prompt, generation))
            }
            Err(err) => {
                self.fed.clear();
                Err(err)
            }
        }
    }
}

/// A chat history plus the record of what the model state holds.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    messages: Vec<Message>,
    tools: Vec<Value>,
    enable_thinking: Option<bool>,
    extra: Map<String, Value>,
    /// Tokens the model state holds.
    cache: PromptCache,
}

impl Conversation {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tool schemas rendered into the prompt and used to type parsed tool calls.
    pub fn set_tools(&mut self, tools: Vec<Value>) {
        self.tools = tools;
    }

    pub fn tools(&self) -> &[Value] {
        &self.tools
    }

    /// `Some(true)` renders the thinking-on prompt; `None` leaves the template default.
    pub fn set_enable_thinking(&mut self, enable: Option<bool>) {
        self.enable_thinking = enable;
    }

    /// Extra template variables.
    pub fn set_variable(&mut self, name: impl Into<String>, value: Value) {
        self.extra.insert(name.into(), value);
    }

    pub fn push(&mut self, message: Message) {
        self.messages.push(message);
    }

    pub fn push_user(&mut self, text: impl Into<String>) {
        self.push(Message::user(text));
    }

    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Tokens the model state holds according to this conversation.
    pub fn fed_tokens(&self) -> &[u32] {
        self.cache.tokens()
    }

    /// Call after resetting the model outside [`Conversation::respond`].
    pub fn forget_model_state(&mut self) {
        self.cache.clear();
    }

    /// Drops all messages and the model-state record.
    pub fn clear(&mut self) {
        self.messages.clear();
        self.cache.clear();
    }

    /// The render options of the next turn.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions {
            add_generation_prompt: true,
            enable_thinking: self.enable_thinking,
            tools: (!self.tools.is_empty()).then(|| self.tools.clone()),
            extra: self.extra.clone(),
        }
    }

    /// Renders the whole conversation with the generation prompt.
    pub fn render(&self, template: &ChatTemplate) -> Result<String, ChatError> {
        template.render(&self.messages, &self.render_options())
    }

    /// Renders and encodes the next turn, and checks the model-state record is a prefix of it.
    pub fn prepare(
        &self,
        template: &ChatTemplate,
        tokenizer: &Tokenizer,
    ) -> Result<TurnPrompt, ChatError> {
        let tokens = tokenizer.encode(&self.render(template)?)?;
        if tokens.is_empty() {
            return Err(ChatError::EmptyPrompt);
        }
        Ok(self.cache.plan(tokens))
    }

    /// Records a finished turn: the assistant message (content, reasoning, tool calls) joins the
    /// history and the fed tokens become the prompt plus the generated tokens the model consumed.
    pub fn record(&mut self, prompt: &TurnPrompt, generation: &Generation) {
        self.cache.record(prompt, generation);
        self.push_answer(generation);
    }

    /// The assistant message of a generation joins the history.
    fn push_answer(&mut self, generation: &Generation) {
        let content = (!generation.content.is_empty() || generation.tool_calls.is_empty())
            .then(|| generation.content.clone());
        self.messages.push(Message {
            role: "assistant".into(),
            content,
            reasoning_content: generation.reasoning.clone(),
            tool_calls: generation.tool_calls.clone(),
            ..Message::default()
        });
    }

    /// Runs one assistant turn: renders, resets the model if its state cannot be continued,
    /// feeds the new suffix, generates (streaming through `on_piece`) and records the answer.
    /// The generator's tools are replaced by the conversation's.
    pub fn respond<M, F>(
        &mut self,
        template: &ChatTemplate,
        model: &mut M,
        generator: &mut Generator,
        on_piece: F,
    ) -> Result<Generation, ChatError>
    where
        M: TokenModel + ?Sized,
        F: FnMut(TextPiece<'_>) -> ControlFlow<()>,
    {
        let tokens = generator.tokenizer().encode(&self.render(template)?)?;
        generator.set_tools(self.tools.clone());
        let (_, generation) = self.cache.generate(model, generator, tokens, on_piece)?;
        self.push_answer(&generation);
        Ok(generation)
    }
}
