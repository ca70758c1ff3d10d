//! `zaya-graph serve`: the OpenAI-compatible HTTP server ([`zaya_graph::serve`]) on one model,
//! loaded with `run`'s flags; sampling flags become the defaults of every request.
//!
//! stderr carries the load report, the address (`listening on http://HOST:PORT`, which the
//! tests read to find a `--port 0` server) and one line per request. Ctrl-C or SIGTERM stops accepting,
//! lets accepted requests finish, then exits 0.

use std::process::ExitCode;

use anyhow::Context;
use zaya_graph::serve::{EngineSource, ServeOptions, Service};

use super::generation::{self, ModelArgs, SamplingArgs};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Defaults of every request (a request's own fields override them).
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one; the address is printed on stderr).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Require `Authorization: Bearer KEY` on /v1/* requests.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Token budget of a request without max_tokens (capped by the room left in the context).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_tokens: usize,
    /// Think by default (chat_template_kwargs.enable_thinking of a request that does not set it).
    #[arg(long)]
    pub think: bool,
    /// Requests that may wait while one is served; one more gets 429.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub queue: usize,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_body: usize,
    /// Model name listed by /v1/models and echoed in responses [default: the bundle's
    /// directory name].
    #[arg(long, value_name = "NAME")]
    pub model_id: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    generation::check_max_tokens("--max-tokens", args.max_tokens)?;
    if args.queue == 0 {
        anyhow::bail!("--queue must be at least 1");
    }
    if args.max_body == 0 {
        anyhow::bail!("--max-body must be at least 1");
    }
    let (model, progress) = generation::open_model(&args.model, "serve")?;
    let default_context = model
        .config()
        .max_position_embeddings
        .min(generation::CONVERSATION_CONTEXT);
    let context = generation::context_size(
        args.model.context.or(Some(default_context)),
        model.config(),
        0,
        0,
    )?;
    // Bind before loading so a taken port fails fast.
    let listener = std::net::TcpListener::bind((args.host.as_str(), args.port))
        .with_context(|| format!("--host {} --port {}: cannot listen", args.host, args.port))?;
    let (engine, _) = model.load(&args.model, context, progress)?;

    let model_id = args.model_id.clone().unwrap_or_else(|| {
        if model.is_demo {
            "zaya-demo".to_string()
        } else {
            model
                .dir
                .file_name()
                .map_or_else(|| "zaya".into(), |n| n.to_string_lossy().into_owned())
        }
    });
    let mut options = ServeOptions::new(model_id);
    options.api_key = args.api_key.clone();
    options.queue_capacity = args.queue;
    options.max_body_bytes = args.max_body;
    options.sampling = args.sampling.sampler_defaults();
    options.stop_strings = args.sampling.stop.clone();
    options.default_max_tokens = args.max_tokens;
    options.default_thinking = args.think;
    options.show_special = args.sampling.special.special;
    options.sampling.validate().context("the sampling flags")?;

    let service = Service::start(
        model.assets.clone(),
        Box::new(EngineSource { model: engine }),
        options,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        eprintln!(
            "listening on http://{addr} (OpenAI API base URL http://{addr}/v1); Ctrl-C stops"
        );
        service
            .serve(listener, async {
                let signal = shutdown_signal().await;
                eprintln!("serve: {signal}: finishing accepted requests, then exiting");
            })
            .await
    })?;
    eprintln!("serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM (what service managers and `docker stop`
/// send) and names it. A signal that cannot be waited for is reported and never fires.
async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(e) => {
                eprintln!("serve: cannot wait for Ctrl-C ({e})");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
                "SIGTERM"
            }
            Err(e) => {
                eprintln!("serve: cannot wait for SIGTERM ({e})");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&'static str>();
    tokio::select! {
        name = ctrl_c => name,
        name = terminate => name,
    }
}
