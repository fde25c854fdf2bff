"""symsteer against the baselines, measured in the same run; prints markdown tables.

    python benchmarks/run.py              # full sizes: several minutes, baselines capped
    python benchmarks/run.py --quick      # small sizes, asserts agreement (CI; a few seconds)

Every (case, method) runs in its own subprocess, so its peak memory is its own (ru_maxrss)
and a baseline over the time limit (``--timeout``) or the memory limit (``--memory-limit``)
is stopped and reported as "> N s" or "out of memory". Exit code 1 when any result
disagrees with another method's: exact results must be identical, float64 results within
``symsteer.RTOL`` of the references in ``--quick``. Time never fails the run: the
targets table reports each figure and whether it met its goal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks import baselines as bl
from benchmarks.cases import BASELINES, CASES, FULL, QUICK, Case, measure

ROOT = Path(__file__).resolve().parents[1]
Results = dict[tuple[str, str], dict[str, Any]]

METHOD_NAMES = {
    "symsteer": "symsteer",
    "symsteer-coefficients": "symsteer `coefficients(…, PolyRing)` (total only)",
    "sympy": "(a) sympy by hand",
    "symengine": "(b) symengine by hand",
    "vandermonde": "(c) D+1 forward passes + Vandermonde solve",
    "reference": "long-double propagation (reference)",
    "check": "float64 / long double / (c) against exact rationals",
}


# -- running one (case, method) in a subprocess ---------------------------------------------


def run_one(case: Case, method: str, *, timeout: float, memory_gb: float, out_dir: Path) -> dict[str, Any]:
    """Measure in a child process; ``status`` is ok, timeout, oom or error."""
    limit = timeout if method in (*BASELINES, "vandermonde") else 5 * timeout
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case.key, method, "--out", str(out_dir),
           "--memory-limit", str(memory_gb)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "limit": limit}
    wall = time.perf_counter() - start
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return {"status": "ok", "wall": wall, **json.loads(line[len("RESULT "):])}
    err = proc.stderr.strip().splitlines()
    # an address-space cap shows up as Python's MemoryError, C++'s bad_alloc, or a C library
    # aborting ("cannot allocate memory for thread-local data" from glibc under symengine)
    if any(m in proc.stderr for m in ("MemoryError", "bad_alloc", "cannot allocate memory")) or proc.returncode in (-6, -9):
        return {"status": "oom", "limit_gb": memory_gb}
    return {"status": "error", "message": err[-1] if err else f"exit code {proc.returncode}"}


def worker(key: str, method: str, out_dir: Path, memory_gb: float) -> int:
    """The child side: cap the address space, measure, print one RESULT line."""
    if memory_gb > 0:
        cap = int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    result = measure(CASES[key], method, out_dir)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def run_cases(cases: tuple[Case, ...], *, timeout: float, memory_gb: float, out_dir: Path) -> Results:
    results: Results = {}
    over: set[tuple[str, str]] = set()  # (family, method) that already exceeded a limit
    for case in cases:
        for method in case.methods:
            if case.family and (case.family, method) in over:
                res = {"status": "skipped", "limit": timeout}
            elif case.kind == "float" and method == "vandermonde":  # timed in turns with symsteer's
                res = results.get((case.key, "symsteer"), {}).pop("rival", None) or {"status": "error", "message": "not measured"}
            else:
                res = run_one(case, method, timeout=timeout, memory_gb=memory_gb, out_dir=out_dir)
            if res["status"] in ("timeout", "oom", "skipped") and case.family:
                over.add((case.family, method))
            results[(case.key, method)] = res
            print(f"  {case.key:<18} {method:<22} {_time_text(res)}", file=sys.stderr, flush=True)
    return results


# -- comparing results ------------------------------------------------------------------------


def compare(cases: tuple[Case, ...], results: Results, out_dir: Path) -> list[str]:
    """Fill in agreement and float errors; return the disagreements found."""
    problems = []
    for case in cases:
        base = case.base or case.key
        if case.kind in ("concrete", "symbolic-x", "symbolic-w"):
            ours = results.get((case.key, "symsteer"), {})
            mine = (ours.get("digests") or {}).get(str(case.top))
            others = [(base, m) for m in (*BASELINES, "symsteer")] + [(case.key, "symsteer-coefficients")]
            for key in others:
                if key == (case.key, "symsteer") or key not in results:
                    continue
                other = results[key]
                theirs = (other.get("digests") or {}).get(str(case.top))
                if mine is None or theirs is None:
                    continue
                same = mine == theirs
                if key[0] == case.key:  # a truncated case leaves its base case's rows alone
                    results[key]["identical"] = same
                if same:
                    ours.setdefault("identical_to", []).append(_short(key[1]) + ("" if key[0] == case.key else f" of {key[0]}"))
                else:
                    problems.append(f"{case.key}: symsteer's coefficients differ from {key[1]} on {key[0]}")
        if case.kind == "float":
            ref_file = out_dir / f"{base}-reference.npy"
            if not ref_file.exists():
                continue
            reference = np.load(ref_file, allow_pickle=False)
            for method in ("symsteer", "vandermonde"):
                path = out_dir / f"{case.key}-{method}.npy"
                if path.exists():
                    values = np.load(path, allow_pickle=False)
                    errors = bl.coefficient_errors(values, reference[: len(values)])
                    results[(case.key, method)]["error"] = float(errors.max())
                    results[(case.key, method)]["median_error"] = float(np.median(errors))
    for (key, method), res in results.items():
        if res["status"] == "error":
            problems.append(f"{key} {method}: {res['message']}")
    return problems


def _short(method: str) -> str:
    return {"sympy": "(a)", "symengine": "(b)", "symsteer": "symsteer (full order)",
            "symsteer-coefficients": "coefficients()"}.get(method, method)


def quick_checks(cases: tuple[Case, ...], results: Results) -> list[str]:
    """--quick asserts more: every method finished, every exact result was compared and is
    identical, float64 within RTOL of the long-double and exact references."""
    from symsteer._check import RTOL

    problems = []
    for case in cases:
        for method in case.methods:
            res = results.get((case.key, method), {})
            if res.get("status") != "ok":
                problems.append(f"{case.key} {method}: {res.get('status')} (every quick case must finish)")
                continue
            if case.kind in ("concrete", "symbolic-x", "symbolic-w") and method != "vandermonde":
                if method == "symsteer" and not res.get("identical_to"):
                    problems.append(f"{case.key}: symsteer was not compared with any baseline")
                if method != "symsteer" and res.get("identical") is not True:
                    problems.append(f"{case.key} {method}: not identical to symsteer")
            if case.kind == "float" and method == "symsteer" and not res.get("error", np.inf) <= RTOL:
                problems.append(f"{case.key}: float64 error {res.get('error')} vs long double exceeds RTOL={RTOL}")
            if case.kind == "float-exact":
                for what in ("float_error", "longdouble_error"):
                    if not res[what] <= RTOL:
                        problems.append(f"{case.key}: {what} {res[what]:.2e} vs exact exceeds RTOL={RTOL}")
    return problems


# -- the command line's own timings ------------------------------------------------------------


def cli_timings(*, quick: bool, timeout: float) -> dict[str, dict[str, Any]]:
    """``symsteer --help`` (best of 5) and ``symsteer verify`` (once; not in --quick)."""
    # this checkout's code with this Python, not whatever `symsteer` is first on PATH
    base = [sys.executable, "-m", "symsteer"]
    out: dict[str, dict[str, Any]] = {}
    times = []
    for _ in range(5):
        start = time.perf_counter()
        proc = subprocess.run([*base, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
        times.append(time.perf_counter() - start)
    out["help"] = {"status": "ok" if proc.returncode == 0 else "error", "seconds": min(times), "exit": proc.returncode}
    if quick:
        out["verify"] = {"status": "not run in --quick"}
        return out
    start = time.perf_counter()
    try:
        proc = subprocess.run([*base, "verify"], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        out["verify"] = {"status": "timeout", "limit": timeout}
        return out
    seconds = time.perf_counter() - start
    if proc.returncode == 2 and "No such command" in proc.stderr:
        out["verify"] = {"status": "pending: `symsteer verify` does not exist yet"}
    else:
        out["verify"] = {"status": "ok", "seconds": seconds, "exit": proc.returncode,
                         "summary": (proc.stdout.strip().splitlines() or [""])[-1][:120]}
    return out


# -- the tables -----------------------------------------------------------------------------------


def environment() -> list[str]:
    import flint
    import sympy
    from sympy.external.gmpy import GROUND_TYPES

    try:
        import symengine

        se_version = symengine.__version__
    except ImportError:
        se_version = "not installed"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_text = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - older numpy: the BLAS name is only informative
        blas_text = "unknown"
    cpu = "unknown"
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"- machine: {cpu}, {cores} CPU(s) available ({os.cpu_count()} in total), {platform.system()} {platform.machine()}",
        f"- Python {platform.python_version()}, numpy {np.__version__} ({blas_text}), python-flint {flint.__version__}, "
        f"sympy {sympy.__version__} (ground types: {GROUND_TYPES}; SYMPY_GROUND_TYPES="
        f"{os.environ.get('SYMPY_GROUND_TYPES', 'unset')}), symengine {se_version}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
    ]


def _fmt_seconds(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:.3g} µs"
    if t < 1:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def _time_text(res: dict[str, Any]) -> str:
    status = res.get("status")
    if status == "ok" and "seconds" in res:
        return _fmt_seconds(res["seconds"])
    if status == "timeout":
        return f"> {res['limit']:.0f} s"
    if status == "skipped":
        return f"> {res['limit']:.0f} s (not run: over the limit at a smaller size)"
    if status == "oom":
        return f"out of memory (> {res['limit_gb']:g} GB)"
    if status == "error":
        return f"error: {res['message']}"
    return str(status)


def _memory(res: dict[str, Any]) -> str:
    """Peak RSS of the case's process; for the float64 contenders (timed in one process)
    the memory numpy allocates during the call, traced."""
    if "traced_mb" in res:
        return f"+{res['traced_mb']:.3g} MB traced"
    mb = res.get("peak_mb")
    if mb is None:
        return "—"
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def _ratio(res: dict[str, Any], ref: dict[str, Any] | None) -> str:
    if not ref or ref.get("status") != "ok":
        return "—"
    base = ref["seconds"]
    if res.get("status") == "ok":
        r = res["seconds"] / base
        return f"{r:,.0f}×" if r >= 10 else f"{r:.2g}×"
    if res.get("status") in ("timeout", "skipped"):
        return f"> {res['limit'] / base:,.0f}×"
    return "—"


def _result_text(case: Case, method: str, res: dict[str, Any]) -> str:
    if res.get("status") != "ok":
        return ""
    if case.kind == "float-exact":
        return (f"largest per-coefficient error vs exact: float64 {res['float_error']:.1e}, "
                f"long double {res['longdouble_error']:.1e}, (c) {res['vandermonde_error']:.1e} (cond {res['cond']:.1e}); "
                f"exact propagation {_fmt_seconds(res['exact_seconds'])}")
    if method == "vandermonde":
        text = f"largest error {res['error']:.1e}" if "error" in res else ""
        return text + (f" (median {res['median_error']:.1e})" if "median_error" in res else "") + f", cond {res['cond']:.1e}"
    if method == "reference":
        return f"long double, {res['rows']} batch rows, all orders"
    if case.kind == "float-orders":
        return "; ".join(f"K={k}: {_fmt_seconds(t)}" for k, t in res["by_order"].items()) + " (timed in turns)"
    if case.kind == "float":
        if "error" not in res:
            return ""
        return f"largest error {res['error']:.1e} vs long double (median {res['median_error']:.1e})"
    parts = [f"{res['monomials']:,} terms"] if res.get("monomials") is not None else []
    if method == "symsteer" and res.get("identical_to"):
        parts.append("identical to " + ", ".join(res["identical_to"]))
    if "identical" in res:
        parts.append("identical to symsteer" if res["identical"] else "**DIFFERENT from symsteer**")
    return "; ".join(parts)


def measurements_table(cases: tuple[Case, ...], results: Results) -> list[str]:
    lines = ["| case | method | time | vs symsteer | peak RSS | result |", "|---|---|---|---|---|---|"]
    for case in cases:
        ref = results.get((case.key, "symsteer"))
        for method in case.methods:
            res = results.get((case.key, method), {"status": "not run"})
            name = METHOD_NAMES[method]
            if method == "symsteer":
                name += {"concrete": " `coefficients()` (exact)", "float": " `coefficients()` (float64)",
                         "float-orders": " `coefficients(max_order=K)` (float64)"}.get(
                    case.kind, " `expand(…).polynomials()` (split by kind)")
            ratio = "—" if method.startswith("symsteer") or method in ("reference", "check") else _ratio(res, ref)
            lines.append(f"| {case.what} | {name} | {_time_text(res)} | {ratio} | {_memory(res)} | "
                         f"{_result_text(case, method, res)} |")
    return lines


def targets_table(results: Results, cli: dict[str, dict[str, Any]]) -> list[str]:
    """One row per target of issue 7: the goal, the figure, met or not."""

    def res(key: str, method: str = "symsteer") -> dict[str, Any]:
        return results.get((key, method), {"status": "not run"})

    def sec(key: str, method: str = "symsteer") -> float | None:
        r = res(key, method)
        return r["seconds"] if r.get("status") == "ok" else None

    def speedup(key: str, baseline: str) -> tuple[str, float | None]:
        mine, theirs = sec(key), res(key, baseline)
        if mine is None:
            return "—", None
        if theirs.get("status") == "ok":
            r = theirs["seconds"] / mine
            return f"{r:,.0f}×", r
        if theirs.get("status") in ("timeout", "skipped"):
            r = theirs["limit"] / mine
            return f"> {r:,.0f}×", r
        return _time_text(theirs), None

    def yes(ok: bool | None) -> str:
        return "—" if ok is None else ("**yes**" if ok else "**no**")

    def identical(key: str) -> bool | None:
        flags = [results[(key, m)].get("identical") for m in BASELINES if (key, m) in results]
        flags = [f for f in flags if f is not None]
        return all(flags) if flags else None

    rows = []
    s1, r1 = speedup("t1-d16", "sympy")
    same = identical("t1-d16")
    rows.append(("1", "concrete x, s, exact α-coefficients, residual L=3, d=h=16: ≥ 1000× faster than (a), identical",
                 f"{_time_text(res('t1-d16'))} vs (a) {_time_text(res('t1-d16', 'sympy'))}: {s1}; identical: "
                 f"{'yes' if same else 'no' if same is False else 'not compared'}",
                 yes(None if r1 is None else r1 >= 1000 and bool(same))))
    t = sec("t1-d64")
    rows.append(("1", "the same at d=h=64 in under 1 s", _time_text(res("t1-d64")), yes(None if t is None else t < 1)))
    s2, r2 = speedup("t2-333", "sympy")
    same = identical("t2-333")
    rows.append(("2", "x, s symbolic, residual (3,3,3): ≥ 300× faster than (a)",
                 f"{_time_text(res('t2-333'))} vs (a) {_time_text(res('t2-333', 'sympy'))}: {s2}; identical: "
                 f"{'yes' if same else 'no' if same is False else 'not compared'}",
                 yes(None if r2 is None else r2 >= 300 and bool(same))))
    t = sec("t2-334")
    rows.append(("2", "x, s symbolic, residual (3,3,4) in under 1 s",
                 f"{_time_text(res('t2-334'))} ({res('t2-334').get('monomials') or 0:,} terms)", yes(None if t is None else t < 1)))
    t = sec("t3-332")
    rows.append(("3", "fully symbolic weights, residual (3,3,2): under 0.1 s",
                 f"{_time_text(res('t3-332'))} ({res('t3-332').get('monomials') or 0:,} terms)", yes(None if t is None else t < 0.1)))
    t, r = sec("t3-442"), res("t3-442")
    mem = r.get("peak_mb")
    rows.append(("3", "fully symbolic weights, residual (4,4,2): under 10 s and under 4 GB",
                 f"{_time_text(r)}, peak RSS {_memory(r)} ({r.get('monomials') or 0:,} terms)",
                 yes(None if t is None or mem is None else t < 10 and mem < 4096)))
    drops = []
    for full, trunc in (("t3-332", "t3-332-K1"), ("t3-442", "t3-442-K1"), ("t2-334", "t2-334-K1")):
        a, b = sec(full), sec(trunc)
        if a is not None and b is not None:
            drops.append((full, a, b, res(full).get("peak_mb"), res(trunc).get("peak_mb")))
    rows.append(("3", "with max_order=1 the cost drops accordingly (report)",
                 "; ".join(f"{CASES[k].what.split(';')[-1].strip()}: {_fmt_seconds(a)} → {_fmt_seconds(b)} "
                           f"({a / b:.1f}× less), RSS {pa:,.0f} → {pb:,.0f} MB" for k, a, b, pa, pb in drops) or "—",
                 yes(bool(drops) and all(b < a for _, a, b, _, _ in drops) if drops else None)))
    for key in ("t4-L4", "t4-L6"):
        mine, theirs = res(key), res(key, "vandermonde")
        if mine.get("status") == "ok" and theirs.get("status") == "ok" and "error" in mine:
            ratio = mine["seconds"] / theirs["seconds"]
            text = (f"propagation {_fmt_seconds(mine['seconds'])} = {ratio:.2f}× (c)'s {_fmt_seconds(theirs['seconds'])}; "
                    f"largest coefficient error {mine['error']:.1e} vs long double; (c): {theirs.get('error', float('nan')):.1e}"
                    f" (cond {theirs['cond']:.1e})")
            ok = ratio <= 0.5 and mine["error"] <= 1e-13
        else:
            text, ok = f"{_time_text(mine)} / (c) {_time_text(theirs)}", None
        rows.append(("4", f"float64 d=768, h=3072, batch 32, L={CASES[key].layers}: ≤ 0.5× (c), every coefficient "
                          "within 1e-13 relative of long double", text, yes(ok)))
    scan = res("t4-L6-K").get("by_order") or {}
    ks = sorted((int(k), t) for k, t in scan.items())
    if len(ks) >= 2:
        text = ", ".join(f"K={k}: {_fmt_seconds(t)}" for k, t in ks)
        growth = [(b / a) / (kb / ka) for (ka, a), (kb, b) in zip(ks, ks[1:])]
        text += f"; time ratio over K ratio per step: {', '.join(f'{g:.2f}' for g in growth)}"
        ok = all(g <= 1.1 for g in growth)  # linear would be 1; a fixed cost makes it less
    else:
        text, ok = "—", None
    rows.append(("4", "float64 L=6: cost grows (at most) linearly with max_order K", text, yes(ok)))
    v = cli.get("verify", {})
    vt = v.get("seconds")
    vtext = _fmt_seconds(vt) + f" (exit {v['exit']}: {v.get('summary', '')})" if vt is not None else _time_text(v)
    rows.append(("5", "`symsteer verify` on all built-in claims: under 20 s", vtext, yes(None if vt is None else vt < 20)))
    h = cli.get("help", {})
    rows.append(("5", "`symsteer --help`: under 0.3 s", _time_text(h) + " (best of 5)",
                 yes(None if h.get("status") != "ok" else h["seconds"] < 0.3)))
    return ["| # | target | measured | met |", "|---|---|---|---|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]


# -- entry point -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes only; assert agreement (CI)")
    parser.add_argument("--only", metavar="TEXT", help="only the cases whose key contains TEXT (e.g. t3)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds a baseline may run [120; 60 with --quick]")
    parser.add_argument("--memory-limit", type=float, default=8.0, help="GB of address space per case [8]")
    parser.add_argument("--output", metavar="FILE", help="also write the markdown here")
    parser.add_argument("--json", metavar="FILE", help="write the raw figures here")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(*args.worker, Path(args.out), args.memory_limit)

    timeout = args.timeout or (60.0 if args.quick else 120.0)
    cases = tuple(c for c in (QUICK if args.quick else FULL) if not args.only or args.only in c.key)
    print(f"benchmarking {len(cases)} cases ({'quick' if args.quick else 'full'}; baselines capped at "
          f"{timeout:g} s and {args.memory_limit:g} GB)", file=sys.stderr)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="symsteer-bench-") as tmp:
        results = run_cases(cases, timeout=timeout, memory_gb=args.memory_limit, out_dir=Path(tmp))
        problems = compare(cases, results, Path(tmp))
    if args.quick:
        problems += quick_checks(cases, results)
    cli = cli_timings(quick=args.quick, timeout=timeout) if not args.only else {}
    lines = ["## Environment", "", *environment(), ""]
    if not args.quick and not args.only:
        lines += ["## Targets (issue 7)", "", *targets_table(results, cli), ""]
    lines += ["## Measurements", "", *measurements_table(cases, results), ""]
    if cli:
        lines += ["| command | time |", "|---|---|",
                  f"| `symsteer --help` (best of 5) | {_time_text(cli['help'])} |",
                  f"| `symsteer verify` | {_time_text(cli['verify'])} |", ""]
    lines.append(f"total benchmark time {time.perf_counter() - start:.0f} s")
    text = "\n".join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    if args.json:
        raw = {f"{k} {m}": r for (k, m), r in results.items()} | {f"cli {k}": v for k, v in cli.items()}
        Path(args.json).write_text(json.dumps(raw, indent=2, default=str) + "\n", encoding="utf-8")
    if problems:
        print("\nFAILED:\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
