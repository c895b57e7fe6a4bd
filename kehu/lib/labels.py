"""Class names in the reader's language: the one place a class name kehu computed is turned into words.

Classes are stored as their Chinese names (重要价值客户, 活跃客户, 服装忠实客户 …): the names are the values that
filters, rule segments, target lists and snapshots compare. Every page, chart, badge and explanation shows
them through :func:`class_label` (in templates the ``class_label`` filter), which gives the English name when
English is chosen and the stored name otherwise.
"""

from django.utils.translation import gettext, gettext_noop

LOYAL_SUFFIX = "忠实客户"  # 「<品类>忠实客户」: category loyalty, the category being the shop's own name

# The msgids of every class name (kept here so the catalogue holds them; the names themselves live in
# kehu.segments.engine.classify, which stays free of Django).
CLASS_MSGIDS = (
    gettext_noop("重要价值客户"), gettext_noop("重要发展客户"), gettext_noop("重要保持客户"),
    gettext_noop("重要挽留客户"), gettext_noop("一般价值客户"), gettext_noop("一般发展客户"),
    gettext_noop("一般保持客户"), gettext_noop("一般挽留客户"),
    gettext_noop("冠军客户"), gettext_noop("忠诚客户"), gettext_noop("潜力客户"), gettext_noop("新客户"),
    gettext_noop("有望客户"), gettext_noop("需要关注"), gettext_noop("即将沉睡"), gettext_noop("有流失风险"),
    gettext_noop("不能失去"), gettext_noop("沉睡客户"),
    gettext_noop("高频"), gettext_noop("中频"), gettext_noop("低频"),
    gettext_noop("高价值"), gettext_noop("中价值"), gettext_noop("低价值"),
    gettext_noop("潜在客户"), gettext_noop("活跃客户"), gettext_noop("流失客户"),
    gettext_noop("上升"), gettext_noop("持平"), gettext_noop("下降"),
    gettext_noop("综合客户"), gettext_noop("低频高客单"), gettext_noop("（无）"),
)


def class_label(name) -> str:
    """重要价值客户 → "High-value loyal" in English; a stored name stays as it is in Chinese.
    「<品类>忠实客户」 keeps the category's own name: 服装忠实客户 → "服装 loyal"."""
    if not name:
        return name if name is not None else ""
    name = str(name)
    if name.endswith(LOYAL_SUFFIX) and len(name) > len(LOYAL_SUFFIX):
        return gettext("%(category)s忠实客户") % {"category": name[: -len(LOYAL_SUFFIX)]}
    return gettext(name)
