//! `zaya-graph smoke`: the bundle's runtime smoke tests. Four chat-template prompts decoded
//! greedily (so a run is reproducible), each with a pass rule a working ZAYA1-8B meets; the exit
//! code is 0 only when all pass. On the random demo model they run end to end and fail, as they
//! should.

use std::process::ExitCode;

use zaya_chat::{Conversation, FinishReason, Generation, SamplerConfig};

use super::generation::{self, ModelArgs, SpecialArgs, describe_decode, explain_template_error};

#[derive(clap::Args, Debug)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Token budget of the prompts answered without thinking.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_tokens: usize,
    /// Token budget of the thinking prompt: enough for the reasoning and the final answer.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub think_max_tokens: usize,
    #[command(flatten)]
    pub special: SpecialArgs,
}

/// What an answer must show to pass.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// The answer (reasoning excluded) contains this text, ignoring case.
    Contains(&'static str),
    /// The model ended its turn itself with a non-empty answer and wrote no reasoning.
    EndsTurnWithoutThinking,
    /// The reasoning was closed with `</think>` and a non-empty answer followed.
    ClosesThinking,
}

struct Case {
    prompt: &'static str,
    think: bool,
    check: Check,
}

const CASES: [Case; 4] = [
    Case {
        prompt: "What is 2+2? Answer with only the number.",
        think: false,
        check: Check::Contains("4"),
    },
    Case {
        prompt: "What is the capital of France? Answer with one word.",
        think: false,
        check: Check::Contains("Paris"),
    },
    Case {
        prompt: "Say hello in one short sentence.",
        think: false,
        check: Check::EndsTurnWithoutThinking,
    },
    Case {
        prompt: "What is 3+5? Answer with only the number.",
        think: true,
        check: Check::ClosesThinking,
    },
];

impl Check {
    /// Whether the generation passes, and the rule in words.
    fn judge(self, generation: &Generation) -> (bool, String) {
        let content = generation.content.trim();
        match self {
            Check::Contains(needle) => (
                content.to_lowercase().contains(&needle.to_lowercase()),
                format!("the answer contains {needle:?}"),
            ),
            Check::EndsTurnWithoutThinking => {
                let ended = matches!(generation.finish_reason, FinishReason::StopToken(_));
                let no_reasoning = generation
                    .reasoning
                    .as_deref()
                    .is_none_or(|r| r.trim().is_empty());
                (
                    ended && no_reasoning && !content.is_empty(),
                    "a non-empty answer, no reasoning, and an end-of-turn token".into(),
                )
            }
            Check::ClosesThinking => (
                generation.text.contains(zaya_chat::tokens::THINK_END) && !content.is_empty(),
                "the reasoning closes with </think> and a non-empty answer follows".into(),
            ),
        }
    }
}

fn conversation(case: &Case) -> Conversation {
    let mut conversation = Conversation::new();
    conversation.set_enable_thinking(Some(case.think));
    conversation.push_user(case.prompt);
    conversation
}

pub fn run(args: SmokeArgs) -> anyhow::Result<ExitCode> {
    generation::check_max_tokens("--max-tokens", args.max_tokens)?;
    generation::check_max_tokens("--think-max-tokens", args.think_max_tokens)?;
    let (model, progress) = generation::open_model(&args.model, "smoke")?;
    let budget = |case: &Case| {
        if case.think {
            args.think_max_tokens
        } else {
            args.max_tokens
        }
    };
    let mut longest = 0;
    for case in &CASES {
        let turn = conversation(case)
            .prepare(&model.assets.template, model.tokenizer())
            .map_err(explain_template_error)?;
        longest = longest.max(turn.tokens.len() + budget(case));
    }
    let context = match args.model.context {
        Some(_) => generation::context_size(args.model.context, model.config(), 0, 0)?,
        None => longest.min(model.config().max_position_embeddings),
    };
    let (mut engine, _) = model.engine(&args.model, context, progress)?;
    let mut generator = model
        .assets
        .generator(SamplerConfig::greedy(), model.assets.stop_conditions())?;
    args.special.apply(&mut generator);

    let mut passed = 0;
    for (i, case) in CASES.iter().enumerate() {
        let stop = model.assets.stop_conditions().with_max_tokens(budget(case));
        generator.set_stop_conditions(stop)?;
        let mut chat = conversation(case);
        let generation = chat
            .respond(&model.assets.template, &mut engine, &mut generator, |_| {
                std::ops::ControlFlow::Continue(())
            })
            .map_err(explain_template_error)?;
        let (pass, rule) = case.check.judge(&generation);
        passed += usize::from(pass);
        report(i, case, &generation, pass, &rule);
        eprintln!(
            "[{}/{}: prefill {} tokens, {:.1} tok/s; {}]",
            i + 1,
            CASES.len(),
            generation.timings.prefill_tokens,
            generation.timings.prefill_tokens_per_sec(),
            describe_decode(&generation, model.tokenizer())
        );
    }
    println!("smoke: {passed}/{} passed", CASES.len());
    Ok(if passed == CASES.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints one case: the prompt, the answer (quoted, so whitespace and gibberish stay visible),
/// the reasoning's size for thinking prompts, and the verdict.
fn report(i: usize, case: &Case, generation: &Generation, pass: bool, rule: &str) {
    let mode = if case.think {
        "thinking on"
    } else {
        "thinking off"
    };
    println!("[{}/{}] ({mode}) {}", i + 1, CASES.len(), case.prompt);
    if case.think {
        let reasoning = generation.reasoning.as_deref().unwrap_or("");
        println!("  reasoning: {} chars", reasoning.chars().count());
    }
    println!("  answer: {:?}", shorten(generation.content.trim(), 300));
    println!("  {}: {rule}", if pass { "PASS" } else { "FAIL" });
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}
