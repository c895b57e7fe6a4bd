"""Custom rule segments (规则分群) pages: the list with each rule in words and a live member count, the
create/edit form (a simple builder of up to 6 condition rows, or the rules as JSON for nested groups),
and delete.

Everyone signed in sees the list (counts over the customers they may see); only admins and managers
(`user.can_manage`) create, edit and delete. The members are listed by the customer list itself:
`/customers/?rule=<id>` (CustomerFilter looks the rule up through `RuleSegment.lookup`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from kehu.customers.filters import SEGMENT_FILTERS, CustomerFilter
from kehu.customers.models import CompanySize, Customer, Gender, Kind
from kehu.lib import ages

from . import reports
from .models import RuleSegment
from .rules import FIELDS, OPS_BY_KIND, RuleError, uses_age_band, validate

ROWS = 6
OPS = [("in", gettext_lazy("是")), ("not_in", gettext_lazy("不是")), ("gte", "≥"), ("lte", "≤"),
       ("between", gettext_lazy("介于")), ("gt", ">"), ("lt", "<"), ("eq", "="), ("before", gettext_lazy("早于")),
       ("after", gettext_lazy("晚于")), ("within_days", gettext_lazy("最近 N 天内"))]
_SPLIT = re.compile(r"\s*[,，、;；\n]\s*")
# Stored codes a user types by their Chinese label (类型：个人, 公司规模：10–49人).
_LABELS = {"kind": dict(Kind.choices), "company_size": dict(CompanySize.choices), "gender": dict(Gender.choices)}
# Customer list filters that have a rule field of their own (the list's `tag` is the rule's `tags`).
_FROM_LIST = {name: name for name in ("province", "city", "industry", "company_size", "grade", "kind",
                                      "gender", "age_band", *SEGMENT_FILTERS)} | {"tag": "tags"}


def require_manager(user) -> None:
    if not user.can_manage:
        raise PermissionDenied(_("只有管理员和经理可以修改规则分群"))


# --- rules ⇄ builder rows -----------------------------------------------------------------------------

def _parse_value(name: str, text: str):
    """One typed value as stored in the rules; what cannot be read is kept so validate() names it."""
    kind = FIELDS[name].kind
    if kind in ("number", "money", "days"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            return text
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "bool":
        return {"是": True, "否": False, "yes": True, "no": False}.get(text.lower(), text)
    if name == "age_band":
        return ages.key_from_label(text)
    if kind == "id":
        if text.isdigit():
            return int(text)
        user = get_user_model().objects.filter(username=text).first()
        return user.pk if user else text
    if name in _LABELS:
        return {label: code for code, label in _LABELS[name].items()}.get(text, text)
    return text


def _values_text(name: str, values: list) -> str:
    if name == "age_band":
        return "、".join(ages.label(str(v)) for v in values)
    if FIELDS[name].kind == "bool":
        return _("、").join(_("是") if v is True else _("否") if v is False else str(v) for v in values)
    return "、".join(str(_LABELS.get(name, {}).get(v, v)) for v in values)


def rules_from_list_filter(flt: CustomerFilter) -> tuple[dict | None, list[str]]:
    """The customer list's filters as rules (one condition per filter, all must hold), and the filters
    that rules cannot express (a search, "no owner", another rule segment)."""
    items = [{"field": field, "op": "in", "values": [_list_value(getattr(flt, name))]}
             for name, field in _FROM_LIST.items() if getattr(flt, name)]
    if flt.owner.isdigit():
        items.append({"field": "owner", "op": "in", "values": [int(flt.owner)]})
    skipped = [label for name, label in (("q", "搜索"), ("owner", "无负责人"), ("rule", "规则分群"))
               if getattr(flt, name) and not (name == "owner" and flt.owner.isdigit())]
    return ({"op": "and", "items": items} if items else None), skipped


class TaggedSelect(forms.Select):
    """A select whose options carry a data attribute: the kind of each field, or the kinds an operator fits,
    so the builder (segments/rules.js) offers only the comparisons the chosen field allows."""

    def __init__(self, attribute: str, tags: dict[str, str]):
        super().__init__()
        self.attribute, self.tags = attribute, tags

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.tags:
            option["attrs"][self.attribute] = self.tags[value]
        return option


FIELD_KINDS = {key: field.kind for key, field in FIELDS.items()}
OP_KINDS = {op: " ".join(kind for kind, ops in OPS_BY_KIND.items() if op in ops) for op, _label in OPS}


def _list_value(value: str) -> str:
    """A list filter's value as a rule value: the list's gender/age band "unknown" is the stored ""."""
    return "" if value == "unknown" else value


def _refuse_age_band(form: RuleSegmentForm, user) -> bool:
    """A rule on the age band lists customers by age: only a role that sees birthdays in full may write one."""
    if uses_age_band(form.cleaned_data["rules"]) and not user.sees_contact_details:
        form.add_error(None, _("按年龄段筛选客户需要查看完整生日的权限；各年龄段的汇总见“年龄与性别”分析"))
        return True
    return False


class RuleSegmentForm(forms.Form):
    """Name + either the builder rows (a top-level 且/或 over up to 6 conditions) or the rules as JSON."""

    name = forms.CharField(label=gettext_lazy("名称"), max_length=60)
    combine = forms.ChoiceField(label=gettext_lazy("条件之间"), initial="and", choices=[
        ("and", gettext_lazy("全部满足（且）")), ("or", gettext_lazy("满足任一（或）"))])
    advanced = forms.CharField(
        label=gettext_lazy("高级：规则 JSON"), required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}),
        help_text=gettext_lazy("需要嵌套的“且/或”条件组时使用；填写后不要再填写上面的条件行。"))

    def __init__(self, *args, instance: RuleSegment | None = None, rules: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance = instance
        field_choices = [("", _("— 选择字段 —"))] + [(key, field.label) for key, field in FIELDS.items()]
        for i in range(1, ROWS + 1):
            self.fields[f"field_{i}"] = forms.ChoiceField(label=_("第 %(n)s 行字段") % {"n": i},
                                                          choices=field_choices, required=False,
                                                          widget=TaggedSelect("data-kind", FIELD_KINDS))
            self.fields[f"op_{i}"] = forms.ChoiceField(label=_("第 %(n)s 行比较") % {"n": i}, choices=OPS,
                                                       required=False, widget=TaggedSelect("data-kinds", OP_KINDS))
            self.fields[f"values_{i}"] = forms.CharField(label=_("第 %(n)s 行的值") % {"n": i}, required=False,
                                                         max_length=500)
        if instance is not None:
            self.initial.setdefault("name", instance.name)
            rules = instance.rules
        if rules and not self.is_bound:
            self._fill(rules)

    def _fill(self, rules: dict) -> None:
        items = rules.get("items", [])
        flat = "items" in rules and all("items" not in item for item in items) and len(items) <= ROWS
        if not flat:
            self.initial["advanced"] = json.dumps(rules, ensure_ascii=False, indent=2)
            return
        self.initial["combine"] = rules.get("op", "and")
        for i, item in enumerate(items, start=1):
            self.initial.update({f"field_{i}": item.get("field"), f"op_{i}": item.get("op", "in"),
                                 f"values_{i}": _values_text(item.get("field"), item.get("values") or [])})

    def rows(self) -> list[tuple[int, forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [(i, self[f"field_{i}"], self[f"op_{i}"], self[f"values_{i}"]) for i in range(1, ROWS + 1)]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        same = RuleSegment.objects.filter(name=name)
        if self.instance is not None:
            same = same.exclude(pk=self.instance.pk)
        if same.exists():
            raise forms.ValidationError(_("已有同名的规则分群"))
        return name

    def clean(self) -> dict:
        data = super().clean()
        items, row_errors = [], False
        for i in range(1, ROWS + 1):
            name, text = data.get(f"field_{i}") or "", (data.get(f"values_{i}") or "").strip()
            if not name and not text:
                continue
            if not name:
                self.add_error(f"field_{i}", _("第 %(n)s 行：请选择字段") % {"n": i})
                row_errors = True
                continue
            values = [_parse_value(name, v) for v in _SPLIT.split(text) if v]
            node = {"field": name, "op": data.get(f"op_{i}") or "in", "values": values}
            problems = validate(node)
            if problems:
                self.add_error(f"values_{i}", _("第 %(n)s 行：%(problem)s") % {"n": i, "problem": problems[0]})
                row_errors = True
            else:
                items.append(node)
        advanced = (data.get("advanced") or "").strip()
        if advanced:
            if items or row_errors:
                raise forms.ValidationError(_("请只用一种方式填写条件：条件行或高级 JSON"))
            data["rules"] = self._advanced_rules(advanced)
        elif not items and not row_errors:
            raise forms.ValidationError(_("请至少填写一个条件"))
        else:
            data["rules"] = {"op": data.get("combine") or "and", "items": items}
        return data

    def _advanced_rules(self, text: str) -> dict | None:
        try:
            rules = json.loads(text)
        except json.JSONDecodeError as error:
            self.add_error("advanced", _("JSON 格式错误（第 %(line)s 行第 %(col)s 列）")
                           % {"line": error.lineno, "col": error.colno})
            return None
        if not isinstance(rules, dict):
            self.add_error("advanced", _("规则必须是一个条件组，如 {\"op\": \"and\", \"items\": […]}"))
            return None
        if "items" not in rules:  # one condition on its own
            rules = {"op": "and", "items": [rules]}
        problems = validate(rules)
        if problems:
            self.add_error("advanced", problems[0])
            return None
        return rules


# --- pages --------------------------------------------------------------------------------------------

def _layout(request: HttpRequest) -> dict:
    return {"tab": "rules", "run": reports.latest_run(), "scoped": not request.user.sees_all_customers}


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    visible = Customer.objects.visible_to(request.user)
    rows = []
    for segment in RuleSegment.objects.select_related("created_by"):
        # a count over an age-band rule with narrow conditions would tell a masked role someone's age
        hidden = uses_age_band(segment.rules) and not request.user.sees_contact_details
        try:
            count = None if hidden else segment.members(visible).count()
        except RuleError:
            count = None
        rows.append({"segment": segment, "text": segment.describe(), "count": count, "hidden": hidden})
    return render(request, "segments/rules.html", {**_layout(request), "rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def rule_create(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    skipped: list[str] = []
    if request.method == "POST":
        form = RuleSegmentForm(request.POST)
        if form.is_valid() and not _refuse_age_band(form, request.user):
            segment = RuleSegment.objects.create(name=form.cleaned_data["name"], rules=form.cleaned_data["rules"],
                                                 created_by=request.user)
            messages.success(request, _("已保存规则分群“%(name)s”") % {"name": segment.name})
            return redirect("segments:rules")
    else:
        rules, skipped = rules_from_list_filter(CustomerFilter.from_params(request.GET))
        form = RuleSegmentForm(rules=rules)
    return render(request, "segments/rules_form.html", {**_layout(request), "form": form, "skipped": skipped})


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_manager(request.user)
    segment = get_object_or_404(RuleSegment, pk=pk)
    form = RuleSegmentForm(request.POST or None, instance=segment)
    if request.method == "POST" and form.is_valid() and not _refuse_age_band(form, request.user):
        segment.name, segment.rules = form.cleaned_data["name"], form.cleaned_data["rules"]
        segment.save()
        messages.success(request, _("已保存规则分群“%(name)s”") % {"name": segment.name})
        return redirect("segments:rules")
    return render(request, "segments/rules_form.html", {**_layout(request), "form": form, "segment": segment})


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_manager(request.user)
    segment = get_object_or_404(RuleSegment, pk=pk)
    segment.delete()
    messages.success(request, _("已删除规则分群“%(name)s”") % {"name": segment.name})
    return redirect("segments:rules")
