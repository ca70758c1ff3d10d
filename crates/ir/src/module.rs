//! A module: several functions (graphs) over one set of symbols, weights and states, so one
//! session's state is advanced by whichever function runs: the decode step, and prefill
//! functions that take a chunk of T prompt tokens at once.
//!
//! Each function is a complete [`Graph`]; the module checks what they must share: the same
//! symbols (by kind), the same states in the same order (so a session's KV caches, conv
//! and value states are laid out once), and for each weight source one format and shape
//! (so a backend binds it once). Functions may read different subsets of the weights.

use crate::{Graph, GraphError, SymbolKind};

/// The function every module has: one token through the graph.
pub const DECODE: &str = "decode";

/// The name of the prefill function over chunks of `tokens` tokens.
pub fn prefill_name(tokens: usize) -> String {
    format!("prefill.{tokens}")
}

/// One function of a module.
#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    /// Tokens consumed per call (1 for decode, T for a prefill chunk).
    pub tokens: usize,
    pub graph: Graph,
}

/// Functions sharing symbols, weights and states. The first is [`DECODE`].
#[derive(Clone, Debug)]
pub struct Module {
    functions: Vec<Function>,
}

impl Module {
    /// A module of the decode graph alone.
    pub fn decode_only(decode: Graph) -> Module {
        Module {
            functions: vec![Function {
                name: DECODE.into(),
                tokens: 1,
                graph: decode,
            }],
        }
    }

    /// The decode graph plus prefill functions; checks that they share symbols, states and
    /// weight declarations, and that names and chunk lengths are unique.
    pub fn new(decode: Graph, prefill: Vec<Function>) -> Result<Module, GraphError> {
        let mut m = Module::decode_only(decode);
        for f in prefill {
            m.add(f)?;
        }
        Ok(m)
    }

    /// Adds a function after checking it shares the module's symbols, states and weights.
    pub fn add(&mut self, f: Function) -> Result<(), GraphError> {
        let bad = |msg: String| GraphError::Structure(format!("function `{}`: {msg}", f.name));
        let base = &self.functions[0].graph;
        if f.tokens == 0 {
            return Err(bad("must consume at least one token".into()));
        }
        if self.functions.iter().any(|g| g.name == f.name) {
            return Err(bad("a function of that name exists".into()));
        }
        if self.functions.iter().skip(1).any(|g| g.tokens == f.tokens) {
            return Err(bad(format!(
                "a prefill function over {} tokens exists",
                f.tokens
            )));
        }
        let kinds = |g: &Graph| -> Vec<SymbolKind> { g.symbols.iter().map(|s| s.kind).collect() };
        let mut want = kinds(base);
        let mut have = kinds(&f.graph);
        want.sort_by_key(|k| k.name());
        have.sort_by_key(|k| k.name());
        want.dedup();
        have.dedup();
        if !have.iter().all(|k| want.contains(k)) {
            return Err(bad(format!(
                "reads symbols {have:?}, the module has {want:?}"
            )));
        }
        if f.graph.states.len() != base.states.len()
            || f.graph
                .states
                .iter()
                .zip(&base.states)
                .any(|(a, b)| a.name != b.name || a.ty != b.ty)
        {
            return Err(bad("its states differ from the decode graph's".into()));
        }
        for w in &f.graph.weights {
            for other in self.functions.iter().flat_map(|g| &g.graph.weights) {
                if other.source == w.source && (other.format != w.format || other.dims != w.dims) {
                    return Err(bad(format!(
                        "declares weight \"{}\" as {:?} {:?}, another function as {:?} {:?}",
                        w.source, w.format, w.dims, other.format, other.dims
                    )));
                }
            }
        }
        self.functions.push(f);
        Ok(())
    }

    /// Every weight the functions declare, each source once, in order of first use (what a
    /// backend binds).
    pub fn weights(&self) -> Vec<crate::Weight> {
        let mut out: Vec<crate::Weight> = vec![];
        for w in self.functions.iter().flat_map(|f| &f.graph.weights) {
            if !out.iter().any(|o| o.source == w.source) {
                out.push(w.clone());
            }
        }
        out
    }

    /// For each function, the index in [`Self::weights`] of each of its weights.
    pub fn weight_slots(&self) -> Vec<Vec<usize>> {
        let all = self.weights();
        self.functions
            .iter()
            .map(|f| {
                f.graph
                    .weights
                    .iter()
                    .map(|w| all.iter().position(|o| o.source == w.source).unwrap_or(0))
                    .collect()
            })
            .collect()
    }

    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    pub fn decode(&self) -> &Graph {
        &self.functions[0].graph
    }

    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The chunk lengths of the prefill functions, longest first.
    pub fn prefill_chunks(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.functions[1..].iter().map(|f| f.tokens).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }

    /// How a prompt of `n` tokens is cut into calls: greedily the longest chunk that fits,
    /// as (function index, tokens). `None` when no prefill function can cover `n` exactly
    /// (a module without a 1-token prefill function and an odd remainder).
    pub fn plan_prefill(&self, n: usize) -> Option<Vec<(usize, usize)>> {
        let mut by_len: Vec<(usize, usize)> = self.functions[1..]
            .iter()
            .enumerate()
            .map(|(i, f)| (i + 1, f.tokens))
            .collect();
        by_len.sort_unstable_by_key(|f| std::cmp::Reverse(f.1));
        let mut left = n;
        let mut calls = vec![];
        while left > 0 {
            let &(f, t) = by_len.iter().find(|(_, t)| *t <= left)?;
            calls.push((f, t));
            left -= t;
        }
        Some(calls)
    }
}

/// The chunk lengths a module built for a maximum chunk `max` gets: `max` and every power
/// of two below it, down to 1, so any prompt is cut into at most one call per length after
/// the full chunks.
pub fn chunk_lengths(max: usize) -> Vec<usize> {
    let mut v = vec![];
    if max == 0 {
        return v;
    }
    v.push(max);
    let mut p = max.next_power_of_two();
    while p > 1 {
        p /= 2;
        if p < max {
            v.push(p);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_lengths_cover_any_remainder() {
        assert_eq!(chunk_lengths(1), vec![1]);
        assert_eq!(chunk_lengths(8), vec![8, 4, 2, 1]);
        assert_eq!(chunk_lengths(5), vec![5, 4, 2, 1]);
        assert!(chunk_lengths(0).is_empty());
    }

    fn graph(states: &[&str]) -> Graph {
        let mut g = Graph::new("g");
        g.add_symbol(SymbolKind::Pos);
        for s in states {
            g.add_state(*s, crate::TensorType::f32([2u64]));
        }
        g
    }

    fn function(tokens: usize, states: &[&str]) -> Function {
        Function {
            name: prefill_name(tokens),
            tokens,
            graph: graph(states),
        }
    }

    #[test]
    fn functions_must_share_the_decode_graphs_states() {
        let mut m = Module::decode_only(graph(&["a", "b"]));
        m.add(function(4, &["a", "b"])).unwrap();
        let err = m.add(function(2, &["a"])).unwrap_err().to_string();
        assert!(err.contains("prefill.2") && err.contains("states"), "{err}");
        let err = m.add(function(4, &["a", "b"])).unwrap_err().to_string();
        assert!(err.contains("exists"), "{err}");
        let err = m.add(function(0, &["a", "b"])).unwrap_err().to_string();
        assert!(err.contains("at least one token"), "{err}");
    }

    #[test]
    fn prompts_are_cut_into_the_longest_chunks_that_fit() {
        let mut m = Module::decode_only(graph(&[]));
        for t in chunk_lengths(5) {
            m.add(function(t, &[])).unwrap();
        }
        let lens = |n| -> Vec<usize> {
            m.plan_prefill(n)
                .unwrap()
                .iter()
                .map(|&(f, t)| {
                    assert_eq!(m.functions()[f].tokens, t);
                    t
                })
                .collect()
        };
        assert_eq!(lens(13), [5, 5, 2, 1]);
        assert_eq!(lens(4), [4]);
        assert_eq!(lens(0), Vec::<usize>::new());
        assert_eq!(m.prefill_chunks(), [5, 4, 2, 1]);
        // Without a 1-token chunk an odd remainder has no plan.
        let mut even = Module::decode_only(graph(&[]));
        even.add(function(2, &[])).unwrap();
        assert!(even.plan_prefill(3).is_none());
    }
}
