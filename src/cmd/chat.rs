//! `zaya-graph chat`: multi-turn chat from stdin, one user message per line (works through a
//! pipe). `/reset` starts over, `/exit` (or end of input) quits.
//!
//! The model state is kept between turns: each turn feeds only the part of the re-rendered
//! conversation the model has not seen. When the template renders an earlier turn differently
//! from what the model holds (e.g. the model's text re-tokenizes differently), the model is
//! reset and the whole history is fed again. The per-turn line on stderr says which happened:
//! `prefill F of P prompt tokens (R reused from the model state)`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use zaya_chat::{ChatError, Conversation, Generator, Message, TokenModel};

use super::generation::{
    self, LoadedModel, ModelArgs, SamplingArgs, StreamPrinter, describe_decode,
    explain_template_error,
};

#[derive(clap::Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Let the model think before each answer and show the reasoning in <think> blocks.
    #[arg(long)]
    pub think: bool,
    /// System message, kept across /reset.
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Most tokens per answer.
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_tokens: usize,
}

/// A line of input.
enum Input {
    Message(String),
    Reset,
    Exit,
    Blank,
}

fn parse_line(line: &str) -> Input {
    match line.trim() {
        "" => Input::Blank,
        "/reset" => Input::Reset,
        "/exit" | "/quit" => Input::Exit,
        _ => Input::Message(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

pub fn run(args: ChatArgs) -> anyhow::Result<ExitCode> {
    generation::check_max_tokens("--max-tokens", args.max_tokens)?;
    let (model, progress) = generation::open_model(&args.model, "chat")?;
    let default_context = model
        .config()
        .max_position_embeddings
        .min(generation::CONVERSATION_CONTEXT);
    let context = generation::context_size(
        args.model.context.or(Some(default_context)),
        model.config(),
        0,
        args.max_tokens,
    )?;
    let (mut engine, _) = model.engine(&args.model, context, progress)?;
    let mut generator = model.assets.generator(
        args.sampling.sampler_config(),
        args.sampling
            .stop_conditions(&model.assets, args.max_tokens),
    )?;
    args.sampling.special.apply(&mut generator);
    let mut chat = ChatLoop {
        model: &model,
        args: &args,
        conversation: new_conversation(&args),
        turn: 0,
    };

    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("chat: one message per line; /reset starts over, /exit or Ctrl-D quits");
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        let Some(line) = lines.next() else { break };
        match parse_line(&line.context("cannot read stdin")?) {
            Input::Blank => {}
            Input::Exit => break,
            Input::Reset => {
                chat.reset(&mut engine);
                eprintln!("[conversation reset]");
            }
            Input::Message(text) => chat.turn(&mut engine, &mut generator, text)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn new_conversation(args: &ChatArgs) -> Conversation {
    let mut conversation = Conversation::new();
    conversation.set_enable_thinking(Some(args.think));
    if let Some(system) = &args.system {
        conversation.push(Message::system(system.clone()));
    }
    conversation
}

/// The conversation and what is needed to run its turns.
struct ChatLoop<'a> {
    model: &'a LoadedModel,
    args: &'a ChatArgs,
    conversation: Conversation,
    turn: usize,
}

impl ChatLoop<'_> {
    fn reset(&mut self, engine: &mut dyn TokenModel) {
        self.conversation = new_conversation(self.args);
        engine.reset();
        self.turn = 0;
    }

    /// One user message and the streamed answer. A conversation that outgrew the context is
    /// reported and started over rather than ending the session.
    fn turn(
        &mut self,
        engine: &mut dyn TokenModel,
        generator: &mut Generator,
        text: String,
    ) -> anyhow::Result<()> {
        self.turn += 1;
        self.conversation.push_user(text);
        let mut printer = StreamPrinter::new(self.args.think);
        let result =
            self.conversation
                .respond(&self.model.assets.template, engine, generator, |piece| {
                    printer.piece(piece)
                });
        printer.finish();
        let generation = match result {
            Ok(generation) => generation,
            Err(err @ ChatError::PromptTooLong { .. }) => {
                eprintln!(
                    "[{err}; the conversation was reset: raise --context (now {}) for longer chats]",
                    engine.context_len()
                );
                self.reset(engine);
                return Ok(());
            }
            Err(err) => return Err(explain_template_error(err)),
        };
        let prompt_tokens =
            self.conversation.fed_tokens().len() - generation.tokens_in_model_state().len();
        let fed = generation.timings.prefill_tokens;
        eprintln!(
            "[turn {}: prefill {fed} of {prompt_tokens} prompt tokens ({} reused from the model state), {:.1} tok/s; {}]",
            self.turn,
            prompt_tokens - fed,
            generation.timings.prefill_tokens_per_sec(),
            describe_decode(&generation, self.model.tokenizer())
        );
        Ok(())
    }
}
