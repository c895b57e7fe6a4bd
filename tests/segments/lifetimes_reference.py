"""Not a test: how the lifetimes figures in test_clv.py (MBG/NBD) and test_model_check.py (CDNOW master holdout)
were produced. lifetimes is not a dependency of kehu; run this in a venv of its own:

    python3.11 -m venv /tmp/ltvenv && /tmp/ltvenv/bin/pip install lifetimes==0.11.3
    /tmp/ltvenv/bin/python tests/segments/lifetimes_reference.py ../shared/data/cdnow

lifetimes' calibration_and_holdout_data fails under pandas 3, so the calibration/holdout summary is built
here with pandas by its definitions (purchases counted as distinct days, times in days).
"""

import sys
from pathlib import Path

import lifetimes
import numpy as np
import pandas as pd

folder = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/cdnow")
np.set_printoptions(precision=10)

sample = pd.read_csv(folder / "cdnow_customers_summary.csv")
mbg = lifetimes.ModifiedBetaGeoFitter().fit(sample.frequency, sample.recency, sample["T"])
print("MBG/NBD on the CDNOW sample:", mbg.params_.to_dict())
for x, t_x, T in [(0, 0, 38.86), (0, 0, 1), (1, 1, 3), (2, 30.43, 38.86), (10, 20, 52)]:
    print("  P(alive)", (x, t_x, T), mbg.conditional_probability_alive(x, t_x, T))
for t, x, t_x, T in [(39, 2, 30.43, 38.86), (52, 0, 0, 38.86), (52, 10, 20, 52)]:
    expected = mbg.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
    print("  E[X(t) | x, t_x, T]", (t, x, t_x, T), expected)
print("  E[X(t)]", mbg.expected_number_of_purchases_up_to_time(np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])))

lines = (folder / "CDNOW_master.txt").read_text().splitlines()[1:]
rows = [line.split() for line in lines if line.strip()]
days = pd.DataFrame({"id": [r[0] for r in rows], "date": pd.to_datetime([r[1] for r in rows], format="%Y%m%d")})
days = days.drop_duplicates()
calibration_end, end = pd.Timestamp("1997-09-30"), pd.Timestamp("1998-06-30")
first = days.groupby("id").date.min()
calibration = days[days.date <= calibration_end].groupby("id").date.agg(["min", "max", "count"])
calibration = calibration[calibration.index.isin(first[first <= calibration_end].index)]
holdout = days[(days.date > calibration_end) & (days.date <= end)].groupby("id").size()
x, t_x = calibration["count"] - 1, (calibration["max"] - calibration["min"]).dt.days.astype(float)
T = (calibration_end - calibration["min"]).dt.days.astype(float)
actual = holdout.reindex(calibration.index).fillna(0)
print(f"CDNOW master: {len(x)} customers, {actual.sum():.0f} actual holdout repeat purchase days")
print("  actual by calibration frequency 0…6, 7+:", actual.groupby(x.clip(upper=7)).sum().to_dict())
for name, fitter in [("BG/NBD", lifetimes.BetaGeoFitter), ("MBG/NBD", lifetimes.ModifiedBetaGeoFitter),
                     ("Pareto/NBD", lifetimes.ParetoNBDFitter)]:
    fit = fitter().fit(x, t_x, T)
    predicted = fit.conditional_expected_number_of_purchases_up_to_time((end - calibration_end).days, x, t_x, T)
    by_group = predicted.groupby(x.clip(upper=7)).sum().round(2).to_dict()
    print(f"  {name}: {float(predicted.sum())!r} predicted;", by_group)
