"""Train a tiny tensor transformer (bilinear attention + bilinear MLPs) on a synthetic language.

The model follows the conventions of tensor_language's ``DeepModel`` with the spec
``["attn", "mlp", "attn", "mlp"]`` (two blocks), no norms:

    x_0   = embed[tokens]                                  embed.weight: (V, d)
    attn  : per head (width d_h = d / H), RoPE on q1, k1, q2, k2 (base 10000, tables in float32)
            p[q, k] = (q1_q · k1_k)(q2_q · k2_k) / d_h² · [k ≤ q]      (no softmax)
            out_q   = O concat_h(Σ_k p[q, k] V x_k)
            x ← x + λ (out − x)      ("lerp", λ = 0.5)
    mlp   : x ← x + D((L x) ⊙ (R x))                       ("add")
    logits = head.weight @ x

Keys: ``embed.weight``, ``layers.{i}.{q1,k1,q2,k2,v,o}.weight`` (d, d) for attention layers,
``layers.{i}.{L,R}.weight`` (h, d) and ``layers.{i}.D.weight`` (d, h) for MLP layers,
``head.weight`` (V, d). Torch's ``Linear`` convention: ``y = W x``.

The synthetic language (generated here from the seed; nothing is downloaded) has two tasks:

* **induction**: BOS, then a block r of n distinct filler tokens (n uniform in 5…15) repeated
  cyclically to the end. From the second copy on, the next token is the one that followed the
  current token last time. Scored at every position t ≥ n + 1.
* **skip-trigram**: BOS, filler tokens drawn with replacement, one key token K_i early on,
  then three query tokens Q_j later, each followed by the answer A_{(3i + 5j) mod 8}: the answer
  needs both the (distant) key and the (current) query. Scored at the query positions.

The loss is the cross-entropy at the scored positions only, with label smoothing 0.1 (it keeps
the logits bounded). Training is deterministic:
``torch.manual_seed``, ``torch.use_deterministic_algorithms(True)``, one thread, float32, and the
batches come from ``numpy.random.default_rng(seed)``. The run records the SHA-256 of the weights
after a short prefix of steps and at the end, so a retrain can be compared bit for bit.

Usage:
    python examples/train_tiny_lm.py                       # writes examples/tiny_lm/
    python examples/train_tiny_lm.py --prefix-only         # only the first --prefix-steps steps; prints their hash
    python examples/train_tiny_lm.py --analyse-only        # heads, accuracy, steering vector from the saved weights
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

# --- the synthetic language ----------------------------------------------------------------

BOS = 0
N_FILLER, N_KEY, N_QUERY, N_ANSWER = 24, 8, 4, 8
FILLER = np.arange(1, 1 + N_FILLER)
KEY = np.arange(FILLER[-1] + 1, FILLER[-1] + 1 + N_KEY)
QUERY = np.arange(KEY[-1] + 1, KEY[-1] + 1 + N_QUERY)
ANSWER = np.arange(QUERY[-1] + 1, QUERY[-1] + 1 + N_ANSWER)
VOCAB = int(ANSWER[-1] + 1)
N_CTX = 32


def answer_of(key_index: int, query_index: int) -> int:
    """The answer token after query Q_j when key K_i came earlier."""
    return int(ANSWER[(3 * key_index + 5 * query_index) % N_ANSWER])


def token_names() -> list[str]:
    return (["BOS"] + [f"f{i}" for i in range(N_FILLER)] + [f"K{i}" for i in range(N_KEY)]
            + [f"Q{j}" for j in range(N_QUERY)] + [f"A{a}" for a in range(N_ANSWER)])


def induction_sequence(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tokens (N_CTX,) and a mask of the positions whose next token is determined."""
    n = int(rng.integers(5, 16))
    r = rng.choice(FILLER, size=n, replace=False)
    tokens = np.empty(N_CTX, dtype=np.int64)
    tokens[0] = BOS
    tokens[1:] = r[np.arange(N_CTX - 1) % n]
    scored = np.zeros(N_CTX, dtype=bool)
    scored[n + 1 : N_CTX - 1] = True  # position t predicts tokens[t + 1]
    return tokens, scored


def skip_trigram_sequence(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    tokens = np.empty(N_CTX, dtype=np.int64)
    tokens[0] = BOS
    tokens[1:] = rng.choice(FILLER, size=N_CTX - 1)
    key_pos = int(rng.integers(1, 12))
    key = int(rng.integers(N_KEY))
    tokens[key_pos] = KEY[key]
    # three query/answer pairs at distinct, non-overlapping slots after the key
    slots = np.sort(rng.choice(np.arange((key_pos + 2) // 2, (N_CTX - 1) // 2), size=3, replace=False))
    scored = np.zeros(N_CTX, dtype=bool)
    for slot in slots:
        q = 2 * int(slot)
        j = int(rng.integers(N_QUERY))
        tokens[q] = QUERY[j]
        tokens[q + 1] = answer_of(key, j)
        scored[q] = True
    return tokens, scored


TASKS = {"induction": induction_sequence, "skip_trigram": skip_trigram_sequence}


def batch(rng: np.random.Generator, size: int, task: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokens (B, T), next-token targets (B, T) (−1 where unscored) and the task of each row."""
    kinds = np.array([task] * size) if task else np.where(rng.random(size) < 0.5, "induction", "skip_trigram")
    tokens = np.empty((size, N_CTX), dtype=np.int64)
    targets = np.full((size, N_CTX), -1, dtype=np.int64)
    for b, kind in enumerate(kinds):
        tok, scored = TASKS[str(kind)](rng)
        tokens[b] = tok
        nxt = np.roll(tok, -1)
        targets[b, scored] = nxt[scored]
    return tokens, targets, kinds


# --- the model (torch) ----------------------------------------------------------------------

D_MODEL, N_HEAD, D_HIDDEN = 64, 4, 128
SPEC = ("attn", "mlp", "attn", "mlp")
LERP = 0.5
ROPE_BASE = 10_000


def rope_tables(d_head: int, n_ctx: int):
    """cos and sin (n_ctx, d_head), computed in float32 as the research code does."""
    import torch

    freq = 1.0 / (ROPE_BASE ** (torch.arange(0, d_head, 2).float() / d_head))
    angles = torch.outer(torch.arange(n_ctx).float(), freq)
    return torch.cat([angles.cos(), angles.cos()], -1), torch.cat([angles.sin(), angles.sin()], -1)


def build_model(seed: int):
    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name in ("q1", "k1", "q2", "k2", "v", "o"):
                setattr(self, name, nn.Linear(D_MODEL, D_MODEL, bias=False))
            cos, sin = rope_tables(D_MODEL // N_HEAD, N_CTX)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)
            self.head_mask = None

        def heads(self, y):  # (B, T, d) -> (B, H, T, d_h)
            b, t, _ = y.shape
            return y.view(b, t, N_HEAD, D_MODEL // N_HEAD).transpose(1, 2)

        def rotate(self, y):
            t = y.shape[-2]
            a, b = y.chunk(2, -1)
            return y * self.cos[:t] + torch.cat([-b, a], -1) * self.sin[:t]

        def pattern(self, x):
            d_h, t = D_MODEL // N_HEAD, x.shape[-2]
            q1, k1, q2, k2 = (self.rotate(self.heads(getattr(self, n)(x))) for n in ("q1", "k1", "q2", "k2"))
            mask = torch.tril(torch.ones(t, t, dtype=x.dtype))
            p = (q1 @ k1.transpose(-1, -2)) * (q2 @ k2.transpose(-1, -2)) / d_h**2 * mask
            return p if self.head_mask is None else p * self.head_mask  # head_mask: ablations only

        def forward(self, x):
            z = self.pattern(x) @ self.heads(self.v(x))
            out = self.o(z.transpose(1, 2).reshape(x.shape))
            return x + LERP * (out - x)

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.L = nn.Linear(D_MODEL, D_HIDDEN, bias=False)
            self.R = nn.Linear(D_MODEL, D_HIDDEN, bias=False)
            self.D = nn.Linear(D_HIDDEN, D_MODEL, bias=False)

        def forward(self, x):
            return x + self.D(self.L(x) * self.R(x))

    class TinyLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D_MODEL)
            self.layers = nn.ModuleList(Attention() if kind == "attn" else MLP() for kind in SPEC)
            self.head = nn.Linear(D_MODEL, VOCAB, bias=False)

        def streams(self, tokens):
            """The stream entering each layer, and after the last one."""
            xs = [self.embed(tokens)]
            for layer in self.layers:
                xs.append(layer(xs[-1]))
            return xs

        def forward(self, tokens):
            return self.head(self.streams(tokens)[-1])

    torch.manual_seed(seed)
    model = TinyLM()
    with torch.no_grad():  # nn.Embedding starts at N(0, 1): scale it to the Linear layers' size
        model.embed.weight.mul_(0.5)
    return model


def weights_of(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().astype(np.float32, copy=True) for k, v in model.state_dict().items()}


def weights_hash(weights: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(weights):
        h.update(k.encode())
        h.update(np.ascontiguousarray(weights[k], dtype="<f4").tobytes())
    return h.hexdigest()


def deterministic() -> None:
    import torch

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def train(*, seed: int, steps: int, batch_size: int, lr: float, wd: float, smoothing: float,
          stop_after: int | None = None, log_every: int = 0):
    """Train from the seed; ``stop_after`` stops early on the same schedule (the prefix check)."""
    import torch

    deterministic()
    model = build_model(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=wd)
    rng = np.random.default_rng(seed)
    warmup = max(1, steps // 20)
    for step in range(steps if stop_after is None else min(stop_after, steps)):
        scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        tokens, targets, _ = batch(rng, batch_size)
        logits = model(torch.from_numpy(tokens))
        # label smoothing bounds the logits (a polynomial model otherwise grows them without end)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), torch.from_numpy(targets).reshape(-1),
                                                 ignore_index=-1, label_smoothing=smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:5d}  loss {loss.item():.4f}", flush=True)
    return model


# --- evaluation and analysis ------------------------------------------------------------------

def load_model(directory: Path):
    import torch
    from safetensors.numpy import load_file

    model = build_model(0)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(directory / "model.safetensors").items()})
    return model


def accuracy(model, *, seed: int, n: int = 2000) -> dict[str, float]:
    import torch

    out = {}
    for task in TASKS:
        tokens, targets, _ = batch(np.random.default_rng([seed, 1, len(task)]), n, task)
        with torch.no_grad():
            pred = model(torch.from_numpy(tokens)).argmax(-1).numpy()
        scored = targets >= 0
        out[task] = float((pred[scored] == targets[scored]).mean())
    return out


def head_report(model, *, seed: int, n: int = 500) -> dict[str, dict[str, list[float]]]:
    """What each attention head does, per layer (lists over heads).

    Bilinear patterns are signed and unnormalised, so a head is read by its **contributions**:
    ``|p[q, k]| · ‖O_h V_h x_k‖``, the size of what key k writes at query q, as a share of the
    row's total. Shares at scored rows: ``previous`` (k = q − 1), ``induction`` (every k right
    after an earlier occurrence of token q), ``key`` (the key token, skip-trigram prompts),
    ``self`` (k = q), ``bos`` (k = 0). ``ablated <task>``: the task's accuracy with the head's
    pattern set to zero.
    """
    import torch

    attn = [i for i, kind in enumerate(SPEC) if kind == "attn"]
    d_h = D_MODEL // N_HEAD
    report: dict[str, dict[str, list[float]]] = {f"layer {i}": {} for i in attn}
    for task in TASKS:
        tokens, targets, _ = batch(np.random.default_rng([seed, 2, len(task)]), n, task)
        with torch.no_grad():
            xs = model.streams(torch.from_numpy(tokens))
        for i in attn:
            layer = model.layers[i]
            with torch.no_grad():
                p = layer.pattern(xs[i]).abs().numpy()  # (B, H, T, T)
                v = layer.heads(layer.v(xs[i])).numpy()  # (B, H, T, d_h)
            o = layer.o.weight.detach().numpy().reshape(D_MODEL, N_HEAD, d_h)
            written = np.linalg.norm(np.einsum("dhe,bhke->bhkd", o, v), axis=-1)  # (B, H, T)
            c = p * written[:, :, None, :]
            share = c / np.maximum(c.sum(-1, keepdims=True), 1e-30)
            acc: dict[str, list[np.ndarray]] = {}
            for b in range(n):
                tok = tokens[b]
                rows = np.nonzero(targets[b] >= 0)[0]
                if task == "induction":
                    acc.setdefault("previous", []).append(share[b][:, rows, rows - 1])
                    after = [[k for k in range(1, q) if tok[k - 1] == tok[q]] for q in rows]
                    acc.setdefault("induction", []).append(np.stack([share[b][:, q, ks].sum(-1) for q, ks in zip(rows, after)], 1))
                else:
                    key_pos = int(np.nonzero(np.isin(tok, KEY))[0][0])
                    acc.setdefault("key", []).append(share[b][:, rows, key_pos])
                acc.setdefault(f"self ({task})", []).append(share[b][:, rows, rows])
                acc.setdefault(f"bos ({task})", []).append(share[b][:, rows, 0])
            for name, parts in acc.items():
                report[f"layer {i}"][name] = [round(float(x), 3) for x in np.concatenate(parts, axis=1).mean(axis=1)]
    for i in attn:
        layer = model.layers[i]
        for h in range(N_HEAD):
            mask = torch.ones(N_HEAD, 1, 1)
            mask[h] = 0
            layer.head_mask = mask
            for task, value in accuracy(model, seed=seed, n=n).items():
                report[f"layer {i}"].setdefault(f"ablated {task}", []).append(round(value, 3))
            layer.head_mask = None
    return report


def steering_vector(model, *, seed: int, layer: int, n: int = 1000) -> tuple[np.ndarray, dict]:
    """Mean difference of the stream entering ``layer`` at the key token's position: key K0
    minus key K1.

    Both contexts are skip-trigram prompts that end on query Q0 and differ only in the key.
    Added at the key's position, the vector should move the answer at the query from
    A_{3·1+5·0} = A3 to A_{0}: the second attention layer reads the key there.
    """
    import torch

    rng = np.random.default_rng([seed, 3])
    means = []
    for key in (0, 1):
        rows = []
        for _ in range(n):
            tok, scored = skip_trigram_sequence(rng)
            q = int(np.nonzero(scored)[0][0])
            tok = tok[: q + 1].copy()
            at = int(np.nonzero(np.isin(tok, KEY))[0][0])
            tok[at] = KEY[key]
            tok[q] = QUERY[0]
            with torch.no_grad():
                rows.append(model.streams(torch.from_numpy(tok[None]))[layer][0, at].numpy().astype(np.float64))
        means.append(np.mean(rows, axis=0))
    s = (means[0] - means[1]).astype(np.float32)
    info = {"layer": layer, "position": "the key token's", "contexts": ["key K0", "key K1"], "query": "Q0",
            "samples": n, "targets": {"K0": token_names()[answer_of(0, 0)], "K1": token_names()[answer_of(1, 0)]}}
    return s, info


REFERENCE_PROMPTS = {
    "induction": [BOS, 3, 9, 14, 1, 20, 7, 3, 9, 14, 1, 20, 7, 3, 9],
    "skip_trigram": [BOS, 5, int(KEY[2]), 11, 4, 17, 8, 2, int(QUERY[1]), answer_of(2, 1), 6, 13, int(QUERY[3])],
    "mixed": [BOS, int(KEY[0]), 4, 8, 12, 4, 8, int(QUERY[0])],
}


def reference_outputs(model) -> list[dict]:
    """Logits at every position for a few prompts: ``logits`` from the same module in float64
    (the float32 weights and RoPE tables, cast exactly), for a gate at float64 precision, and
    ``logits_float32`` as the training code computes them."""
    import copy

    import torch

    wide = copy.deepcopy(model).double()
    out = []
    for name, prompt in REFERENCE_PROMPTS.items():
        with torch.no_grad():
            logits = wide(torch.tensor([prompt]))[0].numpy()
            narrow = model(torch.tensor([prompt]))[0].numpy()
        out.append({"name": name, "tokens": prompt, "logits": [[float(v) for v in row] for row in logits],
                    "logits_float32": [[float(v) for v in row] for row in narrow]})
    return out


def config_dict(args, *, prefix_hash: str, final_hash: str, seconds: float, acc: dict) -> dict:
    import torch

    return {
        "architecture": "tensor_language DeepModel",
        "spec": list(SPEC),
        "d_model": D_MODEL, "n_head": N_HEAD, "d_head": D_MODEL // N_HEAD, "d_hidden": D_HIDDEN,
        "n_ctx": N_CTX, "vocab_size": VOCAB, "tokens": token_names(),
        "attention": "bilinear", "pattern": "(q1.k1)(q2.k2)/d_head^2, causal, no softmax",
        "residual": "lerp", "mlp_residual": "add", "scale": LERP, "norm": False, "bias": False,
        "rope_base": ROPE_BASE,
        "rope": {"base": ROPE_BASE, "applied_to": ["q1", "k1", "q2", "k2"], "tables": "float32",
                 "rotate_half": "[a, b] -> [-b, a]", "heads": "(n_head d_head), head-major"},
        "dtype": "float32",
        "training": {"seed": args.seed, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                     "weight_decay": args.wd, "label_smoothing": args.smoothing, "optimizer": "AdamW(0.9, 0.98), warmup 5%, cosine, clip 1.0",
                     "torch": torch.__version__, "seconds": round(seconds, 1), "threads": 1,
                     "prefix_steps": args.prefix_steps, "prefix_sha256": prefix_hash, "sha256": final_hash},
        "accuracy": acc,
        "answer_rule": "Q_j after K_i -> A_{(3i + 5j) mod 8}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "tiny_lm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--wd", type=float, default=0.01)
    parser.add_argument("--smoothing", type=float, default=0.1)
    parser.add_argument("--prefix-steps", type=int, default=20)
    parser.add_argument("--prefix-only", action="store_true")
    parser.add_argument("--analyse-only", action="store_true")
    args = parser.parse_args()

    if args.prefix_only:
        model = train(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr, wd=args.wd, smoothing=args.smoothing,
                      stop_after=args.prefix_steps)
        print(weights_hash(weights_of(model)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.analyse_only:
        from safetensors.numpy import save_file

        prefix = train(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr, wd=args.wd, smoothing=args.smoothing,
                       stop_after=args.prefix_steps)
        prefix_hash = weights_hash(weights_of(prefix))
        start = time.process_time()
        wall = time.perf_counter()
        model = train(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr, wd=args.wd, smoothing=args.smoothing,
                      log_every=250)
        seconds = time.process_time() - start
        print(f"trained in {seconds:.1f} s CPU ({time.perf_counter() - wall:.1f} s wall)")
        weights = weights_of(model)
        save_file(weights, str(args.out / "model.safetensors"))
        cfg = config_dict(args, prefix_hash=prefix_hash, final_hash=weights_hash(weights), seconds=seconds,
                          acc=accuracy(model, seed=args.seed + 1))
        cfg["reference"] = reference_outputs(model)
        (args.out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    model = load_model(args.out)
    cfg = json.loads((args.out / "config.json").read_text())
    cfg["reference"] = reference_outputs(model)
    (args.out / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    print("accuracy", json.dumps(cfg["accuracy"]))
    heads = head_report(model, seed=args.seed + 1)
    for layer_name, rows in heads.items():
        for name, values in rows.items():
            print(f"{layer_name} {name:>22}: " + " ".join(f"{v:.2f}" for v in values))
    (args.out / "heads.json").write_text(json.dumps(heads, indent=1) + "\n")
    layer = SPEC.index("attn", 1)  # the stream entering the second attention layer
    s, info = steering_vector(model, seed=args.seed + 1, layer=layer)
    np.save(args.out / "steer_K0_minus_K1.npy", s)
    (args.out / "steer_K0_minus_K1.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"steering vector: layer {layer}, |s| = {np.linalg.norm(s):.3f}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
