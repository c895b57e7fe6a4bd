"""A blank template downloaded from a live `kehu serve`, filled the way its instructions say (1200元, ¥1,200.00,
2024年1月5日, codes with leading zeros, 微信转账), refuses nothing and imports every row with `kehu import`."""

import io
import json

import openpyxl


def test_a_downloaded_template_filled_as_its_instructions_say_imports_every_row(server, tmp_path):
    web = server.session()
    answer = web.get("/exchange/templates/purchases.xlsx")
    assert answer.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    ws = book["消费记录"]
    assert not any(dv.showErrorMessage for dv in ws.data_validations.dataValidation)
    notes = " ".join(str(r[0]) for r in book["填写说明"].iter_rows(values_only=True))
    assert "1200元" in notes and "2024年1月5日" in notes
    header = [c.value for c in ws[1]]
    assert all(ws.cell(row=2, column=header.index(h) + 1).number_format == "@" for h in ("客户编号", "订单号"))
    rows = [("007", "2024年1月5日", "1200元", "微信转账"), ("0008", "2024/1/6", "¥1,200.00", "现金"),
            ("0009", "2024-01-07", 1200, "支付宝")]
    for r, (code, day, amount, payment) in enumerate(rows, start=2):
        for column, value in (("客户编号", code), ("姓名", "顾客" + code), ("消费日期", day), ("消费金额", amount),
                              ("支付方式", payment), ("订单号", "00" + code)):
            ws.cell(row=r, column=header.index(column) + 1, value=value)
    path = tmp_path / "消费记录.xlsx"
    book.save(path)
    server.store.kehu("import", str(path), "--no-progress")
    stored = json.loads(server.store.shell(
        "import json\nfrom kehu.sales.models import Order\n"
        "print(json.dumps(sorted((o.customer.code, str(o.amount), o.payment_method, o.number)"
        " for o in Order.objects.select_related('customer'))))").strip().splitlines()[-1])
    assert stored == [["0008", "1200.00", "cash", "000008"], ["0009", "1200.00", "alipay", "000009"],
                      ["007", "1200.00", "wechat_pay", "00007"]]
