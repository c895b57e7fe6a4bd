from urllib.parse import urlencode

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kehu.customers.filters import CustomerFilter, contact_value
from kehu.lib.params import BadParameter
from kehu.segments.models import RuleSegment

from .models import Campaign, TargetList
from .targets import audience_choices


class TargetListForm(forms.ModelForm):
    """Whom a list holds, chosen, never typed: a class, a rule segment, or the customer list's filter the user
    came from (carried in a hidden field and shown in words)."""

    source = forms.ChoiceField(label=gettext_lazy("名单来源"), widget=forms.RadioSelect, choices=[
        ("class", gettext_lazy("按客户分层")), ("rule", gettext_lazy("按规则分群"))])
    audience = forms.ChoiceField(label=gettext_lazy("客户分层"), required=False)
    rule = forms.ModelChoiceField(RuleSegment.objects.order_by("name"), label=gettext_lazy("规则分群"),
                                  required=False, empty_label=gettext_lazy("—— 选择规则分群 ——"))

    class Meta:
        model = TargetList
        fields = ["name", "source", "audience", "rule", "filter_query", "channel", "exclude_days"]
        widgets = {"filter_query": forms.HiddenInput}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audience"].choices = [("", _("—— 选择客户分层 ——")), *audience_choices()]
        if self.data.get("filter_query") or self.initial.get("filter_query"):
            self.fields["source"].choices = [("list", _("客户列表的当前筛选")), *self.fields["source"].choices]
            self.initial.setdefault("source", "list")
        else:
            self.initial.setdefault("source", "class")

    def list_filter(self) -> CustomerFilter | None:
        """The customer list's filter this form carries, if any (for describing it on the page)."""
        text = self.data.get("filter_query") or self.initial.get("filter_query") or ""
        try:
            return CustomerFilter.from_params(QueryDict(text)) if text else None
        except BadParameter:
            return None

    def clean_filter_query(self) -> str:
        text = (self.cleaned_data.get("filter_query") or "").strip().lstrip("?")
        try:
            active = CustomerFilter.from_params(QueryDict(text)).active()
        except BadParameter as exc:
            raise forms.ValidationError(exc.message) from exc
        if text and not active:
            raise forms.ValidationError(_("没有识别出任何客户筛选条件，请从客户列表重新进入。"))
        if contact_value(active.get("q", "")):  # the list would keep a person's contact value in plaintext
            raise forms.ValidationError(_("目标名单不能按手机号、电子邮箱或微信号筛选，请改用分层、地区或标签等条件。"))
        return urlencode(active)

    def clean(self):
        data = super().clean()
        source = data.get("source")
        if source == "class" and not data.get("audience"):
            self.add_error("audience", _("请选择客户分层。"))
        elif source == "rule" and not data.get("rule"):
            self.add_error("rule", _("请选择规则分群。"))
        elif source == "list" and not data.get("filter_query") and "filter_query" not in self.errors:
            self.add_error("source", _("没有客户列表的筛选条件，请从客户列表重新进入。"))
        return data

    def save(self, commit=True):
        source = self.cleaned_data["source"]
        column, _sep, name = self.cleaned_data.get("audience", "").partition(":") if source == "class" else ("", "", "")
        self.instance.segment_column, self.instance.segment_class = column, name
        if source == "rule":
            self.instance.filter_query = urlencode({"rule": self.cleaned_data["rule"].pk})
        elif source != "list":
            self.instance.filter_query = ""
        return super().save(commit)


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "target_list", "subject", "message", "offer", "holdout_percent", "attribution_days"]
        widgets = {"message": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None and not user.can_manage:  # a campaign is prepared from one's own target lists
            self.fields["target_list"].queryset = TargetList.objects.filter(created_by=user)

    def clean_holdout_percent(self) -> int:
        value = self.cleaned_data["holdout_percent"]
        if value > 50:
            raise forms.ValidationError(_("对照组比例不能超过 50%。"))
        return value
