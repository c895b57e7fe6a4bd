"""The simple settings tables (系统设置): tags, custom fields, feedback dimensions, playbooks and follow-up
rules. One description per table (`Table`), one set of views for all (settings_views.py): a list with an
add form, an edit page per row, delete where a row may go. Every change is audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kehu.customers.models import CustomField, Tag
from kehu.engagement.models import FeedbackDimension
from kehu.lib import money
from kehu.marketing.automation import rules
from kehu.marketing.models import FollowUpRule, Playbook
from kehu.marketing.playbooks import COLUMN_LABELS, ensure_defaults


@dataclass(frozen=True)
class Table:
    key: str  # the URL: /settings/<key>/
    model: type[models.Model]
    label: str
    description: str
    fields: tuple[str, ...]  # edited
    columns: tuple[str, ...]  # listed
    managers: bool = False  # managers may edit it too (else admins only)
    can_add: bool = True
    can_delete: bool = True
    prepare: Callable[[], object] | None = None  # rows that must exist before the list is shown
    cells: dict[str, Callable] = field(default_factory=dict)  # column → value shown, where not the field's
    order: int = 100

    def cell(self, obj: models.Model, name: str):
        if name in self.cells:
            return self.cells[name](obj)
        display = getattr(obj, f"get_{name}_display", None)
        return display() if display else getattr(obj, name)

    def label_of(self, name: str) -> str:
        """A field's label in the user's language (the models name their fields in Chinese)."""
        return money.unit_label(gettext(str(self.model._meta.get_field(name).verbose_name)))

    def headers(self) -> list[str]:
        return [self.label_of(name) for name in self.columns]


TABLES = {t.key: t for t in (
    Table("tags", Tag, _("标签"), _("客户标签的名称：改名对所有带这个标签的客户生效。"), ("name",), ("name",),
          managers=True, order=30),
    Table("custom-fields", CustomField, _("自定义字段"), _("客户档案里商家自己加的字段（文本、数字、日期、选项）。"),
          ("label", "key", "type", "choices", "position"), ("label", "key", "type", "position"), order=40),
    Table("feedback-dimensions", FeedbackDimension, _("评价维度"), _("客户反馈打分的维度（口味、服务态度、环境…）。"),
          ("name", "position", "active"), ("name", "position", "active"), order=50),
    Table("playbooks", Playbook, _("营销建议"), _("每个分层的建议动作，显示在客户页和流失风险名单上。"),
          ("action",), ("column", "class_name", "action"), managers=True, can_add=False, can_delete=False,
          prepare=ensure_defaults, cells={"column": lambda p: COLUMN_LABELS.get(p.column, p.column)}, order=70),
    Table("follow-up-rules", FollowUpRule, _("自动跟进规则"), _("kehu followups 按这些规则生成跟进任务。"),
          ("enabled", "days", "due_days", "threshold", "min_value", "classes"),
          ("key", "enabled", "days", "due_days", "threshold", "min_value", "classes"),
          managers=True, can_add=False, can_delete=False, prepare=rules, order=75),
)}
