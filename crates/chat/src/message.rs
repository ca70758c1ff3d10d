//! Chat messages and tool calls, serialized the way Hugging Face chat templates expect them.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// One structured tool call: the function name and its arguments as a JSON object.
///
/// Serialized in the OpenAI/HF shape templates iterate over,
/// `{"type": "function", "function": {"name": ..., "arguments": {...}}}`; deserialization also
/// accepts the flat `{name, arguments}` form and `arguments` given as a JSON string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Map<String, Value>,
}

impl ToolCall {
    pub fn new(name: impl Into<String>, arguments: Map<String, Value>) -> Self {
        Self {
            name: name.into(),
            arguments,
        }
    }
}

impl Serialize for ToolCall {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        })
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ToolCall {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let function = value.get("function").unwrap_or(&value);
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| D::Error::custom("tool call without a function name"))?
            .to_string();
        let arguments = match function.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(D::Error::custom(
                        "tool call arguments string is not a JSON object",
                    ));
                }
            },
            Some(_) => return Err(D::Error::custom("tool call arguments must be an object")),
        };
        Ok(ToolCall { name, arguments })
    }
}

/// A chat message with the fields HF templates read. `content` is always present in the
/// serialized form (null when `None`), the optional fields only when set.
///
/// Templates that need other shapes (multi-part content...) can be rendered with any
/// `Serialize` type instead, e.g. `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(content.into()),
            ..Self::default()
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
    /// A tool result (its content is what the tool returned, usually JSON text).
    pub fn tool(content: impl Into<String>) -> Self {
        Self::new("tool", content)
    }
    pub fn with_reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.reasoning_content = Some(reasoning.into());
        self
    }
    pub fn with_tool_calls(mut self, calls: Vec<ToolCall>) -> Self {
        self.tool_calls = calls;
        self
    }
}
