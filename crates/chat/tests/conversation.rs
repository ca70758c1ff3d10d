//! Multi-turn chat on a stateful model: only the new suffix is fed while the re-rendered
//! conversation starts with what the model holds; otherwise the model is reset and re-prefilled.

mod common;

use std::ops::ControlFlow;

use common::{ScriptedModel, tokenizer};
use zaya_chat::{
    ChatTemplate, Conversation, Generator, Message, SamplerConfig, StopConditions, Tokenizer,
};

fn template() -> ChatTemplate {
    let mut t = ChatTemplate::from_source("chat", &common::template_source()).unwrap();
    t.set_default_special_tokens(Some("<bos>"), Some("<|im_end|>"));
    t
}

fn reply(tok: &Tokenizer, parts: &[&str]) -> Vec<u32> {
    let mut ids: Vec<u32> = parts.iter().flat_map(|p| tok.encode(p).unwrap()).collect();
    ids.push(tok.token_id("<|im_end|>").unwrap());
    ids
}

fn generator(tok: &Tokenizer) -> Generator {
    Generator::new(
        tok,
        SamplerConfig::greedy(),
        StopConditions::for_tokenizer(tok),
    )
    .unwrap()
}

#[test]
fn second_turn_feeds_only_the_new_suffix() {
    let tok = tokenizer();
    let t = template();
    let mut script = reply(&tok, &["Hello"]);
    script.extend(reply(&tok, &["Bye"]));
    let mut model = ScriptedModel::new(script);
    let mut generator = generator(&tok);
    let mut chat = Conversation::new();

    chat.push_user("Hi");
    let first = chat
        .respond(
            &t,
            &mut model,
            &mut generator,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(first.content, "Hello");
    assert_eq!(chat.messages().len(), 2);
    assert_eq!(chat.messages()[1], Message::assistant("Hello"));
    assert_eq!(chat.fed_tokens().len(), model.position);

    chat.push_user("Again");
    let prompt = chat.prepare(&t, &tok).unwrap();
    assert!(!prompt.needs_reset);
    assert_eq!(prompt.reused, model.position);
    // The suffix starts by closing the previous assistant turn.
    assert_eq!(prompt.to_feed()[0], tok.token_id("<|im_end|>").unwrap());

    let feeds_before = model.feeds.len();
    let second = chat
        .respond(
            &t,
            &mut model,
            &mut generator,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(second.content, "Bye");
    assert_eq!(model.resets, 0);
    assert_eq!(model.feeds[feeds_before], prompt.to_feed());
    // The model state equals a fresh encoding of the whole conversation so far.
    let full = tok.encode(&chat.render(&t).unwrap()).unwrap();
    assert!(full.starts_with(chat.fed_tokens()));
    assert_eq!(chat.fed_tokens().len(), model.position);
}

#[test]
fn rerendered_history_that_differs_forces_a_reset() {
    let tok = tokenizer();
    let t = template();
    let think_end = tok.token_id("</think>").unwrap();
    // Thinking on: turn one reasons; the template drops that reasoning once a newer user turn
    // exists, so the model state is no longer a prefix of the new rendering.
    let mut script = tok.encode("Plan.").unwrap();
    script.push(think_end);
    script.extend(reply(&tok, &["\n\nHello"]));
    script.extend(reply(&tok, &["</think>\n\nBye"]));
    let mut model = ScriptedModel::new(script);
    let mut generator = generator(&tok);
    let mut chat = Conversation::new();
    chat.set_enable_thinking(Some(true));

    chat.push_user("Hi");
    let first = chat
        .respond(
            &t,
            &mut model,
            &mut generator,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(first.reasoning.as_deref(), Some("Plan."));
    assert_eq!(first.content, "Hello");
    assert_eq!(
        chat.messages()[1].reasoning_content.as_deref(),
        Some("Plan.")
    );

    chat.push_user("Again");
    let prompt = chat.prepare(&t, &tok).unwrap();
    assert!(prompt.needs_reset);
    assert_eq!(prompt.reused, 0);

    let feeds_before = model.feeds.len();
    let second = chat
        .respond(
            &t,
            &mut model,
            &mut generator,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(model.resets, 1);
    assert_eq!(
        model.feeds[feeds_before], prompt.tokens,
        "re-prefilled from the start"
    );
    assert_eq!(second.content, "Bye");
    assert_eq!(chat.fed_tokens().len(), model.position);
}

#[test]
fn external_reset_is_detected() {
    let tok = tokenizer();
    let t = template();
    let mut script = reply(&tok, &["a"]);
    script.extend(reply(&tok, &["b"]));
    let mut model = ScriptedModel::new(script);
    let mut generator = generator(&tok);
    let mut chat = Conversation::new();
    chat.push_user("Hi");
    chat.respond(
        &t,
        &mut model,
        &mut generator,
        |_| ControlFlow::Continue(()),
    )
    .unwrap();
    // Someone reset the model behind the conversation's back: the next turn re-prefills.
    model.position = 0;
    chat.push_user("Again");
    let full_prompt = chat.prepare(&t, &tok).unwrap().tokens;
    let feeds_before = model.feeds.len();
    let g = chat
        .respond(
            &t,
            &mut model,
            &mut generator,
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
    assert_eq!(g.content, "b");
    assert_eq!(model.resets, 1);
    assert_eq!(model.feeds[feeds_before], full_prompt);
    assert_eq!(chat.fed_tokens().len(), model.position);
}
