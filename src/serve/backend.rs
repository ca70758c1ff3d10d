//! The server's only contact with the engine. A [`ModelSource`] lends the worker thread one
//! [`TokenModel`] for the server's lifetime; [`EngineSource`] opens a session of a loaded
//! [`Model`] (shared, `Send + Sync`) on that thread, so the session lives where it runs.

use std::sync::Arc;

use zaya_chat::TokenModel;

use crate::engine::Model;

/// Lends the worker thread a model once: `serve` returns when the server shuts down. An error
/// before `serve` is called is a load failure, reported by [`super::Service::start`].
pub trait ModelSource: Send + 'static {
    fn run(self: Box<Self>, serve: &mut dyn FnMut(&mut dyn TokenModel)) -> anyhow::Result<()>;
}

/// Any closure that does the same (tests lend scripted models this way).
impl<F> ModelSource for F
where
    F: FnOnce(&mut dyn FnMut(&mut dyn TokenModel)) -> anyhow::Result<()> + Send + 'static,
{
    fn run(self: Box<Self>, serve: &mut dyn FnMut(&mut dyn TokenModel)) -> anyhow::Result<()> {
        (*self)(serve)
    }
}

/// One session of a loaded model, with the model's default capacity.
pub struct EngineSource {
    pub model: Arc<Model>,
}

impl ModelSource for EngineSource {
    fn run(self: Box<Self>, serve: &mut dyn FnMut(&mut dyn TokenModel)) -> anyhow::Result<()> {
        let mut session = self.model.session()?;
        serve(&mut session);
        Ok(())
    }
}
