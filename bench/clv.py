"""Benchmark: churn and value models on a million synthetic customers.

Simulates customers from a BG/NBD purchase process and Gamma-Gamma spend with known parameters
(seeded), builds the (x, t_x, T, monetary) summary from the transactions with the Narwhals/Polars
summary builder, fits BG/NBD, Gamma-Gamma and (optionally) Pareto/NBD, and forecasts every customer.
Prints the timings and the recovered parameters and writes them to bench/results/clv.json.

    .venv/bin/python bench/clv.py [--customers 1000000] [--repeat 3] [--pareto]

The issue's aim: fitting a million customers in ≤ 10 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from typing import Any

import numpy as np
import polars as pl
from _output import write_json  # bench/_output.py (a script's folder is on sys.path)

from kehu.segments.engine import clv
from kehu.segments.engine.clv_data import build_summary

# CDNOW's BG/NBD and Gamma-Gamma estimates, with α turned from weeks into days
TRUE_BGNBD = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
TRUE_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
START = datetime.date(2024, 1, 1)
COHORT_DAYS = 90  # first purchases spread over a quarter, as in CDNOW
AS_OF_DAY = 272  # 39 weeks after START, as in CDNOW's calibration period


def simulate(n: int, seed: int) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Transactions of ``n`` customers, and their exact continuous-time summary for comparison."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE_BGNBD["r"], 1.0 / TRUE_BGNBD["alpha"], n)
    drop = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], n)
    nu = rng.gamma(TRUE_GAMMA_GAMMA["q"], 1.0 / TRUE_GAMMA_GAMMA["gamma"], n)
    first = rng.integers(0, COHORT_DAYS, n)
    T = (AS_OF_DAY - first).astype(float)

    customers = [np.arange(n)]
    times = [np.zeros(n)]
    x = np.zeros(n)
    t_x = np.zeros(n)
    active = np.arange(n)
    clock = np.zeros(n)
    while active.size:
        clock[active] += rng.exponential(1.0, active.size) / lam[active]
        active = active[clock[active] <= T[active]]  # the next purchase falls after the period: censored
        customers.append(active)
        times.append(clock[active].copy())
        x[active] += 1
        t_x[active] = clock[active]
        active = active[rng.random(active.size) >= drop[active]]  # drops out after this purchase

    who = np.concatenate(customers)
    when = np.concatenate(times)
    amount = np.round(rng.gamma(TRUE_GAMMA_GAMMA["p"], 1.0 / nu[who]), 2)
    day = first[who] + np.floor(when).astype(np.int64)
    transactions = pl.DataFrame(
        {
            "customer_id": who.astype(np.int64),
            "date": (np.datetime64(START, "D") + day.astype("timedelta64[D]")),
            "amount": amount,
        }
    ).with_columns(pl.col("date").cast(pl.Date))
    return transactions, {"x": x, "t_x": t_x, "T": T}


def timed(repeat: int, work: Any) -> tuple[Any, list[tuple[float, float]]]:
    """Run ``work`` ``repeat`` times; (its result, [(wall seconds, CPU seconds of this process)])."""
    seconds, result = [], None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = work()
        seconds.append((time.perf_counter() - started, time.process_time() - cpu))
    return result, seconds


def describe(seconds: list[tuple[float, float]]) -> dict[str, float]:
    wall = [w for w, _ in seconds]
    return {
        "median_s": round(statistics.median(wall), 3),
        "min_s": round(min(wall), 3),
        "cpu_median_s": round(statistics.median(c for _, c in seconds), 3),
        "runs": len(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pareto", action="store_true", help="also fit the (slower) Pareto/NBD")
    args = parser.parse_args()

    started = time.perf_counter()
    transactions, exact = simulate(args.customers, args.seed)
    simulate_s = time.perf_counter() - started
    print(f"simulated {args.customers:,} customers, {len(transactions):,} transactions in {simulate_s:.2f} s")

    as_of = START + datetime.timedelta(days=AS_OF_DAY)
    summary, summary_s = timed(args.repeat, lambda: build_summary(transactions, as_of=as_of, time_unit="days"))
    x, t_x, T, m = (summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T", "monetary_value"))
    print(f"summary: {describe(summary_s)}  ({int((x > 0).sum()):,} repeat buyers)")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results: dict[str, Any] = {
        "load_average_1min_before": load,
        "customers": args.customers,
        "transactions": len(transactions),
        "repeat_buyers": int((x > 0).sum()),
        "same_day_merged": int(exact["x"].sum() - x.sum()),
        "simulate_s": round(simulate_s, 3),
        "summary": describe(summary_s),
        "true": {"bgnbd_days": TRUE_BGNBD, "gamma_gamma": TRUE_GAMMA_GAMMA},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.processor()},
    }

    def report(name: str, fit: Any, seconds: list[float]) -> None:
        if not fit.ok:
            print(f"{name}: NOT FITTED — {fit.reason_en}")
            results[name] = {"fitted": False, "reason": fit.reason_en, **describe(seconds)}
            return
        params = {k: round(v, 4) for k, v in fit.params.items()}
        print(f"{name}: {describe(seconds)}  {params}  LL={fit.log_likelihood:,.1f}")
        results[name] = {"fitted": True, "params": params, "log_likelihood": fit.log_likelihood, **describe(seconds)}

    fit, seconds = timed(args.repeat, lambda: clv.fit_bgnbd(x, t_x, T, time_unit="days"))
    report("bgnbd", fit, seconds)
    exact_fit, seconds = timed(
        args.repeat, lambda: clv.fit_bgnbd(exact["x"], exact["t_x"], exact["T"], time_unit="days")
    )
    report("bgnbd_exact_times", exact_fit, seconds)
    spend, seconds = timed(args.repeat, lambda: clv.fit_gamma_gamma(x, m, time_unit="days"))
    report("gamma_gamma", spend, seconds)
    if args.pareto:
        pareto, seconds = timed(1, lambda: clv.fit_pareto_nbd(x, t_x, T, time_unit="days"))
        report("pareto_nbd", pareto, seconds)

    forecast, seconds = timed(1, lambda: clv.forecast(summary, time_unit="days"))
    results["forecast"] = describe(seconds)
    print(f"forecast of every customer (fits included): {describe(seconds)}")
    print(forecast.risk_list(limit=3))

    out = write_json("clv.json", results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
