//! The WGSL templates of `shaders/*.wgsl.j2`, rendered with minijinja: one environment built
//! once, an undefined variable is an error (not an empty string), block tags leave no blank
//! lines. Templates own the structure (loops, barriers, workgroup arrays); Rust passes the
//! parameters and the expressions.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::OnceLock;

/// The fused matvec (`fused.rs`).
pub(crate) const FUSED_MATVEC: &str = "fused_matvec.wgsl.j2";

/// The environment, or why one of our templates does not parse (a bug the tests catch on the
/// first render).
fn environment() -> Result<&'static Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| chain(&e))?;
        env.set_syntax(syntax);
        {
            let (name, source) = (
                FUSED_MATVEC,
                include_str!("../../../shaders/fused_matvec.wgsl.j2"),
            );
            env.add_template(name, source)
                .map_err(|e| format!("shaders/{name}: {}", chain(&e)))?;
        }
        Ok(env)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// An error with its causes.
fn chain(e: &minijinja::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg += &format!(": {s}");
        source = s.source();
    }
    msg
}

/// Renders template `name` with `ctx`; an error names the template and the cause (a
/// template or generator bug, never bad input).
pub(crate) fn render(name: &str, ctx: &impl Serialize) -> Result<String, String> {
    environment()?
        .get_template(name)
        .and_then(|t| t.render(Serde(ctx)))
        .map_err(|e| format!("shaders/{name}: {}", chain(&e)))
}
