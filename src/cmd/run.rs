//! `zaya-graph run`: one prompt, one answer, streamed to stdout.
//!
//! The prompt goes through the bundle's chat template (thinking off unless `--think`), or is
//! encoded as-is with `--raw`. Reasoning is printed only with `--think`, as a
//! `<think>\n...\n</think>` block before the answer; without it, any reasoning the model
//! writes is left out of stdout (it still appears in `--json` output).

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use zaya_chat::{Conversation, Message};

use super::generation::{
    self, LoadedModel, ModelArgs, SamplingArgs, StreamPrinter, describe_decode,
    explain_template_error,
};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The prompt. Read from stdin when absent or `-`.
    pub prompt: Option<String>,
    /// Encode PROMPT as-is, without the chat template.
    #[arg(long, conflicts_with = "system")]
    pub raw: bool,
    /// Let the model think first (enable_thinking=true) and print its reasoning in a
    /// <think>...</think> block before the answer.
    #[arg(long)]
    pub think: bool,
    /// System message.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Most tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_tokens: usize,
    /// Print one JSON object (prompt_tokens, generated token ids, text, reasoning, content,
    /// tool_calls, finish_reason, timings) instead of streaming text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    generation::check_max_tokens("--max-tokens", args.max_tokens)?;
    let prompt_text = read_prompt(args.prompt.as_deref())?;
    let (model, progress) = generation::open_model(&args.model, "run")?;
    let prompt = encode_prompt(&model, &args, &prompt_text)?;
    let context = generation::context_size(
        args.model.context,
        model.config(),
        prompt.len(),
        args.max_tokens,
    )?;
    let (mut engine, load_time) = model.engine(&args.model, context, progress)?;
    let mut generator = model.assets.generator(
        args.sampling.sampler_config(),
        args.sampling
            .stop_conditions(&model.assets, args.max_tokens),
    )?;
    args.sampling.special.apply(&mut generator);

    let mut printer = StreamPrinter::new(args.think);
    let generation = generator.generate(&mut engine, &[], &prompt, |piece| {
        if args.json {
            std::ops::ControlFlow::Continue(())
        } else {
            printer.piece(piece)
        }
    })?;
    printer.finish();

    let tokenizer = model.tokenizer();
    if args.json {
        let report = serde_json::json!({
            "prompt_tokens": prompt.len(),
            "generated_tokens": generation.tokens.len(),
            "tokens": generation.tokens,
            "text": generation.text,
            "reasoning": generation.reasoning,
            "content": generation.content,
            "tool_calls": generation.tool_calls,
            "finish_reason": generation::finish_reason_name(&generation.finish_reason),
            "timings": generation::timings_json(&generation, load_time),
        });
        println!("{report}");
    }
    eprintln!(
        "prompt {} tokens, prefill {:.1} tok/s; {}",
        prompt.len(),
        generation.timings.prefill_tokens_per_sec(),
        describe_decode(&generation, tokenizer)
    );
    Ok(ExitCode::SUCCESS)
}

/// The prompt argument, or all of stdin when it is absent or `-` (one trailing newline
/// dropped, as `echo` adds it). Blank prompts are rejected.
fn read_prompt(arg: Option<&str>) -> anyhow::Result<String> {
    let text = match arg {
        Some(text) if text != "-" => text.to_string(),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the prompt from stdin")?;
            let trimmed = text.strip_suffix('\n').unwrap_or(&text);
            trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string()
        }
    };
    if text.trim().is_empty() {
        bail!("empty prompt: give it as an argument or on stdin (zaya-graph run \"Hello\")");
    }
    Ok(text)
}

/// Tokens to feed: the rendered one-turn conversation, or the raw text.
fn encode_prompt(model: &LoadedModel, args: &RunArgs, text: &str) -> anyhow::Result<Vec<u32>> {
    let tokenizer = model.tokenizer();
    if args.raw {
        let tokens = tokenizer.encode(text)?;
        if tokens.is_empty() {
            bail!("empty prompt: {text:?} encodes to no tokens");
        }
        return Ok(tokens);
    }
    let mut conversation = Conversation::new();
    if let Some(system) = &args.system {
        conversation.push(Message::system(system.clone()));
    }
    conversation.push_user(text);
    conversation.set_enable_thinking(Some(args.think));
    let turn = conversation
        .prepare(&model.assets.template, tokenizer)
        .map_err(explain_template_error)?;
    Ok(turn.tokens)
}
