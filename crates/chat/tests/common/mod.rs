//! Shared test helpers: fixture paths and a scripted fake model.
#![allow(dead_code)]

use std::path::PathBuf;

use zaya_chat::{ModelFailure, Sampler, TokenModel, Tokenizer};

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/chat")
}

pub fn tokenizer() -> Tokenizer {
    Tokenizer::from_file(fixture_dir().join("tokenizer.json")).expect("fixture tokenizer")
}

pub fn template_source() -> String {
    std::fs::read_to_string(fixture_dir().join("chat_template.reconstructed.jinja")).unwrap()
}

/// Logit columns of the fake model: like ZAYA, more than the tokenizer has.
pub const LOGITS_LEN: usize = 600;

/// A fake model whose logits make a scripted token sequence the argmax, one per forward call.
/// Optionally plants a huge logit in a padding column (beyond the tokenizer vocab) to prove the
/// mask works.
pub struct ScriptedModel {
    pub script: Vec<u32>,
    pub next: usize,
    pub position: usize,
    pub context_len: usize,
    /// Every chunk fed, in order.
    pub feeds: Vec<Vec<u32>>,
    pub resets: usize,
    pub poison_padding: Option<usize>,
    pub fail_at_call: Option<usize>,
}

impl ScriptedModel {
    pub fn new(script: Vec<u32>) -> Self {
        Self {
            script,
            next: 0,
            position: 0,
            context_len: 4096,
            feeds: Vec::new(),
            resets: 0,
            poison_padding: None,
            fail_at_call: None,
        }
    }
}

#[derive(Debug)]
pub struct FakeFailure;
impl std::fmt::Display for FakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("device lost")
    }
}
impl std::error::Error for FakeFailure {}

impl TokenModel for ScriptedModel {
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ModelFailure> {
        if self.fail_at_call == Some(self.feeds.len()) {
            return Err(Box::new(FakeFailure));
        }
        assert!(
            self.position + tokens.len() <= self.context_len,
            "fed past the context"
        );
        self.feeds.push(tokens.to_vec());
        self.position += tokens.len();
        let mut logits = vec![0.0f32; LOGITS_LEN];
        let want = *self.script.get(self.next).unwrap_or(&0) as usize;
        self.next += 1;
        logits[want] = 50.0;
        if let Some(col) = self.poison_padding {
            logits[col] = 1e9;
        }
        Ok(logits)
    }
    fn logits_len(&self) -> usize {
        LOGITS_LEN
    }
    fn context_len(&self) -> usize {
        self.context_len
    }
    fn position(&self) -> usize {
        self.position
    }
    fn reset(&mut self) {
        self.position = 0;
        self.resets += 1;
    }
}

/// A backend that "samples on the device": overrides `forward_and_sample`, never builds logits.
pub struct DeviceSampledModel {
    pub script: Vec<u32>,
    pub next: usize,
    pub position: usize,
    pub uniforms_drawn: usize,
}

impl TokenModel for DeviceSampledModel {
    fn forward(&mut self, _tokens: &[u32]) -> Result<Vec<f32>, ModelFailure> {
        Err("this backend only samples on the device".into())
    }
    fn logits_len(&self) -> usize {
        LOGITS_LEN
    }
    fn context_len(&self) -> usize {
        1024
    }
    fn position(&self) -> usize {
        self.position
    }
    fn reset(&mut self) {
        self.position = 0;
    }
    fn forward_and_sample(
        &mut self,
        tokens: &[u32],
        sampler: &mut Sampler,
        _history: &[u32],
    ) -> Result<u32, ModelFailure> {
        self.position += tokens.len();
        // A device sampler draws from the same seeded stream.
        let _u = sampler.uniform();
        self.uniforms_drawn += 1;
        let t = self.script[self.next];
        self.next += 1;
        Ok(t)
    }
}
