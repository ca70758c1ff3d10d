//! Chat template: the fixture template must reproduce examples.txt byte for byte, and the
//! HF-compatible environment (tojson, pycompat, raise_exception, whitespace) must hold.

mod common;

use serde_json::{Value, json};
use zaya_chat::{ChatAssets, ChatError, ChatTemplate, Message, RenderOptions, ToolCall};

/// Sections of examples.txt: `### <title>` ... `### end`. The rendered text is everything
/// between the header line and the end marker, minus the one blank-line separator before the
/// marker. Also returns the trailing `bad role -> Err(...)` expectation.
fn examples() -> (Vec<(String, String)>, String) {
    let text = std::fs::read_to_string(common::fixture_dir().join("examples.txt")).unwrap();
    let mut sections = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("\n### ") {
        let after = &rest[start + 5..];
        let header_end = after.find('\n').unwrap();
        let title = after[..header_end].to_string();
        if title == "end" {
            rest = &after[header_end..];
            continue;
        }
        let body = &after[header_end + 1..];
        let end = body.find("\n### end\n").expect("unterminated section");
        sections.push((title, body[..end].to_string()));
        rest = &body[end..];
    }
    let bad = text
        .lines()
        .find_map(|l| l.strip_prefix("bad role -> Err(\""))
        .and_then(|l| l.strip_suffix("\")"))
        .expect("bad role line")
        .to_string();
    (sections, bad)
}

fn fixture_template() -> ChatTemplate {
    let mut t = ChatTemplate::from_source("chat", &common::template_source()).unwrap();
    t.set_default_special_tokens(Some("<bos>"), Some("<|im_end|>"));
    t
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Get <weather> & 'more'",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City"},
            "days": {"type": "integer"}
        }, "required": ["city"]}
    }})
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Inputs for each examples.txt section, reconstructed from the headers.
///
/// The third case ("system + tools + tool round trip") is ambiguous in places; these inputs are
/// inferred from the rendered output:
/// - the assistant turn carries its reasoning as `reasoning_content` ("Need two calls.") with
///   empty content (no newline precedes the first `<zyphra_tool_call>`); a content of
///   `<think>\nNeed two calls.\n</think>` would render the same;
/// - `days` is the integer 2 (its schema type; the string "2" would render the same);
/// - `opts` (not in the schema) is the mapping {"u": "C"} (rendered via tojson, hence `", "`
///   / `": "` separators);
/// - the tool results are the strings `{"t": 15}` and `{"t": 21}`;
/// - no `enable_thinking` is passed (the template defaults to off) and the generation prompt
///   is on in every case (each ends with an assistant header).
fn case_inputs(title: &str) -> (Vec<Message>, RenderOptions) {
    let base = RenderOptions {
        add_generation_prompt: true,
        ..RenderOptions::default()
    };
    match title {
        "user only, default (thinking off)" => (vec![Message::user("Hi")], base),
        "user only, enable_thinking=true" => (
            vec![Message::user("Hi")],
            RenderOptions {
                enable_thinking: Some(true),
                ..base
            },
        ),
        "system + tools + tool round trip" => (
            vec![
                Message::system("You are terse."),
                Message::user("Weather in Paris and Rome?"),
                Message::assistant("")
                    .with_reasoning("Need two calls.")
                    .with_tool_calls(vec![
                        ToolCall::new("get_weather", args(json!({"city": "Paris", "days": 2}))),
                        ToolCall::new(
                            "get_weather",
                            args(json!({"city": "Rome", "opts": {"u": "C"}})),
                        ),
                    ]),
                Message::tool("{\"t\": 15}"),
                Message::tool("{\"t\": 21}"),
            ],
            RenderOptions {
                tools: Some(vec![weather_tool()]),
                ..base
            },
        ),
        other => panic!("examples.txt has a case this test does not know: {other}"),
    }
}

#[test]
fn fixture_template_reproduces_examples_byte_for_byte() {
    let template = fixture_template();
    let (sections, _) = examples();
    assert_eq!(sections.len(), 3, "examples.txt sections");
    for (title, expected) in sections {
        let (messages, options) = case_inputs(&title);
        let got = template.render(&messages, &options).unwrap();
        assert_eq!(got, expected, "case {title:?}");
    }
}

#[test]
fn raise_exception_reports_the_template_line() {
    let template = fixture_template();
    let (_, expected) = examples();
    let err = template
        .render(
            &[Message::new("narrator", "Once")],
            &RenderOptions::default(),
        )
        .unwrap_err();
    match &err {
        ChatError::Template {
            template,
            line,
            message,
        } => {
            assert_eq!(template, "chat");
            assert_eq!(*line, Some(97));
            assert_eq!(message, &expected);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("line 97"), "{err}");
}

#[test]
fn syntax_errors_name_file_and_line() {
    let err =
        ChatTemplate::from_source("broken.jinja", "ok\n{% if messages %}\n{{ x( }}\n").unwrap_err();
    match err {
        ChatError::Template { template, line, .. } => {
            assert_eq!(template, "broken.jinja");
            assert_eq!(line, Some(3));
        }
        other => panic!("unexpected error {other:?}"),
    }
}

fn render_str(src: &str, extra: Value) -> String {
    let t = ChatTemplate::from_source("t", src).unwrap();
    let options = RenderOptions {
        extra: extra.as_object().cloned().unwrap_or_default(),
        ..RenderOptions::default()
    };
    t.render::<Message>(&[], &options).unwrap()
}

#[test]
fn tojson_matches_python_json_dumps() {
    let x = json!({"b": "<&>'\"é", "a": [1, 2.5, true, null], "n": {}});
    assert_eq!(
        render_str("{{ x | tojson }}", json!({"x": x})),
        r#"{"b": "<&>'\"é", "a": [1, 2.5, true, null], "n": {}}"#
    );
    assert_eq!(
        render_str(
            "{{ x | tojson(indent=2, sort_keys=true) }}",
            json!({"x": {"b": [1], "a": 1}})
        ),
        "{\n  \"a\": 1,\n  \"b\": [\n    1\n  ]\n}"
    );
    assert_eq!(
        render_str(
            "{{ x | tojson(separators=(',', ':'), ensure_ascii=true) }}",
            json!({"x": {"k": ["é"]}})
        ),
        r#"{"k":["\u00e9"]}"#
    );
    // Floats keep Python's repr.
    assert_eq!(
        render_str("{{ [1.0, 1e20] | tojson }}", json!({})),
        "[1.0, 1e+20]"
    );
}

#[test]
fn python_methods_whitespace_and_globals() {
    assert_eq!(
        render_str(
            "{{ ' a,b '.strip().split(',') | join('|') }}{{ 'x'.upper() }}",
            json!({})
        ),
        "a|bX"
    );
    assert_eq!(
        render_str("{{ d.get('k', 'none') }}", json!({"d": {}})),
        "none"
    );
    // trim_blocks + lstrip_blocks, and one trailing newline dropped like jinja2.
    assert_eq!(
        render_str("  {% if true %}\nx\n  {% endif %}\ny\n", json!({})),
        "x\ny"
    );
    let year = render_str("{{ strftime_now('%Y') }}", json!({}));
    assert!(year.len() == 4 && year.starts_with('2'), "{year}");
    // Undefined enable_thinking unless set; tools is none when absent (as in transformers).
    let t = ChatTemplate::from_source("t", "{{ enable_thinking is defined }} {{ tools is none }}")
        .unwrap();
    assert_eq!(
        t.render::<Message>(&[], &RenderOptions::default()).unwrap(),
        "False True"
    );
}

#[test]
fn bundle_loading_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No template at all.
    let err = ChatTemplate::from_bundle(d).unwrap_err();
    assert!(matches!(err, ChatError::MissingTemplate { .. }), "{err}");
    assert!(err.to_string().contains("chat_template.jinja"), "{err}");

    // tokenizer_config.json with a list of named templates; special tokens as strings or dicts.
    std::fs::write(
        d.join("tokenizer_config.json"),
        json!({
            "bos_token": "<bos>",
            "eos_token": {"content": "<|im_end|>"},
            "chat_template": [
                {"name": "default", "template": "{{ bos_token }}D{{ eos_token }}"},
                {"name": "tool_use", "template": "T{{ tools | length }}"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let t = ChatTemplate::from_bundle(d).unwrap();
    assert_eq!(
        t.render::<Message>(&[], &RenderOptions::default()).unwrap(),
        "<bos>D<|im_end|>"
    );
    let with_tools = RenderOptions {
        tools: Some(vec![weather_tool()]),
        ..RenderOptions::default()
    };
    assert_eq!(t.render::<Message>(&[], &with_tools).unwrap(), "T1");

    // chat_template.jinja wins over the config; config tokens still apply.
    std::fs::write(d.join("chat_template.jinja"), "J{{ bos_token }}\n").unwrap();
    let t = ChatTemplate::from_bundle(d).unwrap();
    assert_eq!(
        t.render::<Message>(&[], &RenderOptions::default()).unwrap(),
        "J<bos>"
    );

    // A broken file names its path and line.
    std::fs::write(d.join("chat_template.jinja"), "a\nb\n{% for %}\n").unwrap();
    let err = ChatTemplate::from_bundle(d).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("chat_template.jinja") && msg.contains("line 3"),
        "{msg}"
    );

    // Malformed config JSON names the file.
    std::fs::remove_file(d.join("chat_template.jinja")).unwrap();
    std::fs::write(d.join("tokenizer_config.json"), "{not json").unwrap();
    let err = ChatTemplate::from_bundle(d).unwrap_err();
    assert!(
        matches!(err, ChatError::InvalidConfig { .. })
            && err.to_string().contains("tokenizer_config.json"),
        "{err}"
    );
}

#[test]
fn chat_assets_load_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = ChatAssets::load(d).unwrap_err();
    assert!(
        matches!(&err, ChatError::MissingFile { path, .. } if path.ends_with("tokenizer.json")),
        "{err}"
    );
    std::fs::copy(
        common::fixture_dir().join("tokenizer.json"),
        d.join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(d.join("chat_template.jinja"), common::template_source()).unwrap();
    std::fs::write(
        d.join("generation_config.json"),
        r#"{"eos_token_id": [106, 3]}"#,
    )
    .unwrap();
    let assets = ChatAssets::load(d).unwrap();
    assert_eq!(assets.stop_tokens, vec![106, 1, 3]);
    let prompt = assets
        .template
        .render(
            &[Message::user("Hi")],
            &RenderOptions {
                add_generation_prompt: true,
                ..RenderOptions::default()
            },
        )
        .unwrap();
    assert!(prompt.starts_with("<bos><|im_start|>system\n"), "{prompt}");
    let ids = assets.tokenizer.encode(&prompt).unwrap();
    assert_eq!(ids[0], 2);
    assert_eq!(
        ids.iter().filter(|&&i| i == 2).count(),
        1,
        "no second <bos> added"
    );
}
