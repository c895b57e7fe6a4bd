import datetime
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from kehu.exchange import analyze
from kehu.segments.engine.classify import RFM_CLASSES

from .helpers import read_xlsx, write_csv, write_xlsx

pytestmark = pytest.mark.django_db
AS_OF = datetime.date(2024, 6, 30)
KEHU = str(Path(sys.executable).with_name("kehu"))


def simulated_purchases(customers: int = 300, seed: int = 11) -> list[list]:
    """Purchases from a BG/NBD-like process (a rate per customer, a chance to drop out after each purchase)."""
    rng = random.Random(seed)
    start = datetime.date(2023, 1, 1)
    rows = [["会员号", "下单时间", "订单金额", "支付方式"]]
    for c in range(customers):
        rate, drop = rng.gammavariate(0.8, 1 / 40), rng.betavariate(1, 4)
        day = rng.uniform(0, 180)
        spend = rng.gammavariate(6, 30)
        while day < (AS_OF - start).days:
            rows.append([f"V{c:04d}", (start + datetime.timedelta(days=int(day))).isoformat(),
                         f"¥{spend * rng.uniform(0.7, 1.3):,.2f}", "微信"])
            if rng.random() < drop:
                break
            day += rng.expovariate(rate)
    return rows


def test_it_turns_a_purchases_only_workbook_into_a_segmented_report(tmp_path):
    rows = simulated_purchases()
    rows.insert(5, ["V0001", "明天", "10", "微信"])
    path = write_xlsx(tmp_path / "消费.xlsx", {"消费记录": rows}, titles={"消费记录": "2023—2024 消费明细"})
    result = analyze.analyze(path, AS_OF)
    out = tmp_path / "分析.xlsx"
    analyze.write_report(result, out)
    book = read_xlsx(out)
    assert list(book) == ["客户分层", "分层汇总", "导入问题", "模型参数", "模型检验", "年龄与性别"]
    customers = book["客户分层"]
    assert customers[0] == analyze.customer_headers()
    assert customers[0][4:6] == ["消费总额（元）", "平均客单价（元）"]  # no --currency: yuan
    assert len(customers) == 301
    assert {r[9] for r in customers[1:]} <= set(RFM_CLASSES)
    assert all(r[16] and "→" in r[16] for r in customers[1:])
    buyers = [r for r in customers[1:] if r[3]]
    assert all(r[14] is not None and r[14] >= 0 and r[15] is not None and r[15] >= 0 for r in buyers)
    # a customer expected to buy more is worth more to the model, on the whole
    by_expected = sorted(buyers, key=lambda r: r[14])
    half = len(by_expected) // 2
    assert sum(r[15] for r in by_expected[half:]) > sum(r[15] for r in by_expected[:half])
    problems = book["导入问题"]
    assert problems[1][:3] == ["消费记录", 8, "下单时间"]  # title, blank, header, then the 5th data row
    params = {r[0]: r[1] for r in book["模型参数"][1:]}
    assert params["分析日期"] == "2024-06-30"
    chosen = result["model_check"].chosen
    assert chosen in ("MBG/NBD", "Pareto/NBD")
    names = ("r", "alpha", "a", "b") if chosen == "MBG/NBD" else ("r", "alpha", "s", "beta")
    assert {*(f"{chosen} {n}" for n in names), f"{chosen} log_likelihood",
            "Gamma-Gamma p", "Gamma-Gamma q", "Gamma-Gamma gamma"} <= set(params)
    assert params[f"{chosen} time_unit"] == "天"
    check = book["模型检验"]
    assert check[0][:5] == ["模型", "检验期预测", "检验期实际", "误差", "说明"]
    assert [r[0] for r in check[1:4]] == ["MBG/NBD", "Pareto/NBD", "BG/NBD"]
    assert {r[0]: r[4] for r in check[1:4]}[chosen].startswith("选用")
    # the holdout: the last quarter of the span from the first purchase to the as-of date (≥ 8 weeks);
    # what the customers who had bought by then did afterwards, counted in distinct days
    days = {(r[0], r[1]) for r in rows[1:] if r[1] != "明天"}
    first: dict[str, str] = {}
    for customer, day in sorted(days):
        first.setdefault(customer, day)
    start = datetime.date.fromisoformat(min(first.values()))
    holdout = max(-(-(AS_OF - start).days // 4), 56)
    calibration_end = (AS_OF - datetime.timedelta(days=holdout)).isoformat()
    actual = sum(1 for customer, day in days if day > calibration_end and first[customer] <= calibration_end)
    assert actual > 0 and all(r[2] == actual for r in check[1:4])
    groups = check[check.index(["校准期重复消费天数", "客户数", "检验期实际", "MBG/NBD 预测", "Pareto/NBD 预测",
                                "BG/NBD 预测"]) + 1:]
    assert groups[8][0] == "合计" and groups[8][2] == actual
    assert sum(r[1] for r in groups[:8]) == sum(1 for d in first.values() if d <= calibration_end)
    assert all(r[13] is None or 0 <= r[13] <= 1 for r in customers[1:])
    summary = book["分层汇总"]
    rfm_rows = [r for r in summary[1:] if r[0] == "RFM分层"]
    assert sum(r[2] for r in rfm_rows) == 300


def test_the_command_writes_a_report_and_exits_0_or_fails_clearly(tmp_path):
    env = {**os.environ, "KEHU_HOME": str(tmp_path / "home")}
    env.pop("KEHU_DATABASE_URL", None)
    small = write_csv(tmp_path / "orders.csv", [["客户编号", "消费日期", "消费金额"], ["A1", "2024/1/5", "100"],
                                                 ["A1", "2024/3/5", "120"], ["A2", "2024年2月1日", "1,000元"],
                                                 ["A3", "not a date", "5"]], encoding="gbk")
    out = tmp_path / "report.xlsx"
    done = subprocess.run([KEHU, "analyze", str(small), "-o", str(out), "--as-of", "2024-06-30"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    book = read_xlsx(out)
    assert [r[0] for r in book["客户分层"][1:]] == ["A1", "A2"]
    assert book["导入问题"][1][1] == 5
    assert "未拟合" in [r[1] for r in book["模型参数"]]  # two customers are too few for a model, and it says why
    assert "分析日期 2024-06-30：由 --as-of 指定" in done.stdout


CLV = "12个月客户价值CLV（港元）"


def test_without_as_of_it_analyses_as_of_the_day_after_the_files_last_purchase(tmp_path):
    env = {**os.environ, "KEHU_HOME": str(tmp_path / "home")}
    env.pop("KEHU_DATABASE_URL", None)
    rows = simulated_purchases(customers=120, seed=5)
    last = max(r[1] for r in rows[1:])
    path = write_csv(tmp_path / "orders.csv", rows)
    out = tmp_path / "report.xlsx"
    done = subprocess.run([KEHU, "analyze", str(path), "-o", str(out), "--currency", "HKD"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    day_after = (datetime.date.fromisoformat(last) + datetime.timedelta(days=1)).isoformat()
    assert f"分析日期 {day_after}：文件中最后一次消费的次日（最后一次消费在 {last}）" in done.stdout
    book = read_xlsx(out)
    params = {r[0]: r[1:] for r in book["模型参数"][1:]}
    assert params["分析日期"][0] == day_after and "最后一次消费的次日" in params["分析日期"][1]
    customers = book["客户分层"]
    at = {h: customers[0].index(h) for h in ("最近消费日期", "流失概率", "预计90天消费天数", CLV)}
    # the most recent buyers bought the day before the analysis: none of them counts as long gone
    recent = [r for r in customers[1:] if r[at["最近消费日期"]] and r[at["最近消费日期"]].date().isoformat() == last]
    assert recent and all(r[at["流失概率"]] < 0.5 for r in recent)
    # the currency is the setting's, in the explanations and in the amounts' format
    explained = " ".join(r[-1] for r in customers[1:])
    assert "HK$" in explained and "¥" not in explained
    import openpyxl

    sheet = openpyxl.load_workbook(out)["客户分层"]
    assert sheet.cell(row=2, column=at[CLV] + 1).number_format == '"HK$"#,##0.00;-"HK$"#,##0.00'
    values = [r[at[CLV]] for r in customers[1:]]
    assert all(isinstance(v, int | float) and v >= 0 for v in values), values
    garbage = tmp_path / "x.xlsx"
    garbage.write_bytes(b"PK\x03\x04 not really a workbook")
    failed = subprocess.run([KEHU, "analyze", str(garbage), "-o", str(out)], env=env, capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode != 0
    assert "无法读取文件" in failed.stderr


def test_a_file_without_purchases_is_analysed_as_of_the_shops_today_from_the_one_clock_of_kehu(tmp_path, monkeypatch):
    # Every "today" of kehu is the shop's local day of django.utils.timezone.now (kehu.lib.dates.today), so a clock
    # set for a test or a demo holds for the analysis too; 17:30 UTC on 3 March 2025 is the 4th in Asia/Shanghai.
    moment = datetime.datetime(2025, 3, 3, 17, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr("django.utils.timezone.now", lambda: moment)
    path = write_csv(tmp_path / "customers.csv", [["客户编号", "姓名"], ["C001", "王芳"], ["C002", "李娜"]])
    result = analyze.analyze(path)
    assert (result["as_of"], result["as_of_source"]) == (datetime.date(2025, 3, 4), "today")
