//! The HTTP side: routes, authorization, request → job, and job events → OpenAI responses
//! (one JSON object, or server-sent events ending with `data: [DONE]`).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{Stream, StreamExt, stream};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use zaya_chat::tokens::TOOL_CALL_START;
use zaya_chat::{Channel, FinishReason, Generator, RenderOptions, StopStringMatcher, ToolCall};

use super::Shared;
use super::api::{ApiError, ChatRequest, CommonParams, CompletionRequest, PromptInput};
use super::worker::{Event, Finished, Job};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.options.max_body_bytes;
    let v1 = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .route_layer(middleware::from_fn_with_state(shared.clone(), authorize));
    Router::new()
        .merge(v1)
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Some(key) = &shared.options.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(key.as_str()) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let stats = &shared.stats;
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    axum::Json(json!({
        "status": "ok",
        "model": shared.options.model_id,
        "context_length": shared.context_len,
        "waiting": stats.waiting.load(Ordering::Relaxed),
        "started": count(&stats.started),
        "cancelled": count(&stats.cancelled),
        "prefilled_tokens": count(&stats.prefilled_tokens),
        "generated_tokens": count(&stats.generated_tokens),
    }))
    .into_response()
}

fn model_card(shared: &Shared) -> Value {
    json!({
        "id": shared.options.model_id,
        "object": "model",
        "created": shared.started,
        "owned_by": "zaya-graph",
        "context_length": shared.context_len,
    })
}

async fn models(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"object": "list", "data": [model_card(&shared)]})).into_response()
}

async fn model(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if id != shared.options.model_id {
        return ApiError {
            status: StatusCode::NOT_FOUND,
            code: Some("model_not_found"),
            ..ApiError::invalid(
                "model",
                format!(
                    "no model {id:?}: this server serves {:?}",
                    shared.options.model_id
                ),
            )
        }
        .into_response();
    }
    axum::Json(model_card(&shared)).into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        ..ApiError::malformed(format!("{} does not accept this method", uri.path()))
    }
}

/// The body as a JSON object; an oversized body is a 413.
fn read_body(
    shared: &Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(shared.options.max_body_bytes)
        } else {
            ApiError::malformed(rejection.body_text())
        }
    })?;
    super::api::parse_object(&bytes)
}

impl Shared {
    /// A generator for a prompt of `prompt_len` tokens: the token budget checked against the
    /// context, the bundle's stop tokens, the server's and the request's stop strings.
    fn generator(
        &self,
        common: &CommonParams,
        object: &Map<String, Value>,
        prompt_field: &str,
        prompt_len: usize,
    ) -> Result<Generator, ApiError> {
        let context = self.context_len;
        if prompt_len >= context {
            return Err(ApiError::invalid(
                prompt_field,
                format!(
                    "the prompt has {prompt_len} tokens, which leaves no room for output in the context of {context} tokens"
                ),
            ));
        }
        let room = context - prompt_len;
        let max_tokens = match common.max_tokens {
            Some(wanted) if wanted > room => {
                let field = CommonParams::max_tokens_field(object);
                return Err(ApiError::invalid(
                    field,
                    format!(
                        "the prompt ({prompt_len} tokens) plus {field} ({wanted}) exceed the context of {context} tokens; at most {room} tokens can be generated"
                    ),
                ));
            }
            Some(wanted) => wanted,
            None => self.options.default_max_tokens.min(room),
        };
        let mut stop = self.assets.stop_conditions().with_max_tokens(max_tokens);
        stop.stop_strings
            .extend(self.options.stop_strings.iter().cloned());
        stop.stop_strings.extend(common.stop.iter().cloned());
        let mut generator = Generator::new(&self.assets.tokenizer, common.sampler.clone(), stop)
            .map_err(|e| ApiError::malformed(e.to_string()))?;
        generator.set_show_special(self.options.show_special);
        Ok(generator)
    }

    /// Queues a job; 429 when the queue is full.
    fn enqueue(
        &self,
        kind: &'static str,
        prompt: Vec<u32>,
        generator: Generator,
    ) -> Result<UnboundedReceiver<Event>, ApiError> {
        let (events, receiver) = unbounded_channel();
        let job = Job {
            kind,
            prompt,
            generator,
            events,
        };
        // Counted before sending so the worker's decrement never runs first.
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let refused = match self.jobs.try_send(job) {
            Ok(()) => return Ok(receiver),
            Err(TrySendError::Full(_)) => ApiError::busy(self.options.queue_capacity),
            Err(TrySendError::Disconnected(_)) => {
                ApiError::unavailable("the model worker has stopped")
            }
        };
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        Err(refused)
    }
}

async fn chat(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let object = read_body(&shared, body)?;
    let request = ChatRequest::parse(&object, &shared.options.sampling)?;
    let options = RenderOptions {
        add_generation_prompt: true,
        enable_thinking: Some(
            request
                .enable_thinking
                .unwrap_or(shared.options.default_thinking),
        ),
        tools: (!request.tools.is_empty()).then(|| request.tools.clone()),
        extra: request.template_variables.clone(),
    };
    let text = shared
        .assets
        .template
        .render(&request.messages, &options)
        .map_err(|e| ApiError::invalid("messages", format!("cannot render the messages: {e}")))?;
    let prompt = shared
        .assets
        .tokenizer
        .encode(&text)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut generator = shared.generator(&request.common, &object, "messages", prompt.len())?;
    let parse_tools = request.parses_tool_calls();
    if parse_tools {
        generator.set_tools(request.tools.clone());
    }
    let events = shared.enqueue("chat", prompt, generator)?;
    let reply = Reply::new(&shared, request.common.include_usage);
    let assembler = ChatAssembler::new(parse_tools);
    if request.common.stream {
        return Ok(sse(
            events,
            ChatStream {
                reply,
                assembler,
                service: 0,
            },
        ));
    }
    let (service, pieces, finished) = collect(events).await?;
    let mut assembler = assembler;
    for (channel, text) in &pieces {
        assembler.push(*channel, text);
    }
    let answer = assembler.finish(&finished, service);
    let mut message = json!({"role": "assistant", "content": answer.content});
    // The generation's own record: set (maybe empty) whenever a reasoning segment opened.
    let reasoning = finished.generation.reasoning.as_ref();
    if let Some(reasoning) = reasoning.or(assembler.reasoning.as_ref()) {
        message["reasoning_content"] = json!(reasoning);
    }
    if !answer.tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(answer.tool_calls);
    }
    let mut body = reply.head("chat.completion", service);
    body["choices"] = json!([{
        "index": 0,
        "message": message,
        "logprobs": null,
        "finish_reason": answer.finish_reason,
    }]);
    body["usage"] = usage(&finished);
    Ok(axum::Json(body).into_response())
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let object = read_body(&shared, body)?;
    let request = CompletionRequest::parse(&object, &shared.options.sampling)?;
    let tokenizer = &shared.assets.tokenizer;
    let prompt = match &request.prompt {
        PromptInput::Text(text) => tokenizer
            .encode(text)
            .map_err(|e| ApiError::internal(e.to_string()))?,
        PromptInput::Tokens(ids) => {
            let vocab = tokenizer.vocab_size();
            if let Some(i) = ids.iter().position(|&id| id as usize >= vocab) {
                return Err(ApiError::invalid(
                    format!("prompt[{i}]"),
                    format!(
                        "prompt[{i}]: token id {} is not below the vocabulary size {vocab}",
                        ids[i]
                    ),
                ));
            }
            ids.clone()
        }
    };
    if prompt.is_empty() {
        return Err(ApiError::invalid(
            "prompt",
            "the prompt encodes to no tokens",
        ));
    }
    let mut generator = shared.generator(&request.common, &object, "prompt", prompt.len())?;
    generator.set_split_reasoning(false);
    let events = shared.enqueue("completion", prompt, generator)?;
    let reply = Reply::new(&shared, request.common.include_usage);
    if request.common.stream {
        return Ok(sse(events, CompletionStream { reply, service: 0 }));
    }
    let (service, _, finished) = collect(events).await?;
    let mut body = reply.head("text_completion", service);
    body["choices"] = json!([{
        "index": 0,
        "text": finished.generation.text,
        "logprobs": null,
        "finish_reason": finish_reason(&finished.generation.finish_reason, false),
    }]);
    body["usage"] = usage(&finished);
    Ok(axum::Json(body).into_response())
}

/// Waits for a job's end: its service number, its pieces and the result.
async fn collect(
    mut events: UnboundedReceiver<Event>,
) -> Result<(u64, Vec<(Channel, String)>, Finished), ApiError> {
    let mut service = 0;
    let mut pieces = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Started { service: s } => service = s,
            Event::Piece { channel, text } => pieces.push((channel, text)),
            Event::Finished(finished) => return Ok((service, pieces, *finished)),
            Event::Failed(message) => return Err(ApiError::internal(message)),
        }
    }
    Err(ApiError::internal(
        "the model worker stopped before answering",
    ))
}

/// What every response object of one request carries.
struct Reply {
    model: String,
    created: u64,
    include_usage: bool,
}

impl Reply {
    fn new(shared: &Shared, include_usage: bool) -> Self {
        Self {
            model: shared.options.model_id.clone(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            include_usage,
        }
    }

    /// `id` (numbered in order of service), `object`, `created`, `model`.
    fn head(&self, object: &str, service: u64) -> Value {
        let prefix = if object.starts_with("chat") {
            "chatcmpl"
        } else {
            "cmpl"
        };
        json!({
            "id": format!("{prefix}-{service}"),
            "object": object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
        })
    }
}

impl Reply {
    /// The last chunk of a stream with `stream_options.include_usage`: no choices, the usage.
    fn usage_chunk(&self, object: &str, service: u64, finished: &Finished) -> SseEvent {
        let mut body = self.head(object, service);
        body["choices"] = json!([]);
        body["usage"] = usage(finished);
        data(body)
    }
}

fn usage(finished: &Finished) -> Value {
    let completion = finished.generation.tokens.len();
    json!({
        "prompt_tokens": finished.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": finished.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": finished.cached_tokens},
    })
}

fn finish_reason(reason: &FinishReason, tool_calls: bool) -> &'static str {
    if tool_calls {
        return "tool_calls";
    }
    match reason {
        FinishReason::MaxTokens | FinishReason::ContextFull => "length",
        FinishReason::StopToken(_) | FinishReason::StopString(_) | FinishReason::Cancelled => {
            "stop"
        }
    }
}

/// Turns a chat generation's pieces into the answer, the same way for a stream and a single
/// response: reasoning as is; content as is, except that when tool calls are parsed the text
/// from the first `<zyphra_tool_call>` on is held back and, if calls parse from it, replaced by
/// `tool_calls`.
struct ChatAssembler {
    parse_tools: bool,
    gate: StopStringMatcher,
    reasoning: Option<String>,
    /// Every content piece.
    content: String,
    /// Bytes of `content` released as content.
    released: usize,
}

/// The end of an answer: content released at the end, the tool calls, the finish reason.
struct Answer {
    /// The whole content (`null` when empty and there are tool calls).
    content: Value,
    /// Content released only at the end (held-back markup that did not parse as a call).
    tail: String,
    tool_calls: Vec<Value>,
    finish_reason: &'static str,
}

impl ChatAssembler {
    fn new(parse_tools: bool) -> Self {
        Self {
            parse_tools,
            gate: StopStringMatcher::new(&[TOOL_CALL_START.to_string()]),
            reasoning: None,
            content: String::new(),
            released: 0,
        }
    }

    /// Takes a piece; returns the content released by it (reasoning is never held).
    fn push(&mut self, channel: Channel, text: &str) -> String {
        match channel {
            Channel::Reasoning => {
                self.reasoning.get_or_insert_default().push_str(text);
                String::new()
            }
            Channel::Content => {
                self.content.push_str(text);
                if !self.parse_tools {
                    self.released = self.content.len();
                    return text.to_string();
                }
                self.gate.push(text);
                let released = self.gate.releasable().to_string();
                self.released += released.len();
                released
            }
        }
    }

    fn finish(&mut self, finished: &Finished, service: u64) -> Answer {
        let generation = &finished.generation;
        let calls: &[ToolCall] = if self.parse_tools {
            &generation.tool_calls
        } else {
            &[]
        };
        let tail = if calls.is_empty() {
            let tail = self.content[self.released..].to_string();
            self.released = self.content.len();
            tail
        } else {
            String::new()
        };
        let content = &self.content[..self.released];
        let content = if calls.is_empty() {
            json!(content)
        } else if content.trim().is_empty() {
            Value::Null
        } else {
            json!(content.trim())
        };
        let tool_calls = calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                json!({
                    "index": i,
                    "id": format!("call_{service}_{i}"),
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": Value::Object(call.arguments.clone()).to_string(),
                    },
                })
            })
            .collect();
        Answer {
            content,
            tail,
            tool_calls,
            finish_reason: finish_reason(&generation.finish_reason, !calls.is_empty()),
        }
    }
}

/// Turns a job's events into server-sent events.
trait StreamFormat: Send + 'static {
    /// The events to send for one job event, and whether the stream is complete.
    fn on_event(&mut self, event: Event) -> (Vec<SseEvent>, bool);
}

fn sse(events: UnboundedReceiver<Event>, format: impl StreamFormat) -> Response {
    let stream = stream::unfold(
        (events, format, false),
        |(mut events, mut format, done)| async move {
            if done {
                return None;
            }
            let (out, done) = match events.recv().await {
                Some(event) => format.on_event(event),
                None => (
                    failed(&ApiError::internal(
                        "the model worker stopped before answering",
                    )),
                    true,
                ),
            };
            Some((out, (events, format, done)))
        },
    )
    .flat_map(|out| stream::iter(out.into_iter().map(Ok::<_, Infallible>)));
    sse_response(stream)
}

fn sse_response(
    stream: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
) -> Response {
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn data(value: Value) -> SseEvent {
    SseEvent::default().data(value.to_string())
}

/// An error object then `[DONE]` (the OpenAI clients raise on the error).
fn failed(error: &ApiError) -> Vec<SseEvent> {
    vec![data(error.body()), SseEvent::default().data("[DONE]")]
}

struct ChatStream {
    reply: Reply,
    assembler: ChatAssembler,
    /// Known once the job starts.
    service: u64,
}

impl ChatStream {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> SseEvent {
        let mut body = self.reply.head("chat.completion.chunk", self.service);
        body["choices"] = json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]);
        data(body)
    }
}

impl StreamFormat for ChatStream {
    fn on_event(&mut self, event: Event) -> (Vec<SseEvent>, bool) {
        match event {
            Event::Started { service } => {
                self.service = service;
                let first = self.chunk(json!({"role": "assistant", "content": ""}), None);
                (vec![first], false)
            }
            Event::Piece { channel, text } => {
                let released = self.assembler.push(channel, &text);
                let delta = match channel {
                    Channel::Reasoning => json!({"reasoning_content": text}),
                    Channel::Content if released.is_empty() => return (Vec::new(), false),
                    Channel::Content => json!({"content": released}),
                };
                (vec![self.chunk(delta, None)], false)
            }
            Event::Finished(finished) => {
                let answer = self.assembler.finish(&finished, self.service);
                let mut out = Vec::new();
                if !answer.tail.is_empty() {
                    out.push(self.chunk(json!({"content": answer.tail}), None));
                }
                if !answer.tool_calls.is_empty() {
                    out.push(self.chunk(json!({"tool_calls": answer.tool_calls}), None));
                }
                out.push(self.chunk(json!({}), Some(answer.finish_reason)));
                if self.reply.include_usage {
                    out.push(self.reply.usage_chunk(
                        "chat.completion.chunk",
                        self.service,
                        &finished,
                    ));
                }
                out.push(SseEvent::default().data("[DONE]"));
                (out, true)
            }
            Event::Failed(message) => (failed(&ApiError::internal(message)), true),
        }
    }
}

struct CompletionStream {
    reply: Reply,
    service: u64,
}

impl CompletionStream {
    fn chunk(&self, text: &str, finish_reason: Option<&str>) -> SseEvent {
        let mut body = self.reply.head("text_completion", self.service);
        body["choices"] = json!([{
            "index": 0,
            "text": text,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]);
        data(body)
    }
}

impl StreamFormat for CompletionStream {
    fn on_event(&mut self, event: Event) -> (Vec<SseEvent>, bool) {
        match event {
            Event::Started { service } => {
                self.service = service;
                (Vec::new(), false)
            }
            Event::Piece { text, .. } => (vec![self.chunk(&text, None)], false),
            Event::Finished(finished) => {
                let reason = finish_reason(&finished.generation.finish_reason, false);
                let mut out = vec![self.chunk("", Some(reason))];
                if self.reply.include_usage {
                    out.push(
                        self.reply
                            .usage_chunk("text_completion", self.service, &finished),
                    );
                }
                out.push(SseEvent::default().data("[DONE]"));
                (out, true)
            }
            Event::Failed(message) => (failed(&ApiError::internal(message)), true),
        }
    }
}
