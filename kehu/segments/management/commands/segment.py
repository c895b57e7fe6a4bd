"""kehu segment: classify every customer (and optionally rebuild the metrics first)."""

import datetime
import unicodedata

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from kehu.customers.models import refresh_age_bands
from kehu.lib import money
from kehu.segments.engine import model_check
from kehu.segments.lease import JobRunning
from kehu.segments.models import CLASS_LABELS
from kehu.segments.pipeline import ENGINES, REFIT_EVERY_DAYS, SOURCES, refresh

HELP = """\
客户分层：按分析日期给每位客户计算 RFM 分层、RF价值矩阵、ABC、频次/价值等级和生命周期，保存快照并打印分布。
Classify every customer as of a date and print the class distribution.

客户指标随每笔订单自动更新；--full 从全部订单重新计算指标（批量导入后或每周一次核对）。
Metrics follow every order as it is saved; --full recomputes them from all orders.

每晚自动刷新（cron）Nightly refresh with cron:
    30 2 * * *  cd /srv/kehu && .venv/bin/kehu segment >> kehu-data/segment.log 2>&1
    0 3 * * 0   cd /srv/kehu && .venv/bin/kehu segment --full --wait 600 >> kehu-data/segment.log 2>&1

同一时间只运行一次分层（跨进程、跨服务器）；已有一次在运行时，--wait 秒数 等它结束，否则报告并退出。
One classification at a time (across processes and servers): --wait SECONDS waits for a running one.

--engine spark 在 Spark 上计算（需 pip install -e ".[spark]" 和 Java 17），指标从订单算起，加 --full 时也保存；
--source 选择订单如何进入 Spark：jdbc（PostgreSQL 默认，Spark 直接读数据库）
或 parquet（SQLite 默认，导出 Parquet 快照）。
--engine spark computes on Spark (the spark extra and Java 17): the metrics come from the orders and are
stored with --full; --source says how the orders get there: jdbc (default on PostgreSQL: Spark reads the
database itself, with Debian's libpostgresql-jdbc-java) or parquet (default on SQLite: a Parquet snapshot).
KEHU_SPARK_MASTER sets the Spark master (default local[2]).
    kehu segment --full --engine spark
"""

# Progress steps of a full refresh: 读取订单, 写入客户指标, 读取客户指标, 计算消费趋势, 分类, 流失与价值预测,
# 写入分层结果 (without --full the first two are skipped; on Spark only the second).
STAGES = 7


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int, right: bool = False) -> str:
    space = " " * max(width - display_width(text), 0)
    return space + text if right else text + space


def format_table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    """A plain-text table that lines up Chinese (double-width) characters."""
    widths = [max(display_width(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(pad(h, w, i in numeric) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(pad(str(c), w, i in numeric) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def distribution_table(counts: dict[str, list]) -> str:
    total_n = sum(n for n, _ in counts.values()) or 1
    total_m = sum(m for _, m in counts.values()) or 1
    rows = [
        [name or "（无）", f"{n:,}", f"{n / total_n:.1%}", money.fmt(m), f"{m / total_m:.1%}"]
        for name, (n, m) in counts.items()
    ]
    return format_table(["分层", "客户数", "占比", money.header_zh("消费金额"), "金额占比"], rows, numeric={1, 2, 3, 4})


def value_model_text(model: dict) -> str:
    """One line per model: its parameters and log-likelihood, or why it was not fitted."""
    lines = ["【流失与价值预测 Churn and value】"]
    for key in ("purchases", "spend"):
        fit = model.get(key)
        if not fit:
            continue
        if fit.get("fitted"):
            params = "  ".join(f"{name}={value:.4g}" for name, value in fit["params"].items())
            unit = {"days": "天", "weeks": "周"}.get(model.get("time_unit", "days"), "天")
            lines.append(f"{fit['model']}: {params}  对数似然 LL={fit['log_likelihood']:.6g}（时间单位：{unit}）")
        else:
            lines.append(f"{fit['model']}: 未拟合 not fitted — {fit['reason']}")
    if model.get("fitted_on"):
        lines.append(f"拟合日期 Fitted on {model['fitted_on']}，{model.get('fitted_customers', 0):,} 位有消费的客户"
                     f" buyers（参数最多沿用 {REFIT_EVERY_DAYS} 天 parameters kept for up to {REFIT_EVERY_DAYS} days）")
    check = model.get("model_check")
    if check:
        lines += ["", model_check_text(check)]
    return "\n".join(lines)


def model_check_text(check: dict) -> str:
    """模型检验: each model's forecast of the holdout against what happened, in total and per frequency group."""
    lines = ["【模型检验 Model check】"]
    if not check.get("checked"):
        lines.append(f"未检验 not checked — {check.get('reason', '')}；使用 using {check['chosen']}")
        return "\n".join(lines)
    lines.append(f"校准期 Calibration {check['start']} – {check['calibration_end']}，检验期 holdout "
                 f"{check['holdout_days']} 天 days 至 to {check['end']}；客户 customers {check['customers']:,}；"
                 f"选用 chosen: {check['chosen']}")
    rows = []
    for name, predicted, actual, error, chosen, _candidate, reason, _reason_en in model_check.total_rows(check):
        if predicted is None:
            rows.append([name, "—", f"{actual:,}", "—", reason])
        else:
            rows.append([name, f"{predicted:,.1f}", f"{actual:,}", "—" if error is None else f"{error:+.1%}",
                         "选用 chosen" if chosen else ""])
    lines.append(format_table(["模型 Model", "预测 Predicted", "实际 Actual", "误差 Error", ""], rows,
                              numeric={1, 2, 3}))
    models = [m["model"] for m in check["models"]]
    rows = [[str(row[0]), f"{row[1]:,}", f"{row[2]:,}", *("—" if v is None else f"{v:,.1f}" for v in row[3:])]
            for row in model_check.group_rows(check)]
    lines.append("检验期重复消费天数，按校准期重复消费天数分组 Holdout repeat purchase days by calibration frequency")
    lines.append(format_table(["次数 x", "客户 Customers", "实际 Actual", *models], rows,
                              numeric=set(range(1, 3 + len(models)))))
    return "\n".join(lines)


class Command(BaseCommand):
    help = HELP
    # A nightly batch command: Django's system checks (URLs, templates, models) belong to `kehu serve` and
    # `kehu check`; here they would cost about 0.5 s of every run, a fifth of a same-day re-run at 1,000,000 customers.
    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="先从全部订单重新计算客户指标 Rebuild metrics first")
        parser.add_argument("--as-of", dest="as_of", metavar="YYYY-MM-DD",
                            help="分析日期，默认今天 Analysis date (default today)")
        parser.add_argument("--no-progress", action="store_true", help="不显示进度条 Hide the progress bar")
        parser.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                            help="另一次分层正在运行时最多等待的秒数（默认不等）"
                                 " Seconds to wait for a classification already running (default 0)")
        parser.add_argument("--engine", choices=ENGINES, default="polars",
                            help="计算引擎（默认 polars）Engine to compute on (default polars)")
        parser.add_argument("--source", choices=SOURCES, default=None,
                            help="Spark 读取订单的方式（默认 PostgreSQL 用 jdbc，SQLite 用 parquet）"
                                 " How Spark reads the orders (default jdbc on PostgreSQL, parquet on SQLite)")

    def handle(self, *args, full: bool, as_of: str | None, no_progress: bool, wait: float, engine: str,
               source: str | None, **options):
        day = None
        if as_of:
            try:
                day = datetime.date.fromisoformat(as_of)
            except ValueError as exc:
                raise CommandError(f"日期格式应为 YYYY-MM-DD：{as_of}") from exc
        if source and engine != "spark":
            raise CommandError("--source 只用于 --engine spark. --source goes with --engine spark.")
        if engine == "spark":   # Spark's module (Polars, Narwhals) only for a Spark run: 0.18 s of every other
            from kehu.segments.spark import default_source

            source = source or default_source()
        stages = STAGES if full else STAGES - 2 + (engine == "spark")
        bar = tqdm(total=stages, desc="客户分层", unit="步", disable=no_progress,
                   file=self.stderr._out, leave=False)

        def progress(stage: str) -> None:
            bar.set_description(stage)
            bar.update(1)

        try:
            result = refresh(day, full=full, progress=progress, wait=wait, engine=engine, source=source)
        except (ValueError, JobRunning) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        run = result.run
        out = self.stdout
        # Birthdays pass every day: the stored age bands (年龄段) follow them here, on the nightly run.
        out.write(f"年龄段 Age bands: {refresh_age_bands():,} 位客户的年龄段已更新 updated")
        out.write(f"分析日期 As of: {run.as_of:%Y-%m-%d}    客户 Customers: {run.customers:,}    "
                  f"用时 Time: {run.seconds:.2f} 秒")
        if result.unchanged:
            at = timezone.localtime(run.finished_at)
            out.write(f"自 {at:%H:%M} 的分层以来客户、订单和阈值都没有变化，沿用该次结果"
                      "（--full 从全部订单重新计算）。\n"
                      f"Nothing changed since the run at {at:%H:%M}: its classes stand (--full recomputes from every"
                      " order).")
        if engine == "spark":
            out.write(f"计算引擎 Engine: Spark（读取 source: {source}）")
        for column in ("rfm_class", "rf_segment", "lifecycle", "abc_class", "frequency_tier", "value_tier"):
            out.write("")
            out.write(f"【{CLASS_LABELS[column]}】")
            out.write(distribution_table(run.counts[column]))
        out.write("")
        out.write(value_model_text(run.value_model))
        out.write("")
        out.write(self.style.SUCCESS("分层完成。 Done."))
