//! The OpenAI wire format: request parsing with errors that name the field, and the error body
//! (`{"error": {"message", "type", "param", "code"}}`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use zaya_chat::{Message, SamplerConfig, ToolCall};

/// An OpenAI-style error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field at fault (`messages[1].role`, `max_tokens`...).
    pub param: Option<String>,
    pub kind: &'static str,
    pub code: Option<&'static str>,
}

impl ApiError {
    /// A 400 naming the field at fault.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            param: Some(param.into()),
            kind: "invalid_request_error",
            code: None,
        }
    }

    /// A 400 about the request as a whole (malformed JSON...).
    pub fn malformed(message: impl Into<String>) -> Self {
        Self {
            param: None,
            ..Self::invalid("", message)
        }
    }

    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: Some("invalid_api_key"),
            ..Self::malformed(
                "missing or incorrect API key: send the server's --api-key as \"Authorization: Bearer KEY\"",
            )
        }
    }

    pub fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            ..Self::invalid("body", format!("the request body exceeds {limit} bytes"))
        }
    }

    pub fn busy(capacity: usize) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            code: Some("queue_full"),
            ..Self::malformed(format!(
                "the server is busy: {capacity} requests are already waiting; retry later"
            ))
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "server_error",
            ..Self::malformed(message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            ..Self::malformed(message)
        }
    }

    pub fn not_found(path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: Some("not_found"),
            ..Self::malformed(format!(
                "no route {path}: this server has POST /v1/chat/completions, POST /v1/completions, GET /v1/models[/ID] and GET /health"
            ))
        }
    }

    /// The JSON body, also sent as an SSE event when a stream fails.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// Parses a request body that must be a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::malformed(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::malformed(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// An optional field of type `T` (null counts as absent); a value of another type is a 400
/// naming `path`.
fn field<T: DeserializeOwned>(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<T>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|e| ApiError::invalid(path, format!("{path}: {e}"))),
    }
}

fn top<T: DeserializeOwned>(
    object: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    field(object, name, name)
}

/// What `/v1/chat/completions` and `/v1/completions` share: streaming, sampling, stopping.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonParams {
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk carries the usage.
    pub include_usage: bool,
    pub sampler: SamplerConfig,
    pub max_tokens: Option<usize>,
    pub stop: Vec<String>,
}

impl CommonParams {
    /// Reads the shared fields over the server's sampling `defaults`. A request without a seed
    /// gets `defaults.seed`, or a fresh one when that is unset too.
    pub fn parse(object: &Map<String, Value>, defaults: &SamplerConfig) -> Result<Self, ApiError> {
        if let Some(n) = top::<u64>(object, "n")? {
            if n != 1 {
                return Err(ApiError::invalid(
                    "n",
                    "n: only one choice per request is supported",
                ));
            }
        }
        let include_usage = match object.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(options)) => {
                field::<bool>(options, "include_usage", "stream_options.include_usage")?
                    .unwrap_or(false)
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "stream_options",
                    "stream_options must be an object",
                ));
            }
        };
        let mut sampler = defaults.clone();
        if let Some(t) = top::<f32>(object, "temperature")? {
            sampler.temperature = t;
        }
        if let Some(p) = top::<f32>(object, "top_p")? {
            sampler.top_p = p;
        }
        if let Some(k) = top::<i64>(object, "top_k")? {
            // vLLM and SGLang spell "off" as -1.
            sampler.top_k = usize::try_from(k).unwrap_or(0);
        }
        if let Some(p) = top::<f32>(object, "min_p")? {
            sampler.min_p = p;
        }
        if let Some(r) = top::<f32>(object, "repetition_penalty")? {
            sampler.repetition_penalty = r;
        }
        if let Some(seed) = top::<i64>(object, "seed")? {
            sampler.seed = Some(seed as u64);
        }
        if sampler.seed.is_none() && !sampler.is_greedy() {
            sampler.seed = Some(rand_seed());
        }
        if let Err(zaya_chat::ChatError::InvalidSampler {
            field,
            value,
            reason,
        }) = sampler.validate()
        {
            return Err(ApiError::invalid(
                field,
                format!("{field} = {value}: {reason}"),
            ));
        }
        let max_tokens = match top::<u64>(object, "max_completion_tokens")? {
            Some(n) => Some(("max_completion_tokens", n)),
            None => top::<u64>(object, "max_tokens")?.map(|n| ("max_tokens", n)),
        };
        if let Some((name, 0)) = max_tokens {
            return Err(ApiError::invalid(
                name,
                format!("{name} must be at least 1"),
            ));
        }
        let stop = match object.get("stop") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(_)) => top::<Vec<String>>(object, "stop")?.unwrap_or_default(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "stop",
                    "stop must be a string or an array of strings",
                ));
            }
        };
        Ok(Self {
            stream: top::<bool>(object, "stream")?.unwrap_or(false),
            include_usage,
            sampler,
            max_tokens: max_tokens.map(|(_, n)| n as usize),
            stop,
        })
    }

    /// Name of the field that set `max_tokens`, for errors.
    pub fn max_tokens_field(object: &Map<String, Value>) -> &'static str {
        if object
            .get("max_completion_tokens")
            .is_some_and(|v| !v.is_null())
        {
            "max_completion_tokens"
        } else {
            "max_tokens"
        }
    }
}

/// A seed for a sampled request that brought none.
fn rand_seed() -> u64 {
    rand::random()
}

/// What the model may do with the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// Tool calls in the output stay text.
    None,
    Auto,
    Required,
    /// Only this function is offered.
    Function(String),
}

/// A parsed `/v1/chat/completions` request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Tool schemas rendered into the prompt (only the named one for a named `tool_choice`).
    pub tools: Vec<Value>,
    pub tool_choice: ToolChoice,
    /// `chat_template_kwargs.enable_thinking`.
    pub enable_thinking: Option<bool>,
    /// The other `chat_template_kwargs`, as template variables.
    pub template_variables: Map<String, Value>,
    pub common: CommonParams,
}

impl ChatRequest {
    pub fn parse(object: &Map<String, Value>, defaults: &SamplerConfig) -> Result<Self, ApiError> {
        let messages = parse_messages(object.get("messages"))?;
        let mut tools = parse_tools(object)?;
        let tool_choice = parse_tool_choice(object, &tools)?;
        if let ToolChoice::Function(name) = &tool_choice {
            tools.retain(|tool| function_name(tool) == Some(name.as_str()));
        }
        let mut template_variables = match object.get("chat_template_kwargs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "chat_template_kwargs",
                    "chat_template_kwargs must be an object",
                ));
            }
        };
        let enable_thinking = field::<bool>(
            &template_variables,
            "enable_thinking",
            "chat_template_kwargs.enable_thinking",
        )?;
        template_variables.remove("enable_thinking");
        Ok(Self {
            messages,
            tools,
            tool_choice,
            enable_thinking,
            template_variables,
            common: CommonParams::parse(object, defaults)?,
        })
    }

    /// Whether tool calls in the output are returned as `tool_calls`.
    pub fn parses_tool_calls(&self) -> bool {
        !self.tools.is_empty() && self.tool_choice != ToolChoice::None
    }
}

fn parse_messages(value: Option<&Value>) -> Result<Vec<Message>, ApiError> {
    let list = match value {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid("messages", "messages must not be empty"));
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("messages", "messages is required"));
        }
        Some(_) => return Err(ApiError::invalid("messages", "messages must be an array")),
    };
    list.iter()
        .enumerate()
        .map(|(i, value)| parse_message(i, value))
        .collect()
}

fn parse_message(i: usize, value: &Value) -> Result<Message, ApiError> {
    let at = |name: &str| format!("messages[{i}].{name}");
    let Value::Object(object) = value else {
        return Err(ApiError::invalid(
            format!("messages[{i}]"),
            format!("messages[{i}] must be an object"),
        ));
    };
    let role: String = field(object, "role", &at("role"))?
        .ok_or_else(|| ApiError::invalid(at("role"), format!("{} is required", at("role"))))?;
    let role = match role.as_str() {
        "system" | "developer" => "system",
        "user" => "user",
        "assistant" => "assistant",
        "tool" => "tool",
        other => {
            return Err(ApiError::invalid(
                at("role"),
                format!(
                    "{}: unknown role {other:?}; expected system, developer, user, assistant or tool",
                    at("role")
                ),
            ));
        }
    };
    let content = match object.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Array(parts)) => Some(text_parts(i, parts)?),
        Some(_) => {
            return Err(ApiError::invalid(
                at("content"),
                format!(
                    "{} must be a string or an array of text parts",
                    at("content")
                ),
            ));
        }
    };
    let tool_calls: Vec<ToolCall> =
        field(object, "tool_calls", &at("tool_calls"))?.unwrap_or_default();
    if content.is_none() && tool_calls.is_empty() && role != "assistant" {
        return Err(ApiError::invalid(
            at("content"),
            format!("{} is required for the {role} role", at("content")),
        ));
    }
    let reasoning_content = match field(object, "reasoning_content", &at("reasoning_content"))? {
        Some(text) => Some(text),
        None => field(object, "reasoning", &at("reasoning"))?,
    };
    Ok(Message {
        role: role.into(),
        content,
        reasoning_content,
        tool_calls,
        tool_call_id: field(object, "tool_call_id", &at("tool_call_id"))?,
        name: field(object, "name", &at("name"))?,
    })
}

/// `[{"type": "text", "text": ...}, ...]` joined by newlines; other part types are refused.
fn text_parts(i: usize, parts: &[Value]) -> Result<String, ApiError> {
    let mut texts = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        let kind = part.get("type").and_then(Value::as_str);
        match (kind, part.get("text").and_then(Value::as_str)) {
            (Some("text") | None, Some(text)) => texts.push(text),
            _ => {
                return Err(ApiError::invalid(
                    format!("{path}.type"),
                    format!(
                        "{path}: only text parts ({{\"type\": \"text\", \"text\": ...}}) are supported"
                    ),
                ));
            }
        }
    }
    Ok(texts.join("\n"))
}

fn function_name(tool: &Value) -> Option<&str> {
    tool.get("function").unwrap_or(tool).get("name")?.as_str()
}

fn parse_tools(object: &Map<String, Value>) -> Result<Vec<Value>, ApiError> {
    let tools: Vec<Value> = top(object, "tools")?.unwrap_or_default();
    for (i, tool) in tools.iter().enumerate() {
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        if kind != "function" {
            return Err(ApiError::invalid(
                format!("tools[{i}].type"),
                format!("tools[{i}].type: only \"function\" tools are supported, not {kind:?}"),
            ));
        }
        if function_name(tool).is_none() {
            return Err(ApiError::invalid(
                format!("tools[{i}].function.name"),
                format!("tools[{i}].function.name is required"),
            ));
        }
    }
    Ok(tools)
}

fn parse_tool_choice(object: &Map<String, Value>, tools: &[Value]) -> Result<ToolChoice, ApiError> {
    let choice = match object.get("tool_choice") {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(ApiError::invalid(
                    "tool_choice",
                    format!(
                        "tool_choice: unknown value {other:?}; expected none, auto, required or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}"
                    ),
                ));
            }
        },
        Some(value) => match value
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => ToolChoice::Function(name.to_string()),
            None => {
                return Err(ApiError::invalid(
                    "tool_choice.function.name",
                    "tool_choice.function.name is required",
                ));
            }
        },
    };
    match &choice {
        ToolChoice::Required if tools.is_empty() => Err(ApiError::invalid(
            "tool_choice",
            "tool_choice is \"required\" but no tools were given",
        )),
        ToolChoice::Function(name) if !tools.iter().any(|t| function_name(t) == Some(name)) => {
            Err(ApiError::invalid(
                "tool_choice.function.name",
                format!("tool_choice names {name:?}, which is not among the tools"),
            ))
        }
        _ => Ok(choice),
    }
}

/// The prompt of a `/v1/completions` request.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptInput {
    Text(String),
    Tokens(Vec<u32>),
}

/// A parsed `/v1/completions` request.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    pub prompt: PromptInput,
    pub common: CommonParams,
}

impl CompletionRequest {
    pub fn parse(object: &Map<String, Value>, defaults: &SamplerConfig) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::invalid(
                "prompt",
                "prompt must be a string, a list of one string, or a list of token ids",
            )
        };
        let prompt = match object.get("prompt") {
            None | Some(Value::Null) => {
                return Err(ApiError::invalid("prompt", "prompt is required"));
            }
            Some(Value::String(text)) => PromptInput::Text(text.clone()),
            Some(Value::Array(items)) => match items.as_slice() {
                [Value::String(text)] => PromptInput::Text(text.clone()),
                items if !items.is_empty() && items.iter().all(Value::is_u64) => {
                    PromptInput::Tokens(
                        items
                            .iter()
                            .filter_map(Value::as_u64)
                            .map(|t| u32::try_from(t).map_err(|_| bad()))
                            .collect::<Result<_, _>>()?,
                    )
                }
                _ => return Err(bad()),
            },
            Some(_) => return Err(bad()),
        };
        Ok(Self {
            prompt,
            common: CommonParams::parse(object, defaults)?,
        })
    }
}
