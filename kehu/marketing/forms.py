from urllib.parse import urlencode

from django import forms
from django.http import QueryDict

from kehu.customers.filters import CustomerFilter
from kehu.lib.params import BadParameter

from .models import Campaign, TargetList
from .targets import audience_choices


class TargetListForm(forms.ModelForm):
    audience = forms.ChoiceField(label="客户分层", required=False)

    class Meta:
        model = TargetList
        fields = ["name", "audience", "filter_query", "channel", "exclude_days"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audience"].choices = [("", "—— 不按分层 ——"), *audience_choices()]

    def clean_filter_query(self) -> str:
        text = self.cleaned_data["filter_query"].strip().lstrip("?")
        if "/customers/" in text:  # a whole address pasted from the customer list
            text = text.split("?", 1)[1] if "?" in text else ""
        try:
            active = CustomerFilter.from_params(QueryDict(text)).active()
        except BadParameter as exc:
            raise forms.ValidationError(exc.message) from exc
        if text and not active:
            raise forms.ValidationError("没有识别出任何客户筛选条件，请从客户列表复制地址中 ? 之后的部分。")
        return urlencode(active)

    def save(self, commit=True):
        column, _, name = self.cleaned_data.get("audience", "").partition(":")
        self.instance.segment_column, self.instance.segment_class = column, name
        return super().save(commit)


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "target_list", "subject", "message", "offer", "holdout_percent", "attribution_days"]
        widgets = {"message": forms.Textarea(attrs={"rows": 4})}

    def clean_holdout_percent(self) -> int:
        value = self.cleaned_data["holdout_percent"]
        if value > 50:
            raise forms.ValidationError("对照组比例不能超过 50%。")
        return value
