//! The one thread that owns the model: it takes jobs from a bounded queue in arrival order and
//! runs them one at a time (batch 1), keeping a [`PromptCache`] so a request whose prompt
//! extends the previous one's tokens feeds only the new suffix.

use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::anyhow;
use tokio::sync::mpsc::UnboundedSender;
use zaya_chat::{Channel, FinishReason, Generation, Generator, PromptCache, TokenModel};

use super::backend::ModelSource;

/// Counters the worker and the handlers keep, reported by `/health`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Jobs queued and not yet taken by the worker.
    pub waiting: AtomicUsize,
    /// Jobs the worker started.
    pub started: AtomicU64,
    /// Jobs whose client went away: generation stopped early or never began.
    pub cancelled: AtomicU64,
    /// Prompt tokens fed to the model (those reused from the model state are not).
    pub prefilled_tokens: AtomicU64,
    /// Tokens generated.
    pub generated_tokens: AtomicU64,
}

/// One request, ready to run: the whole encoded prompt and a generator with its settings.
pub(crate) struct Job {
    /// Which endpoint, for the log line.
    pub kind: &'static str,
    pub prompt: Vec<u32>,
    pub generator: Generator,
    /// Where the request's handler listens; closed when its client went away.
    pub events: UnboundedSender<Event>,
}

/// What the worker tells a request's handler, in this order: `Started`, any `Piece`s, then
/// `Finished` or `Failed`.
pub(crate) enum Event {
    /// The job left the queue; `service` counts the jobs the worker has started, from 1.
    Started {
        service: u64,
    },
    Piece {
        channel: Channel,
        text: String,
    },
    Finished(Box<Finished>),
    Failed(String),
}

pub(crate) struct Finished {
    pub generation: Generation,
    pub prompt_tokens: usize,
    /// Leading prompt tokens reused from the model state (not prefilled).
    pub cached_tokens: usize,
}

/// The running worker: its queue and its thread.
pub(crate) struct Worker {
    pub jobs: SyncSender<Job>,
    pub thread: JoinHandle<()>,
    /// The model's context capacity in tokens.
    pub context_len: usize,
}

impl Worker {
    /// Starts the thread, builds the model there and waits until it is ready (or failed).
    pub fn start(
        source: Box<dyn ModelSource>,
        queue_capacity: usize,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Self> {
        let (jobs, queue) = sync_channel(queue_capacity);
        let (ready_tx, ready) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("zaya-serve-model".into())
            .spawn(move || run(source, &queue, &stats, ready_tx))?;
        match ready.recv() {
            Ok(Ok(context_len)) => Ok(Self {
                jobs,
                thread,
                context_len,
            }),
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err)
            }
            Err(_) => {
                let _ = thread.join();
                Err(anyhow!(
                    "the model thread stopped before the model was ready"
                ))
            }
        }
    }
}

fn run(
    source: Box<dyn ModelSource>,
    queue: &Receiver<Job>,
    stats: &Stats,
    ready: SyncSender<anyhow::Result<usize>>,
) {
    let mut ready = Some(ready);
    let result = source.run(&mut |model| {
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(model.context_len()));
        }
        serve_jobs(model, queue, stats);
    });
    match (result, ready.take()) {
        (Err(err), Some(ready)) => {
            let _ = ready.send(Err(err));
        }
        (Err(err), None) => eprintln!("serve: the model failed: {err:#}"),
        (Ok(()), Some(ready)) => {
            let _ = ready.send(Err(anyhow!("the model source lent no model")));
        }
        (Ok(()), None) => {}
    }
}

/// Runs jobs until every sender is gone and the queue is empty (so shutdown drains it).
fn serve_jobs(model: &mut dyn TokenModel, queue: &Receiver<Job>, stats: &Stats) {
    let mut cache = PromptCache::new();
    let mut service = 0;
    for job in queue.iter() {
        stats.waiting.fetch_sub(1, Ordering::Relaxed);
        if job.events.is_closed() {
            stats.cancelled.fetch_add(1, Ordering::Relaxed);
            continue; // the client left while queued
        }
        service += 1;
        stats.started.fetch_add(1, Ordering::Relaxed);
        let Job {
            kind,
            prompt,
            mut generator,
            events,
        } = job;
        let _ = events.send(Event::Started { service });
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            cache.generate(&mut *model, &mut generator, prompt, |piece| {
                let text = piece.text.to_string();
                match events.send(Event::Piece {
                    channel: piece.channel,
                    text,
                }) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()), // the client disconnected
                }
            })
        }));
        let event = match outcome {
            Ok(Ok((prompt, generation))) => {
                let t = &generation.timings;
                let cancelled = generation.finish_reason == FinishReason::Cancelled;
                stats
                    .prefilled_tokens
                    .fetch_add(prompt.to_feed().len() as u64, Ordering::Relaxed);
                stats
                    .generated_tokens
                    .fetch_add(generation.tokens.len() as u64, Ordering::Relaxed);
                if cancelled {
                    stats.cancelled.fetch_add(1, Ordering::Relaxed);
                }
                eprintln!(
                    "serve: #{service} {kind}: {} prompt tokens ({} cached), {} generated, prefill {:.1} tok/s, decode {:.1} tok/s{}",
                    prompt.tokens.len(),
                    prompt.reused,
                    generation.tokens.len(),
                    t.prefill_tokens_per_sec(),
                    t.decode_tokens_per_sec(),
                    if cancelled {
                        "; the client disconnected"
                    } else {
                        ""
                    }
                );
                Event::Finished(Box::new(Finished {
                    prompt_tokens: prompt.tokens.len(),
                    cached_tokens: prompt.reused,
                    generation,
                }))
            }
            Ok(Err(err)) => {
                eprintln!("serve: #{service} {kind} failed: {err}");
                Event::Failed(err.to_string())
            }
            Err(_) => {
                model.reset();
                cache.clear();
                eprintln!("serve: #{service} {kind}: the generation panicked; the model was reset");
                Event::Failed("the generation panicked; the model state was reset".into())
            }
        };
        let _ = events.send(event);
    }
}
