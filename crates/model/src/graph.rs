//! The ZAYA decode graph: one token through every layer (spec §2), built from a [`Config`]
//! alone. Weights are declared with their stored formats; nothing is loaded here.
//!
//! Value names follow the golden captures (`l{n}.q_rope`, `l{n}.router_probs`, ...) so tests
//! and dumps can point at any intermediate.

use crate::config::{Config, KvDtype, SkipMode};
use crate::names;
use zaya_ir::{
    BinaryOp, DType, Dim, Graph, GraphError, Op, ReduceOp, StateId, SymId, TensorType, UnaryOp,
    ValueId, WeightFormat,
};

/// Choices that change the graph.
#[derive(Clone, Copy, Debug, Default)]
pub struct GraphOptions {
    /// What a token routed to the skip expert gets (spec §4).
    pub skip: SkipMode,
    /// Element type of the KV cache states.
    pub kv_cache: KvDtype,
}

/// The stored format of each weight tensor, by checkpoint tensor name (`X.weight`, `X.temp`, ...).
/// A loaded bundle answers from its headers; a bare config answers from its `quantization`.
pub trait WeightFormats {
    fn format_of(&self, tensor: &str) -> WeightFormat;
}

impl WeightFormats for Config {
    fn format_of(&self, tensor: &str) -> WeightFormat {
        let module = tensor.strip_suffix(".weight").unwrap_or(tensor);
        let float = WeightFormat::Float { dtype: DType::F16 };
        match &self.quantization {
            // Only `.weight` tensors of linears are ever quantized.
            Some(q) if tensor.ends_with(".weight") => q.format_for(module, DType::F16),
            Some(_) => float,
            None => WeightFormat::Float { dtype: DType::BF16 },
        }
    }
}

/// Names of the graph's outputs: the logits, and their argmax (the greedy next token),
/// shared with every backend through the executor seam.
pub use zaya_ir::exec::{ALL_LOGITS, LOGITS, NEXT_TOKEN};

/// Output name of the raw top-1 router choice (E = skip) of the `k`-th MoE layer.
pub fn router_output(k: usize) -> String {
    format!("router_choice.{k}")
}

/// Builds the decode graph of `config`, with weight formats taken from the config.
pub fn build_decode_graph(config: &Config, opts: GraphOptions) -> Result<Graph, GraphError> {
    build_decode_graph_with(config, config, opts)
}

/// Builds the decode graph with the stored formats reported by `formats` (e.g. a bundle).
pub fn build_decode_graph_with(
    config: &Config,
    formats: &dyn WeightFormats,
    opts: GraphOptions,
) -> Result<Graph, GraphError> {
    let mut b = Builder::new(config, formats, opts);
    b.build()?;
    let mut g = b.g;
    g.current_scope = None;
    g.validate()?;
    Ok(g)
}

/// What a prefill graph is built for.
#[derive(Clone, Copy, Debug)]
pub struct PrefillOptions {
    /// Tokens per call (the chunk length T, at least 1).
    pub tokens: usize,
    /// Also output the logits of every token ([`ALL_LOGITS`], `[T, vocab]`), for `eval`;
    /// otherwise only the last token's row of the head is computed.
    pub all_logits: bool,
}

/// Builds the prefill graph of `config` over a chunk of `prefill.tokens` tokens (spec §2
/// over T tokens), with weight formats taken from the config.
pub fn build_prefill_graph(
    config: &Config,
    opts: GraphOptions,
    prefill: PrefillOptions,
) -> Result<Graph, GraphError> {
    build_prefill_graph_with(config, config, opts, prefill)
}

/// The prefill graph: input `tokens` `u32[T, 1]`; the same weights and states as the decode
/// graph (a session's state is advanced by either); outputs [`LOGITS`] and [`NEXT_TOKEN`]
/// of the last token, the router choices of every token (`u32[T, 1]` per MoE layer), and
/// [`ALL_LOGITS`] when asked. Running it on a chunk leaves the state exactly as T decode
/// steps would: the KV caches gain T rows, the conv state holds the chunk's last two
/// pre-conv columns, the value state `val_proj2` of its last token.
pub fn build_prefill_graph_with(
    config: &Config,
    formats: &dyn WeightFormats,
    opts: GraphOptions,
    prefill: PrefillOptions,
) -> Result<Graph, GraphError> {
    if prefill.tokens == 0 {
        return Err(GraphError::Structure(
            "a prefill graph needs a chunk of at least 1 token".into(),
        ));
    }
    let mut b = Builder::new(config, formats, opts);
    b.g.name = format!("zaya_prefill_{}", prefill.tokens);
    b.build_prefill(prefill)?;
    let mut g = b.g;
    g.current_scope = None;
    g.validate()?;
    Ok(g)
}

/// The prefill functions of a module for chunks of at most `max_chunk` tokens: one graph
/// per length of [`zaya_ir::module::chunk_lengths`] (`max_chunk` and the powers of two
/// below it), so a prompt of any length is cut into chunks that each run one graph.
pub fn prefill_functions(
    config: &Config,
    formats: &dyn WeightFormats,
    opts: GraphOptions,
    max_chunk: usize,
    all_logits: bool,
) -> Result<Vec<zaya_ir::Function>, GraphError> {
    zaya_ir::module::chunk_lengths(max_chunk)
        .into_iter()
        .map(|tokens| {
            let graph = build_prefill_graph_with(
                config,
                formats,
                opts,
                PrefillOptions { tokens, all_logits },
            )?;
            Ok(zaya_ir::Function {
                name: zaya_ir::module::prefill_name(tokens),
                tokens,
                graph,
            })
        })
        .collect()
}

/// The decode graph and the prefill functions for chunks of at most `max_chunk` tokens,
/// as one module (shared symbols, weights and states).
pub fn build_module_with(
    config: &Config,
    formats: &dyn WeightFormats,
    opts: GraphOptions,
    max_chunk: usize,
    all_logits: bool,
) -> Result<zaya_ir::Module, GraphError> {
    let decode = build_decode_graph_with(config, formats, opts)?;
    let prefill = prefill_functions(config, formats, opts, max_chunk, all_logits)?;
    zaya_ir::Module::new(decode, prefill)
}

/// The named strategies users pick from (each a `+`-composition of the optimizer's generic
/// components and the scope fusions below).
pub const STRATEGIES: &[&str] = &["none", "dequant", "dequant+epilogue", "cca", "all"];

/// The scope fusions every ZAYA graph declares (`Graph::fusions`): each CCA block, each
/// router and the head, one kernel apiece. The optimizer's `cca`, `router` and `head`
/// components (and `all`) run them; it knows no ZAYA names of its own.
pub fn scope_fusions() -> Vec<zaya_ir::ScopeFusion> {
    [
        (
            "cca",
            "fuse each CCA block (convs, state update, q/k residual, L2 norm, RoPE, KV append, attention) into one kernel",
        ),
        (
            "router",
            "fuse each router (down_proj, EDA carry, norm, MLP, softmax, biased argmax, skip route) into one kernel",
        ),
        (
            "head",
            "fuse the final norm, the tied lm_head and the greedy argmax into one kernel",
        ),
    ]
    .into_iter()
    .map(|(name, describe)| zaya_ir::ScopeFusion {
        name: name.into(),
        suffix: name.into(),
        label: name.into(),
        describe: describe.into(),
    })
    .collect()
}

struct Builder<'a> {
    g: Graph,
    cfg: &'a Config,
    formats: &'a dyn WeightFormats,
    opts: GraphOptions,
    ctx: SymId,
    pos: SymId,
}

type R<T = ValueId> = Result<T, GraphError>;

impl<'a> Builder<'a> {
    fn new(cfg: &'a Config, formats: &'a dyn WeightFormats, opts: GraphOptions) -> Self {
        let mut g = Graph::new("zaya_decode");
        g.fusions = scope_fusions();
        let ctx = g.add_symbol(zaya_ir::SymbolKind::Ctx);
        let pos = g.add_symbol(zaya_ir::SymbolKind::Pos);
        Builder {
            g,
            cfg,
            formats,
            opts,
            ctx,
            pos,
        }
    }

    // ---- small vocabulary over the primitive ops -------------------------------------

    /// Declares a weight tensor and dequantizes it (optionally one slice of its first axis).
    fn weight(&mut self, tensor: &str, dims: &[usize], index: Option<ValueId>) -> R {
        let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        let id = match self.g.weights.iter().position(|w| w.source == tensor) {
            Some(i) => zaya_ir::WeightId::from_index(i),
            None => self
                .g
                .add_weight(tensor, self.formats.format_of(tensor), &dims),
        };
        let inputs: Vec<ValueId> = index.into_iter().collect();
        self.g.push1(Op::Dequant { weight: id }, &inputs)
    }

    fn linear(&mut self, module: &str, out: usize, inp: usize, x: ValueId) -> R {
        let w = self.weight(&format!("{module}.weight"), &[out, inp], None)?;
        self.g.push1(Op::MatVec, &[w, x])
    }

    fn vector(&mut self, tensor: &str, len: usize) -> R {
        self.weight(tensor, &[len], None)
    }

    fn bin(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> R {
        self.g.push1(Op::Binary { op }, &[a, b])
    }

    fn un(&mut self, op: UnaryOp, a: ValueId) -> R {
        self.g.push1(Op::Unary { op }, &[a])
    }

    fn scalar(&mut self, x: f32) -> R {
        Ok(self.g.push(
            Op::Const { values: vec![x] },
            &[],
            Some(TensorType::f32([1u64])),
        )?[0])
    }

    fn reshape(&mut self, x: ValueId, dims: &[usize]) -> R {
        self.g.push1(
            Op::Reshape {
                dims: dims.iter().map(|&d| d as u64).collect(),
            },
            &[x],
        )
    }

    fn slice(&mut self, x: ValueId, axis: u32, start: usize, len: usize) -> R {
        self.g.push1(
            Op::Slice {
                axis,
                start: start as u64,
                len: len as u64,
            },
            &[x],
        )
    }

    fn concat(&mut self, axis: u32, xs: &[ValueId]) -> R {
        self.g.push1(Op::Concat { axis }, xs)
    }

    fn rms_norm(&mut self, x: ValueId, gamma_tensor: &str, len: usize, eps: f64) -> R {
        let gamma = self.vector(gamma_tensor, len)?;
        self.g.push1(Op::RmsNorm { eps: eps as f32 }, &[x, gamma])
    }

    fn name(&mut self, v: ValueId, name: String) -> ValueId {
        self.g.name_value(v, name);
        v
    }

    // ---- the model --------------------------------------------------------------------

    fn build(&mut self) -> R<()> {
        let c = self.cfg;
        let h = c.hidden_size;
        let token = self
            .g
            .add_input(TensorType::new(DType::U32, [1u64]), "token");
        let embed = self.weight(
            &format!("{}.weight", names::EMBED),
            &[c.vocab_size, h],
            Some(token),
        )?;
        let mut hidden = self.name(embed, "embed".into());
        let mut residual: Option<ValueId> = None;
        let mut router_carry: Option<ValueId> = None;
        let mut moe_index = 0;
        for n in 0..c.num_layers {
            let prefix = format!("model.layers.{n}");
            let r = self.residual_merge(&format!("{prefix}.res_scale"), hidden, residual)?;
            let r = self.name(r, format!("l{n}.residual"));
            residual = Some(r);
            let x = self.rms_norm(r, &format!("{prefix}.input_norm.weight"), h, c.norm_eps)?;
            let x = self.name(x, format!("l{n}.input"));
            hidden = if n % 2 == 0 {
                self.attention(n, &prefix, x)?
            } else {
                let out = self.moe(n, &prefix, x, &mut router_carry, moe_index)?;
                moe_index += 1;
                out
            };
        }
        let r = self.residual_merge("model.res_scale", hidden, residual)?;
        let r = self.name(r, "final.residual".into());
        let x = self.rms_norm(r, "model.final_norm.weight", h, c.norm_eps)?;
        let x = self.name(x, "final_norm_out".into());
        // logits = lm_head . x, with lm_head the embedding when tied (ZAYA); greedy decoding
        // reads the argmax.
        self.g.set_scope(Some("head"));
        let head = if c.tie_word_embeddings {
            names::EMBED
        } else {
            names::LM_HEAD
        };
        let logits = self.linear(head, c.vocab_size, h, x)?;
        let logits = self.name(logits, LOGITS.into());
        self.g.add_output(LOGITS, logits);
        let next = self.g.push1(Op::Argmax, &[logits])?;
        let next = self.name(next, NEXT_TOKEN.into());
        self.g.add_output(NEXT_TOKEN, next);
        self.g.set_scope(None);
        Ok(())
    }

    /// `h' = (h + hb) * hs; r' = (r + rb) * rs; r = r' + h'` (layer 0: `r = h'`).
    fn residual_merge(&mut self, prefix: &str, h: ValueId, r: Option<ValueId>) -> R {
        let n = self.cfg.hidden_size;
        let hb = self.vector(&format!("{prefix}.hidden_states_bias"), n)?;
        let hs = self.vector(&format!("{prefix}.hidden_states_scale"), n)?;
        let h = self.bin(BinaryOp::Add, h, hb)?;
        let h = self.bin(BinaryOp::Mul, h, hs)?;
        let Some(r) = r else { return Ok(h) };
        let rb = self.vector(&format!("{prefix}.residual_bias"), n)?;
        let rs = self.vector(&format!("{prefix}.residual_scale"), n)?;
        let r = self.bin(BinaryOp::Add, r, rb)?;
        let r = self.bin(BinaryOp::Mul, r, rs)?;
        self.bin(BinaryOp::Add, r, h)
    }

    fn attention(&mut self, n: usize, prefix: &str, x: ValueId) -> R {
        let c = self.cfg;
        let (h, nq, nkv, hd) = (c.hidden_size, c.num_q_heads, c.num_kv_heads, c.head_dim);
        let (group, ch, vh) = (c.q_per_kv(), c.conv_channels(), c.value_half());
        let qkv = format!("{prefix}.self_attn.qkv");
        let cache_ty = TensorType::new(
            self.opts.kv_cache.dtype(),
            [
                Dim::Const(nkv as u64),
                Dim::Sym(self.ctx),
                Dim::Const(hd as u64),
            ],
        );
        let k_cache = self.g.add_state(format!("l{n}.k_cache"), cache_ty.clone());
        let v_cache = self.g.add_state(format!("l{n}.v_cache"), cache_ty);
        let conv_state = self
            .g
            .add_state(format!("l{n}.conv_state"), TensorType::f32([ch as u64, 2]));
        let value_state = self
            .g
            .add_state(format!("l{n}.value_state"), TensorType::f32([vh as u64]));

        // The four projections of x: q, k, and the current and delayed value halves.
        let q0 = self.linear(&format!("{qkv}.linear_q"), nq * hd, h, x)?;
        let k0 = self.linear(&format!("{qkv}.linear_k"), nkv * hd, h, x)?;
        let v_now = self.linear(&format!("{qkv}.val_proj1"), vh, h, x)?;
        let v_next = self.linear(&format!("{qkv}.val_proj2"), vh, h, x)?;

        // Everything between the projections and o_proj is the CCA block.
        self.g.set_scope(Some(&format!("l{n}.cca")));
        let pos = self.g.push1(Op::Symbol { sym: self.pos }, &[])?;
        let p = self.concat(0, &[q0, k0])?;
        let conv = self.cca_conv(n, &qkv, p, conv_state)?;
        let conv_q = self.slice(conv, 0, 0, nq * hd)?;
        let conv_q = self.reshape(conv_q, &[nq, hd])?;
        let conv_k = self.slice(conv, 0, nq * hd, nkv * hd)?;
        let conv_k = self.reshape(conv_k, &[nkv, hd])?;

        // Grouped mean residual: qm = (q0 + repeat_kv(k0)) / 2, km = mean of qm per group.
        let q0g = self.reshape(q0, &[nkv, group, hd])?;
        let k0g = self.reshape(k0, &[nkv, 1, hd])?;
        let half = self.scalar(0.5)?;
        let qm = self.bin(BinaryOp::Add, q0g, k0g)?;
        let qm = self.bin(BinaryOp::Mul, qm, half)?;
        let km = self.g.push1(
            Op::Reduce {
                op: ReduceOp::Mean,
                axis: 1,
            },
            &[qm],
        )?;
        let qm = self.reshape(qm, &[nq, hd])?;
        let km = self.reshape(km, &[nkv, hd])?;
        let q = self.bin(BinaryOp::Add, conv_q, qm)?;
        let q = self.name(q, format!("l{n}.q_pre_norm"));
        let k = self.bin(BinaryOp::Add, conv_k, km)?;
        let k = self.name(k, format!("l{n}.k_pre_norm"));

        // Per-head L2 norm to sqrt(hd); k also scaled by its head's temperature.
        let q = self.l2_normalize(q, 1)?;
        let q = self.name(q, format!("l{n}.q_normed"));
        let k = self.l2_normalize(k, 1)?;
        let temp = self.vector(&format!("{qkv}.temp"), nkv)?;
        let temp = self.reshape(temp, &[nkv, 1])?;
        let k = self.bin(BinaryOp::Mul, k, temp)?;
        let k = self.name(k, format!("l{n}.k_normed"));

        let rope = Op::Rope {
            rot_dims: c.rot_dims() as u32,
            theta: c.rope_theta,
        };
        let q = self.g.push1(rope.clone(), &[q, pos])?;
        let q = self.name(q, format!("l{n}.q_rope"));
        let k = self.g.push1(rope, &[k, pos])?;
        let k = self.name(k, format!("l{n}.k_rope"));

        // Value: current half from x_t, delayed half from x_{t-1} (kept projected as state).
        let v_prev = self.g.push1(Op::StateRead { state: value_state }, &[])?;
        let v_prev = self.name(v_prev, format!("l{n}.value_state_before"));
        let v = self.concat(0, &[v_now, v_prev])?;
        let v = self.reshape(v, &[nkv, hd])?;
        let v = self.name(v, format!("l{n}.v"));
        self.g
            .push(Op::StateWrite { state: value_state }, &[v_next], None)?;

        self.g
            .push(Op::CacheAppend { state: k_cache }, &[k, pos], None)?;
        self.g
            .push(Op::CacheAppend { state: v_cache }, &[v, pos], None)?;
        let scale = (hd as f32).powf(-0.5);
        let attn = self.g.push1(
            Op::Attention {
                k_cache,
                v_cache,
                scale,
            },
            &[q, pos],
        )?;
        let attn = self.reshape(attn, &[nq * hd])?;
        self.g.set_scope(None);
        let out = self.linear(&format!("{prefix}.self_attn.o_proj"), h, nq * hd, attn)?;
        Ok(self.name(out, format!("l{n}.attn_out")))
    }

    /// Depthwise then grouped causal conv (kernel 2 each) on `p`, with the last two pre-conv
    /// columns as state. The reference pads the *input* with two zero columns and runs both
    /// convs unpadded, so at position 0 the grouped conv's older tap sees `dw(0, 0) = bias`,
    /// not zero: recomputing the previous depthwise output from the state reproduces that.
    fn cca_conv(&mut self, n: usize, qkv: &str, p: ValueId, state: StateId) -> R {
        let c = self.cfg;
        let ch = c.conv_channels();
        let heads = (c.num_q_heads + c.num_kv_heads) as u32;
        let old = self.g.push1(Op::StateRead { state }, &[])?;
        let old = self.name(old, format!("l{n}.conv_state_before"));
        let p_col = self.reshape(p, &[ch, 1])?;
        let window = self.concat(1, &[old, p_col])?; // [C, 3]: P_{t-2}, P_{t-1}, P_t
        let new_state = self.slice(window, 1, 1, 2)?;
        self.g.push(Op::StateWrite { state }, &[new_state], None)?;

        let dw_w = self.weight(&format!("{qkv}.conv_qk.0.weight"), &[ch, 1, 2], None)?;
        let dw_b = self.vector(&format!("{qkv}.conv_qk.0.bias"), ch)?;
        let win_now = self.slice(window, 1, 1, 2)?;
        let win_prev = self.slice(window, 1, 0, 2)?;
        let dw = Op::ConvStep { groups: ch as u32 };
        let d_now = self.g.push1(dw.clone(), &[win_now, dw_w, dw_b])?;
        let d_prev = self.g.push1(dw, &[win_prev, dw_w, dw_b])?;

        let d_prev = self.reshape(d_prev, &[ch, 1])?;
        let d_now = self.reshape(d_now, &[ch, 1])?;
        let d_win = self.concat(1, &[d_prev, d_now])?;
        let hd = c.head_dim;
        let gw = self.weight(&format!("{qkv}.conv_qk.1.weight"), &[ch, hd, 2], None)?;
        let gb = self.vector(&format!("{qkv}.conv_qk.1.bias"), ch)?;
        self.g
            .push1(Op::ConvStep { groups: heads }, &[d_win, gw, gb])
    }

    /// `x * sqrt(hd) / max(||x||, eps)` per head (last axis); eps is f32 machine epsilon.
    fn l2_normalize(&mut self, x: ValueId, axis: u32) -> R {
        let hd = self.cfg.head_dim as f32;
        let sq = self.un(UnaryOp::Square, x)?;
        let ss = self.g.push1(
            Op::Reduce {
                op: ReduceOp::Sum,
                axis,
            },
            &[sq],
        )?;
        let norm = self.un(UnaryOp::Sqrt, ss)?;
        let eps = self.scalar(f32::EPSILON)?;
        let norm = self.bin(BinaryOp::Max, norm, eps)?;
        let x = self.bin(BinaryOp::Div, x, norm)?;
        let s = self.scalar(hd.sqrt())?;
        self.bin(BinaryOp::Mul, x, s)
    }

    fn moe(
        &mut self,
        n: usize,
        prefix: &str,
        x: ValueId,
        carry: &mut Option<ValueId>,
        k: usize,
    ) -> R {
        let c = self.cfg;
        let (h, d, e, i) = (
            c.hidden_size,
            c.router_hidden,
            c.num_experts,
            c.expert_intermediate,
        );
        let router = format!("{prefix}.zaya_block.router");
        self.g.set_scope(Some(&format!("l{n}.router")));
        let rh = self.linear(&format!("{router}.down_proj"), d, h, x)?;
        let b = self.vector(&format!("{router}.down_proj.bias"), d)?;
        let mut rh = self.bin(BinaryOp::Add, rh, b)?;
        if let Some(prev) = *carry {
            let s = self.vector(&format!("{router}.router_states_scale"), d)?;
            let scaled = self.bin(BinaryOp::Mul, prev, s)?;
            rh = self.bin(BinaryOp::Add, rh, scaled)?;
        }
        let rh = self.name(rh, format!("l{n}.router_hidden"));
        *carry = Some(rh);

        let z = self.rms_norm(rh, &format!("{router}.rmsnorm_eda.weight"), d, c.norm_eps)?;
        let z = self.linear(&format!("{router}.router_mlp.0"), d, d, z)?;
        let b0 = self.vector(&format!("{router}.router_mlp.0.bias"), d)?;
        let z = self.bin(BinaryOp::Add, z, b0)?;
        let z = self.un(UnaryOp::Gelu, z)?;
        let z = self.linear(&format!("{router}.router_mlp.2"), d, d, z)?;
        let b2 = self.vector(&format!("{router}.router_mlp.2.bias"), d)?;
        let z = self.bin(BinaryOp::Add, z, b2)?;
        let z = self.un(UnaryOp::Gelu, z)?;
        let logits = self.linear(&format!("{router}.router_mlp.4"), e + 1, d, z)?;
        let logits = self.name(logits, format!("l{n}.router_logits"));
        let probs = self.g.push1(Op::Softmax, &[logits])?;
        let probs = self.name(probs, format!("l{n}.router_probs"));

        // Biased top-1 choice; index E is the skip route.
        let bias = self.vector(&format!("{router}.balancing_biases"), e + 1)?;
        let biased = self.bin(BinaryOp::Add, probs, bias)?;
        let choice = self.g.push1(Op::Argmax, &[biased])?;
        let choice = self.name(choice, format!("l{n}.router_choice"));
        self.g.add_output(router_output(k), choice);
        let choice_f = self.g.push1(Op::Cast { to: DType::F32 }, &[choice])?;
        let skip_index = self.scalar(e as f32)?;
        let is_skip = self.bin(BinaryOp::Eq, choice_f, skip_index)?;
        let last_expert = self.scalar((e - 1) as f32)?;
        let expert_f = self.bin(BinaryOp::Min, choice_f, last_expert)?;
        let expert = self.g.push1(Op::Cast { to: DType::U32 }, &[expert_f])?;
        let gate_prob = self.g.push1(Op::Gather { axis: 0 }, &[probs, choice])?;
        let skip_prob = match self.opts.skip {
            SkipMode::Zero => None,
            SkipMode::Passthrough => Some(self.slice(probs, 0, e, 1)?),
        };
        self.g.set_scope(None);

        // SwiGLU expert: p[c] * down_c(silu(gate_c x) * up_c x).
        let experts = format!("{prefix}.zaya_block.experts.switch_mlp");
        let gw = self.weight(
            &format!("{experts}.gate_proj.weight"),
            &[e, i, h],
            Some(expert),
        )?;
        let gate = self.g.push1(Op::MatVec, &[gw, x])?;
        let uw = self.weight(
            &format!("{experts}.up_proj.weight"),
            &[e, i, h],
            Some(expert),
        )?;
        let up = self.g.push1(Op::MatVec, &[uw, x])?;
        let act = self.un(UnaryOp::Silu, gate)?;
        let mid = self.bin(BinaryOp::Mul, act, up)?;
        let dw = self.weight(
            &format!("{experts}.down_proj.weight"),
            &[e, h, i],
            Some(expert),
        )?;
        let y = self.g.push1(Op::MatVec, &[dw, mid])?;
        let y = self.bin(BinaryOp::Mul, y, gate_prob)?;

        let skipped = match skip_prob {
            None => self.scalar(0.0)?,
            Some(p_skip) => self.bin(BinaryOp::Mul, x, p_skip)?,
        };
        let out = self.g.push1(Op::Select, &[is_skip, skipped, y])?;
        Ok(self.name(out, format!("l{n}.moe_out")))
    }
}

/// The prefill graph: the decode graph's layers over a chunk of T tokens (rows of every
/// activation). Where the decode graph reads a state written by the previous token, the
/// chunk reads the previous row of its own values instead (the value path, the conv
/// window), and the state only at its first row.
impl Builder<'_> {
    fn build_prefill(&mut self, p: PrefillOptions) -> R<()> {
        let c = self.cfg;
        let (h, t) = (c.hidden_size, p.tokens);
        let tokens = self
            .g
            .add_input(TensorType::new(DType::U32, [t as u64, 1]), "tokens");
        let embed = self.weight(
            &format!("{}.weight", names::EMBED),
            &[c.vocab_size, h],
            Some(tokens),
        )?;
        let mut hidden = self.name(embed, "embed".into());
        let mut residual: Option<ValueId> = None;
        let mut router_carry: Option<ValueId> = None;
        let mut moe_index = 0;
        for n in 0..c.num_layers {
            let prefix = format!("model.layers.{n}");
            let r = self.residual_merge(&format!("{prefix}.res_scale"), hidden, residual)?;
            let r = self.name(r, format!("l{n}.residual"));
            residual = Some(r);
            let x = self.rms_norm(r, &format!("{prefix}.input_norm.weight"), h, c.norm_eps)?;
            let x = self.name(x, format!("l{n}.input"));
            hidden = if n % 2 == 0 {
                self.chunk_attention(n, &prefix, x, t)?
            } else {
                let out = self.chunk_moe(n, &prefix, x, &mut router_carry, moe_index)?;
                moe_index += 1;
                out
            };
        }
        let r = self.residual_merge("model.res_scale", hidden, residual)?;
        let r = self.name(r, "final.residual".into());
        let x = self.rms_norm(r, "model.final_norm.weight", h, c.norm_eps)?;
        let x = self.name(x, "final_norm_out".into());
        self.g.set_scope(Some("head"));
        let head = if c.tie_word_embeddings {
            names::EMBED
        } else {
            names::LM_HEAD
        };
        let v = c.vocab_size;
        let logits = if p.all_logits {
            let all = self.linear(head, v, h, x)?;
            let all = self.name(all, ALL_LOGITS.into());
            self.g.add_output(ALL_LOGITS, all);
            let last = self.slice(all, 0, t - 1, 1)?;
            self.reshape(last, &[v])?
        } else {
            // Only the last token's logits are needed: one row of the head, not T.
            let last = self.slice(x, 0, t - 1, 1)?;
            let last = self.reshape(last, &[h])?;
            self.linear(head, v, h, last)?
        };
        let logits = self.name(logits, LOGITS.into());
        self.g.add_output(LOGITS, logits);
        let next = self.g.push1(Op::Argmax, &[logits])?;
        let next = self.name(next, NEXT_TOKEN.into());
        self.g.add_output(NEXT_TOKEN, next);
        self.g.set_scope(None);
        Ok(())
    }

    /// `[0, 1, .., t-1]` as f32.
    fn iota(&mut self, t: usize) -> R {
        Ok(self.g.push(
            Op::Const {
                values: (0..t).map(|i| i as f32).collect(),
            },
            &[],
            Some(TensorType::f32([t as u64])),
        )?[0])
    }

    fn chunk_attention(&mut self, n: usize, prefix: &str, x: ValueId, t: usize) -> R {
        let c = self.cfg;
        let (h, nq, nkv, hd) = (c.hidden_size, c.num_q_heads, c.num_kv_heads, c.head_dim);
        let (group, ch, vh) = (c.q_per_kv(), c.conv_channels(), c.value_half());
        let qkv = format!("{prefix}.self_attn.qkv");
        // The decode graph's states, declared in its order (the module checks it).
        let cache_ty = TensorType::new(
            self.opts.kv_cache.dtype(),
            [
                Dim::Const(nkv as u64),
                Dim::Sym(self.ctx),
                Dim::Const(hd as u64),
            ],
        );
        let k_cache = self.g.add_state(format!("l{n}.k_cache"), cache_ty.clone());
        let v_cache = self.g.add_state(format!("l{n}.v_cache"), cache_ty);
        let conv_state = self
            .g
            .add_state(format!("l{n}.conv_state"), TensorType::f32([ch as u64, 2]));
        let value_state = self
            .g
            .add_state(format!("l{n}.value_state"), TensorType::f32([vh as u64]));

        let q0 = self.linear(&format!("{qkv}.linear_q"), nq * hd, h, x)?;
        let k0 = self.linear(&format!("{qkv}.linear_k"), nkv * hd, h, x)?;
        let v_now = self.linear(&format!("{qkv}.val_proj1"), vh, h, x)?;
        let v_next = self.linear(&format!("{qkv}.val_proj2"), vh, h, x)?;

        self.g.set_scope(Some(&format!("l{n}.cca")));
        // The chunk's first position: RoPE, the cache writes and attention put token t at
        // pos + t.
        let pos = self.g.push1(Op::Symbol { sym: self.pos }, &[])?;
        let p = self.concat(1, &[q0, k0])?; // [T, C]
        let conv = self.chunk_cca_conv(n, &qkv, p, conv_state, t)?; // [T, C]
        let conv_q = self.slice(conv, 1, 0, nq * hd)?;
        let conv_q = self.reshape(conv_q, &[t, nq, hd])?;
        let conv_k = self.slice(conv, 1, nq * hd, nkv * hd)?;
        let conv_k = self.reshape(conv_k, &[t, nkv, hd])?;

        let q0g = self.reshape(q0, &[t, nkv, group, hd])?;
        let k0g = self.reshape(k0, &[t, nkv, 1, hd])?;
        let half = self.scalar(0.5)?;
        let qm = self.bin(BinaryOp::Add, q0g, k0g)?;
        let qm = self.bin(BinaryOp::Mul, qm, half)?;
        let km = self.g.push1(
            Op::Reduce {
                op: ReduceOp::Mean,
                axis: 2,
            },
            &[qm],
        )?;
        let qm = self.reshape(qm, &[t, nq, hd])?;
        let km = self.reshape(km, &[t, nkv, hd])?;
        let q = self.bin(BinaryOp::Add, conv_q, qm)?;
        let q = self.name(q, format!("l{n}.q_pre_norm"));
        let k = self.bin(BinaryOp::Add, conv_k, km)?;
        let k = self.name(k, format!("l{n}.k_pre_norm"));

        let q = self.l2_normalize(q, 2)?;
        let q = self.name(q, format!("l{n}.q_normed"));
        let k = self.l2_normalize(k, 2)?;
        let temp = self.vector(&format!("{qkv}.temp"), nkv)?;
        let temp = self.reshape(temp, &[nkv, 1])?;
        let k = self.bin(BinaryOp::Mul, k, temp)?;
        let k = self.name(k, format!("l{n}.k_normed"));

        let rope = Op::Rope {
            rot_dims: c.rot_dims() as u32,
            theta: c.rope_theta,
        };
        let q = self.g.push1(rope.clone(), &[q, pos])?;
        let q = self.name(q, format!("l{n}.q_rope"));
        let k = self.g.push1(rope, &[k, pos])?;
        let k = self.name(k, format!("l{n}.k_rope"));

        // Value: the delayed half of token i is val_proj2 of token i-1; the chunk's first
        // token reads the stored state, its last token's val_proj2 becomes the state.
        let v_prev = self.g.push1(Op::StateRead { state: value_state }, &[])?;
        let v_prev = self.name(v_prev, format!("l{n}.value_state_before"));
        let v_prev = self.reshape(v_prev, &[1, vh])?;
        let shifted = if t > 1 {
            let earlier = self.slice(v_next, 0, 0, t - 1)?;
            self.concat(0, &[v_prev, earlier])?
        } else {
            v_prev
        };
        let v = self.concat(1, &[v_now, shifted])?;
        let v = self.reshape(v, &[t, nkv, hd])?;
        let v = self.name(v, format!("l{n}.v"));
        let last = self.slice(v_next, 0, t - 1, 1)?;
        let last = self.reshape(last, &[vh])?;
        self.g
            .push(Op::StateWrite { state: value_state }, &[last], None)?;

        self.g
            .push(Op::CacheAppend { state: k_cache }, &[k, pos], None)?;
        self.g
            .push(Op::CacheAppend { state: v_cache }, &[v, pos], None)?;
        let scale = (hd as f32).powf(-0.5);
        let attn = self.g.push1(
            Op::Attention {
                k_cache,
                v_cache,
                scale,
            },
            &[q, pos],
        )?;
        let attn = self.reshape(attn, &[t, nq * hd])?;
        self.g.set_scope(None);
        let out = self.linear(&format!("{prefix}.self_attn.o_proj"), h, nq * hd, attn)?;
        Ok(self.name(out, format!("l{n}.attn_out")))
    }

    /// [`Self::cca_conv`] over a chunk: the window is the conv state's two columns followed
    /// by the chunk's T pre-conv columns; the depthwise conv yields T + 1 columns (the first
    /// one recomputes the previous token's, as decode does), the grouped conv T. The new
    /// state is the window's last two columns.
    fn chunk_cca_conv(&mut self, n: usize, qkv: &str, p: ValueId, state: StateId, t: usize) -> R {
        let c = self.cfg;
        let ch = c.conv_channels();
        let heads = (c.num_q_heads + c.num_kv_heads) as u32;
        let old = self.g.push1(Op::StateRead { state }, &[])?;
        let old = self.name(old, format!("l{n}.conv_state_before"));
        let cols = self.g.push1(Op::Transpose, &[p])?; // [C, T]
        let window = self.concat(1, &[old, cols])?; // [C, T + 2]
        let new_state = self.slice(window, 1, t, 2)?;
        self.g.push(Op::StateWrite { state }, &[new_state], None)?;

        let dw_w = self.weight(&format!("{qkv}.conv_qk.0.weight"), &[ch, 1, 2], None)?;
        let dw_b = self.vector(&format!("{qkv}.conv_qk.0.bias"), ch)?;
        let d = self
            .g
            .push1(Op::Conv { groups: ch as u32 }, &[window, dw_w, dw_b])?; // [C, T + 1]
        let hd = c.head_dim;
        let gw = self.weight(&format!("{qkv}.conv_qk.1.weight"), &[ch, hd, 2], None)?;
        let gb = self.vector(&format!("{qkv}.conv_qk.1.bias"), ch)?;
        let out = self.g.push1(Op::Conv { groups: heads }, &[d, gw, gb])?; // [C, T]
        self.g.push1(Op::Transpose, &[out])
    }

    fn chunk_moe(
        &mut self,
        n: usize,
        prefix: &str,
        x: ValueId,
        carry: &mut Option<ValueId>,
        k: usize,
    ) -> R {
        let c = self.cfg;
        let (h, d, e, i) = (
            c.hidden_size,
            c.router_hidden,
            c.num_experts,
            c.expert_intermediate,
        );
        let router = format!("{prefix}.zaya_block.router");
        self.g.set_scope(Some(&format!("l{n}.router")));
        // The EDA carry is per token: row i of the previous MoE layer's router hidden.
        let rh = self.linear(&format!("{router}.down_proj"), d, h, x)?;
        let b = self.vector(&format!("{router}.down_proj.bias"), d)?;
        let mut rh = self.bin(BinaryOp::Add, rh, b)?;
        if let Some(prev) = *carry {
            let s = self.vector(&format!("{router}.router_states_scale"), d)?;
            let scaled = self.bin(BinaryOp::Mul, prev, s)?;
            rh = self.bin(BinaryOp::Add, rh, scaled)?;
        }
        let rh = self.name(rh, format!("l{n}.router_hidden"));
        *carry = Some(rh);

        let z = self.rms_norm(rh, &format!("{router}.rmsnorm_eda.weight"), d, c.norm_eps)?;
        let z = self.linear(&format!("{router}.router_mlp.0"), d, d, z)?;
        let b0 = self.vector(&format!("{router}.router_mlp.0.bias"), d)?;
        let z = self.bin(BinaryOp::Add, z, b0)?;
        let z = self.un(UnaryOp::Gelu, z)?;
        let z = self.linear(&format!("{router}.router_mlp.2"), d, d, z)?;
        let b2 = self.vector(&format!("{router}.router_mlp.2.bias"), d)?;
        let z = self.bin(BinaryOp::Add, z, b2)?;
        let z = self.un(UnaryOp::Gelu, z)?;
        let logits = self.linear(&format!("{router}.router_mlp.4"), e + 1, d, z)?;
        let logits = self.name(logits, format!("l{n}.router_logits"));
        let probs = self.g.push1(Op::Softmax, &[logits])?; // [T, E + 1]
        let probs = self.name(probs, format!("l{n}.router_probs"));

        let bias = self.vector(&format!("{router}.balancing_biases"), e + 1)?;
        let biased = self.bin(BinaryOp::Add, probs, bias)?;
        let choice = self.g.push1(Op::Argmax, &[biased])?; // u32 [T, 1]
        let choice = self.name(choice, format!("l{n}.router_choice"));
        self.g.add_output(router_output(k), choice);
        let choice_f = self.g.push1(Op::Cast { to: DType::F32 }, &[choice])?;
        let skip_index = self.scalar(e as f32)?;
        let is_skip = self.bin(BinaryOp::Eq, choice_f, skip_index)?;
        let last_expert = self.scalar((e - 1) as f32)?;
        let expert_f = self.bin(BinaryOp::Min, choice_f, last_expert)?;
        let expert = self.g.push1(Op::Cast { to: DType::U32 }, &[expert_f])?; // [T, 1]
        // Each token's chosen probability: a one-hot row sum (exact: one term is nonzero).
        let columns = self.iota(e + 1)?;
        let one_hot = self.bin(BinaryOp::Eq, choice_f, columns)?;
        let picked = self.bin(BinaryOp::Mul, one_hot, probs)?;
        let gate_prob = self.g.push1(
            Op::Reduce {
                op: ReduceOp::Sum,
                axis: 1,
            },
            &[picked],
        )?; // [T, 1]
        let skip_prob = match self.opts.skip {
            SkipMode::Zero => None,
            SkipMode::Passthrough => Some(self.slice(probs, 1, e, 1)?),
        };
        self.g.set_scope(None);

        // Per-token experts: the indexed dequants are [T, out, in], the matvecs per token.
        let experts = format!("{prefix}.zaya_block.experts.switch_mlp");
        let gw = self.weight(
            &format!("{experts}.gate_proj.weight"),
            &[e, i, h],
            Some(expert),
        )?;
        let gate = self.g.push1(Op::MatVec, &[gw, x])?;
        let uw = self.weight(
            &format!("{experts}.up_proj.weight"),
            &[e, i, h],
            Some(expert),
        )?;
        let up = self.g.push1(Op::MatVec, &[uw, x])?;
        let act = self.un(UnaryOp::Silu, gate)?;
        let mid = self.bin(BinaryOp::Mul, act, up)?;
        let dw = self.weight(
            &format!("{experts}.down_proj.weight"),
            &[e, h, i],
            Some(expert),
        )?;
        let y = self.g.push1(Op::MatVec, &[dw, mid])?;
        let y = self.bin(BinaryOp::Mul, y, gate_prob)?;

        let skipped = match skip_prob {
            None => self.scalar(0.0)?,
            Some(p_skip) => self.bin(BinaryOp::Mul, x, p_skip)?,
        };
        let out = self.g.push1(Op::Select, &[is_skip, skipped, y])?;
        Ok(self.name(out, format!("l{n}.moe_out")))
    }
}

impl WeightFormats for crate::Bundle {
    /// The format as stored: a quantized or float module weight, else a plain float tensor.
    fn format_of(&self, tensor: &str) -> WeightFormat {
        if let Ok(w) = self.weight(tensor) {
            return w.format;
        }
        match self.tensor_info(tensor) {
            Some((dtype, _)) => WeightFormat::Float { dtype },
            // Missing tensors fail later, when weights are bound, with the tensor's name.
            None => WeightFormat::Float { dtype: DType::F16 },
        }
    }
}

/// Makes `next_token` the argmax over the first `columns` logits only. ZAYA1-8B has more
/// logit columns (262272) than its tokenizer has tokens; greedy decoding on a device must
/// never pick a column no token stands for. Apply before optimizing (the old argmax is then
/// dead and `dce` removes it); a no-op when `columns` covers every logit.
pub fn mask_next_token(graph: &mut Graph, columns: usize) -> Result<(), GraphError> {
    let (Some(logits), Some(_)) = (graph.output(LOGITS), graph.output(NEXT_TOKEN)) else {
        return Err(GraphError::Structure(format!(
            "the graph has no `{LOGITS}` and `{NEXT_TOKEN}` outputs"
        )));
    };
    let total = graph.ty(logits).numel().unwrap_or(0) as usize;
    if columns == 0 || columns > total {
        return Err(GraphError::Structure(format!(
            "cannot restrict the next token to {columns} of {total} logit columns"
        )));
    }
    if columns == total {
        return Ok(());
    }
    graph.set_scope(Some("head"));
    let kept = graph.push1(
        Op::Slice {
            axis: 0,
            start: 0,
            len: columns as u64,
        },
        &[logits],
    )?;
    let next = graph.push1(Op::Argmax, &[kept])?;
    graph.set_scope(None);
    graph.current_scope = None;
    graph.name_value(next, NEXT_TOKEN);
    for (name, v) in graph.outputs.iter_mut() {
        if name == NEXT_TOKEN {
            *v = next;
        }
    }
    graph.validate()
}
