//! The server's only contact with the engine. A [`ModelSource`] builds the model inside the
//! worker thread and lends it to the worker for the server's lifetime: today's engines borrow
//! their bundle and are not `Send`, so they must be created where they run.

use zaya_chat::TokenModel;
use zaya_model::Bundle;

use crate::engine::{self, EngineOptions};

/// Builds a model on the worker thread and calls `serve` with it once; `serve` returns when
/// the server shuts down. An error before `serve` is called is a load failure, reported by
/// [`super::Service::start`].
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

/// An opened bundle run by [`engine::load`] with `options`.
pub struct EngineSource {
    pub bundle: Bundle,
    pub options: EngineOptions,
}

impl ModelSource for EngineSource {
    fn run(self: Box<Self>, serve: &mut dyn FnMut(&mut dyn TokenModel)) -> anyhow::Result<()> {
        let mut model = engine::load(&self.bundle, &self.options, &mut |_| {})?;
        serve(model.as_mut());
        Ok(())
    }
}
