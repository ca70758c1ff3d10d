#!/usr/bin/env python3
"""Golden logits for a fixture's unquantized original-naming checkpoint (`source/`).

The fixture goldens are computed on the *quantized* bundles' weights; the bf16 source differs
from them by the quantization error, which in tiny random models flips routing. This writes
`golden_source/golden.safetensors` with logits computed on the source weights themselves by
`spec_reference.forward` (the literal ZAYA.md implementation, which agrees with HF
ZayaForCausalLM to 2.4e-5 on every fixture), for the fixture's first golden sequence:

    scripts/.venv/bin/python scripts/source_golden.py tests/fixtures/zaya-tiny-a [...]
"""

import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixture import load_torch  # noqa: E402
from spec_reference import forward  # noqa: E402


def source_weights(fx):
    """Original-naming f32 weights with `local_experts` stacked as `switch_mlp`."""
    cfg = json.load(open(os.path.join(fx, "source", "config.json")))
    raw = load_torch(os.path.join(fx, "source", "model-00001-of-00001.safetensors"))
    W = {k: v.float().numpy() for k, v in raw.items()}
    E, I = cfg["num_experts"], cfg["ffn_hidden_size"] // 2
    for layer in range(1, cfg["num_hidden_layers"], 2):
        p = f"model.layers.{layer}.zaya_block.experts."
        fc1 = [W.pop(f"{p}local_experts.{e}.linear_fc1.weight") for e in range(E)]
        fc2 = [W.pop(f"{p}local_experts.{e}.linear_fc2.weight") for e in range(E)]
        W[p + "switch_mlp.gate_proj.weight"] = np.stack([f[:I] for f in fc1])
        W[p + "switch_mlp.up_proj.weight"] = np.stack([f[I:] for f in fc1])
        W[p + "switch_mlp.down_proj.weight"] = np.stack(fc2)
    return cfg, W


def main():
    for fx in sys.argv[1:]:
        cfg, W = source_weights(fx)
        golden = load_file(os.path.join(fx, "golden_affine", "golden.safetensors"))
        ids = np.concatenate([golden["seq0.prompt_ids"], golden["seq0.decode_ids"]])
        logits, choices = forward(cfg, W, [int(t) for t in ids], "zero")
        out = os.path.join(fx, "golden_source")
        os.makedirs(out, exist_ok=True)
        save_file(
            {
                "token_ids": ids.astype(np.int64),
                "logits": logits.numpy().astype(np.float32),
                "router_choice": choices.numpy().astype(np.int32),
            },
            os.path.join(out, "golden.safetensors"),
        )
        print(f"{fx}: {len(ids)} tokens -> {out}/golden.safetensors")


if __name__ == "__main__":
    main()
