"""Playbooks (营销建议): a suggested action per class, with defaults a shop can edit (系统设置 → 营销建议)."""

from __future__ import annotations

import contextlib

from django.db import OperationalError, transaction
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from kehu.lib.db import waiting_at_most
from kehu.lib.labels import class_label
from kehu.segments.models import CustomerSegment

from .models import Playbook

# A class of its own, not stored on CustomerSegment: few orders (低频) but a high total (高价值).
LOW_FREQUENCY_HIGH_VALUE = "低频高客单"
SPECIAL = "special"

DEFAULTS: dict[str, dict[str, str]] = {
    "rfm_class": {
        "重要价值客户": gettext_noop("会员专属福利与优先服务"),
        "重要发展客户": gettext_noop("提高购买频次：推荐关联商品与会员积分"),
        "重要保持客户": gettext_noop("近期未购：专人回访，推送新品唤回"),
        "重要挽留客户": gettext_noop("主动回访了解流失原因"),
        "一般价值客户": gettext_noop("推荐更高客单的组合商品"),
        "一般发展客户": gettext_noop("新客关怀：首单后回访与入门优惠"),
        "一般保持客户": gettext_noop("节日问候与常规促销提醒"),
        "一般挽留客户": gettext_noop("低成本触达（短信/公众号），不做重点投入"),
    },
    SPECIAL: {LOW_FREQUENCY_HIGH_VALUE: gettext_noop("定期推送高品质内容保持黏性")},
    "lifecycle": {
        "潜在客户": gettext_noop("首单优惠，促成第一次购买"),
        "新客户": gettext_noop("首购后3天内回访，引导复购"),
        "活跃客户": gettext_noop("保持节奏：新品与会员活动通知"),
        "忠诚客户": gettext_noop("邀请加入会员/推荐有礼"),
        "沉睡客户": gettext_noop("唤醒优惠券与专人问候"),
        "流失客户": gettext_noop("问卷了解原因，大额客户电话回访"),
    },
}
COLUMN_LABELS = {"rfm_class": gettext_lazy("RFM分层"), SPECIAL: gettext_lazy("特征客户"),
                 "lifecycle": gettext_lazy("生命周期")}


def shown(action: str) -> str:
    """A playbook action as the reader sees it: kehu's default text in the reader's language, a shop's own
    text as it was typed."""
    return gettext(action) if action else action


def ensure_defaults() -> None:
    existing = set(Playbook.objects.values_list("column", "class_name"))
    missing = [Playbook(column=col, class_name=name, action=action)
               for col, actions in DEFAULTS.items() for name, action in actions.items() if (col, name) not in existing]
    # Written by the first page that needs them (two pages at once may both try); a store busy then (a long
    # import) gets them on a later page.
    if missing:
        with contextlib.suppress(OperationalError), waiting_at_most(0.5), transaction.atomic():
            Playbook.objects.bulk_create(missing, ignore_conflicts=True)


def classes_of(segment: CustomerSegment | None) -> list[tuple[str, str]]:
    """(column, class) pairs of a customer, in the order their playbooks are shown."""
    if segment is None:
        return [("lifecycle", "潜在客户")]
    pairs = [(col, getattr(segment, col)) for col in ("rfm_class",) if getattr(segment, col)]
    if segment.frequency_tier == "低频" and segment.value_tier == "高价值":
        pairs.append((SPECIAL, LOW_FREQUENCY_HIGH_VALUE))
    if segment.lifecycle:
        pairs.append(("lifecycle", segment.lifecycle))
    return pairs


def actions_for(segment: CustomerSegment | None) -> list[dict]:
    """[{label, class, action}] — the playbook actions that apply to one customer."""
    ensure_defaults()
    pairs = classes_of(segment)
    found = {(p.column, p.class_name): p.action for p in Playbook.objects.filter(class_name__in=[n for _, n in pairs])}
    return [{"label": COLUMN_LABELS.get(col, col), "class": class_label(name), "action": shown(found[(col, name)])}
            for col, name in pairs if (col, name) in found]


def first_actions(segments: list[CustomerSegment]) -> dict[int, str]:
    """{customer id: the first playbook action that applies} for many customers in one query (the risk list)."""
    ensure_defaults()
    found = {(p.column, p.class_name): p.action for p in Playbook.objects.all()}
    actions = {}
    for segment in segments:
        first = next((shown(found[pair]) for pair in classes_of(segment) if pair in found), "")
        actions[segment.customer_id] = first
    return actions
