//! The generation driver with scripted fake models: stop rules, streaming, reasoning and tool
//! calls, context checks, errors, device-side sampling.

mod common;

use std::ops::ControlFlow;

use common::{DeviceSampledModel, ScriptedModel, tokenizer};
use serde_json::json;
use zaya_chat::{
    Channel, ChatError, ChatTemplate, FinishReason, Generation, Generator, Message, RenderOptions,
    SamplerConfig, StopConditions, TextPiece, TokenModel, Tokenizer,
};

fn prompt(
    tok: &Tokenizer,
    thinking: Option<bool>,
    tools: Option<Vec<serde_json::Value>>,
) -> Vec<u32> {
    let mut t = ChatTemplate::from_source("chat", &common::template_source()).unwrap();
    t.set_default_special_tokens(Some("<bos>"), Some("<|im_end|>"));
    let text = t
        .render(
            &[Message::user("Hi")],
            &RenderOptions {
                add_generation_prompt: true,
                enable_thinking: thinking,
                tools,
                ..RenderOptions::default()
            },
        )
        .unwrap();
    tok.encode(&text).unwrap()
}

fn ids(tok: &Tokenizer, parts: &[&str]) -> Vec<u32> {
    parts.iter().flat_map(|p| tok.encode(p).unwrap()).collect()
}

/// Runs generation, collecting streamed pieces.
fn run(
    generator: &mut Generator,
    model: &mut dyn TokenModel,
    prompt: &[u32],
) -> (Result<Generation, ChatError>, Vec<(Channel, String)>) {
    let mut pieces = Vec::new();
    let result = generator.generate(model, &[], prompt, |p: TextPiece<'_>| {
        pieces.push((p.channel, p.text.to_string()));
        ControlFlow::Continue(())
    });
    (result, pieces)
}

fn streamed(pieces: &[(Channel, String)], channel: Channel) -> String {
    pieces
        .iter()
        .filter(|(c, _)| *c == channel)
        .map(|(_, t)| t.as_str())
        .collect()
}

fn greedy(tok: &Tokenizer, stop: StopConditions) -> Generator {
    Generator::new(tok, SamplerConfig::greedy(), stop).unwrap()
}

#[test]
fn stops_on_im_end_and_keeps_model_state_consistent() {
    let tok = tokenizer();
    let p = prompt(&tok, None, None);
    let im_end = tok.token_id("<|im_end|>").unwrap();
    let mut script = ids(&tok, &["Hello world"]);
    script.push(im_end);
    script.extend(ids(&tok, &["junk"]));
    let mut model = ScriptedModel::new(script);
    // A padding column (beyond the 479 tokenizer ids) gets a huge logit: never sampled.
    model.poison_padding = Some(500);
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    let (g, pieces) = run(&mut generator, &mut model, &p);
    let g = g.unwrap();
    assert_eq!(g.text, "Hello world");
    assert_eq!(g.content, "Hello world");
    assert_eq!(g.reasoning, None);
    assert!(!g.started_in_reasoning);
    assert_eq!(g.finish_reason, FinishReason::StopToken(im_end));
    assert_eq!(g.tokens, vec![463, 468, im_end]);
    assert_eq!(streamed(&pieces, Channel::Content), "Hello world");
    // Prefill fed the prompt, then each sampled token but the last.
    assert_eq!(model.feeds[0], p);
    assert_eq!(&model.feeds[1..], &[vec![463], vec![468]]);
    assert_eq!(model.position, p.len() + g.tokens_in_model_state().len());
    assert_eq!(g.timings.prefill_tokens, p.len());
    assert_eq!(g.timings.decode_tokens, 2);
}

#[test]
fn stops_on_eos_looked_up_by_content() {
    let tok = tokenizer();
    let eos = tok.token_id("<eos>").unwrap();
    let mut script = ids(&tok, &["ab"]);
    script.push(eos);
    let mut model = ScriptedModel::new(script);
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    let (g, _) = run(&mut generator, &mut model, &prompt(&tok, None, None));
    let g = g.unwrap();
    assert_eq!(g.finish_reason, FinishReason::StopToken(eos));
    assert_eq!(g.text, "ab");
}

#[test]
fn stop_string_split_across_tokens_is_cut_and_never_streamed() {
    let tok = tokenizer();
    // Single-character tokens: the stop string spans four of them.
    let script = ids(&tok, &["abc STOP def"]);
    assert!(script.len() >= 10);
    let mut model = ScriptedModel::new(script);
    let stop = StopConditions::for_tokenizer(&tok).with_stop_string("STOP");
    let mut generator = greedy(&tok, stop);
    let (g, pieces) = run(&mut generator, &mut model, &prompt(&tok, None, None));
    let g = g.unwrap();
    assert_eq!(g.finish_reason, FinishReason::StopString("STOP".into()));
    assert_eq!(g.text, "abc ");
    assert_eq!(streamed(&pieces, Channel::Content), "abc ");
    assert!(pieces.iter().all(|(_, t)| !t.contains('S')), "{pieces:?}");
    // Generation stopped at the token completing the stop string.
    assert_eq!(g.tokens.len(), "abc STOP".len());
}

#[test]
fn max_tokens_and_context_limits() {
    let tok = tokenizer();
    let p = prompt(&tok, None, None);
    let script = ids(&tok, &["abcdefgh"]);

    let mut model = ScriptedModel::new(script.clone());
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok).with_max_tokens(3));
    let (g, _) = run(&mut generator, &mut model, &p);
    let g = g.unwrap();
    assert_eq!(
        (g.finish_reason, g.text.as_str()),
        (FinishReason::MaxTokens, "abc")
    );

    // The context leaves room for two tokens only.
    let mut model = ScriptedModel::new(script.clone());
    model.context_len = p.len() + 2;
    let mut generator = greedy(
        &tok,
        StopConditions::for_tokenizer(&tok).with_max_tokens(100),
    );
    let (g, _) = run(&mut generator, &mut model, &p);
    let g = g.unwrap();
    assert_eq!(
        (g.finish_reason, g.text.as_str()),
        (FinishReason::ContextFull, "ab")
    );

    // No room at all: a clear error before anything runs.
    let mut model = ScriptedModel::new(script);
    model.context_len = p.len();
    let (g, _) = run(&mut generator, &mut model, &p);
    let err = g.unwrap_err();
    assert!(
        matches!(err, ChatError::PromptTooLong { prompt_tokens, context_len, .. } if prompt_tokens == p.len() && context_len == p.len()),
        "{err}"
    );
    assert!(model.feeds.is_empty());

    let err = Generator::new(
        &tok,
        SamplerConfig::greedy(),
        StopConditions::default().with_max_tokens(0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_tokens"), "{err}");
}

#[test]
fn argument_and_backend_errors() {
    let tok = tokenizer();
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    let mut model = ScriptedModel::new(vec![366]);
    let (g, _) = run(&mut generator, &mut model, &[]);
    assert!(matches!(g.unwrap_err(), ChatError::EmptyPrompt));

    // The caller claims cached tokens the model does not hold.
    let err = generator
        .generate(&mut model, &[2, 105], &[366], |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChatError::StateMismatch {
                cached_tokens: 2,
                position: 0
            }
        ),
        "{err}"
    );

    let mut model = ScriptedModel::new(ids(&tok, &["abc"]));
    model.fail_at_call = Some(1);
    let (g, _) = run(&mut generator, &mut model, &[2]);
    let err = g.unwrap_err();
    assert!(
        matches!(err, ChatError::Model(_)) && err.to_string().contains("device lost"),
        "{err}"
    );
}

#[test]
fn streams_utf8_through_byte_fallback_tokens() {
    let tok = tokenizer();
    let text = "é€😀 ok";
    let mut script = tok.encode(text).unwrap();
    let byte_tokens = script.iter().filter(|&&i| (109..=364).contains(&i)).count();
    assert_eq!(byte_tokens, 2 + 3 + 4);
    script.push(tok.token_id("<|im_end|>").unwrap());
    let mut model = ScriptedModel::new(script);
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    let (g, pieces) = run(&mut generator, &mut model, &prompt(&tok, None, None));
    assert_eq!(g.unwrap().text, text);
    assert!(
        pieces.iter().all(|(_, t)| !t.contains('\u{FFFD}')),
        "{pieces:?}"
    );
    assert_eq!(streamed(&pieces, Channel::Content), text);

    // Output that ends mid-character: the held bytes are released (as U+FFFD) at the end.
    let mut model = ScriptedModel::new(vec![366, tok.token_id("<0xE2>").unwrap()]);
    let mut generator = greedy(&tok, StopConditions::default().with_max_tokens(2));
    let (g, pieces) = run(&mut generator, &mut model, &[2]);
    assert_eq!(g.unwrap().text, "a\u{FFFD}");
    assert_eq!(streamed(&pieces, Channel::Content), "a\u{FFFD}");
}

#[test]
fn thinking_prompt_starts_inside_reasoning() {
    let tok = tokenizer();
    let p = prompt(&tok, Some(true), None);
    let think_end = tok.token_id("</think>").unwrap();
    let mut script = ids(&tok, &["Let me think."]);
    script.push(think_end);
    script.extend(ids(&tok, &["\n\nAnswer"]));
    script.push(tok.token_id("<|im_end|>").unwrap());
    let mut model = ScriptedModel::new(script);
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    let (g, pieces) = run(&mut generator, &mut model, &p);
    let g = g.unwrap();
    assert!(g.started_in_reasoning);
    assert_eq!(g.reasoning.as_deref(), Some("Let me think."));
    assert_eq!(g.content, "Answer");
    assert_eq!(g.text, "Let me think.</think>\n\nAnswer");
    assert_eq!(streamed(&pieces, Channel::Reasoning), "Let me think.");
    assert_eq!(streamed(&pieces, Channel::Content), "Answer");

    // </think> never comes: everything is reasoning.
    let mut model = ScriptedModel::new(ids(&tok, &["hmm hmm"]));
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok).with_max_tokens(4));
    let (g, pieces) = run(&mut generator, &mut model, &p);
    let g = g.unwrap();
    assert_eq!(
        (g.reasoning.as_deref(), g.content.as_str()),
        (Some("hmm "), "")
    );
    assert_eq!(streamed(&pieces, Channel::Content), "");
}

#[test]
fn tool_calls_are_parsed_and_typed() {
    let tok = tokenizer();
    let tools = vec![
        json!({"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}),
    ];
    let p = prompt(&tok, None, Some(tools.clone()));
    let call = "Checking.\n<zyphra_tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n\
<parameter=days>\n2\n</parameter>\n</function>\n</zyphra_tool_call>\n<zyphra_tool_call>\n<function=get_weather>\n\
<parameter=city>\nRome\n";
    let mut script = tok.encode(call).unwrap();
    assert!(script.contains(&101), "tool tag is one token");
    script.push(tok.token_id("<|im_end|>").unwrap());
    let mut model = ScriptedModel::new(script);
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    generator.set_tools(tools);
    let (g, pieces) = run(&mut generator, &mut model, &p);
    let g = g.unwrap();
    assert_eq!(g.content, "Checking.");
    assert_eq!(g.tool_calls.len(), 2);
    assert_eq!(g.tool_calls[0].name, "get_weather");
    assert_eq!(
        serde_json::Value::Object(g.tool_calls[0].arguments.clone()),
        json!({"city": "Paris", "days": 2})
    );
    assert_eq!(
        serde_json::Value::Object(g.tool_calls[1].arguments.clone()),
        json!({"city": "Rome"})
    );
    // The raw markup is streamed as content.
    assert_eq!(streamed(&pieces, Channel::Content), call);
}

#[test]
fn callback_can_cancel() {
    let tok = tokenizer();
    let mut model = ScriptedModel::new(ids(&tok, &["abcdef"]));
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    let mut seen = String::new();
    let g = generator
        .generate(&mut model, &[], &[2], |p| {
            seen.push_str(p.text);
            if seen.len() >= 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(g.finish_reason, FinishReason::Cancelled);
    assert_eq!(g.tokens.len(), 2);
    assert_eq!(seen, "ab");
}

#[test]
fn device_sampling_backend_overrides_forward_and_sample() {
    let tok = tokenizer();
    let im_end = tok.token_id("<|im_end|>").unwrap();
    let mut script = ids(&tok, &["ok"]);
    script.push(im_end);
    let mut model = DeviceSampledModel {
        script,
        next: 0,
        position: 0,
        uniforms_drawn: 0,
    };
    let config = SamplerConfig {
        seed: Some(1),
        ..SamplerConfig::default()
    };
    let mut generator = Generator::new(&tok, config, StopConditions::for_tokenizer(&tok)).unwrap();
    let g = generator
        .generate(&mut model, &[], &[2, 105], |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(g.text, "ok");
    assert_eq!(g.finish_reason, FinishReason::StopToken(im_end));
    assert_eq!(model.uniforms_drawn, 3);
}

#[test]
fn seeded_generation_is_reproducible() {
    let tok = tokenizer();
    // A model with flat logits: the output is pure sampling noise, so equality needs the seed.
    struct Flat(usize);
    impl TokenModel for Flat {
        fn forward(&mut self, t: &[u32]) -> Result<Vec<f32>, zaya_chat::ModelFailure> {
            self.0 += t.len();
            Ok(vec![0.0; common::LOGITS_LEN])
        }
        fn logits_len(&self) -> usize {
            common::LOGITS_LEN
        }
        fn context_len(&self) -> usize {
            1000
        }
        fn position(&self) -> usize {
            self.0
        }
        fn reset(&mut self) {
            self.0 = 0
        }
    }
    let run_seed = |seed| {
        let config = SamplerConfig {
            seed: Some(seed),
            top_p: 1.0,
            ..SamplerConfig::default()
        };
        let mut generator =
            Generator::new(&tok, config, StopConditions::default().with_max_tokens(40)).unwrap();
        generator
            .generate(&mut Flat(0), &[], &[2], |_| ControlFlow::Continue(()))
            .unwrap()
            .tokens
    };
    let a = run_seed(7);
    assert_eq!(a, run_seed(7));
    assert_ne!(a, run_seed(8));
    assert!(
        a.iter().all(|&t| (t as usize) < tok.vocab_size()),
        "padding column sampled: {a:?}"
    );
}

#[test]
fn control_tokens_are_hidden_unless_asked_and_ids_stay_complete() {
    let tok = tokenizer();
    let p = prompt(&tok, None, None);
    let im_end = tok.token_id("<|im_end|>").unwrap();
    let hidden = ["<pad>", "<bos>", "<unused56>", "<zyphra_tool_response>"];
    for name in hidden {
        assert!(tok.is_control(tok.token_id(name).unwrap()), "{name}");
    }
    for kept in [
        "<think>",
        "</think>",
        "<zyphra_tool_call>",
        "</zyphra_tool_call>",
        "<0x41>",
    ] {
        assert!(!tok.is_control(tok.token_id(kept).unwrap()), "{kept}");
    }
    let mut script = ids(&tok, &["Hello"]);
    script.extend(hidden.iter().map(|t| tok.token_id(t).unwrap()));
    script.extend(ids(&tok, &[" world"]));
    script.push(im_end);

    let stop = StopConditions::for_tokenizer(&tok);
    let (hidden_run, pieces) = run(
        &mut greedy(&tok, stop.clone()),
        &mut ScriptedModel::new(script.clone()),
        &p,
    );
    let hidden_run = hidden_run.unwrap();
    assert_eq!(hidden_run.text, "Hello world");
    assert_eq!(streamed(&pieces, Channel::Content), "Hello world");
    assert_eq!(hidden_run.tokens, script, "every id is kept");

    let mut shown = greedy(&tok, stop);
    shown.set_show_special(true);
    let (shown_run, _) = run(&mut shown, &mut ScriptedModel::new(script.clone()), &p);
    assert_eq!(
        shown_run.unwrap().text,
        "Hello<pad><bos><unused56><zyphra_tool_response> world"
    );
}

#[test]
fn raw_pieces_keep_the_think_tags() {
    let tok = tokenizer();
    let p = prompt(&tok, None, None);
    let mut script = ids(&tok, &["<think>", "\nhm\n", "</think>", "\n\nok"]);
    script.push(tok.token_id("<|im_end|>").unwrap());
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    generator.set_split_reasoning(false);
    let (result, pieces) = run(&mut generator, &mut ScriptedModel::new(script), &p);
    let generation = result.unwrap();
    assert!(pieces.iter().all(|(c, _)| *c == Channel::Content));
    assert_eq!(
        streamed(&pieces, Channel::Content),
        "<think>\nhm\n</think>\n\nok"
    );
    assert_eq!(generation.text, "<think>\nhm\n</think>\n\nok");
    assert_eq!(generation.reasoning.as_deref(), Some("hm"));
    assert_eq!(generation.content, "ok");
}

#[test]
fn prompt_cache_feeds_only_the_suffix_of_an_extended_prompt() {
    let tok = tokenizer();
    let im_end = tok.token_id("<|im_end|>").unwrap();
    let first = ids(&tok, &["Hello world"]);
    let mut script = ids(&tok, &[" again"]);
    script.push(im_end);
    script.extend(ids(&tok, &[" more"]));
    script.push(im_end);
    let mut model = ScriptedModel::new(script);
    let mut cache = zaya_chat::PromptCache::new();
    let mut generator = greedy(&tok, StopConditions::for_tokenizer(&tok));
    let (plan, one) = cache
        .generate(&mut model, &mut generator, first.clone(), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(plan.reused, 0);
    // The model holds the prompt and " again" (the stop token was never fed).
    let mut second = first.clone();
    second.extend(one.tokens_in_model_state());
    let suffix = ids(&tok, &[" and"]);
    second.extend(&suffix);
    let before = model.feeds.len();
    let (plan, _) = cache
        .generate(&mut model, &mut generator, second.clone(), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(plan.reused, second.len() - suffix.len());
    assert_eq!(model.feeds[before], suffix);
    assert_eq!(model.resets, 0);
    // A prompt that does not extend the state resets the model and feeds everything.
    let (plan, _) = cache
        .generate(&mut model, &mut generator, first.clone(), |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!((plan.reused, model.resets), (0, 1));
}
