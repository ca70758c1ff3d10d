//! `zaya-graph serve`: an OpenAI-compatible HTTP server (axum on tokio) in front of one model.
//!
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models[/{id}]`,
//! `GET /health`. Handlers parse and validate a request, render and encode its prompt, and put
//! a job on a bounded queue (429 when full); one worker thread owns the model and runs the jobs
//! in arrival order, one at a time, reusing the model state when a prompt extends the previous
//! one ([`zaya_chat::PromptCache`]). A handler whose client disconnects drops its event
//! channel, which stops the generation at the next token. Shutdown stops accepting
//! connections, lets every accepted request finish, then drains the queue and joins the
//! worker.
//!
//! The worker's model comes from a [`ModelSource`] ([`EngineSource`]: a session of a loaded
//! [`crate::engine::Model`]; tests lend scripted models). `/health` reports the worker's
//! counters (waiting, started, cancelled, prefilled and generated tokens); every response's
//! `usage.prompt_tokens_details.cached_tokens` says how many prompt tokens the cache reused.

mod api;
mod backend;
mod routes;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use zaya_chat::{ChatAssets, SamplerConfig};

pub use api::ApiError;
pub use backend::{EngineSource, ModelSource};

/// How the server answers: defaults of every request and the limits it enforces.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The name `/v1/models` lists and responses carry.
    pub model_id: String,
    /// Required as `Authorization: Bearer KEY` on `/v1/*` when set.
    pub api_key: Option<String>,
    /// Requests that may wait for the worker; one more gets 429.
    pub queue_capacity: usize,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Sampling of a request that sets nothing; its fields override these. A sampled request
    /// without a seed uses `sampling.seed`, or a fresh random one when that is `None`.
    pub sampling: SamplerConfig,
    /// Stop strings added to every request's `stop`.
    pub stop_strings: Vec<String>,
    /// Token budget of a request without `max_tokens` (capped by the room left in the context).
    pub default_max_tokens: usize,
    /// `enable_thinking` of a chat request that does not set it.
    pub default_thinking: bool,
    /// Show control and unused tokens in the text (`--special`).
    pub show_special: bool,
}

impl ServeOptions {
    /// `run`'s defaults: Zyphra's sampling, 256 tokens, thinking off, control tokens hidden.
    pub fn new(model_id: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            api_key: None,
            queue_capacity: 64,
            max_body_bytes: 4 << 20,
            sampling: SamplerConfig::default(),
            stop_strings: Vec::new(),
            default_max_tokens: 256,
            default_thinking: false,
            show_special: false,
        }
    }
}

/// What every handler reads.
pub(crate) struct Shared {
    pub assets: ChatAssets,
    pub options: ServeOptions,
    pub context_len: usize,
    pub jobs: std::sync::mpsc::SyncSender<worker::Job>,
    pub stats: Arc<worker::Stats>,
    /// Unix seconds when the server started (`created` of the model).
    pub started: u64,
}

/// A loaded model with its worker, ready to serve.
pub struct Service {
    state: Arc<Shared>,
    worker: std::thread::JoinHandle<()>,
}

impl Service {
    /// Starts the worker thread, builds the model there and waits until it is ready; a model
    /// that fails to load is this function's error.
    pub fn start(
        assets: ChatAssets,
        source: Box<dyn ModelSource>,
        options: ServeOptions,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            options.queue_capacity > 0,
            "the queue must hold at least 1 request"
        );
        let stats = Arc::new(worker::Stats::default());
        let worker = worker::Worker::start(source, options.queue_capacity, Arc::clone(&stats))?;
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(Self {
            state: Arc::new(Shared {
                assets,
                options,
                context_len: worker.context_len,
                jobs: worker.jobs,
                stats,
                started,
            }),
            worker: worker.thread,
        })
    }

    /// The model's context capacity in tokens.
    pub fn context_len(&self) -> usize {
        self.state.context_len
    }

    /// Serves on `listener` until `shutdown` completes, then lets accepted requests finish,
    /// drains the queue and stops the worker.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = routes::router(self.state.clone());
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the HTTP server failed");
        // The last job senders go with the state; the worker then ends once the queue is empty.
        drop(self.state);
        let worker = self.worker;
        tokio::task::spawn_blocking(move || worker.join())
            .await
            .context("cannot join the model thread")?
            .map_err(|_| anyhow::anyhow!("the model thread panicked"))?;
        served
    }

    /// Serves on `listener` from a thread of its own (with its own runtime) until
    /// [`RunningServer::shutdown`] or drop.
    pub fn spawn(self, listener: std::net::TcpListener) -> anyhow::Result<RunningServer> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let thread = std::thread::Builder::new()
            .name("zaya-serve-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    self.serve(listener, async {
                        let _ = stopped.await;
                    })
                    .await
                })
            })?;
        Ok(RunningServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes every accepted request and returns the server's result.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}
