//! Output parsing: the `<think>...</think>` reasoning split (streaming and whole-text) and
//! `zaya_xml` tool calls typed by the tools' JSON schemas.

use serde_json::{Map, Value};

use crate::message::ToolCall;
use crate::tokenizer::tokens::{THINK_END, THINK_START, TOOL_CALL_END, TOOL_CALL_START};

/// Which part of the answer a piece of text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Inside `<think>...</think>`.
    Reasoning,
    /// The visible answer (tool-call markup included, raw).
    Content,
}

/// Streaming reasoning/content splitter.
///
/// Removes the think tags, drops the newlines the template puts around them (leading newlines
/// of a segment after a tag, trailing newlines before `</think>`), and holds back a text tail
/// that might be the start of a tag so no partial tag is ever emitted.
#[derive(Debug, Clone)]
pub struct ReasoningSplitter {
    channel: Channel,
    pending: String,
    at_segment_start: bool,
    saw_reasoning: bool,
}

impl ReasoningSplitter {
    /// `starts_in_reasoning`: the prompt already opened `<think>` (thinking on).
    pub fn new(starts_in_reasoning: bool) -> Self {
        Self {
            channel: if starts_in_reasoning {
                Channel::Reasoning
            } else {
                Channel::Content
            },
            pending: String::new(),
            at_segment_start: starts_in_reasoning,
            saw_reasoning: starts_in_reasoning,
        }
    }

    /// The channel text is currently going to.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Whether any reasoning segment was opened.
    pub fn saw_reasoning(&self) -> bool {
        self.saw_reasoning
    }

    /// Feeds text; `emit` receives non-empty pieces with their channel.
    pub fn push(&mut self, text: &str, emit: &mut dyn FnMut(Channel, &str)) {
        self.pending.push_str(text);
        loop {
            if self.at_segment_start {
                let trimmed = self.pending.trim_start_matches('\n').len();
                self.pending.drain(..self.pending.len() - trimmed);
                if self.pending.is_empty() {
                    return;
                }
                self.at_segment_start = false;
            }
            let tag = match self.channel {
                Channel::Reasoning => THINK_END,
                Channel::Content => THINK_START,
            };
            if let Some(at) = self.pending.find(tag) {
                let mut segment = &self.pending[..at];
                if self.channel == Channel::Reasoning {
                    segment = segment.trim_end_matches('\n');
                }
                if !segment.is_empty() {
                    emit(self.channel, segment);
                }
                self.pending.drain(..at + tag.len());
                self.channel = match self.channel {
                    Channel::Reasoning => Channel::Content,
                    Channel::Content => Channel::Reasoning,
                };
                self.saw_reasoning |= self.channel == Channel::Reasoning;
                self.at_segment_start = true;
                continue;
            }
            // Hold back a possible partial tag, and in reasoning the newlines before it.
            let mut keep_from = self.pending.len() - partial_suffix(&self.pending, tag);
            if self.channel == Channel::Reasoning {
                keep_from = self.pending[..keep_from].trim_end_matches('\n').len();
            }
            if keep_from > 0 {
                emit(self.channel, &self.pending[..keep_from]);
                self.pending.drain(..keep_from);
            }
            return;
        }
    }

    /// End of text: releases held text (a partial tag is just text; trailing reasoning newlines
    /// are dropped).
    pub fn finish(&mut self, emit: &mut dyn FnMut(Channel, &str)) {
        let mut rest = std::mem::take(&mut self.pending);
        if self.channel == Channel::Reasoning {
            rest.truncate(rest.trim_end_matches('\n').len());
        }
        if !rest.is_empty() {
            emit(self.channel, &rest);
        }
    }
}

/// Length of the longest proper prefix of `tag` that `text` ends with.
fn partial_suffix(text: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&len| text.len() >= len && text.ends_with(&tag[..len]))
        .unwrap_or(0)
}

/// Reasoning and content of a finished output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedOutput {
    /// `None` when the output had no reasoning segment.
    pub reasoning: Option<String>,
    /// The answer with tool-call markup removed (trimmed when calls were removed).
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
}

/// Splits text into reasoning and content. `starts_in_reasoning` is true when the prompt ended
/// inside `<think>`; text with a `</think>` but no `<think>` before it is treated the same way
/// (the model relied on an opening tag it was not shown). An unclosed reasoning segment takes
/// the rest of the text.
pub fn split_reasoning(text: &str, starts_in_reasoning: bool) -> (Option<String>, String) {
    let starts_in_reasoning = starts_in_reasoning
        || match (text.find(THINK_END), text.find(THINK_START)) {
            (Some(end), Some(start)) => end < start,
            (Some(_), None) => true,
            _ => false,
        };
    let mut splitter = ReasoningSplitter::new(starts_in_reasoning);
    let mut reasoning = String::new();
    let mut content = String::new();
    let mut sink = |channel: Channel, piece: &str| match channel {
        Channel::Reasoning => reasoning.push_str(piece),
        Channel::Content => content.push_str(piece),
    };
    splitter.push(text, &mut sink);
    splitter.finish(&mut sink);
    let reasoning = splitter.saw_reasoning().then_some(reasoning);
    (reasoning, content)
}

/// Full parse: reasoning split, then tool calls out of the content, typed by `tools`.
pub fn parse_output(text: &str, starts_in_reasoning: bool, tools: &[Value]) -> ParsedOutput {
    let (reasoning, content) = split_reasoning(text, starts_in_reasoning);
    let (content, tool_calls) = parse_tool_calls(&content, tools);
    ParsedOutput {
        reasoning,
        content,
        tool_calls,
    }
}

/// Extracts `<zyphra_tool_call>` blocks:
/// `<zyphra_tool_call>\n<function=NAME>\n<parameter=K>\nV\n</parameter>\n</function>\n</zyphra_tool_call>`.
///
/// Tolerates missing closing tags (a call then ends at the next call or at the end of text).
/// Blocks without a `<function=...>` are left in the content untouched. When calls were found,
/// the remaining content is trimmed.
pub fn parse_tool_calls(content: &str, tools: &[Value]) -> (String, Vec<ToolCall>) {
    let mut calls = Vec::new();
    let mut text = String::new();
    let mut rest = content;
    while let Some(start) = rest.find(TOOL_CALL_START) {
        text.push_str(&rest[..start]);
        let after = &rest[start + TOOL_CALL_START.len()..];
        let next_start = after.find(TOOL_CALL_START).unwrap_or(after.len());
        let (body, next) = match after[..next_start].find(TOOL_CALL_END) {
            Some(end) => (&after[..end], &after[end + TOOL_CALL_END.len()..]),
            None => (&after[..next_start], &after[next_start..]),
        };
        match parse_function(body, tools) {
            Some(call) => calls.push(call),
            None => text.push_str(&rest[start..rest.len() - next.len()]),
        }
        rest = next;
    }
    text.push_str(rest);
    if !calls.is_empty() {
        text = text.trim().to_string();
    }
    (text, calls)
}

const FUNCTION_START: &str = "<function=";
const FUNCTION_END: &str = "</function>";
const PARAMETER_START: &str = "<parameter=";
const PARAMETER_END: &str = "</parameter>";

/// Parses the inside of one tool-call block.
fn parse_function(body: &str, tools: &[Value]) -> Option<ToolCall> {
    let at = body.find(FUNCTION_START)?;
    let after = &body[at + FUNCTION_START.len()..];
    let name_end = after.find(['>', '\n']).unwrap_or(after.len());
    let name = after[..name_end].trim();
    if name.is_empty() {
        return None;
    }
    let mut inner = after[name_end..]
        .strip_prefix('>')
        .unwrap_or(&after[name_end..]);
    if let Some(end) = inner.find(FUNCTION_END) {
        inner = &inner[..end];
    }
    let properties = tool_properties(tools, name);
    let mut arguments = Map::new();
    let mut rest = inner;
    while let Some(p) = rest.find(PARAMETER_START) {
        let after = &rest[p + PARAMETER_START.len()..];
        let key_end = after.find(['>', '\n']).unwrap_or(after.len());
        let key = after[..key_end].trim().to_string();
        let value_region = after[key_end..]
            .strip_prefix('>')
            .unwrap_or(&after[key_end..]);
        let end = [PARAMETER_END, PARAMETER_START]
            .iter()
            .filter_map(|t| value_region.find(t))
            .min()
            .unwrap_or(value_region.len());
        let raw = &value_region[..end];
        let raw = raw.strip_prefix('\n').unwrap_or(raw);
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        let schema = properties.and_then(|p| p.get(&key));
        if !key.is_empty() {
            arguments.insert(key, typed_value(raw, schema));
        }
        let consumed = &value_region[end..];
        rest = consumed.strip_prefix(PARAMETER_END).unwrap_or(consumed);
    }
    Some(ToolCall {
        name: name.to_string(),
        arguments,
    })
}

/// The `parameters.properties` object of the named tool (OpenAI `{"function": {...}}` or bare).
fn tool_properties<'a>(tools: &'a [Value], name: &str) -> Option<&'a Map<String, Value>> {
    tools.iter().find_map(|tool| {
        let function = tool.get("function").unwrap_or(tool);
        (function.get("name")?.as_str()? == name)
            .then(|| function.get("parameters")?.get("properties")?.as_object())
            .flatten()
    })
}

/// JSON-schema types a parameter accepts (`type` string or list, or the types of
/// `anyOf`/`oneOf` branches).
fn schema_types(schema: &Value) -> Vec<String> {
    let mut types = Vec::new();
    match schema.get("type") {
        Some(Value::String(t)) => types.push(t.clone()),
        Some(Value::Array(list)) => {
            types.extend(list.iter().filter_map(|t| t.as_str().map(str::to_string)))
        }
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            for branch in branches {
                types.extend(schema_types(branch));
            }
        }
    }
    types
}

/// Converts a parameter's text to the type its schema declares. Strings stay verbatim; a value
/// that does not parse as its declared type is kept as a string so nothing is lost. Parameters
/// the schema does not describe become JSON only when they are an object or array.
fn typed_value(raw: &str, schema: Option<&Value>) -> Value {
    let types = schema.map(schema_types).unwrap_or_default();
    let trimmed = raw.trim();
    let as_json = || serde_json::from_str::<Value>(trimmed).ok();
    if types.is_empty() {
        // Unknown parameter (or schema without a type): structured JSON only.
        return match as_json() {
            Some(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => Value::String(raw.to_string()),
        };
    }
    for t in types.iter().filter(|t| t.as_str() != "string") {
        let parsed = match t.as_str() {
            "integer" => as_json().filter(|v| v.is_i64() || v.is_u64()),
            "number" => as_json().filter(Value::is_number),
            "boolean" => match trimmed.to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            "null" => matches!(trimmed, "null" | "None").then_some(Value::Null),
            "object" => as_json().filter(Value::is_object),
            "array" => as_json().filter(Value::is_array),
            _ => None,
        };
        if let Some(v) = parsed {
            return v;
        }
    }
    Value::String(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_tags_are_held_back_while_streaming() {
        let mut s = ReasoningSplitter::new(true);
        let mut got: Vec<(Channel, String)> = Vec::new();
        let mut sink = |c: Channel, t: &str| got.push((c, t.to_string()));
        for piece in [
            "\nLet me",
            " think.\n</th",
            "ink>\n\nAns",
            "wer <thi",
            "nk>x",
        ] {
            s.push(piece, &mut sink);
        }
        s.finish(&mut sink);
        let joined: Vec<(Channel, &str)> = got.iter().map(|(c, t)| (*c, t.as_str())).collect();
        assert_eq!(
            joined,
            vec![
                (Channel::Reasoning, "Let me"),
                (Channel::Reasoning, " think."),
                (Channel::Content, "Ans"),
                (Channel::Content, "wer "),
                (Channel::Reasoning, "x"),
            ]
        );
    }

    #[test]
    fn reasoning_split_cases() {
        assert_eq!(split_reasoning("plain", false), (None, "plain".into()));
        assert_eq!(
            split_reasoning("\nhmm\n</think>\n\nHi", true),
            (Some("hmm".into()), "Hi".into())
        );
        // </think> never comes: everything is reasoning.
        assert_eq!(
            split_reasoning("still thinking\n", true),
            (Some("still thinking".into()), String::new())
        );
        // Opening tag generated by the model.
        assert_eq!(
            split_reasoning("<think>\nr\n</think>\n\nc", false),
            (Some("r".into()), "c".into())
        );
        // Closing tag without opening tag: what precedes it is reasoning.
        assert_eq!(
            split_reasoning("r</think>c", false),
            (Some("r".into()), "c".into())
        );
        assert_eq!(
            split_reasoning("</think>\n\nc", true),
            (Some(String::new()), "c".into())
        );
    }

    #[test]
    fn tool_calls_typed_by_schema_and_tolerant() {
        let tools = vec![json!({"type": "function", "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}, "days": {"type": "integer"},
                "metric": {"type": "boolean"}, "ratio": {"type": ["number", "null"]},
                "tags": {"type": "array"}, "code": {"type": "string"}
            }}
        }})];
        let text = "Sure.\n<zyphra_tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n\
<parameter=days>\n3\n</parameter>\n<parameter=metric>\nTrue\n</parameter>\n<parameter=ratio>\n0.5\n</parameter>\n\
<parameter=tags>\n[\"a\", 1]\n</parameter>\n<parameter=code>\n  42\n\n</parameter>\n<parameter=extra>\n{\"u\": \"C\"}\n</parameter>\n\
<parameter=note>\n7\n</parameter>\n</function>\n</zyphra_tool_call>\nDone.\n\
<zyphra_tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n<parameter=days>\nsoon";
        let (content, calls) = parse_tool_calls(text, &tools);
        assert_eq!(content, "Sure.\n\nDone.");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(
            Value::Object(calls[0].arguments.clone()),
            json!({"city": "New York", "days": 3, "metric": true, "ratio": 0.5, "tags": ["a", 1],
                   "code": "  42\n", "extra": {"u": "C"}, "note": "7"})
        );
        // Missing closing tags; "soon" is not an integer so it stays a string.
        assert_eq!(
            Value::Object(calls[1].arguments.clone()),
            json!({"city": "Rome", "days": "soon"})
        );
    }

    #[test]
    fn malformed_block_stays_in_content() {
        let (content, calls) =
            parse_tool_calls("a <zyphra_tool_call>oops</zyphra_tool_call> b", &[]);
        assert!(calls.is_empty());
        assert_eq!(content, "a <zyphra_tool_call>oops</zyphra_tool_call> b");
    }
}
