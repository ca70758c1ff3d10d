//! One `Model` serves many sequences: sessions are independent (interleaved or on two
//! threads they give the tokens each gives alone), and the model is `Send + Sync`.

mod common;
use common::*;
use std::sync::Arc;
use zaya_chat::TokenModel;
use zaya_graph::engine::{EngineOptions, Model, Session};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn model_is_send_and_sync_and_sessions_are_send() {
    assert_send_sync::<Model>();
    assert_send::<Session>();
}

fn model(strategy: &str) -> Arc<Model> {
    let bundle = Arc::new(zaya_model::Bundle::open(&tiny_a().join("bundle_mxfp4")).unwrap());
    let mut options = EngineOptions::cpu(32);
    options.strategy = Some(strategy.into());
    Arc::new(Model::load(bundle, &options, &mut |_| {}).unwrap())
}

/// Greedy continuation of `prompt` by `steps` tokens, one `forward_greedy` per token.
fn generate_alone(model: &Model, prompt: &[u32], steps: usize) -> Vec<u32> {
    let mut s = model.session().unwrap();
    let mut out = vec![s.forward_greedy(prompt).unwrap()];
    for _ in 1..steps {
        let last = *out.last().unwrap();
        out.push(s.forward_greedy(&[last]).unwrap());
    }
    out
}

const PROMPT_A: [u32; 3] = [2, 105, 300];
const PROMPT_B: [u32; 2] = [7, 42];

#[test]
fn two_interleaved_sessions_of_one_model_equal_each_alone() {
    let model = model("all");
    let alone_a = generate_alone(&model, &PROMPT_A, 6);
    let alone_b = generate_alone(&model, &PROMPT_B, 6);
    assert_ne!(
        alone_a, alone_b,
        "the two prompts must lead apart for the test to mean anything"
    );

    let (mut a, mut b) = (model.session().unwrap(), model.session().unwrap());
    let mut got_a = vec![a.forward_greedy(&PROMPT_A).unwrap()];
    let mut got_b = vec![b.forward_greedy(&PROMPT_B).unwrap()];
    for _ in 1..6 {
        got_a.push(a.forward_greedy(&[*got_a.last().unwrap()]).unwrap());
        got_b.push(b.forward_greedy(&[*got_b.last().unwrap()]).unwrap());
    }
    assert_eq!(got_a, alone_a);
    assert_eq!(got_b, alone_b);
    assert_eq!(a.position(), PROMPT_A.len() + 5);
    assert_eq!(b.position(), PROMPT_B.len() + 5);

    // Resetting one session leaves the other untouched.
    a.reset();
    assert_eq!(a.position(), 0);
    let logits_b = b.forward(&[1]).unwrap();
    let mut fresh = model.session().unwrap();
    // Fed exactly as `b` was (a multi-token `forward` would take batched prefill, equal
    // only within rounding).
    fresh.forward_greedy(&PROMPT_B).unwrap();
    for &t in &alone_b[..5] {
        fresh.forward(&[t]).unwrap();
    }
    assert_eq!(fresh.forward(&[1]).unwrap(), logits_b);
}

#[test]
fn sessions_of_one_model_run_side_by_side_on_threads() {
    let model = model("none");
    let alone = [
        generate_alone(&model, &PROMPT_A, 4),
        generate_alone(&model, &PROMPT_B, 4),
    ];
    let handles: Vec<_> = [PROMPT_A.to_vec(), PROMPT_B.to_vec()]
        .into_iter()
        .map(|prompt| {
            let model = Arc::clone(&model);
            std::thread::spawn(move || generate_alone(&model, &prompt, 4))
        })
        .collect();
    let side_by_side: Vec<Vec<u32>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(side_by_side, alone);
}

#[test]
fn greedy_on_the_backend_equals_argmax_of_the_logits() {
    let model = model("all");
    let mut s = model.session().unwrap();
    let logits = s.forward(&PROMPT_A).unwrap();
    let mut t = model.session().unwrap();
    assert_eq!(
        t.forward_greedy(&PROMPT_A).unwrap() as usize,
        argmax(&logits)
    );
}
