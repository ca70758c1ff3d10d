#!/usr/bin/env python3
"""Independent, literal implementation of shared/spec/ZAYA.md §2 (original naming, no HF code),
run without cache on every golden sequence of a fixture and compared with its goldens.

    python scripts/spec_reference.py tests/fixtures/zaya-tiny-a [more fixture dirs]

It checks that the spec (as written) and HF transformers' ZayaForCausalLM agree, for both skip
semantics and both bundles.  Prints max |spec - golden| of full_logits and router_choice mismatches.
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixture import load_bundle  # noqa: E402


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def forward(cfg, W, ids, skip_mode):
    t = lambda k: torch.from_numpy(W[k])
    H, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    nq = cfg.get("cca_num_q_heads", cfg["num_attention_heads"])
    nkv, hd, E = cfg["num_key_value_heads"], cfg["head_dim"], cfg["num_experts"]
    eps = cfg["norm_epsilon"]
    rot = int(hd * cfg["partial_rotary_factor"])
    theta = float(cfg["rope_theta"])
    T = len(ids)
    emb = t("model.embed_tokens.weight")
    h = emb[torch.tensor(ids)]
    r = None
    rh_prev = None
    choices = []
    pos = torch.arange(T, dtype=torch.float32)
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float32) / rot))
    fr = pos[:, None] * inv[None]
    cos, sin = torch.cat([fr, fr], -1).cos(), torch.cat([fr, fr], -1).sin()

    def merge(prefix, h, r):
        hp = (h + t(prefix + "hidden_states_bias")) * t(prefix + "hidden_states_scale")
        if r is None:
            return hp
        return (r + t(prefix + "residual_bias")) * t(prefix + "residual_scale") + hp

    def rope(x):  # [T, heads, hd]
        xr, xp = x[..., :rot], x[..., rot:]
        c, s = cos[:, None], sin[:, None]
        rh = torch.cat([-xr[..., rot // 2:], xr[..., : rot // 2]], -1)
        return torch.cat([xr * c + rh * s, xp], -1)

    for n in range(L):
        p = f"model.layers.{n}."
        r = merge(p + "res_scale.", h, r)
        x = rms(r, t(p + "input_norm.weight"), eps)
        if n % 2 == 0:
            a = p + "self_attn.qkv."
            q0 = x @ t(a + "linear_q.weight").T
            k0 = x @ t(a + "linear_k.weight").T
            P = torch.cat([q0, k0], -1)  # [T, C]
            C = P.shape[1]
            Pp = torch.cat([torch.zeros(2, C), P], 0)  # conv state starts as zeros
            w0, b0 = t(a + "conv_qk.0.weight")[:, 0, :], t(a + "conv_qk.0.bias")  # [C,2]
            y1 = w0[:, 0] * Pp[:-1] + w0[:, 1] * Pp[1:] + b0  # [T+1, C]
            w1, b1 = t(a + "conv_qk.1.weight"), t(a + "conv_qk.1.bias")  # [C, hd, 2]
            G = nq + nkv
            y1g = y1.view(T + 1, G, hd)
            w1g = w1.view(G, hd, hd, 2)  # [group, out, in, time]
            y2 = torch.einsum("goi,tgi->tgo", w1g[..., 0], y1g[:-1]) + torch.einsum("goi,tgi->tgo", w1g[..., 1], y1g[1:])
            y2 = y2.reshape(T, C) + b1
            g = nq // nkv
            q0h, k0h = q0.view(T, nq, hd), k0.view(T, nkv, hd)
            qm = (q0h + k0h.repeat_interleave(g, dim=1)) / 2
            km = qm.view(T, nkv, g, hd).mean(2)
            q = y2[:, : nq * hd].view(T, nq, hd) + qm
            k = y2[:, nq * hd:].view(T, nkv, hd) + km
            e32 = torch.finfo(torch.float32).eps
            q = q * math.sqrt(hd) / q.norm(dim=-1, keepdim=True).clamp_min(e32)
            k = k * math.sqrt(hd) / k.norm(dim=-1, keepdim=True).clamp_min(e32) * t(a + "temp")[None, :, None]
            xprev = torch.cat([torch.zeros(1, H), x[:-1]], 0)
            v = torch.cat([x @ t(a + "val_proj1.weight").T, xprev @ t(a + "val_proj2.weight").T], -1).view(T, nkv, hd)
            q, k = rope(q), rope(k)
            kk, vv = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
            s = torch.einsum("thd,shd->hts", q, kk) * hd**-0.5
            s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1)[None], float("-inf"))
            o = torch.einsum("hts,shd->thd", s.softmax(-1), vv).reshape(T, nq * hd)
            h = o @ t(p + "self_attn.o_proj.weight").T
        else:
            z = p + "zaya_block."
            rt = z + "router."
            rh = x @ t(rt + "down_proj.weight").T + t(rt + "down_proj.bias")
            if rh_prev is not None:
                rh = rh + rh_prev * t(rt + "router_states_scale")
            rh_prev = rh
            u = rms(rh, t(rt + "rmsnorm_eda.weight"), eps)
            u = F.gelu(u @ t(rt + "router_mlp.0.weight").T + t(rt + "router_mlp.0.bias"))
            u = F.gelu(u @ t(rt + "router_mlp.2.weight").T + t(rt + "router_mlp.2.bias"))
            pr = (u @ t(rt + "router_mlp.4.weight").T).softmax(-1)
            c = (pr + t(rt + "balancing_biases")).argmax(-1)
            choices.append(c)
            sm = z + "experts.switch_mlp."
            gw, uw, dw = t(sm + "gate_proj.weight"), t(sm + "up_proj.weight"), t(sm + "down_proj.weight")
            y = torch.zeros(T, H)
            for i in range(T):
                ci = int(c[i])
                if ci < E:
                    y[i] = pr[i, ci] * (dw[ci] @ (F.silu(gw[ci] @ x[i]) * (uw[ci] @ x[i])))
                elif skip_mode == "passthrough":
                    y[i] = x[i] * pr[i, E]
            h = y
    r = merge("model.res_scale.", h, r)
    xf = rms(r, t("model.final_norm.weight"), eps)
    return xf @ emb.T, torch.stack(choices).to(torch.int32)


def main():
    from safetensors.torch import load_file

    torch.set_num_threads(2)
    for fx in sys.argv[1:]:
        for b, g in (("bundle_affine", "golden_affine"), ("bundle_mxfp4", "golden_mxfp4")):
            cfg, W = load_bundle(os.path.join(fx, b))
            for mode, fn in (("zero", "golden.safetensors"), ("passthrough", "golden_mod_passthrough.safetensors")):
                ref = load_file(os.path.join(fx, g, fn))
                worst, bad, n = 0.0, 0, 0
                s = 0
                while f"seq{s}.prompt_ids" in ref:
                    ids = ref[f"seq{s}.prompt_ids"].tolist() + ref[f"seq{s}.decode_ids"].tolist()
                    with torch.no_grad():
                        lg, ch = forward(cfg, W, ids, mode)
                    worst = max(worst, float((lg - ref[f"seq{s}.full_logits"]).abs().max()))
                    bad += int((ch != ref[f"seq{s}.router_choice"]).sum())
                    n += ch.numel()
                    s += 1
                print(f"{fx} {g}/{fn}: spec-vs-golden full_logits max_abs_diff {worst:.3g}; router_choice mismatches {bad}/{n}")


if __name__ == "__main__":
    main()
