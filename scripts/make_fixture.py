#!/usr/bin/env python3
"""Regenerate ZAYA tiny-model fixtures (source checkpoint, MLX bundles, HF float32 goldens).

Layout written under --out (same as tests/fixtures/zaya-tiny-a):

  source/          original-naming bf16 checkpoint (input of the jang converter)
  bundle_affine/   jang/MLX bundle: affine 4-bit g32 linears (f16 scales+biases), 8-bit embedding,
                   f16 passthrough, experts stacked as zaya_block.experts.switch_mlp.*
  bundle_mxfp4/    same tensors, 4-bit linears as OCP MXFP4 (E2M1 codes + E8M0 u8 scales)
  golden_affine/   HF ZayaForCausalLM float32 goldens on the dequantized bundle_affine
  golden_mxfp4/    same on bundle_mxfp4
  fixture.json     what was generated and how

Quantizers are numpy re-implementations of MLX 0.32 `mx.quantize` (CPU backend), checked
bit-exact against MLX (see scripts/README.md).  Goldens: transformers >= 5.23 ZayaForCausalLM,
eager attention, eager experts, float32, on CPU.

Modes:
  generate (default):          python scripts/make_fixture.py --out tests/fixtures/zaya-tiny-b ...
  validate against a fixture:  python scripts/make_fixture.py --check-against tests/fixtures/zaya-tiny-a
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections import OrderedDict

import numpy as np

# --------------------------------------------------------------------------------------------
# MLX-compatible quantization (numpy).  Matches mlx 0.32.4 CPU `mx.quantize` bit for bit.
# --------------------------------------------------------------------------------------------


def _pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """uint codes [..., n] -> uint32 [..., n*bits/32]; element k of a word sits at bits k*bits.."""
    per = 32 // bits
    c = codes.astype(np.uint32).reshape(*codes.shape[:-1], codes.shape[-1] // per, per)
    shifts = np.arange(per, dtype=np.uint32) * np.uint32(bits)
    return np.bitwise_or.reduce(c << shifts, axis=-1).astype(np.uint32)


def _unpack(words: np.ndarray, bits: int) -> np.ndarray:
    per = 32 // bits
    shifts = np.arange(per, dtype=np.uint32) * np.uint32(bits)
    mask = np.uint32((1 << bits) - 1)
    c = (words[..., None] >> shifts) & mask
    return c.reshape(*words.shape[:-1], words.shape[-1] * per)


def affine_quantize(w, group_size=32, bits=4, out_dtype=np.float16):
    """MLX affine quantization (mode "affine").

    Per group of `group_size` along the last axis (all math in float32):
      scale = max((max - min) / (2^bits - 1), 1e-7); the "edge" is whichever of min/max has the
      larger magnitude, the scale takes the sign that maps the edge to code 0:
        |min| >  |max|: scale = +scale, edge = min      else: scale = -scale, edge = max
      q0 = round(edge / scale); if q0 != 0: scale = edge / q0, bias = edge   (else bias = 0)
      codes = clip(round((w - bias) / scale), 0, 2^bits - 1)    (round = ties to even)
    scales/biases are then cast to `out_dtype` (f16).  Negative scales are therefore normal.
    (MLX's Metal kernel initialises the running max with 0, i.e. differs only for groups whose
    elements are all negative; the CPU backend, which produced the shipped fixture, does not.)
    """
    w = np.asarray(w, dtype=np.float32)
    shp = w.shape
    assert shp[-1] % group_size == 0, f"last dim {shp[-1]} not a multiple of {group_size}"
    g = w.reshape(-1, shp[-1] // group_size, group_size)
    n_bins = np.float32((1 << bits) - 1)
    eps = np.float32(1e-7)
    w_max = g.max(-1)
    w_min = g.min(-1)
    scale = np.maximum((w_max - w_min) / n_bins, eps).astype(np.float32)
    side = np.abs(w_min) > np.abs(w_max)
    scale = np.where(side, scale, -scale).astype(np.float32)
    edge = np.where(side, w_min, w_max).astype(np.float32)
    q0 = np.round(edge / scale)
    at_zero = q0 == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(at_zero, scale, edge / q0).astype(np.float32)
    bias = np.where(at_zero, np.float32(0), edge).astype(np.float32)
    q = np.round((g - bias[..., None]) / scale[..., None])
    q = np.clip(q, 0, n_bins).astype(np.uint32)
    packed = _pack(q, bits).reshape(*shp[:-1], -1)
    return (
        packed,
        scale.astype(out_dtype).reshape(*shp[:-1], -1),
        bias.astype(out_dtype).reshape(*shp[:-1], -1),
    )


def affine_dequantize(wq, scales, biases, group_size=32, bits=4):
    q = _unpack(np.asarray(wq, dtype=np.uint32), bits).astype(np.float32)
    s = np.repeat(np.asarray(scales).astype(np.float32), group_size, axis=-1)
    b = np.repeat(np.asarray(biases).astype(np.float32), group_size, axis=-1)
    return (s * q + b).astype(np.float32)


E2M1_VALUES = np.array(
    [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], dtype=np.float32
)


def e2m1_encode(x):
    """float32 -> E2M1 code (bit 3 = sign) as MLX's CPU backend does it: ties round toward
    zero (0.25->0, 0.75->0.5, 1.25->1, 1.75->1.5, 2.5->2, 3.5->3, 5->4) and values that round
    to zero get code 0 (never -0).  (MLX's Metal fp4_e2m1 rounds 0.75/1.75/3.5 up and keeps
    the sign of tiny negatives; the shipped fixture matches the CPU rule.)"""
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x)
    code = np.zeros(a.shape, dtype=np.uint32)
    for thr, c in ((0.25, 1), (0.75, 2), (1.25, 3), (1.75, 4), (2.5, 5), (3.5, 6), (5.0, 7)):
        code = np.where(a > thr, np.uint32(c), code)
    sign = np.signbit(x).astype(np.uint32) << 3
    code = np.where(code == 0, code, code | sign)
    code = np.where(np.isnan(x), np.uint32(7), code)
    return code.astype(np.uint32)


def mxfp4_quantize(w, group_size=32):
    """MLX mode "mxfp4": per group of 32, E8M0 scale = smallest power of two >= amax/6
    (mx_scale_round_up), u8 biased exponent (bias 127; an all-zero group gets 127);
    codes = E2M1(w / scale), 8 codes per u32, first in the lowest nibble."""
    w = np.asarray(w, dtype=np.float32)
    shp = w.shape
    g = w.reshape(-1, shp[-1] // group_size, group_size)
    x = (np.abs(g).max(-1) / np.float32(6.0)).astype(np.float32)
    m, e = np.frexp(x)  # x = m * 2**e, m in [0.5, 1)
    n = np.where(m == 0.5, e - 1, e)
    ebits = np.clip(n, -127, 127) + 127
    ebits = np.where(x == 0, 127, ebits)
    ebits = np.where(~np.isfinite(x), 255, ebits).astype(np.int64)
    scale = np.where(
        ebits == 0, np.float32(2.0**-127), np.ldexp(np.float32(1), (ebits - 127).astype(np.int32))
    ).astype(np.float32)
    inv = (np.float32(1) / scale).astype(np.float32)
    codes = e2m1_encode(g * inv[..., None])
    packed = _pack(codes, 4).reshape(*shp[:-1], -1)
    return packed, ebits.astype(np.uint8).reshape(*shp[:-1], -1)


def mxfp4_dequantize(wq, scales, group_size=32):
    codes = _unpack(np.asarray(wq, dtype=np.uint32), 4)
    vals = E2M1_VALUES[codes]
    e = np.repeat(np.asarray(scales).astype(np.int32), group_size, axis=-1)
    return (vals * np.ldexp(np.float32(1), e - 127)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# safetensors helpers (bf16 handled through torch)
# --------------------------------------------------------------------------------------------


def st_header(path):
    import struct

    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def load_torch(path):
    from safetensors.torch import load_file

    return load_file(path)


def to_numpy(t):
    import torch

    if t.dtype == torch.bfloat16:
        return t.float().numpy()
    return t.numpy()


# --------------------------------------------------------------------------------------------
# 1. Tiny random source checkpoint (original naming, bf16)
# --------------------------------------------------------------------------------------------


def source_config(a):
    L = a.layers
    rope_theta = int(a.rope_theta) if float(a.rope_theta).is_integer() else a.rope_theta
    cfg = {
        "activation_func": "swiglu",
        "activation_func_fp8_input_store": False,
        "add_bias_linear": False,
        "architectures": ["ZayaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bias_activation_fusion": True,
        "bos_token_id": 2,
        "cca": True,
        "cca_num_q_heads": a.q_heads,
        "cca_time0": 2,
        "cca_time1": 2,
        "dtype": "bfloat16",
        "eos_token_id": 106,
        "ffn_hidden_size": a.ffn,
        "gated_linear_unit": True,
        "hidden_size": a.hidden,
        "head_dim": a.head_dim,
        "kv_channels": a.head_dim,
        "lm_head_bias": False,
        "mamba_cache_dtype": "float32",
        "max_position_embeddings": 4096,
        "model_type": "zaya",
        "moe_router_topk": 1,
        "norm_epsilon": a.eps,
        "normalization": "RMSNorm",
        "num_attention_heads": a.q_heads,
        "num_experts": a.experts,
        "num_hidden_layers": L,
        "num_key_value_heads": a.kv_heads,
        "num_query_groups": a.kv_heads,
        "pad_token_id": 0,
        "partial_rotary_factor": a.partial_rotary,
        "residual_in_fp32": True,
        "rope_scaling": False,
        "rope_theta": rope_theta,
        "scale_residual_merge": True,
        "sliding_window": None,
        "use_cache": True,
        "vocab_size": a.vocab,
        "zaya_mlp_expansion": a.router_hidden,
        "zaya_use_eda": True,
        "zaya_use_mod": True,
    }
    return cfg


def check_dims(c):
    H, nq, nkv, hd = c["hidden_size"], c["cca_num_q_heads"], c["num_key_value_heads"], c["head_dim"]
    I = c["ffn_hidden_size"] // 2
    errs = []
    if c["num_hidden_layers"] % 2:
        errs.append("--layers (original layers) must be even")
    if nq % nkv:
        errs.append("q heads must be a multiple of kv heads")
    for name, v in (("hidden", H), ("q_heads*head_dim", nq * hd), ("ffn/2 (I)", I)):
        if v % 32:
            errs.append(f"{name} = {v} must be a multiple of 32 (group size 32 on the in-dim)")
    if (nkv * hd) % 2:
        errs.append("kv_heads*head_dim must be even (value halves)")
    rot = int(hd * c["partial_rotary_factor"])
    if rot % 2:
        errs.append(f"rotary dims int(head_dim*partial_rotary) = {rot} must be even")
    if errs:
        sys.exit("invalid dims: " + "; ".join(errs))


def make_source(a, c):
    """Random weights with the value ranges of the shipped zaya-tiny-a source (see README)."""
    import torch

    rng = np.random.default_rng(a.weight_seed)
    H, nq, nkv, hd = c["hidden_size"], c["cca_num_q_heads"], c["num_key_value_heads"], c["head_dim"]
    E, I, D, V, L = c["num_experts"], c["ffn_hidden_size"] // 2, c["zaya_mlp_expansion"], c["vocab_size"], c["num_hidden_layers"]
    C = (nq + nkv) * hd
    T = OrderedDict()

    def nrm(shape, std, mean=0.0):
        return (mean + std * rng.standard_normal(shape)).astype(np.float32)

    def lin(out, inp):
        return nrm((out, inp), 1.0 / math.sqrt(inp))

    def uni(shape, lo, hi):
        return rng.uniform(lo, hi, shape).astype(np.float32)

    def res_scale(p, with_residual=True):
        T[p + "hidden_states_bias"] = nrm((H,), 0.05)
        T[p + "hidden_states_scale"] = nrm((H,), 0.15, 1.0)
        if with_residual:
            T[p + "residual_bias"] = nrm((H,), 0.05)
            T[p + "residual_scale"] = nrm((H,), 0.10, 1.0)

    # embedding std chosen so that logits have std ~5.7 / max ~25-30 like zaya-tiny-a
    T["model.embed_tokens.weight"] = nrm((V, H), 0.5 * math.sqrt(128.0 / H))
    first_moe = True
    for n in range(L):
        p = f"model.layers.{n}."
        T[p + "input_norm.weight"] = nrm((H,), 0.1, 1.0)
        res_scale(p + "res_scale.", with_residual=(n > 0))
        if n % 2 == 0:
            q = p + "self_attn."
            T[q + "o_proj.weight"] = lin(H, nq * hd)
            T[q + "qkv.conv_qk.0.bias"] = nrm((C,), 0.05)
            T[q + "qkv.conv_qk.0.weight"] = nrm((C, 1, 2), 0.6)
            T[q + "qkv.conv_qk.1.bias"] = nrm((C,), 0.05)
            T[q + "qkv.conv_qk.1.weight"] = nrm((C, hd, 2), 1.0 / math.sqrt(2 * hd))
            T[q + "qkv.linear_k.weight"] = lin(nkv * hd, H)
            T[q + "qkv.linear_q.weight"] = lin(nq * hd, H)
            T[q + "qkv.temp"] = uni((nkv,), 0.5, 1.5)
            T[q + "qkv.val_proj1.weight"] = lin(nkv * hd // 2, H)
            T[q + "qkv.val_proj2.weight"] = lin(nkv * hd // 2, H)
        else:
            z = p + "zaya_block."
            for e in range(E):
                T[z + f"experts.local_experts.{e}.linear_fc1.weight"] = lin(2 * I, H)
                T[z + f"experts.local_experts.{e}.linear_fc2.weight"] = lin(H, I)
            bb = nrm((E + 1,), 0.03)
            bb[E] = -1.0  # placeholder, set by choose_skip_biases()
            T[z + "router.balancing_biases"] = bb
            T[z + "router.down_proj.bias"] = nrm((D,), 0.1)
            T[z + "router.down_proj.weight"] = lin(D, H)
            T[z + "router.rmsnorm_eda.weight"] = nrm((D,), 0.1, 1.0)
            T[z + "router.router_mlp.0.bias"] = nrm((D,), 0.1)
            T[z + "router.router_mlp.0.weight"] = nrm((D, D), 1.5 / math.sqrt(D))
            T[z + "router.router_mlp.2.bias"] = nrm((D,), 0.1)
            T[z + "router.router_mlp.2.weight"] = nrm((D, D), 1.5 / math.sqrt(D))
            T[z + "router.router_mlp.4.weight"] = nrm((E + 1, D), 3.8 / math.sqrt(D))
            if not first_moe:
                T[z + "router.router_states_scale"] = uni((D,), 0.5, 1.5)
            first_moe = False
    T["model.final_norm.weight"] = nrm((H,), 0.1, 1.0)
    res_scale("model.res_scale.")
    src = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in T.items()}
    return src


def write_source(out, src, cfg):
    from safetensors.torch import save_file

    d = os.path.join(out, "source")
    os.makedirs(d, exist_ok=True)
    save_file(src, os.path.join(d, "model-00001-of-00001.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# 2. jang-style converter: source -> bundle_affine / bundle_mxfp4
# --------------------------------------------------------------------------------------------

CAPABILITIES = OrderedDict(
    [
        ("reasoning_parser", "qwen3"),
        ("tool_parser", "zaya_xml"),
        ("think_in_template", False),
        ("supports_tools", True),
        ("supports_thinking", True),
        ("family", "zaya"),
        ("modality", "text"),
        ("cache_type", "hybrid"),
    ]
)

EXPERT_RE = re.compile(r"^(model\.layers\.\d+\.zaya_block\.experts)\.local_experts\.(\d+)\.linear_fc([12])\.weight$")


def is_passthrough(name):
    return (
        "norm" in name
        or ".res_scale." in name
        or ".router." in name
        or ".conv_qk." in name
        or name.endswith((".temp", ".bias", ".balancing_biases", ".router_states_scale"))
    )


def convert(src, mode):
    """src: {name: torch bf16}.  Returns (OrderedDict name -> numpy array in index order)."""
    import torch

    out = OrderedDict()
    experts = OrderedDict()  # prefix -> {e: (fc1, fc2)}
    quantized_modules = []

    def q(mod, w, embed=False):
        w16 = w.to(torch.float16).float().numpy()
        if embed or mode == "affine":
            wq, s, b = affine_quantize(w16, 32, 8 if embed else 4)
            out[mod + ".weight"], out[mod + ".scales"], out[mod + ".biases"] = wq, s, b
        else:
            wq, s = mxfp4_quantize(w16, 32)
            out[mod + ".weight"], out[mod + ".scales"] = wq, s
        quantized_modules.append(mod)

    for name in sorted(src):
        t = src[name]
        m = EXPERT_RE.match(name)
        if m:
            experts.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = t
            continue
        if is_passthrough(name) or not name.endswith(".weight") or t.dim() != 2:
            out[name] = t.to(torch.float16).numpy()
        else:
            q(name[: -len(".weight")], t, embed="embed_tokens" in name)
    for pre, es in experts.items():
        E = len(es)
        fc1 = torch.stack([es[e]["1"] for e in range(E)])
        fc2 = torch.stack([es[e]["2"] for e in range(E)])
        I = fc1.shape[1] // 2
        base = pre + ".switch_mlp."
        q(base + "gate_proj", fc1[:, :I])
        q(base + "up_proj", fc1[:, I:])
        q(base + "down_proj", fc2)
    if mode == "mxfp4":
        # the true-MXFP4 re-quantizer lists quantized modules first (sorted), then the rest
        order = []
        for mod in sorted(quantized_modules):
            order += [k for k in (mod + ".weight", mod + ".scales", mod + ".biases") if k in out]
        order += sorted(k for k in out if k not in set(order))
        out = OrderedDict((k, out[k]) for k in order)
    return out


def bundle_config(src_cfg, mode):
    c = OrderedDict(src_cfg)
    c["weight_format"] = "mxfp4"
    c["zaya_expert_layout"] = "split_switch_mlp"
    c["tie_word_embeddings"] = True
    qd = OrderedDict(
        [
            ("bits", 4),
            ("group_size", 32),
            ("mode", mode),
            ("embed_bits", 8),
            ("router_bits", 16),
            ("expert_layout", "split_switch_mlp"),
        ]
    )
    if mode == "mxfp4":
        qd["model.embed_tokens"] = OrderedDict([("group_size", 32), ("bits", 8), ("mode", "affine")])
    c["quantization"] = qd
    c["capabilities"] = CAPABILITIES
    return c


def jang_config(mode):
    q = OrderedDict([("method", mode), ("group_size", 32), ("bits", 4), ("embed_bits", 8)])
    if mode == "mxfp4":
        q["embed_method"] = "affine"
    return OrderedDict(
        [
            ("version", 2),
            ("weight_format", "mxfp4"),
            ("profile", "MXFP4" if mode == "affine" else "MXFP4-true"),
            ("cache_subtype", "zaya_cca"),
            ("source_model", OrderedDict([("name", "ZAYA1-8B"), ("org", "Zyphra"), ("architecture", "zaya")])),
            ("expert_layout", "split_switch_mlp"),
            ("quantization", q),
            ("capabilities", CAPABILITIES),
        ]
    )


def write_bundle(out_dir, tensors, src_cfg, mode):
    from safetensors.numpy import save_file

    os.makedirs(out_dir, exist_ok=True)
    fn = "model-00001-of-00001.safetensors"
    path = os.path.join(out_dir, fn)
    save_file(dict(tensors), path, metadata={"format": "mlx"} if mode == "mxfp4" else None)
    idx = OrderedDict(
        [
            ("metadata", OrderedDict([("format", "mxfp4" if mode == "affine" else "mxfp4-true"), ("total_size", os.path.getsize(path))])),
            ("weight_map", OrderedDict((k, fn) for k in tensors)),
        ]
    )
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(idx, indent=2))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        # (the shipped affine configs have no trailing newline, the re-quantized mxfp4 ones do)
        f.write(json.dumps(bundle_config(src_cfg, mode), indent=2) + ("\n" if mode == "mxfp4" else ""))
    with open(os.path.join(out_dir, "jang_config.json"), "w") as f:
        f.write(json.dumps(jang_config(mode), indent=2) + ("\n" if mode == "mxfp4" else ""))


# --------------------------------------------------------------------------------------------
# 3. Dequantize a bundle and load it into HF ZayaForCausalLM
# --------------------------------------------------------------------------------------------


def load_bundle(bdir):
    """-> (config dict, {original name: float32 numpy}) with experts as stacked switch_mlp."""
    from safetensors.numpy import load_file

    cfg = json.load(open(os.path.join(bdir, "config.json")))
    idx = json.load(open(os.path.join(bdir, "model.safetensors.index.json")))
    raw = {}
    for fn in sorted(set(idx["weight_map"].values())):
        raw.update(load_file(os.path.join(bdir, fn)))
    qc = cfg.get("quantization", {})
    W = {}
    for k, v in raw.items():
        if k.endswith((".scales", ".biases")):
            continue
        mod = k[: -len(".weight")] if k.endswith(".weight") else None
        if mod is not None and v.dtype == np.uint32:
            over = qc.get(mod, {}) if isinstance(qc.get(mod), dict) else {}
            mode = over.get("mode", qc.get("mode", "affine"))
            bits = over.get("bits", qc.get("embed_bits", 8) if "embed_tokens" in mod else qc.get("bits", 4))
            gs = over.get("group_size", qc.get("group_size", 32))
            if mode == "affine":
                W[k] = affine_dequantize(v, raw[mod + ".scales"], raw[mod + ".biases"], gs, bits)
            elif mode == "mxfp4":
                W[k] = mxfp4_dequantize(v, raw[mod + ".scales"], gs)
            else:
                raise ValueError(f"unknown quantization mode {mode} for {mod}")
        else:
            W[k] = v.astype(np.float32)
    return cfg, W


def hf_config(c):
    from transformers import ZayaConfig

    L = c["num_hidden_layers"]
    hcfg = ZayaConfig(
        vocab_size=c["vocab_size"],
        hidden_size=c["hidden_size"],
        num_hidden_layers=L // 2,
        num_attention_heads=c.get("cca_num_q_heads", c["num_attention_heads"]),
        num_key_value_heads=c.get("num_key_value_heads", c.get("num_query_groups")),
        head_dim=c.get("head_dim", c.get("kv_channels")),
        moe_intermediate_size=c["ffn_hidden_size"] // 2,
        num_experts=c["num_experts"],
        num_experts_per_tok=1,
        router_hidden_size=c["zaya_mlp_expansion"],
        rms_norm_eps=c["norm_epsilon"],
        max_position_embeddings=c.get("max_position_embeddings", 4096),
        tie_word_embeddings=True,
        rope_parameters={
            "hybrid": {
                "rope_type": "default",
                "rope_theta": float(c["rope_theta"]),
                "partial_rotary_factor": float(c["partial_rotary_factor"]),
            }
        },
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=106,
    )
    hcfg._attn_implementation = "eager"
    hcfg._experts_implementation = "eager"
    return hcfg


def orig_to_hf(W, c):
    """Original-naming float32 weights (experts stacked) -> HF ZayaForCausalLM state dict."""
    import torch

    L = c["num_hidden_layers"]
    J = L // 2
    sd = {}

    def put(hk, ok):
        sd[hk] = torch.from_numpy(np.ascontiguousarray(W[ok]))

    put("model.embed_tokens.weight", "model.embed_tokens.weight")
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    put("model.norm.weight", "model.final_norm.weight")
    put("model.input_hidden_states_scale", "model.layers.0.res_scale.hidden_states_scale")
    put("model.input_hidden_states_bias", "model.layers.0.res_scale.hidden_states_bias")
    rs = ("hidden_states_scale", "hidden_states_bias", "residual_scale", "residual_bias")
    for j in range(J):
        a, m = 2 * j, 2 * j + 1
        h, pa, pm = f"model.layers.{j}.", f"model.layers.{a}.", f"model.layers.{m}."
        put(h + "input_layernorm.weight", pa + "input_norm.weight")
        put(h + "post_attention_layernorm.weight", pm + "input_norm.weight")
        put(h + "self_attn.o_proj.weight", pa + "self_attn.o_proj.weight")
        for hn, on in (
            ("q_proj.weight", "linear_q.weight"),
            ("k_proj.weight", "linear_k.weight"),
            ("v_proj_current.weight", "val_proj1.weight"),
            ("v_proj_delayed.weight", "val_proj2.weight"),
            ("conv_qk_depthwise.weight", "conv_qk.0.weight"),
            ("conv_qk_depthwise.bias", "conv_qk.0.bias"),
            ("conv_qk_grouped.weight", "conv_qk.1.weight"),
            ("conv_qk_grouped.bias", "conv_qk.1.bias"),
        ):
            put(h + "self_attn.qkv_proj." + hn, pa + "self_attn.qkv." + on)
        put(h + "self_attn.qk_norm.temp", pa + "self_attn.qkv.temp")
        for r in rs:
            put(h + "post_attention_residual_scale." + r, pm + "res_scale." + r)
            nxt = f"model.layers.{a + 2}.res_scale." if j + 1 < J else "model.res_scale."
            put(h + "post_mlp_residual_scale." + r, nxt + r)
        g, rt = h + "mlp.gate.", pm + "zaya_block.router."
        put(g + "down_proj.weight", rt + "down_proj.weight")
        put(g + "down_proj.bias", rt + "down_proj.bias")
        put(g + "balancing_biases", rt + "balancing_biases")
        if j > 0:
            put(g + "router_states_scale", rt + "router_states_scale")
        put(g + "router_mlp.norm.weight", rt + "rmsnorm_eda.weight")
        put(g + "router_mlp.fc1.weight", rt + "router_mlp.0.weight")
        put(g + "router_mlp.fc1.bias", rt + "router_mlp.0.bias")
        put(g + "router_mlp.fc2.weight", rt + "router_mlp.2.weight")
        put(g + "router_mlp.fc2.bias", rt + "router_mlp.2.bias")
        put(g + "router_mlp.out_proj.weight", rt + "router_mlp.4.weight")
        sm = pm + "zaya_block.experts.switch_mlp."
        gate, up, down = W[sm + "gate_proj.weight"], W[sm + "up_proj.weight"], W[sm + "down_proj.weight"]
        sd[h + "mlp.experts.gate_up_proj"] = torch.from_numpy(np.ascontiguousarray(np.concatenate([gate, up], axis=1)))
        sd[h + "mlp.experts.down_proj"] = torch.from_numpy(np.ascontiguousarray(down))
    return sd


def build_hf(bdir):
    import torch
    from transformers import ZayaForCausalLM

    cfg, W = load_bundle(bdir)
    hcfg = hf_config(cfg)
    torch.manual_seed(0)
    model = ZayaForCausalLM(hcfg).float().eval()
    sd = orig_to_hf(W, cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if "rotary_emb" not in k]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr() or torch.equal(
        model.lm_head.weight, model.model.embed_tokens.weight
    )
    return cfg, hcfg, model


# --------------------------------------------------------------------------------------------
# 4. Goldens: HF forward with skip-semantics patch and captures
# --------------------------------------------------------------------------------------------


class Recorder:
    """Global switches read by the patched HF functions."""

    skip_mode = "zero"  # or "passthrough"
    router_log = None  # list per HF layer of [T, E+1] logits, appended per forward call
    capture = None  # dict when capturing one decode step
    cur_layer = None


def install_patches():
    import torch
    import transformers.models.zaya.modeling_zaya as mz

    if getattr(mz, "_fixture_patched", False):
        return
    orig_rope = mz.apply_rotary_pos_emb

    def rope_wrapper(q, k, cos, sin, *args, **kw):
        qe, ke = orig_rope(q, k, cos, sin, *args, **kw)
        if Recorder.capture is not None and Recorder.cur_layer is not None:
            j = Recorder.cur_layer
            Recorder.capture[f"capture.hf{j}.q_rope"] = qe[0, :, -1].clone()
            Recorder.capture[f"capture.hf{j}.k_rope"] = ke[0, :, -1].clone()
        return qe, ke

    mz.apply_rotary_pos_emb = rope_wrapper

    def moe_forward(self, hidden_states, prev_router_hidden_states=None):
        # == ZayaSparseMoeBlock.forward, plus the optional jang/original skip semantics
        router_logits, router_probs, router_indices, nxt = self.gate(
            hidden_states, router_states=prev_router_hidden_states
        )
        B, S, Hd = hidden_states.shape
        flat = hidden_states.view(B * S, Hd)
        out = self.experts(flat, router_indices, router_probs)
        if Recorder.skip_mode == "passthrough":
            E = self.gate.num_experts
            probs = torch.softmax(router_logits, dim=-1)
            biased = probs.detach().to(torch.float32) + self.gate.balancing_biases
            raw = torch.topk(biased, 1, dim=-1).indices[:, 0]
            skip = (raw == E)[:, None]
            out = torch.where(skip, flat * probs[:, E:E + 1].to(flat.dtype), out)
        return out.view(B, S, Hd), nxt

    mz.ZayaSparseMoeBlock.forward = moe_forward
    mz._fixture_patched = True


def router_stats(logits, bb):
    """logits [T, E+1] -> (choice int, prob of choice, margin top1-top2 of probs+bb, probs)."""
    import torch

    probs = torch.softmax(logits, dim=-1)
    biased = probs.detach().to(torch.float32) + bb
    top = torch.topk(biased, 2, dim=-1)
    choice = top.indices[:, 0]
    margin = top.values[:, 0] - top.values[:, 1]
    cprob = torch.gather(probs, 1, choice[:, None])[:, 0]
    return choice, cprob, margin, probs


def add_hooks(model, hcfg):
    """Router logging for every call + detailed captures when Recorder.capture is a dict."""
    handles = []
    J = hcfg.num_hidden_layers

    def cap(key, t):
        if Recorder.capture is not None:
            Recorder.capture[key] = t.detach()[0, -1].clone()

    for j in range(J):
        layer = model.model.layers[j]

        def pre_attn(mod, args, kwargs, j=j):
            Recorder.cur_layer = j

        def h_ln(mod, inp, out, j=j):
            cap(f"capture.hf{j}.attn_in", out)

        def h_qkv(mod, inp, out, j=j):
            q, k, v = out
            cap(f"capture.hf{j}.q_pre_norm", q)
            cap(f"capture.hf{j}.k_pre_norm", k)
            cap(f"capture.hf{j}.v", v)

        def h_qkn(mod, inp, out, j=j):
            cap(f"capture.hf{j}.q_normed", out[0])
            cap(f"capture.hf{j}.k_normed", out[1])

        def h_attn(mod, inp, out, j=j):
            cap(f"capture.hf{j}.attn_out", out[0])
            Recorder.cur_layer = None

        def h_par(mod, inp, out, j=j):
            cap(f"capture.hf{j}.resid_after_attn", out)

        def h_pln(mod, inp, out, j=j):
            cap(f"capture.hf{j}.moe_in", out)

        def h_gate(mod, inp, out, j=j):
            logits, _, _, nxt = out
            if Recorder.router_log is not None:
                Recorder.router_log[j].append(logits.detach().clone())
            if Recorder.capture is not None:
                c, cp, _, probs = router_stats(logits[-1:], mod.balancing_biases)
                Recorder.capture[f"capture.hf{j}.router_hidden"] = nxt.detach()[0, -1].clone()
                Recorder.capture[f"capture.hf{j}.router_logits"] = logits.detach()[-1].clone()
                Recorder.capture[f"capture.hf{j}.router_probs"] = probs[-1].clone()
                Recorder.capture[f"capture.hf{j}.router_choice"] = c.to(torch_int64())
                Recorder.capture[f"capture.hf{j}.router_choice_prob"] = cp.clone()

        def h_mlp(mod, inp, out, j=j):
            cap(f"capture.hf{j}.moe_out", out[0])

        def h_pmr(mod, inp, out, j=j):
            cap(f"capture.hf{j}.resid_after_moe", out)

        handles += [
            layer.self_attn.register_forward_pre_hook(pre_attn, with_kwargs=True),
            layer.input_layernorm.register_forward_hook(h_ln),
            layer.self_attn.qkv_proj.register_forward_hook(h_qkv),
            layer.self_attn.qk_norm.register_forward_hook(h_qkn),
            layer.self_attn.register_forward_hook(h_attn),
            layer.post_attention_residual_scale.register_forward_hook(h_par),
            layer.post_attention_layernorm.register_forward_hook(h_pln),
            layer.mlp.gate.register_forward_hook(h_gate),
            layer.mlp.register_forward_hook(h_mlp),
            layer.post_mlp_residual_scale.register_forward_hook(h_pmr),
        ]
    handles.append(model.model.embed_tokens.register_forward_hook(lambda m, i, o: cap("capture.embed", o)))
    handles.append(model.model.norm.register_forward_hook(lambda m, i, o: cap("capture.final_norm_out", o)))
    return handles


def torch_int64():
    import torch

    return torch.int64


def run_sequences(model, hcfg, seqs, skip_mode, capture_seq=None, capture_step=None):
    """seqs: list of (prompt_ids list, decode_ids list).  Returns dict of golden tensors + stats."""
    import torch
    from transformers import DynamicCache

    install_patches()
    Recorder.skip_mode = skip_mode
    J = hcfg.num_hidden_layers
    E = hcfg.num_experts
    res = OrderedDict()
    stats = []
    handles = add_hooks(model, hcfg)
    try:
        with torch.no_grad():
            for s, (prompt, dec) in enumerate(seqs):
                P = torch.tensor([prompt], dtype=torch.int64)
                Dd = torch.tensor(dec, dtype=torch.int64)
                Recorder.router_log = [[] for _ in range(J)]
                cache = DynamicCache(config=hcfg)
                out = model(input_ids=P, past_key_values=cache, use_cache=True)
                prefill = out.logits[0].clone()
                dls = []
                for t in range(len(dec)):
                    capturing = s == capture_seq and t == capture_step
                    if capturing:
                        Recorder.capture = OrderedDict()
                        for j in range(J):
                            Recorder.capture[f"capture.hf{j}.conv_state_before"] = cache.get_conv_state(j)[0].clone()
                            Recorder.capture[f"capture.hf{j}.v_state_before"] = cache.get_recurrent_state(j)[0].clone()
                    out = model(input_ids=Dd[t : t + 1][None], past_key_values=cache, use_cache=True)
                    dls.append(out.logits[0, -1].clone())
                    if capturing:
                        cp = Recorder.capture
                        Recorder.capture = None
                        for j in range(J):
                            cp[f"capture.hf{j}.conv_state_after"] = cache.get_conv_state(j)[0].clone()
                            cp[f"capture.hf{j}.v_state_after"] = cache.get_recurrent_state(j)[0].clone()
                            cp[f"capture.hf{j}.k_cache"] = cache.layers[j].keys[0].clone()
                            cp[f"capture.hf{j}.v_cache"] = cache.layers[j].values[0].clone()
                        cp["capture.logits"] = out.logits[0, -1].clone()
                        res.update(cp)
                decode = torch.stack(dls) if dls else torch.zeros(0, hcfg.vocab_size)
                cached_log = [torch.cat(Recorder.router_log[j], dim=0) for j in range(J)]
                # no-cache full forward
                Recorder.router_log = [[] for _ in range(J)]
                full = model(input_ids=torch.cat([P[0], Dd])[None], use_cache=False).logits[0].clone()
                Recorder.router_log = None
                choices, margins = [], []
                for j in range(J):
                    c, _, mg, _ = router_stats(cached_log[j], model.model.layers[j].mlp.gate.balancing_biases)
                    choices.append(c.to(torch.int32))
                    margins.append(mg.to(torch.float32))
                choice = torch.stack(choices)
                margin = torch.stack(margins)
                res[f"seq{s}.prompt_ids"] = P[0].clone()
                res[f"seq{s}.decode_ids"] = Dd.clone()
                res[f"seq{s}.prefill_logits"] = prefill
                res[f"seq{s}.decode_logits"] = decode
                res[f"seq{s}.full_logits"] = full
                res[f"seq{s}.router_choice"] = choice
                res[f"seq{s}.router_margin"] = margin
                stats.append(
                    OrderedDict(
                        [
                            ("index", s),
                            ("prompt_len", len(prompt)),
                            ("decode_steps", len(dec)),
                            ("cache_vs_nocache_max_abs_diff", float((torch.cat([prefill, decode]) - full).abs().max())),
                            ("skip_tokens_per_moe_layer", [int((choice[j] == E).sum()) for j in range(J)]),
                            ("tokens_per_moe_layer", int(choice.shape[1])),
                            ("min_router_margin", float(margin.min())),
                        ]
                    )
                )
    finally:
        for h in handles:
            h.remove()
        Recorder.router_log = None
        Recorder.capture = None
    return res, stats


KEYS_DOC = OrderedDict(
    [
        ("seq{s}.prompt_ids/decode_ids", "int64 token ids"),
        ("seq{s}.prefill_logits", "[prompt_len, vocab] f32"),
        ("seq{s}.decode_logits", "[decode_steps, vocab] f32"),
        ("seq{s}.full_logits", "[prompt_len+decode_steps, vocab] f32, no cache"),
        ("seq{s}.router_choice", "[n_moe_layers, prompt_len+decode_steps] int32 raw top-1 choice incl. skip (== num_experts)"),
        ("seq{s}.router_margin", "[n_moe_layers, T] f32 top1-top2 gap of (softmax + balancing_biases); tiny gaps = fragile routing"),
        ("capture.embed", "[H] embedding row (dequantized)"),
        ("capture.hf{j}.attn_in", "[H] input_layernorm output = original layers.{2j}.input_norm(residual)"),
        ("capture.hf{j}.q_pre_norm / k_pre_norm", "[nq|nkv, hd] CCA q/k after conv_qk + grouped qk-mean residual, before L2 norm"),
        ("capture.hf{j}.v", "[nkv, hd] value of the current token = view(cat(val_proj1(x_t), val_proj2(x_{t-1})))"),
        ("capture.hf{j}.q_normed / k_normed", "[nq|nkv, hd] after L2 norm to sqrt(hd) (k also * temp[kv_head]), before RoPE"),
        ("capture.hf{j}.q_rope / k_rope", "[nq|nkv, hd] after partial RoPE (first hd*0.5 dims, rotate_half, base rope_theta)"),
        ("capture.hf{j}.attn_out", "[H] o_proj output"),
        ("capture.hf{j}.resid_after_attn", "[H] residual stream after merging attn output (original: residual at start of layer 2j+1)"),
        ("capture.hf{j}.moe_in", "[H] post_attention_layernorm output = original layers.{2j+1}.input_norm(residual)"),
        ("capture.hf{j}.router_hidden", "[D] router down_proj(x) (+ prev * router_states_scale), pre-RMSNorm (passed to next MoE layer)"),
        ("capture.hf{j}.router_logits / router_probs", "[E+1] out_proj logits / softmax (last = skip)"),
        ("capture.hf{j}.router_choice / router_choice_prob", "[1] raw argmax(probs + balancing_biases) incl. skip / its unbiased prob"),
        ("capture.hf{j}.moe_out", "[H] MoE block output"),
        ("capture.hf{j}.resid_after_moe", "[H] layer output residual (original: residual at start of layer 2j+2, or final merge)"),
        ("capture.hf{j}.conv_state_before/after", "[C=(nq+nkv)*hd, 2] HF layout channels x time (oldest first) of the packed [q|k] pre-conv projections"),
        ("capture.hf{j}.v_state_before/after", "[nkv*hd/2] HF recurrent state = val_proj2(x_{t-1}) (projected delayed value of previous token)"),
        ("capture.hf{j}.k_cache / v_cache", "[nkv, T, hd] KV cache after the step (k after norm/temp/RoPE)"),
        ("capture.final_norm_out", "[H] final RMSNorm output"),
        ("capture.logits", "[vocab] logits of the captured step (== decode_logits[step])"),
    ]
)


def manifest(fname, bundle, skip_mode, token_seed, stats, seqs, capture_seq, capture_step, J, partial):
    import torch
    import transformers

    layer_map = []
    for j in range(J):
        layer_map.append(
            OrderedDict(
                [
                    ("hf_layer", j),
                    ("orig_attn_layer", 2 * j),
                    ("orig_moe_layer", 2 * j + 1),
                    ("resid_after_attn_is_orig_residual_at_start_of_layer", 2 * j + 1),
                    (
                        "resid_after_moe_is_orig_residual_at_start_of_layer",
                        2 * j + 2 if j + 1 < J else "final (model.res_scale merge)",
                    ),
                ]
            )
        )
    keys = OrderedDict(KEYS_DOC)
    if partial != 0.5:
        keys["capture.hf{j}.q_rope / k_rope"] = (
            f"[nq|nkv, hd] after partial RoPE (first hd*{partial} dims, rotate_half, base rope_theta)"
        )
    return OrderedDict(
        [
            ("file", fname),
            (
                "reference",
                f"transformers {transformers.__version__} ZayaForCausalLM (modular_zaya.py), float32, eager attention, eager experts",
            ),
            ("torch", torch.__version__),
            (
                "weights",
                "bundle dequantized to float32: affine w = f32(scales)*q + f32(biases); mxfp4 w = E2M1(q)*2^(e-127); passthrough fp16 -> f32",
            ),
            ("bundle", bundle),
            (
                "mod_skip_semantics",
                "HF/transformers: MoE output is 0 for tokens routed to the skip expert (index == num_experts)"
                if skip_mode == "zero"
                else "original Zyphra vLLM / jang: MoE output is x * p_skip for skip tokens",
            ),
            ("token_seed", token_seed),
            ("sequences", stats),
            (
                "decode_protocol",
                "batch 1; prefill the whole prompt in one call (logits for every prompt position), then feed decode_ids[t] one token per call using the cache; decode_logits[t] = logits after consuming decode_ids[t]. full_logits = one no-cache forward over prompt+decode_ids.",
            ),
            (
                "capture",
                OrderedDict(
                    [
                        ("seq", capture_seq),
                        ("decode_step", capture_step),
                        ("position", len(seqs[capture_seq][0]) + capture_step),
                        ("note", "all capture.* tensors are for the single token decode_ids[step] of that sequence"),
                    ]
                ),
            ),
            ("layer_map", layer_map),
            ("keys", keys),
        ]
    )


def write_goldens(gdir, bundle_name, model, hcfg, seqs, token_seed, capture_seq, capture_step, partial):
    from safetensors.torch import save_file

    os.makedirs(gdir, exist_ok=True)
    summary = {}
    for mode, fname, mname in (
        ("zero", "golden.safetensors", "manifest.json"),
        ("passthrough", "golden_mod_passthrough.safetensors", "manifest_golden_mod_passthrough.json"),
    ):
        res, stats = run_sequences(model, hcfg, seqs, mode, capture_seq, capture_step)
        save_file({k: v.contiguous() for k, v in res.items()}, os.path.join(gdir, fname))
        man = manifest(fname, bundle_name, mode, token_seed, stats, seqs, capture_seq, capture_step,
                       hcfg.num_hidden_layers, partial)
        with open(os.path.join(gdir, mname), "w") as f:
            f.write(json.dumps(man, indent=2) + "\n")
        summary[mode] = stats
    return summary


# --------------------------------------------------------------------------------------------
# Token ids and skip-bias calibration
# --------------------------------------------------------------------------------------------


def make_tokens(token_seed, vocab, prompt_lengths, decode_steps):
    """Same recipe as zaya-tiny-a: rng = default_rng(seed); per sequence prompt then decode ids,
    uniform in [3, vocab) (ids 0-2 = pad/eos-ish/bos avoided).  Decode ids are NOT greedy."""
    rng = np.random.default_rng(token_seed)
    seqs = []
    for L in prompt_lengths:
        p = rng.integers(3, vocab, L).tolist()
        d = rng.integers(3, vocab, decode_steps).tolist()
        seqs.append((p, d))
    return seqs


def bf16_round(x):
    import torch

    return float(torch.tensor(x, dtype=torch.float32).to(torch.bfloat16).float())


def choose_skip_biases(a, src, src_cfg, seqs, tmpdir):
    """Set balancing_biases[E] (skip) of every MoE layer according to --skip-bias-mode.

    none:       b_skip = -1 everywhere (HF default init): skip unreachable, both semantics agree.
    random:     b_skip ~ U(0, 0.8) (like zaya-tiny-a).
    calibrated: layer by layer (HF zero semantics on the dequantized affine bundle, all tokens of
                all sequences, no cache), b_skip is put in the widest gap of the per-token
                threshold values near the target fraction from --skip-fractions (cycled over MoE
                layers); a fraction of 0 gives b_skip = -1 (unreachable in that layer).
    """
    import torch

    L = src_cfg["num_hidden_layers"]
    E = src_cfg["num_experts"]
    moe_layers = list(range(1, L, 2))
    key = lambda n: f"model.layers.{n}.zaya_block.router.balancing_biases"
    rng = np.random.default_rng(a.weight_seed + 7919)
    if a.skip_bias_mode == "none":
        for n in moe_layers:
            b = src[key(n)].float().clone(); b[E] = -1.0; src[key(n)] = b.to(torch.bfloat16)
        return {}
    if a.skip_bias_mode == "random":
        for n in moe_layers:
            b = src[key(n)].float().clone(); b[E] = float(rng.uniform(0, 0.8)); src[key(n)] = b.to(torch.bfloat16)
        return {}
    fr = [float(x) for x in a.skip_fractions.split(",")]
    report = {}
    # provisional: skip unreachable everywhere
    for n in moe_layers:
        b = src[key(n)].float().clone(); b[E] = -1.0; src[key(n)] = b.to(torch.bfloat16)
    bdir = os.path.join(tmpdir, "calib_bundle")
    for li, n in enumerate(moe_layers):
        f = fr[li % len(fr)]
        if f <= 0:
            report[n] = {"target": 0.0, "b_skip": -1.0}
            continue
        write_bundle(bdir, convert(src, "affine"), src_cfg, "affine")
        _, hcfg, model = build_hf(bdir)
        install_patches()
        Recorder.skip_mode = "zero"
        J = hcfg.num_hidden_layers
        j = li
        Recorder.router_log = [[] for _ in range(J)]
        handles = add_hooks(model, hcfg)
        try:
            with torch.no_grad():
                for p, d in seqs:
                    model(input_ids=torch.tensor([p + d]), use_cache=False)
        finally:
            for h in handles:
                h.remove()
        logits = torch.cat(Recorder.router_log[j], 0)
        Recorder.router_log = None
        bb = src[key(n)].float()
        probs = torch.softmax(logits, -1)
        best_exp = (probs[:, :E] + bb[:E]).max(-1).values
        thr = (best_exp - probs[:, E]).numpy()  # skip wins iff b_skip > thr
        ts = np.sort(thr)
        N = len(ts)
        k0 = int(round(f * N))
        lo, hi = max(1, k0 - max(1, N // 10)), min(N - 1, k0 + max(1, N // 10))
        best = None
        for k in range(lo, hi + 1):
            gap = ts[k] - ts[k - 1]
            mid = bf16_round((ts[k] + ts[k - 1]) / 2)
            if not (ts[k - 1] < mid < ts[k]):
                continue
            marg = min(mid - ts[k - 1], ts[k] - mid)
            if best is None or marg > best[0]:
                best = (marg, mid, k)
        if best is None:
            best = (0.0, bf16_round(ts[k0 - 1] + 1e-2), k0)
        b = src[key(n)].float().clone(); b[E] = best[1]; src[key(n)] = b.to(torch.bfloat16)
        report[n] = {"target": f, "b_skip": best[1], "skip_tokens": int(best[2]), "of": N, "threshold_margin": float(best[0])}
    return report


# --------------------------------------------------------------------------------------------
# Validation against a shipped fixture
# --------------------------------------------------------------------------------------------


def file_bytes_equal(a, b):
    try:
        return open(a, "rb").read() == open(b, "rb").read()
    except FileNotFoundError:
        return False


def check_against(fx, workdir, report_path):
    import torch
    from safetensors.numpy import load_file
    from safetensors.torch import load_file as tload

    lines = []

    def say(s=""):
        print(s)
        lines.append(s)

    src = load_torch(os.path.join(fx, "source", "model-00001-of-00001.safetensors"))
    src_cfg = json.load(open(os.path.join(fx, "source", "config.json")), object_pairs_hook=OrderedDict)
    say(f"# check against {fx}")
    say("")
    say("## converter: shipped source/ -> bundles, compared with the shipped bundles")
    for mode, bname in (("affine", "bundle_affine"), ("mxfp4", "bundle_mxfp4")):
        mine = convert(src, mode)
        outd = os.path.join(workdir, bname)
        write_bundle(outd, mine, src_cfg, mode)
        ref = load_file(os.path.join(fx, bname, "model-00001-of-00001.safetensors"))
        nbad, nbytes, badkeys = 0, 0, []
        for k, v in ref.items():
            m = mine.get(k)
            if m is None or m.dtype != v.dtype or m.shape != v.shape:
                badkeys.append(k)
                continue
            d = int((m.view(np.uint8) != v.view(np.uint8)).sum())
            nbad += d
            nbytes += v.nbytes
            if d:
                badkeys.append(k)
        extra = sorted(set(mine) - set(ref))
        say(f"- {bname}: {len(ref)} tensors, {nbytes} bytes compared, {nbad} bytes differ, "
            f"differing/missing tensors: {badkeys or 'none'}, extra: {extra or 'none'}")
        for fn in ("model-00001-of-00001.safetensors", "model.safetensors.index.json", "config.json", "jang_config.json"):
            say(f"  - {fn}: {'byte-identical' if file_bytes_equal(os.path.join(outd, fn), os.path.join(fx, bname, fn)) else 'DIFFERS'}")
    # source config round trip
    say(f"- source/config.json re-serialised: "
        f"{'byte-identical' if (json.dumps(src_cfg, indent=2) + chr(10)) == open(os.path.join(fx, 'source', 'config.json')).read() else 'DIFFERS'}")
    say("")
    say("## goldens: shipped bundles + shipped token ids -> HF float32 (this machine, CPU)")
    results = {}
    for bname, gname in (("bundle_affine", "golden_affine"), ("bundle_mxfp4", "golden_mxfp4")):
        _, hcfg, model = build_hf(os.path.join(fx, bname))
        man = json.load(open(os.path.join(fx, gname, "manifest.json")))
        ref0 = tload(os.path.join(fx, gname, "golden.safetensors"))
        S = len(man["sequences"])
        seqs = [(ref0[f"seq{s}.prompt_ids"].tolist(), ref0[f"seq{s}.decode_ids"].tolist()) for s in range(S)]
        cs, ct = man["capture"]["seq"], man["capture"]["decode_step"]
        for mode, fname, mname in (
            ("zero", "golden.safetensors", "manifest.json"),
            ("passthrough", "golden_mod_passthrough.safetensors", "manifest_golden_mod_passthrough.json"),
        ):
            ref = tload(os.path.join(fx, gname, fname))
            refman = json.load(open(os.path.join(fx, gname, mname)))
            res, stats = run_sequences(model, hcfg, seqs, mode, cs, ct)
            say(f"### {gname}/{fname}")
            if set(res) != set(ref):
                say(f"  KEY SET DIFFERS: missing {sorted(set(ref) - set(res))} extra {sorted(set(res) - set(ref))}")
            rows = []
            worst = 0.0
            for k in sorted(ref):
                if k not in res:
                    continue
                a_, b_ = res[k], ref[k]
                if a_.dtype != b_.dtype or tuple(a_.shape) != tuple(b_.shape):
                    rows.append((k, f"DTYPE/SHAPE {a_.dtype}{tuple(a_.shape)} vs {b_.dtype}{tuple(b_.shape)}"))
                    continue
                if a_.is_floating_point():
                    d = float((a_ - b_).abs().max()) if a_.numel() else 0.0
                    scale = float(b_.abs().max()) if b_.numel() else 0.0
                    worst = max(worst, d)
                    rows.append((k, f"max_abs_diff {d:.3g} (ref max |x| {scale:.3g})"))
                else:
                    n = int((a_ != b_).sum())
                    rows.append((k, f"{n} of {a_.numel()} differ" if n else "exact"))
            # group capture.hf{j}.X over j for brevity
            grouped = OrderedDict()
            for k, v in rows:
                gk = re.sub(r"hf\d+\.", "hf{j}.", re.sub(r"^seq\d+\.", "seq{s}.", k))
                grouped.setdefault(gk, []).append((k, v))
            for gk, items in grouped.items():
                fl = [float(re.search(r"max_abs_diff (\S+)", v).group(1)) for _, v in items if "max_abs_diff" in v]
                if fl and len(fl) == len(items):
                    say(f"  - {gk}: max_abs_diff {max(fl):.3g} (over {len(items)} tensors)")
                else:
                    say(f"  - {gk}: " + "; ".join(sorted(set(v for _, v in items))))
            sk_mine = [s["skip_tokens_per_moe_layer"] for s in stats]
            sk_ref = [s["skip_tokens_per_moe_layer"] for s in refman["sequences"]]
            say(f"  - skip_tokens_per_moe_layer: mine {sk_mine} shipped {sk_ref} -> {'same' if sk_mine == sk_ref else 'DIFFER'}")
            say(f"  - cache_vs_nocache (mine): {[round(s['cache_vs_nocache_max_abs_diff'], 8) for s in stats]}")
            say(f"  - worst float diff in this file: {worst:.3g}")
            results[f"{gname}/{fname}"] = worst
    if report_path:
        with open(report_path, "w") as f:
            f.write("\n".join(lines) + "\n")
    return results


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="output fixture directory")
    ap.add_argument("--preset", default="custom", help="label written into fixture.json")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=8, help="original layers L (even; HF layers = L/2)")
    ap.add_argument("--q-heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=256, help="ffn_hidden_size; expert intermediate I = ffn/2")
    ap.add_argument("--router-hidden", type=int, default=32, help="zaya_mlp_expansion (router hidden D)")
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--rope-theta", type=float, default=5000000)
    ap.add_argument("--partial-rotary", type=float, default=0.5)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--weight-seed", type=int, default=1)
    ap.add_argument("--token-seed", type=int, default=1)
    ap.add_argument("--prompt-lengths", default="7,13,1")
    ap.add_argument("--decode-steps", type=int, default=10)
    ap.add_argument("--capture-seq", type=int, default=0)
    ap.add_argument("--capture-step", type=int, default=3)
    ap.add_argument("--skip-bias-mode", choices=("calibrated", "random", "none"), default="calibrated")
    ap.add_argument("--skip-fractions", default="0.3",
                    help="calibrated mode: target share of skip tokens per MoE layer, comma list cycled over layers (0 = unreachable)")
    ap.add_argument("--check-against", metavar="FIXTURE_DIR",
                    help="validate converter + goldens against an existing fixture (e.g. tests/fixtures/zaya-tiny-a)")
    ap.add_argument("--report", help="with --check-against: write the report (markdown) here")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)

    import tempfile

    import torch

    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)

    if a.check_against:
        with tempfile.TemporaryDirectory() as td:
            check_against(a.check_against, td, a.report)
        return
    if not a.out:
        ap.error("--out is required (or use --check-against)")

    c = source_config(a)
    check_dims(c)
    plens = [int(x) for x in a.prompt_lengths.split(",")]
    if not (0 <= a.capture_seq < len(plens) and 0 <= a.capture_step < a.decode_steps):
        ap.error("capture seq/step out of range")
    seqs = make_tokens(a.token_seed, a.vocab, plens, a.decode_steps)
    src = make_source(a, c)
    with tempfile.TemporaryDirectory() as td:
        calib = choose_skip_biases(a, src, c, seqs, td)
    os.makedirs(a.out, exist_ok=True)
    write_source(a.out, src, c)
    summary = {}
    for mode, bname, gname in (("affine", "bundle_affine", "golden_affine"), ("mxfp4", "bundle_mxfp4", "golden_mxfp4")):
        write_bundle(os.path.join(a.out, bname), convert(src, mode), c, mode)
        _, hcfg, model = build_hf(os.path.join(a.out, bname))
        summary[gname] = write_goldens(os.path.join(a.out, gname), bname, model, hcfg, seqs, a.token_seed,
                                       a.capture_seq, a.capture_step, a.partial_rotary)
    fixture = OrderedDict(
        [
            ("preset", a.preset),
            ("weight_seed", a.weight_seed),
            ("token_seed", a.token_seed),
            ("prompt_lengths", a.prompt_lengths),
            ("capture_seq", a.capture_seq),
            ("capture_step", a.capture_step),
            (
                "dims",
                OrderedDict(
                    [
                        ("hidden", a.hidden), ("original_layers", a.layers), ("hf_layers", a.layers // 2),
                        ("q_heads", a.q_heads), ("kv_heads", a.kv_heads), ("head_dim", a.head_dim),
                        ("conv_channels", (a.q_heads + a.kv_heads) * a.head_dim),
                        ("experts", a.experts), ("ffn_hidden_size", a.ffn), ("expert_intermediate", a.ffn // 2),
                        ("router_hidden", a.router_hidden), ("vocab", a.vocab), ("rope_theta", a.rope_theta),
                        ("partial_rotary_factor", a.partial_rotary),
                        ("rotary_dims", int(a.head_dim * a.partial_rotary)), ("norm_epsilon", a.eps),
                        ("decode_steps", a.decode_steps),
                    ]
                ),
            ),
            ("skip_bias_mode", a.skip_bias_mode),
            ("skip_fractions", a.skip_fractions if a.skip_bias_mode == "calibrated" else None),
            ("skip_calibration", {str(k): v for k, v in calib.items()}),
            (
                "skip_tokens_per_moe_layer",
                OrderedDict(
                    (f"{g}/{m}", [s["skip_tokens_per_moe_layer"] for s in st])
                    for g, d in summary.items() for m, st in d.items()
                ),
            ),
            (
                "min_router_margin",
                OrderedDict(
                    (f"{g}/{m}", min(s["min_router_margin"] for s in st)) for g, d in summary.items() for m, st in d.items()
                ),
            ),
            (
                "dirs",
                OrderedDict(
                    [
                        ("source", "original-naming bf16 source checkpoint (input of the jang converter)"),
                        ("bundle_affine", "bundle exactly as jang_tools.convert_zaya_mxfp4 writes it (published ZAYA1-8B-MXFP4 format: affine 4-bit g32, fp16 scales+biases, 8-bit embed)"),
                        ("bundle_mxfp4", "same tensors, 4-bit linears re-quantized as true OCP MXFP4 (E2M1 + E8M0 uint8 scales, no biases)"),
                        ("golden_affine", "HF float32 goldens on bundle_affine (golden = HF zero-skip semantics; golden_mod_passthrough = x*p_skip)"),
                        ("golden_mxfp4", "same on bundle_mxfp4"),
                    ]
                ),
            ),
            ("generator", "scripts/make_fixture.py " + " ".join(sys.argv[1:])),
            (
                "note",
                "Goldens: HF transformers ZayaForCausalLM in float32 (CPU) on the bundle's dequantized weights. Decode ids are random (numpy default_rng(token_seed), per sequence: prompt then decode ids, uniform in [3, vocab)), not greedy.",
            ),
        ]
    )
    with open(os.path.join(a.out, "fixture.json"), "w") as f:
        f.write(json.dumps(fixture, indent=1) + "\n")
    print(json.dumps(fixture["skip_tokens_per_moe_layer"], indent=1))
    print(json.dumps(fixture["min_router_margin"], indent=1))
    print(json.dumps(fixture["skip_calibration"], indent=1))


if __name__ == "__main__":
    main()
