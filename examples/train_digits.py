"""Train a small bilinear residual network on the 8x8 sklearn digits (pure numpy).

Model (the symsteer weight-file convention):

    x_0     = E @ x_in                                   E: (d, 64), x_in = pixels / 16
    x_{l+1} = x_l + P_l @ ((W_l @ x_l) * (V_l @ x_l))     W_l, V_l: (h, d), P_l: (d, h)
    logits  = U @ x_L                                    U: (10, d)

No biases anywhere.  Loss: mean softmax cross-entropy + (wd / 2) * sum of squared weights.
Gradients are derived by hand; ``--gradcheck`` verifies them with central finite
differences.  Optimiser: full-batch Adam.  Deterministic for a given seed.

Output: ``np.savez_compressed`` with keys ``embed``, ``unembed``, ``layers.{l}.W``,
``layers.{l}.V``, ``layers.{l}.P`` (float64) and a 0-d ``residual`` = True.

Usage:
    python examples/train_digits.py                 # writes examples/digits.npz
    python examples/train_digits.py --gradcheck     # also checks the gradients
    python examples/train_digits.py --examples-only # only the example vectors, from digits.npz

Besides the weights it writes the example vectors (see ``write_examples``).
"""

import argparse
import os
import time

# The matrices are small (1347 x 64 at most): one BLAS thread is fastest, and several threads
# on a loaded machine compete (measured on 2 shared cores: 24-40 s with the default threads,
# 4-5 s with one). Set before numpy loads BLAS; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

D_MODEL = 24
D_HIDDEN = 24
N_LAYERS = 1
N_IN = 64
N_CLASSES = 10


def load_data():
    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0)


def init_params(rng, d=D_MODEL, h=D_HIDDEN, n_layers=N_LAYERS):
    params = {
        "embed": rng.normal(0.0, 1.0 / np.sqrt(N_IN), size=(d, N_IN)) * 2.0,
        "unembed": rng.normal(0.0, 1.0 / np.sqrt(d), size=(N_CLASSES, d)),
    }
    for l in range(n_layers):
        params[f"layers.{l}.W"] = rng.normal(0.0, 1.0 / np.sqrt(d), size=(h, d))
        params[f"layers.{l}.V"] = rng.normal(0.0, 1.0 / np.sqrt(d), size=(h, d))
        params[f"layers.{l}.P"] = rng.normal(0.0, 1.0 / np.sqrt(h), size=(d, h)) * 0.5
    return params


def n_layers_of(params):
    return sum(1 for k in params if k.endswith(".W"))


def forward(params, x_in):
    """Batch forward pass. x_in: (N, 64). Returns logits (N, 10) and a cache."""
    x = x_in @ params["embed"].T
    cache = [x_in]
    for l in range(n_layers_of(params)):
        W, V, P = (params[f"layers.{l}.{k}"] for k in "WVP")
        a = x @ W.T
        b = x @ V.T
        g = a * b
        cache.append((x, a, b, g))
        x = x + g @ P.T
    cache.append(x)
    return x @ params["unembed"].T, cache


def loss_and_grads(params, x_in, y, wd):
    logits, cache = forward(params, x_in)
    n = x_in.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(n), y].mean()
    loss += 0.5 * wd * sum(np.sum(p * p) for p in params.values())

    grads = {}
    dlogits = np.exp(logp)
    dlogits[np.arange(n), y] -= 1.0
    dlogits /= n
    x_final = cache[-1]
    grads["unembed"] = dlogits.T @ x_final
    dx = dlogits @ params["unembed"]
    for l in reversed(range(n_layers_of(params))):
        W, V, P = (params[f"layers.{l}.{k}"] for k in "WVP")
        x, a, b, g = cache[1 + l]
        grads[f"layers.{l}.P"] = dx.T @ g
        dg = dx @ P
        da = dg * b
        db = dg * a
        grads[f"layers.{l}.W"] = da.T @ x
        grads[f"layers.{l}.V"] = db.T @ x
        dx = dx + da @ W + db @ V  # residual path + both bilinear factors
    grads["embed"] = dx.T @ cache[0]
    for k in grads:
        grads[k] = grads[k] + wd * params[k]
    return loss, grads


def accuracy(params, x_in, y):
    logits, _ = forward(params, x_in)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def gradcheck(x_in, y, seed, wd, n_layers_list=(1, 2), eps=1e-4, n_samples=40):
    """Central finite differences on random entries of every parameter array.

    eps = 1e-4 keeps round-off small relative to the (often ~1e-6) gradient entries;
    the truncation error of the central difference is O(eps^2).
    """
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n_layers in n_layers_list:
        params = init_params(rng, n_layers=n_layers)
        xs, ys = x_in[:32], y[:32]
        _, grads = loss_and_grads(params, xs, ys, wd)
        for name, p in params.items():
            flat = p.reshape(-1)
            gflat = grads[name].reshape(-1)
            idx = rng.choice(flat.size, size=min(n_samples, flat.size), replace=False)
            for i in idx:
                old = flat[i]
                flat[i] = old + eps
                lp, _ = loss_and_grads(params, xs, ys, wd)
                flat[i] = old - eps
                lm, _ = loss_and_grads(params, xs, ys, wd)
                flat[i] = old
                num = (lp - lm) / (2 * eps)
                rel = abs(num - gflat[i]) / max(abs(num) + abs(gflat[i]), 1e-8)
                worst = max(worst, rel)
        print(f"gradcheck L={n_layers}: running max relative error {worst:.3e}")
    return worst


def train(params, x_tr, y_tr, epochs, lr, wd, verbose=True):
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, epochs + 1):
        # cosine learning-rate decay, full batch
        lr_t = lr * 0.5 * (1.0 + np.cos(np.pi * (t - 1) / epochs))
        loss, grads = loss_and_grads(params, x_tr, y_tr, wd)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * grads[k]
            v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
            mhat = m[k] / (1 - b1 ** t)
            vhat = v[k] / (1 - b2 ** t)
            params[k] -= lr_t * mhat / (np.sqrt(vhat) + eps)
        if verbose and (t % max(1, epochs // 10) == 0 or t == 1):
            print(f"epoch {t:5d}  loss {loss:.4f}  train acc {accuracy(params, x_tr, y_tr):.4f}")
    return params


def write_examples(weights, x_tr, y_tr, x_te, y_te, here, n_inputs=20):
    """The steering vector and inputs the README, the tests and the notebook use.

    s_3_minus_8.npy: s = mean(x_0 | "3") - mean(x_0 | "8") over the training set, x_0 = E x_in
    (the stream entering layer 0); test_inputs.npy / test_labels.npy: the first test images;
    threes.npy / eights.npy: the first ten test images of a "3" and of an "8", network inputs
    for ``symsteer steer --model digits.npz --h threes.npy --q eights.npy``.
    """
    E = weights["embed"]
    x0 = x_tr @ E.T
    s = x0[y_tr == 3].mean(axis=0) - x0[y_tr == 8].mean(axis=0)
    files = {
        "s_3_minus_8.npy": s,
        "test_inputs.npy": x_te[:n_inputs],
        "test_labels.npy": y_te[:n_inputs].astype(np.int64),
        "threes.npy": x_te[y_te == 3][:10],
        "eights.npy": x_te[y_te == 8][:10],
    }
    for name, arr in files.items():
        np.save(os.path.join(here, name), arr, allow_pickle=False)
        print(f"wrote {os.path.join(here, name)} {arr.shape}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "digits.npz"))
    ap.add_argument("--epochs", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--gradcheck", action="store_true",
                    help="check hand-written gradients by finite differences first")
    ap.add_argument("--examples-only", action="store_true",
                    help="do not train: write the example vectors from the weights in --out")
    args = ap.parse_args()

    x_tr, x_te, y_tr, y_te = load_data()
    if args.examples_only:
        with np.load(args.out, allow_pickle=False) as data:
            weights = {k: data[k] for k in data.files}
        write_examples(weights, x_tr, y_tr, x_te, y_te, os.path.dirname(os.path.abspath(args.out)))
        return

    if args.gradcheck:
        worst = gradcheck(x_tr, y_tr, args.seed, args.wd)
        print(f"gradcheck max relative error: {worst:.3e}")
        if worst > 1e-5:
            raise SystemExit("gradcheck FAILED")

    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    params = init_params(rng)
    n_params = sum(p.size for p in params.values())
    print(f"d={D_MODEL} h={D_HIDDEN} L={N_LAYERS} parameters={n_params}")
    params = train(params, x_tr, y_tr, args.epochs, args.lr, args.wd)
    print(f"training time {time.time() - t0:.1f}s")

    print(f"train accuracy {accuracy(params, x_tr, y_tr):.4f}")
    print(f"test accuracy  {accuracy(params, x_te, y_te):.4f}")

    out = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in params.items()}
    out["residual"] = np.bool_(True)
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    write_examples(out, x_tr, y_tr, x_te, y_te, os.path.dirname(os.path.abspath(args.out)))


if __name__ == "__main__":
    main()
