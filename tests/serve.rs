//! `zaya-graph serve` over loopback: every endpoint, streamed and not, on the tiny fixture model
//! through the engine (text equal to `run --greedy`'s, the prompt cache, errors, concurrency)
//! and on scripted models (tool calls, thinking, a slow model for the queue and disconnects);
//! the binary itself (`--port 0`, Ctrl-C drains); and the official `openai` Python client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zaya_chat::{ChatAssets, ModelFailure, TokenModel};
use zaya_graph::engine::{EngineOptions, Model};
use zaya_graph::serve::{EngineSource, ModelSource, RunningServer, ServeOptions, Service};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The tiny-a MXFP4 weights with the chat fixtures beside them, as a bundle ships them.
fn fixture_bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bundle = fixtures().join("zaya-tiny-a/bundle_mxfp4");
    for entry in std::fs::read_dir(&bundle).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let chat = fixtures().join("chat");
    std::fs::copy(
        chat.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::copy(
        chat.join("chat_template.reconstructed.jinja"),
        dir.path().join("chat_template.jinja"),
    )
    .unwrap();
    dir
}

/// Context of the in-process engine servers.
const CONTEXT: usize = 512;

fn options() -> ServeOptions {
    ServeOptions::new("tiny")
}

/// A server on the fixture model through the engine, loaded as `run` loads it.
fn engine_server(options: ServeOptions) -> (RunningServer, tempfile::TempDir) {
    engine_server_on(options, EngineOptions::cpu(CONTEXT))
}

fn engine_server_on(
    options: ServeOptions,
    mut engine: EngineOptions,
) -> (RunningServer, tempfile::TempDir) {
    let dir = fixture_bundle();
    let assets = ChatAssets::load(dir.path()).unwrap();
    let bundle = Arc::new(zaya_model::Bundle::open(dir.path()).unwrap());
    engine.columns = Some(assets.tokenizer.vocab_size());
    let model = Arc::new(Model::load(bundle, &engine, &mut |_| {}).unwrap());
    let server = start(assets, Box::new(EngineSource { model }), options);
    (server, dir)
}

fn start(assets: ChatAssets, source: Box<dyn ModelSource>, options: ServeOptions) -> RunningServer {
    let service = Service::start(assets, source, options).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    service.spawn(listener).unwrap()
}

fn chat_assets() -> ChatAssets {
    let dir = fixture_bundle();
    ChatAssets::load(dir.path()).unwrap()
}

/// A model that writes `script` (then its last token forever) after every prompt, whatever the
/// prompt: a chunk of more than one token is a prompt and restarts the script. Sleeps `delay`
/// per forward, so a request can be caught in flight.
struct Scripted {
    script: Vec<u32>,
    next: usize,
    position: usize,
    logits: usize,
    delay: Duration,
}

impl TokenModel for Scripted {
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelFailure> {
        std::thread::sleep(self.delay);
        if tokens.len() > 1 {
            self.next = 0;
        }
        self.position += tokens.len();
        let mut logits = vec![0.0; self.logits];
        let at = self.next.min(self.script.len() - 1);
        logits[self.script[at] as usize] = 50.0;
        self.next += 1;
        Ok(logits)
    }
    fn logits_len(&self) -> usize {
        self.logits
    }
    fn context_len(&self) -> usize {
        4096
    }
    fn position(&self) -> usize {
        self.position
    }
    fn reset(&mut self) {
        self.position = 0;
    }
}

/// A server whose model answers every prompt with `text` (encoded) and, if `stop`, `<|im_end|>`.
fn scripted_server(
    text: &str,
    stop: bool,
    delay: Duration,
    options: ServeOptions,
) -> RunningServer {
    let assets = chat_assets();
    let tokenizer = &assets.tokenizer;
    let mut script = tokenizer.encode(text).unwrap();
    if stop {
        script.push(tokenizer.token_id("<|im_end|>").unwrap());
    }
    scripted_ids_server(assets, script, delay, options)
}

fn scripted_ids_server(
    assets: ChatAssets,
    script: Vec<u32>,
    delay: Duration,
    options: ServeOptions,
) -> RunningServer {
    let logits = assets.tokenizer.vocab_size();
    let source = move |serve: &mut dyn FnMut(&mut dyn TokenModel)| -> anyhow::Result<()> {
        let mut model = Scripted {
            script,
            next: 0,
            position: 0,
            logits,
            delay,
        };
        serve(&mut model);
        Ok(())
    };
    start(assets, Box::new(source), options)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Status and body of a request (`body` None: GET).
fn request(addr: SocketAddr, path: &str, body: Option<&str>, key: Option<&str>) -> (u16, String) {
    let url = format!("http://{addr}{path}");
    let agent = agent();
    let result = match body {
        Some(body) => {
            let mut req = agent.post(&url).header("Content-Type", "application/json");
            if let Some(key) = key {
                req = req.header("Authorization", &format!("Bearer {key}"));
            }
            req.send(body)
        }
        None => {
            let mut req = agent.get(&url);
            if let Some(key) = key {
                req = req.header("Authorization", &format!("Bearer {key}"));
            }
            req.call()
        }
    };
    let mut response = result.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, text)
}

fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = request(addr, path, Some(&body.to_string()), None);
    (status, parse(&text))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A 200 response's JSON.
fn ok(addr: SocketAddr, path: &str, body: &Value) -> Value {
    let (status, value) = post(addr, path, body);
    assert_eq!(status, 200, "{path} {body}: {value}");
    value
}

fn get(addr: SocketAddr, path: &str) -> Value {
    let (status, text) = request(addr, path, None, None);
    assert_eq!(status, 200, "{path}: {text}");
    parse(&text)
}

/// The `data:` payloads of a streamed response; the last must be `[DONE]` (dropped).
fn stream(addr: SocketAddr, path: &str, body: &Value) -> Vec<Value> {
    let (status, text) = request(addr, path, Some(&body.to_string()), None);
    assert_eq!(status, 200, "{text}");
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    data[..data.len() - 1].iter().map(|d| parse(d)).collect()
}

/// The streamed content (or another delta field) of chat chunks.
fn joined(chunks: &[Value], field: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"][field].as_str())
        .collect()
}

fn finish_reason(chunks: &[Value]) -> Value {
    let reasons: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|r| !r.is_null())
        .collect();
    assert_eq!(reasons.len(), 1, "one finish_reason per stream: {chunks:?}");
    reasons[0].clone()
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn health(addr: SocketAddr) -> Value {
    get(addr, "/health")
}

fn wait_for(addr: SocketAddr, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let h = health(addr);
        if done(&h) {
            return h;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {h}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn zaya_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zaya-graph"));
    cmd.env(
        "XDG_CACHE_HOME",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-cache"),
    );
    cmd
}

/// `run --greedy`'s stdout on the fixture bundle.
fn run_greedy(dir: &Path, prompt: &str, max_tokens: usize, raw: bool) -> String {
    let max = max_tokens.to_string();
    let mut args = vec![
        "run",
        "--model",
        dir.to_str().unwrap(),
        "--greedy",
        "--max-tokens",
        &max,
    ];
    if raw {
        args.push("--raw");
    }
    args.push(prompt);
    let out = zaya_bin().args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `run` prints for an answer: the text and a final newline unless it ends with one.
fn printed(content: &str) -> String {
    if content.is_empty() || content.ends_with('\n') {
        content.to_string()
    } else {
        format!("{content}\n")
    }
}

#[test]
fn greedy_chat_and_completions_equal_run_greedy_streamed_and_not() {
    let (server, dir) = engine_server(options());
    let addr = server.local_addr();
    for prompt in ["Hi", "What is the capital of France?"] {
        let expected = run_greedy(dir.path(), prompt, 12, false);
        let body =
            json!({"model": "tiny", "messages": user(prompt), "temperature": 0, "max_tokens": 12});
        let answer = ok(addr, "/v1/chat/completions", &body);
        let choice = &answer["choices"][0];
        let content = choice["message"]["content"].as_str().unwrap();
        assert_eq!(printed(content), expected, "{answer}");
        assert_eq!(choice["message"]["role"], "assistant");
        assert!(
            choice["message"].get("reasoning_content").is_none(),
            "{answer}"
        );
        assert_eq!(answer["object"], "chat.completion");
        assert_eq!(answer["model"], "tiny");
        let usage = &answer["usage"];
        let completion = usage["completion_tokens"].as_u64().unwrap();
        assert!((1..=12).contains(&completion), "{answer}");
        assert_eq!(
            usage["total_tokens"].as_u64().unwrap(),
            usage["prompt_tokens"].as_u64().unwrap() + completion
        );
        let reason = choice["finish_reason"].as_str().unwrap();
        assert_eq!(reason == "length", completion == 12, "{answer}");

        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        streamed["stream_options"] = json!({"include_usage": true});
        let chunks = stream(addr, "/v1/chat/completions", &streamed);
        assert_eq!(joined(&chunks, "content"), content);
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(finish_reason(&chunks), json!(reason));
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]), "usage chunk last");
        assert_eq!(last["usage"]["completion_tokens"], completion);
        assert_eq!(last["usage"]["prompt_tokens"], usage["prompt_tokens"]);
    }

    // Raw completions equal `run --raw --greedy`.
    let expected = run_greedy(dir.path(), "Hello world", 10, true);
    let body = json!({"prompt": "Hello world", "temperature": 0, "max_tokens": 10});
    let answer = ok(addr, "/v1/completions", &body);
    assert_eq!(answer["object"], "text_completion");
    let text = answer["choices"][0]["text"].as_str().unwrap();
    assert_eq!(printed(text), expected, "{answer}");
    assert_eq!(answer["usage"]["prompt_tokens"], 2);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let chunks = stream(addr, "/v1/completions", &streamed);
    let streamed_text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(streamed_text, text);
    assert_eq!(
        finish_reason(&chunks),
        answer["choices"][0]["finish_reason"]
    );
    server.shutdown().unwrap();
}

#[test]
fn models_and_health() {
    let (server, _dir) = engine_server(options());
    let addr = server.local_addr();
    let models = get(addr, "/v1/models");
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "tiny");
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(models["data"][0]["context_length"], CONTEXT);
    assert_eq!(get(addr, "/v1/models/tiny"), models["data"][0]);
    let (status, body) = request(addr, "/v1/models/other", None, None);
    let e = error(status, &body, 404, Some("model"));
    assert_eq!(e["code"], "model_not_found");
    let h = health(addr);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["started"], 0);
    let (status, body) = request(addr, "/v1/nothing", None, None);
    assert_eq!(status, 404);
    assert_eq!(parse(&body)["error"]["code"], "not_found");
    server.shutdown().unwrap();
}

#[test]
fn thinking_comes_back_as_reasoning_content() {
    // The fixture model through the engine: thinking on gives a reasoning field, off none.
    let (server, _dir) = engine_server(options());
    let addr = server.local_addr();
    let body = |thinking: bool| {
        json!({"messages": user("What is 2+2?"), "temperature": 0, "max_tokens": 40,
               "chat_template_kwargs": {"enable_thinking": thinking}})
    };
    let on = ok(addr, "/v1/chat/completions", &body(true));
    assert!(
        on["choices"][0]["message"]["reasoning_content"].is_string(),
        "{on}"
    );
    let off = ok(addr, "/v1/chat/completions", &body(false));
    assert!(
        off["choices"][0]["message"]
            .get("reasoning_content")
            .is_none(),
        "{off}"
    );
    server.shutdown().unwrap();

    // A scripted answer: the reasoning and the answer split exactly, streamed and not.
    let server = scripted_server(
        "Two and two.\n</think>\n\nIt is 4.",
        true,
        Duration::ZERO,
        options(),
    );
    let addr = server.local_addr();
    let answer = ok(addr, "/v1/chat/completions", &body(true));
    let message = &answer["choices"][0]["message"];
    assert_eq!(message["reasoning_content"], "Two and two.", "{answer}");
    assert_eq!(message["content"], "It is 4.", "{answer}");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let mut streamed = body(true);
    streamed["stream"] = json!(true);
    let chunks = stream(addr, "/v1/chat/completions", &streamed);
    assert_eq!(joined(&chunks, "reasoning_content"), "Two and two.");
    assert_eq!(joined(&chunks, "content"), "It is 4.");
    assert_eq!(finish_reason(&chunks), "stop");
    server.shutdown().unwrap();
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"]}}}])
}

const TOOL_CALL: &str = "Checking.\n<zyphra_tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</zyphra_tool_call>";

#[test]
fn tool_calls_come_back_as_openai_tool_calls() {
    let server = scripted_server(TOOL_CALL, true, Duration::ZERO, options());
    let addr = server.local_addr();
    let body = json!({"messages": user("Weather in Paris?"), "tools": weather_tools(),
                      "temperature": 0, "max_tokens": 400});
    let answer = ok(addr, "/v1/chat/completions", &body);
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{answer}");
    assert_eq!(choice["message"]["content"], "Checking.");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{answer}");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris", "days": 2}));
    let id = calls[0]["id"].as_str().unwrap().to_string();

    // Streamed: the markup is held back and replaced by one tool_calls delta.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let chunks = stream(addr, "/v1/chat/completions", &streamed);
    assert_eq!(joined(&chunks, "content"), "Checking.\n");
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(deltas.len(), 1, "{chunks:?}");
    assert_eq!(deltas[0][0]["function"]["name"], "get_weather");
    assert_eq!(deltas[0][0]["index"], 0);
    assert_eq!(finish_reason(&chunks), "tool_calls");

    // tool_choice none: the markup stays text.
    let mut none = body.clone();
    none["tool_choice"] = json!("none");
    let answer = ok(addr, "/v1/chat/completions", &none);
    assert_eq!(answer["choices"][0]["message"]["content"], TOOL_CALL);
    assert!(answer["choices"][0]["message"].get("tool_calls").is_none());
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");

    // The result goes back in a tool message (and an assistant message with tool_calls).
    let follow_up = json!({"tools": weather_tools(), "temperature": 0, "max_tokens": 400,
    "messages": [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": 2}"}}]},
        {"role": "tool", "tool_call_id": id, "content": "{\"temperature\": 21}"},
    ]});
    let answer = ok(addr, "/v1/chat/completions", &follow_up);
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert!(
        answer["usage"]["prompt_tokens"].as_u64().unwrap()
            > ok(addr, "/v1/chat/completions", &body)["usage"]["prompt_tokens"]
                .as_u64()
                .unwrap()
    );
    server.shutdown().unwrap();
}

#[test]
fn the_prompt_cache_prefills_only_the_new_suffix() {
    // Chat on a scripted model: the second turn's rendered prompt extends the first prompt
    // plus the answer the model wrote.
    let server = scripted_server("Hello there.", true, Duration::ZERO, options());
    let addr = server.local_addr();
    let first = ok(
        addr,
        "/v1/chat/completions",
        &json!({"messages": user("Hi"), "max_tokens": 20}),
    );
    assert_eq!(first["choices"][0]["message"]["content"], "Hello there.");
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let before = health(addr)["prefilled_tokens"].as_u64().unwrap();
    let second = ok(
        addr,
        "/v1/chat/completions",
        &json!({"max_tokens": 20, "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello there."},
            {"role": "user", "content": "And then?"}]}),
    );
    let prompt1 = first["usage"]["prompt_tokens"].as_u64().unwrap();
    let answer1 = first["usage"]["completion_tokens"].as_u64().unwrap();
    let usage = &second["usage"];
    let cached = usage["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    // The model holds the first prompt and every answer token but the stop token.
    assert_eq!(cached, prompt1 + answer1 - 1, "{first}\n{second}");
    let prefilled = health(addr)["prefilled_tokens"].as_u64().unwrap() - before;
    assert_eq!(
        prefilled,
        usage["prompt_tokens"].as_u64().unwrap() - cached,
        "only the suffix is fed"
    );
    server.shutdown().unwrap();

    // The engine: a completion that extends the previous prompt reuses its state and answers
    // exactly what a fresh model does. max_tokens 1 leaves only the prompt in the state.
    let (server, _dir) = engine_server(options());
    let addr = server.local_addr();
    let prefix: Vec<u32> = vec![2, 105, 300, 17, 9];
    let extended: Vec<u32> = [&prefix[..], &[44, 81, 120]].concat();
    let completion = |prompt: &[u32], max_tokens: usize| {
        ok(
            addr,
            "/v1/completions",
            &json!({"prompt": prompt, "temperature": 0, "max_tokens": max_tokens}),
        )
    };
    completion(&prefix, 1);
    let before = health(addr)["prefilled_tokens"].as_u64().unwrap();
    let cached = completion(&extended, 6);
    assert_eq!(cached["usage"]["prompt_tokens_details"]["cached_tokens"], 5);
    assert_eq!(
        health(addr)["prefilled_tokens"].as_u64().unwrap() - before,
        3
    );
    completion(&[7, 42], 1); // does not extend: the next request starts over
    let fresh = completion(&extended, 6);
    assert_eq!(fresh["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        cached["choices"][0]["text"], fresh["choices"][0]["text"],
        "a cached prefix answers as a fresh model"
    );
    server.shutdown().unwrap();
}

/// The `error` object of a failed request, checked for status and the field it names.
fn error(status: u16, body: &str, want_status: u16, param: Option<&str>) -> Value {
    assert_eq!(status, want_status, "{body}");
    let value = parse(body);
    let error = &value["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{value}"
    );
    assert!(error["type"].is_string(), "{value}");
    assert_eq!(error["param"], json!(param), "{value}");
    error.clone()
}

#[test]
fn bad_requests_get_openai_errors_naming_the_field() {
    let mut opts = options();
    opts.max_body_bytes = 4096;
    let (server, _dir) = engine_server(opts);
    let addr = server.local_addr();
    let chat = |body: &str| request(addr, "/v1/chat/completions", Some(body), None);

    let (s, b) = chat("{\"messages\": [");
    let e = error(s, &b, 400, None);
    assert!(
        e["message"].as_str().unwrap().contains("not valid JSON"),
        "{e}"
    );
    let (s, b) = chat("[1, 2]");
    error(s, &b, 400, None);
    let (s, b) = chat(
        r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}]}"#,
    );
    let e = error(s, &b, 400, Some("messages[1].role"));
    assert!(e["message"].as_str().unwrap().contains("wizard"), "{e}");
    let (s, b) = chat(r#"{"messages": []}"#);
    error(s, &b, 400, Some("messages"));
    let (s, b) = chat(r#"{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}"#);
    error(s, &b, 400, Some("temperature"));
    let (s, b) = chat(r#"{"messages": [{"role": "user", "content": "hi"}], "top_p": 7}"#);
    error(s, &b, 400, Some("top_p"));
    let (s, b) = chat(r#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}"#);
    error(s, &b, 400, Some("max_tokens"));
    let (s, b) = chat(&json!({"messages": user("hi"), "max_tokens": CONTEXT}).to_string());
    let e = error(s, &b, 400, Some("max_tokens"));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&CONTEXT.to_string()),
        "{e}"
    );
    let (s, b) =
        chat(&json!({"messages": user("hi"), "max_completion_tokens": CONTEXT}).to_string());
    error(s, &b, 400, Some("max_completion_tokens"));
    let (s, b) = chat(&json!({"messages": user("hi"), "tool_choice": "required"}).to_string());
    error(s, &b, 400, Some("tool_choice"));
    // A rendered prompt over the context (about 600 tokens in 1.5 KB).
    let (s, b) = chat(&json!({"messages": user(&"word ".repeat(300))}).to_string());
    let e = error(s, &b, 400, Some("messages"));
    assert!(e["message"].as_str().unwrap().contains("no room"), "{e}");
    let long = "word ".repeat(1000);
    let (s, b) = chat(&json!({"messages": user(&long)}).to_string());
    let e = error(s, &b, 413, Some("body"));
    assert!(e["message"].as_str().unwrap().contains("4096"), "{e}");
    let (s, b) = request(
        addr,
        "/v1/completions",
        Some(r#"{"prompt": [1, 99999999]}"#),
        None,
    );
    error(s, &b, 400, Some("prompt[1]"));
    let (s, b) = request(addr, "/v1/completions", Some(r#"{"prompt": 5}"#), None);
    error(s, &b, 400, Some("prompt"));
    // A prompt alone over the context.
    let ids: Vec<u32> = (0..CONTEXT as u32).map(|i| 2 + i % 50).collect();
    let (s, b) = request(
        addr,
        "/v1/completions",
        Some(&json!({"prompt": ids}).to_string()),
        None,
    );
    error(s, &b, 400, Some("prompt"));
    // Nothing of this reached the model.
    assert_eq!(health(addr)["started"], 0);
    server.shutdown().unwrap();
}

#[test]
fn the_api_key_is_required_on_v1_when_set() {
    let mut opts = options();
    opts.api_key = Some("sesame".into());
    let server = scripted_server("ok", true, Duration::ZERO, opts);
    let addr = server.local_addr();
    let body = json!({"messages": user("hi")}).to_string();
    for key in [None, Some("wrong")] {
        let (s, b) = request(addr, "/v1/chat/completions", Some(&body), key);
        let e = error(s, &b, 401, None);
        assert_eq!(e["code"], "invalid_api_key");
        let (s, b) = request(addr, "/v1/models", None, key);
        error(s, &b, 401, None);
    }
    let (s, b) = request(addr, "/v1/chat/completions", Some(&body), Some("sesame"));
    assert_eq!(s, 200, "{b}");
    assert_eq!(parse(&b)["choices"][0]["message"]["content"], "ok");
    let (s, _) = request(addr, "/v1/models", None, Some("sesame"));
    assert_eq!(s, 200);
    // Health checks need no key.
    assert_eq!(health(addr)["status"], "ok");
    server.shutdown().unwrap();
}

/// Sends a request on a raw socket and returns it once `marker` has been read.
fn start_raw(addr: SocketAddr, path: &str, body: &Value, marker: &str) -> TcpStream {
    let body = body.to_string();
    let mut socket = TcpStream::connect(addr).unwrap();
    write!(
        socket,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let n = socket.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before {marker:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    socket
}

#[test]
fn a_client_that_disconnects_stops_its_generation() {
    let server = scripted_server("a b", false, Duration::from_millis(10), options());
    let addr = server.local_addr();
    let body = json!({"messages": user("go"), "max_tokens": 2000, "stream": true});
    let socket = start_raw(addr, "/v1/chat/completions", &body, "\"content\":\"a");
    let started = Instant::now();
    drop(socket);
    let h = wait_for(addr, "the cancellation", |h| h["cancelled"] == 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "2000 tokens take 20 s"
    );
    let generated = h["generated_tokens"].as_u64().unwrap();
    assert!(generated < 500, "generation went on: {h}");
    // The model is free again and answers the next request in full.
    let answer = ok(
        addr,
        "/v1/chat/completions",
        &json!({"messages": user("go"), "max_tokens": 3}),
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "length", "{answer}");
    assert_eq!(answer["usage"]["completion_tokens"], 3);

    // A non-streamed request: nothing is written until the end, the closed socket is seen
    // all the same.
    let body = json!({"messages": user("go"), "max_tokens": 2000});
    let socket = start_raw(addr, "/v1/chat/completions", &body, "");
    wait_for(addr, "the job to start", |h| h["started"] == 3);
    let before = health(addr)["generated_tokens"].as_u64().unwrap();
    drop(socket);
    let h = wait_for(addr, "the cancellation", |h| h["cancelled"] == 2);
    let generated = h["generated_tokens"].as_u64().unwrap() - before;
    assert!(generated < 500, "generation went on: {h}");
    server.shutdown().unwrap();
}

#[test]
fn sampling_parameters_and_stop_strings_are_honoured() {
    let (server, _dir) = engine_server(options());
    let addr = server.local_addr();
    let sampled = |seed: u64| {
        let body = json!({"messages": user("Hi there"), "temperature": 1.0, "top_p": 0.9,
                          "top_k": 40, "min_p": 0.01, "repetition_penalty": 1.1,
                          "seed": seed, "max_tokens": 16});
        ok(addr, "/v1/chat/completions", &body)["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = sampled(1);
    assert_eq!(first, sampled(1), "a seed repeats");
    assert!(
        [sampled(2), sampled(3), sampled(4)]
            .iter()
            .any(|o| *o != first),
        "four seeds gave the same text: {first:?}"
    );
    let (s, b) = request(
        addr,
        "/v1/chat/completions",
        Some(&json!({"messages": user("hi"), "n": 2}).to_string()),
        None,
    );
    error(s, &b, 400, Some("n"));
    server.shutdown().unwrap();

    let server = scripted_server("Hello there. Bye.", true, Duration::ZERO, options());
    let addr = server.local_addr();
    for stop in [json!("there"), json!(["zzz", "re."])] {
        let body = json!({"messages": user("hi"), "stop": stop, "max_tokens": 50});
        let answer = ok(addr, "/v1/chat/completions", &body);
        let want = if stop.is_string() {
            "Hello "
        } else {
            "Hello the"
        };
        assert_eq!(answer["choices"][0]["message"]["content"], want, "{answer}");
        assert_eq!(answer["choices"][0]["finish_reason"], "stop");
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let chunks = stream(addr, "/v1/chat/completions", &streamed);
        assert_eq!(joined(&chunks, "content"), want);
    }
    server.shutdown().unwrap();
}

#[test]
fn a_full_queue_answers_429_and_the_queued_request_is_served() {
    let mut opts = options();
    opts.queue_capacity = 1;
    let server = scripted_server("a b", false, Duration::from_millis(5), opts);
    let addr = server.local_addr();
    let long = json!({"messages": user("go"), "max_tokens": 200, "stream": true});
    let running = start_raw(
        addr,
        "/v1/chat/completions",
        &long,
        "\"role\":\"assistant\"",
    );
    wait_for(addr, "the first job to start", |h| h["started"] == 1);
    let queued = std::thread::spawn(move || {
        post(
            addr,
            "/v1/chat/completions",
            &json!({"messages": user("next"), "max_tokens": 4}),
        )
    });
    wait_for(addr, "the second job to queue", |h| h["waiting"] == 1);
    let (s, b) = request(
        addr,
        "/v1/chat/completions",
        Some(&json!({"messages": user("third")}).to_string()),
        None,
    );
    let e = error(s, &b, 429, None);
    assert_eq!(e["code"], "queue_full");
    let mut rest = String::new();
    BufReader::new(running).read_to_string(&mut rest).ok();
    let (status, answer) = queued.join().unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["usage"]["completion_tokens"], 4);
    assert_eq!(answer["id"], "chatcmpl-2", "served second");
    server.shutdown().unwrap();
}

#[test]
fn eight_clients_times_25_requests_all_complete_in_order_of_service() {
    let (server, _dir) = engine_server(options());
    let addr = server.local_addr();
    let clients: Vec<_> = (0..8)
        .map(|client| {
            std::thread::spawn(move || {
                let prompt = format!("Client {client} asks something");
                (0..25)
                    .map(|i| {
                        let mut body = json!({"messages": user(&prompt), "temperature": 0,
                                              "max_tokens": 4});
                        if i % 2 == 1 {
                            body["stream"] = json!(true);
                            body["stream_options"] = json!({"include_usage": true});
                            let chunks = stream(addr, "/v1/chat/completions", &body);
                            let id = chunks[0]["id"].as_str().unwrap().to_string();
                            assert!(chunks.iter().all(|c| c["id"] == id.as_str()));
                            let usage = &chunks.last().unwrap()["usage"];
                            assert!(usage["completion_tokens"].as_u64().unwrap() >= 1);
                            finish_reason(&chunks);
                            (id, joined(&chunks, "content"))
                        } else {
                            let answer = ok(addr, "/v1/chat/completions", &body);
                            assert!(answer["usage"]["completion_tokens"].as_u64().unwrap() >= 1);
                            assert!(answer["choices"][0]["finish_reason"].is_string());
                            let content = answer["choices"][0]["message"]["content"]
                                .as_str()
                                .unwrap()
                                .to_string();
                            (answer["id"].as_str().unwrap().to_string(), content)
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut services = Vec::new();
    let mut answers = Vec::new();
    for client in clients {
        let results = client.join().unwrap();
        let numbers: Vec<u64> = results
            .iter()
            .map(|(id, _)| id.strip_prefix("chatcmpl-").unwrap().parse().unwrap())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "a client's requests are served in the order it sent them: {numbers:?}"
        );
        // Greedy: the same prompt gives the same answer whatever ran before it.
        assert!(
            results.iter().all(|(_, text)| *text == results[0].1),
            "{results:?}"
        );
        services.extend(numbers);
        answers.push(results[0].1.clone());
    }
    services.sort_unstable();
    assert_eq!(
        services,
        (1..=200).collect::<Vec<u64>>(),
        "every request served once"
    );
    assert_eq!(health(addr)["started"], 200);
    server.shutdown().unwrap();
}

/// Starts `zaya-graph serve ARGS --port 0` and returns it with its address (read from stderr).
fn spawn_binary(
    args: &[&str],
) -> (
    std::process::Child,
    SocketAddr,
    std::thread::JoinHandle<String>,
) {
    let mut child = zaya_bin()
        .arg("serve")
        .args(args)
        .args(["--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before listening:\n{seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.strip_prefix("listening on http://") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        seen + &rest
    });
    (child, addr, rest)
}

#[test]
fn the_binary_serves_and_drains_on_ctrl_c() {
    let dir = fixture_bundle();
    let model = dir.path().to_str().unwrap();
    let (mut child, addr, stderr) = spawn_binary(&["--model", model, "--greedy"]);
    let body = json!({"messages": user("Hi"), "max_tokens": 12});
    let answer = ok(addr, "/v1/chat/completions", &body);
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(printed(content), run_greedy(dir.path(), "Hi", 12, false));
    let model_id = get(addr, "/v1/models")["data"][0]["id"].clone();
    assert_eq!(
        model_id,
        json!(dir.path().file_name().unwrap().to_str().unwrap())
    );

    // A long generation in flight when Ctrl-C comes still completes.
    // Seconds on the CPU, so the signal surely comes first.
    let long = json!({"messages": user("Tell me more"), "max_tokens": 1500, "stream": true,
                      "stream_options": {"include_usage": true}});
    let socket = start_raw(
        addr,
        "/v1/chat/completions",
        &long,
        "\"role\":\"assistant\"",
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    BufReader::new(socket).read_to_string(&mut rest).unwrap();
    assert!(rest.contains("data: [DONE]"), "{rest}");
    assert!(rest.contains("\"usage\""), "{rest}");
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("serve: stopped"), "{stderr}");
    let signal = stderr
        .find("serve: Ctrl-C")
        .expect("the signal is reported");
    let finished = stderr
        .find("serve: #2 chat")
        .expect("the request is logged");
    assert!(
        signal < finished,
        "the request finished after the signal:\n{stderr}"
    );
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

/// SIGTERM (service managers, `docker stop`) stops the server as cleanly as Ctrl-C.
#[cfg(unix)]
#[test]
fn the_binary_drains_on_sigterm() {
    let dir = fixture_bundle();
    let model = dir.path().to_str().unwrap();
    let (mut child, addr, stderr) = spawn_binary(&["--model", model, "--greedy"]);
    assert_eq!(health(addr)["started"], 0);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("serve: SIGTERM: finishing"), "{stderr}");
    assert!(stderr.contains("serve: stopped"), "{stderr}");
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn the_binary_rejects_bad_flags() {
    let out = zaya_bin().args(["serve", "--queue", "0"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--queue"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = zaya_bin()
        .args(["serve", "--port", &port])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("--port {port}")), "{stderr}");
}

/// The official `openai` package against the server: chat, streaming, tool calls. CI must
/// run it (CI=true fails when python3 or the package is missing); elsewhere it is skipped
/// with a note.
#[test]
fn the_official_openai_python_client_works() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let has_openai = Command::new(&python)
        .args(["-c", "import openai"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_openai {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "CI=true but `{python} -c 'import openai'` fails: install it (pip install openai, see .ci/run)"
        );
        eprintln!(
            "skipped: {python} with the openai package is not available (pip install openai)"
        );
        return;
    }
    let mut opts = options();
    opts.api_key = Some("test-key".into());
    let (server, dir) = engine_server(opts.clone());
    let tools = scripted_server(TOOL_CALL, true, Duration::ZERO, opts);
    // `run`'s stdout exactly (a file: the text may hold anything).
    let expected_file = dir.path().join("expected.txt");
    std::fs::write(&expected_file, run_greedy(dir.path(), "Hi", 12, false)).unwrap();
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py"))
        .args(["--base-url", &format!("http://{}/v1", server.local_addr())])
        .args([
            "--tools-base-url",
            &format!("http://{}/v1", tools.local_addr()),
        ])
        .args([
            "--api-key",
            "test-key",
            "--prompt",
            "Hi",
            "--max-tokens",
            "12",
        ])
        .args(["--expect-printed-file", expected_file.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("openai client: all checks passed"),
        "{stdout}"
    );
    server.shutdown().unwrap();
    tools.shutdown().unwrap();
}

#[test]
fn control_tokens_are_hidden_unless_show_special() {
    let mut completions = Vec::new();
    for show in [false, true] {
        let mut opts = options();
        opts.show_special = show;
        let assets = chat_assets();
        let t = &assets.tokenizer;
        let id = |token: &str| t.token_id(token).unwrap();
        let script = [
            t.encode("Hi").unwrap(),
            vec![id("<unused56>")],
            t.encode(" there").unwrap(),
            vec![id("<pad>"), id("<|im_end|>")],
        ]
        .concat();
        let server = scripted_ids_server(assets, script, Duration::ZERO, opts);
        let addr = server.local_addr();
        let body = json!({"messages": user("hi"), "max_tokens": 100});
        let answer = ok(addr, "/v1/chat/completions", &body);
        let want = if show {
            "Hi<unused56> there<pad>"
        } else {
            "Hi there"
        };
        assert_eq!(answer["choices"][0]["message"]["content"], want, "{answer}");
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        assert_eq!(
            joined(&stream(addr, "/v1/chat/completions", &streamed), "content"),
            want
        );
        completions.push(answer["usage"]["completion_tokens"].clone());
        server.shutdown().unwrap();
    }
    assert_eq!(completions[0], completions[1], "hidden tokens still count");
}

/// The worker drives a GPU session from its own thread: greedy answers (on-device argmax fed
/// back) and seeded samples (the device sampler) equal the CPU server's. Skipped without an
/// adapter unless CI=true.
#[test]
fn the_server_on_the_gpu_answers_what_the_cpu_answers() {
    if zaya_wgpu::list_adapters().is_empty() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true and no GPU adapter"
        );
        eprintln!("skipping: no GPU adapter");
        return;
    }
    let answers = |engine: EngineOptions| {
        let (server, _dir) = engine_server_on(options(), engine);
        let addr = server.local_addr();
        let mut out = Vec::new();
        for body in [
            json!({"messages": user("Hi"), "temperature": 0, "max_tokens": 12}),
            json!({"messages": user("Hi"), "temperature": 0.8, "top_p": 0.9, "seed": 5,
                   "max_tokens": 12}),
            json!({"prompt": "Hello world", "temperature": 0, "max_tokens": 8}),
        ] {
            let path = if body.get("prompt").is_some() {
                "/v1/completions"
            } else {
                "/v1/chat/completions"
            };
            let answer = ok(addr, path, &body);
            let choice = &answer["choices"][0];
            out.push(choice["message"]["content"].clone());
            out.push(choice["text"].clone());
            let mut streamed = body.clone();
            streamed["stream"] = json!(true);
            out.push(json!(stream(addr, path, &streamed).len()));
        }
        server.shutdown().unwrap();
        out
    };
    let mut gpu = EngineOptions::cpu(CONTEXT);
    gpu.backend = zaya_graph::engine::Backend::Wgpu;
    gpu.strategy = Some("all".into());
    assert_eq!(answers(gpu), answers(EngineOptions::cpu(CONTEXT)));
}
