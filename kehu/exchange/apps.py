from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    """Spreadsheets in and out: import, export, workbook analysis."""

    name = "kehu.exchange"
    label = "exchange"
    verbose_name = "导入导出"
