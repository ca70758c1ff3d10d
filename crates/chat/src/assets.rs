//! Everything chat needs from a model bundle directory, loaded in one call.

use std::path::Path;

use serde_json::Value;

use crate::error::ChatError;
use crate::generate::Generator;
use crate::sampling::SamplerConfig;
use crate::stop::StopConditions;
use crate::template::{ChatTemplate, read_json};
use crate::tokenizer::{Tokenizer, tokens};

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// Tokenizer, chat template and end-of-turn ids of a bundle.
#[derive(Debug, Clone)]
pub struct ChatAssets {
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    /// `<|im_end|>`, `<eos>`, tokenizer_config's `eos_token` and generation_config's
    /// `eos_token_id`(s), whichever exist.
    pub stop_tokens: Vec<u32>,
}

impl ChatAssets {
    /// Loads `tokenizer.json` (required), the chat template (`chat_template.jinja`, else
    /// tokenizer_config.json) and the optional eos settings.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, ChatError> {
        let dir = dir.as_ref();
        let tokenizer = Tokenizer::from_file(dir.join(TOKENIZER_FILE))?;
        let mut template = ChatTemplate::from_bundle(dir)?;
        let has = |t: &str| tokenizer.token_id(t).is_some();
        let default_eos = [tokens::IM_END, tokens::EOS].into_iter().find(|t| has(t));
        template.set_default_special_tokens(has(tokens::BOS).then_some(tokens::BOS), default_eos);

        let mut stop_tokens = tokenizer.default_stop_tokens();
        let mut add = |id: u32| {
            if !stop_tokens.contains(&id) {
                stop_tokens.push(id);
            }
        };
        if let Some(Value::String(eos)) = template.variables().get("eos_token") {
            if let Some(id) = tokenizer.token_id(eos) {
                add(id);
            }
        }
        let generation_config = dir.join(GENERATION_CONFIG_FILE);
        if generation_config.exists() {
            match read_json(&generation_config)?.get("eos_token_id") {
                Some(Value::Number(n)) => n.as_u64().into_iter().for_each(|id| add(id as u32)),
                Some(Value::Array(ids)) => ids
                    .iter()
                    .filter_map(Value::as_u64)
                    .for_each(|id| add(id as u32)),
                _ => {}
            }
        }
        Ok(Self {
            tokenizer,
            template,
            stop_tokens,
        })
    }

    /// Stop rules with the bundle's end-of-turn ids.
    pub fn stop_conditions(&self) -> StopConditions {
        StopConditions {
            stop_tokens: self.stop_tokens.clone(),
            ..StopConditions::default()
        }
    }

    /// A generator with the bundle's tokenizer and the given stop rules.
    pub fn generator(
        &self,
        sampler: SamplerConfig,
        stop: StopConditions,
    ) -> Result<Generator, ChatError> {
        Generator::new(&self.tokenizer, sampler, stop)
    }
}
