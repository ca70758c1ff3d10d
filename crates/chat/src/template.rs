//! The chat template, rendered by minijinja with a Hugging Face-compatible environment:
//! trim_blocks + lstrip_blocks (and, like jinja2, a single trailing newline of the source dropped),
//! no auto-escaping, Python string/dict methods, a `json.dumps`-exact `tojson`,
//! `raise_exception`, `strftime_now`, and the special-token variables.

use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value as JinjaValue};
use minijinja::{AutoEscape, Environment, Error, ErrorKind};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ChatError;

/// File names inside a model bundle.
pub const TEMPLATE_FILE: &str = "chat_template.jinja";
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// Per-render inputs besides the messages.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Append the assistant header so the model continues as the assistant.
    pub add_generation_prompt: bool,
    /// `None` leaves `enable_thinking` undefined so the template applies its own default.
    pub enable_thinking: Option<bool>,
    /// Tool schemas (OpenAI style `{"type": "function", "function": {...}}`); `None` renders
    /// `tools` as none, as transformers does.
    pub tools: Option<Vec<Value>>,
    /// Further template variables (override everything else).
    pub extra: Map<String, Value>,
}

/// A compiled chat template plus the variables every render gets (`bos_token`, `eos_token`...).
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Where the template came from, for error messages (a path or a caller-chosen name).
    origin: String,
    /// Template used by default, and the one transformers picks when tools are given.
    default_name: String,
    tool_use_name: Option<String>,
    globals: Map<String, Value>,
}

fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Cannot fail: the delimiters are the defaults.
    if let Ok(syntax) = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(false)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_filter("tojson", crate::pyjson::tojson_filter);
    // jinja2's `iterable` is false for None (minijinja iterates none as empty); templates rely
    // on `tools is iterable` to skip the tools block when transformers passes tools=None.
    env.add_test("iterable", |v: &JinjaValue| {
        !v.is_none() && v.try_iter().is_ok()
    });
    env.add_function(
        "raise_exception",
        |message: String| -> Result<JinjaValue, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_function("strftime_now", |format: String| {
        crate::strftime::strftime_now(&format)
    });
    env
}

impl ChatTemplate {
    /// Compiles a template from source; `name` appears in error messages (with the line).
    pub fn from_source(name: &str, source: &str) -> Result<Self, ChatError> {
        Self::from_named_sources(name, &[(name.to_string(), source.to_string())], name, None)
    }

    fn from_named_sources(
        origin: &str,
        sources: &[(String, String)],
        default_name: &str,
        tool_use_name: Option<&str>,
    ) -> Result<Self, ChatError> {
        let mut env = new_environment();
        for (name, source) in sources {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| ChatError::template(origin, &e))?;
        }
        Ok(Self {
            env,
            origin: origin.to_string(),
            default_name: default_name.to_string(),
            tool_use_name: tool_use_name.map(str::to_string),
            globals: Map::new(),
        })
    }

    /// Loads a `.jinja` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ChatError> {
        let path = path.as_ref();
        let source = read_text(path, "chat template file")?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| TEMPLATE_FILE.to_string());
        Self::from_named_sources(
            &path.display().to_string(),
            &[(name.clone(), source)],
            &name,
            None,
        )
    }

    /// Loads the `chat_template` entry of a tokenizer_config.json: a string, or a list of
    /// `{name, template}` (transformers uses `default`, or `tool_use` when tools are given).
    /// The config's special tokens become template variables.
    pub fn from_tokenizer_config(path: impl AsRef<Path>) -> Result<Self, ChatError> {
        let path = path.as_ref();
        let config = read_json(path)?;
        let origin = path.display().to_string();
        let invalid = |message: &str| ChatError::InvalidConfig {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let mut template = match config.get("chat_template") {
            None | Some(Value::Null) => {
                return Err(ChatError::MissingTemplate {
                    dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                });
            }
            Some(Value::String(source)) => {
                let name = format!("{TOKENIZER_CONFIG_FILE}#chat_template");
                Self::from_named_sources(&origin, &[(name.clone(), source.clone())], &name, None)?
            }
            Some(Value::Array(entries)) => {
                let mut sources = Vec::new();
                for entry in entries {
                    let (Some(name), Some(source)) = (
                        entry.get("name").and_then(Value::as_str),
                        entry.get("template").and_then(Value::as_str),
                    ) else {
                        return Err(invalid(
                            "chat_template list entries need \"name\" and \"template\" strings",
                        ));
                    };
                    sources.push((
                        format!("{TOKENIZER_CONFIG_FILE}#{name}"),
                        source.to_string(),
                    ));
                }
                let has = |n: &str| sources.iter().any(|(s, _)| s.ends_with(&format!("#{n}")));
                if !has("default") {
                    return Err(invalid("chat_template list has no \"default\" template"));
                }
                let tool_use = has("tool_use").then(|| format!("{TOKENIZER_CONFIG_FILE}#tool_use"));
                Self::from_named_sources(
                    &origin,
                    &sources,
                    &format!("{TOKENIZER_CONFIG_FILE}#default"),
                    tool_use.as_deref(),
                )?
            }
            Some(_) => return Err(invalid("chat_template must be a string or a list")),
        };
        template.set_special_tokens_from_config(&config);
        Ok(template)
    }

    /// Loads a bundle's template: `chat_template.jinja` if present (it wins, as in
    /// transformers), else tokenizer_config.json's `chat_template`. Special-token variables come
    /// from tokenizer_config.json when it exists.
    pub fn from_bundle(dir: impl AsRef<Path>) -> Result<Self, ChatError> {
        let dir = dir.as_ref();
        let jinja = dir.join(TEMPLATE_FILE);
        let config_path = dir.join(TOKENIZER_CONFIG_FILE);
        if jinja.exists() {
            let mut template = Self::from_file(&jinja)?;
            if config_path.exists() {
                let config = read_json(&config_path)?;
                template.set_special_tokens_from_config(&config);
            }
            return Ok(template);
        }
        if config_path.exists() {
            return Self::from_tokenizer_config(&config_path);
        }
        Err(ChatError::MissingTemplate {
            dir: dir.to_path_buf(),
        })
    }

    /// Copies `bos_token`, `eos_token`, `pad_token`, `unk_token` (string or `{content}`) from a
    /// tokenizer config into the template variables.
    pub fn set_special_tokens_from_config(&mut self, config: &Value) {
        for key in ["bos_token", "eos_token", "pad_token", "unk_token"] {
            let text = match config.get(key) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Object(o)) => {
                    o.get("content").and_then(Value::as_str).map(str::to_string)
                }
                _ => None,
            };
            if let Some(text) = text {
                self.globals.insert(key.to_string(), Value::String(text));
            }
        }
    }

    /// Sets a variable every render sees (e.g. `bos_token`); render options override it.
    pub fn set_variable(&mut self, name: impl Into<String>, value: Value) {
        self.globals.insert(name.into(), value);
    }

    /// Sets `bos_token` and `eos_token` unless the config already provided them.
    pub fn set_default_special_tokens(&mut self, bos: Option<&str>, eos: Option<&str>) {
        for (key, value) in [("bos_token", bos), ("eos_token", eos)] {
            if let Some(value) = value {
                self.globals
                    .entry(key.to_string())
                    .or_insert_with(|| Value::String(value.to_string()));
            }
        }
    }

    /// The variables every render gets.
    pub fn variables(&self) -> &Map<String, Value> {
        &self.globals
    }

    /// Where the template came from (path or name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Renders messages (any `Serialize` type: [`crate::Message`], `serde_json::Value`...).
    /// Errors, including `raise_exception`, carry the template line.
    pub fn render<M: Serialize>(
        &self,
        messages: &[M],
        options: &RenderOptions,
    ) -> Result<String, ChatError> {
        let messages = serde_json::to_value(messages).map_err(|e| ChatError::InvalidArgument {
            argument: "messages",
            reason: format!("cannot serialize: {e}"),
        })?;
        let mut ctx = self.globals.clone();
        ctx.insert("messages".into(), messages);
        ctx.insert(
            "tools".into(),
            options.tools.clone().map_or(Value::Null, Value::Array),
        );
        ctx.insert(
            "add_generation_prompt".into(),
            Value::Bool(options.add_generation_prompt),
        );
        if let Some(thinking) = options.enable_thinking {
            ctx.insert("enable_thinking".into(), Value::Bool(thinking));
        }
        for (k, v) in &options.extra {
            ctx.insert(k.clone(), v.clone());
        }
        let use_tools = options.tools.as_ref().is_some_and(|t| !t.is_empty());
        let name = match (&self.tool_use_name, use_tools) {
            (Some(tool_use), true) => tool_use.as_str(),
            _ => self.default_name.as_str(),
        };
        let template = self
            .env
            .get_template(name)
            .map_err(|e| ChatError::template(&self.origin, &e))?;
        template
            .render(JinjaValue::from(Serde(Value::Object(ctx))))
            .map_err(|e| ChatError::template(&self.origin, &e))
    }
}

fn read_text(path: &Path, what: &'static str) -> Result<String, ChatError> {
    if !path.exists() {
        return Err(ChatError::MissingFile {
            what,
            path: path.to_path_buf(),
        });
    }
    std::fs::read_to_string(path).map_err(|source| ChatError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a JSON file, naming it in any error.
pub(crate) fn read_json(path: &Path) -> Result<Value, ChatError> {
    let text = read_text(path, "JSON config")?;
    serde_json::from_str(&text).map_err(|e| ChatError::InvalidConfig {
        path: PathBuf::from(path),
        message: e.to_string(),
    })
}
