"""Issue 10 items 4–5 through `kehu import`: a hand-kept workbook in the merchant's own words, a mobile that
is already another customer's under another code, a purchase naming a customer nobody has. What each row
should become is written here by hand, not computed by kehu's word tables."""

import json

import openpyxl

TITLE_ROWS = 2  # a merged title row and a blank row above each header, as hand-kept sheets have

CUSTOMERS = [  # code, name, mobile, gender, province, city, company size → what is stored
    (["H101", "李明", "13900000001", "男士", "广东", "广州", "10~49人"],
     ("male", "广东省", "广州市", "10-49")),
    (["H102", "王红", "13900000002", "女", "内蒙", "包头", "50 至 199 人"],
     ("female", "内蒙古自治区", "包头市", "50-199")),
    (["H103", "刘洋", "13900000003", "先生", "广西", "南宁市", "1000人以上"],
     ("male", "广西壮族自治区", "南宁市", "1000+")),
    (["H104", "陈静", "13900000004", "Ｆ", "火星", "深圳", "很多人"], ("female", "", "深圳市", "")),
    (["H900", "王老五", "13800001111", "男", "北京", "北京", ""], None),  # 13800001111 is H001's
]
PURCHASES = [  # code, date, amount, payment → stored payment method
    (["H101", "2024-03-01", "100", "微信转账"], "wechat_pay"),
    (["H102", "2024-03-02", "200", "支付宝转账"], "alipay"),
    (["H103", "2024-03-03", "300", "贝壳"], "other"),
    (["N777", "2024-03-04", "50", "现金"], "cash"),
]
PREFERENCES = [(["H101", "微信公众号"], "wechat"), (["H102", "公众号"], "wechat"), (["H103", "电联"], "phone")]
CONTACTS = [(["H101", "2024-03-05 10:00", "当面", "回访"], "visit"),
            (["H102", "2024-03-05 11:00", "面对面交流", "送样品"], "visit"),
            (["H103", "2024-03-05 12:00", "电联", "催款"], "phone")]


def hand_kept_workbook(path):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    sheets = {
        "客户": (["客户编号", "姓名", "手机", "性别", "省份", "城市", "公司规模"], [r for r, _ in CUSTOMERS]),
        "消费": (["客户编号", "消费日期", "消费金额", "支付方式"], [r for r, _ in PURCHASES]),
        "偏好": (["客户编号", "偏好营销渠道"], [r for r, _ in PREFERENCES]),
        "沟通": (["客户编号", "沟通时间", "沟通方式", "沟通内容"], [r for r, _ in CONTACTS]),
    }
    for name, (header, rows) in sheets.items():
        ws = wb.create_sheet(name)
        ws.append([f"2024 年{name}登记"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        ws.append([])
        ws.append(header)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def row_of(index: int) -> int:
    """The sheet row of data row `index` (0-based): below the title, the blank row and the header."""
    return TITLE_ROWS + 2 + index


DUMP = """
import json
from kehu.customers.models import Customer
from kehu.engagement.models import Communication, Preference
from kehu.sales.models import Order
print(json.dumps({
    "customers": {c.code: [c.name, c.mobile, c.gender, c.province, c.city, c.company_size]
                  for c in Customer.objects.all()},
    "orders": sorted([o.customer.code, str(o.amount), o.payment_method] for o in Order.objects.all()),
    "preferences": {p.customer.code: p.preferred_channel for p in Preference.objects.all()},
    "contacts": {c.customer.code: c.method for c in Communication.objects.all()},
}, ensure_ascii=False))
"""


def stored(store) -> dict:
    return json.loads(store.shell(DUMP).strip().splitlines()[-1])


def test_it_imports_free_text_words_and_surfaces_conflicts_and_unknown_customers(ready_store, tmp_path):
    existing = tmp_path / "老客户.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["客户编号", "姓名", "手机"])
    wb.active.append(["H001", "老王", "13800001111"])
    wb.save(existing)
    ready_store.kehu("import", "--no-progress", str(existing))

    path = hand_kept_workbook(tmp_path / "会员本.xlsx")
    out = ready_store.kehu("import", "--no-progress", str(path)).stdout
    data = stored(ready_store)

    for cells, expected in CUSTOMERS[:4]:
        code, name, mobile = cells[:3]
        assert data["customers"][code] == [name, f"+86{mobile}", *expected], code
    # The conflicting row: H001 keeps its code and its name, no H900 is made, the row is named with both codes.
    assert data["customers"]["H001"][:2] == ["老王", "+8613800001111"]
    assert "H900" not in data["customers"]
    conflict = f"客户 第{row_of(4)}行【客户编号】 编号冲突：与已有客户“老王”（客户编号 H001）手机号码相同"
    assert conflict in out
    # Words nobody knows: the field left empty, the raw value and the row named, the rest imported.
    for column, raw in (("省份", "火星"), ("公司规模", "很多人")):
        assert f"警告：客户 第{row_of(3)}行【{column}】 “{raw}”不是可识别的" in out
    assert f"警告：消费 第{row_of(2)}行【支付方式】 “贝壳”不是可识别的支付方式" in out
    # A purchase naming a customer nobody has: created, and the row says so.
    assert (f"警告：消费 第{row_of(3)}行【客户编号】 找不到该客户（客户编号不存在），"
            "已新建客户“N777”（客户编号 N777）") in out
    assert data["customers"]["N777"][0] == "N777"
    assert data["orders"] == sorted([r[0], f"{int(r[2])}.00", method] for r, method in PURCHASES)
    assert data["preferences"] == {r[0]: channel for r, channel in PREFERENCES}
    assert data["contacts"] == {r[0]: method for r, method in CONTACTS}

    # The user chooses: keep-code merges the row into H001, whose code stays.
    merged = ready_store.kehu("import", "--no-progress", "--on-conflict", "keep-code", str(path)).stdout
    assert "已合并到该客户并保留其编号 H001" in merged
    data = stored(ready_store)
    assert data["customers"]["H001"][:2] == ["王老五", "+8613800001111"]
    assert "H900" not in data["customers"]


def test_reject_unknown_customers_refuses_the_row_and_says_which(ready_store, tmp_path):
    path = tmp_path / "消费.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["客户编号", "消费日期", "消费金额"])
    wb.active.append(["Z404", "2024-03-04", "50"])
    wb.save(path)
    out = ready_store.kehu("import", "--no-progress", "--reject-unknown-customers", str(path)).stdout
    assert "错误：Sheet 第2行【客户编号】 找不到该客户（客户编号不存在）" in out
    assert stored(ready_store)["orders"] == []
