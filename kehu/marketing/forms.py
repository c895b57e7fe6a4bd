from urllib.parse import urlencode

from django import forms
from django.http import QueryDict

from kehu.customers.filters import CustomerFilter, contact_value

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
        active = CustomerFilter.from_params(QueryDict(text)).active()
        if text and not active:
            raise forms.ValidationError("没有识别出任何客户筛选条件，请从客户列表复制地址中 ? 之后的部分。")
        if contact_value(active.get("q", "")):  # the list would keep a person's contact value in plaintext
            raise forms.ValidationError("目标名单不能按手机号、电子邮箱或微信号筛选，请改用分层、地区或标签等条件。")
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

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None and not user.can_manage:  # a campaign is prepared from one's own target lists
            self.fields["target_list"].queryset = TargetList.objects.filter(created_by=user)

    def clean_holdout_percent(self) -> int:
        value = self.cleaned_data["holdout_percent"]
        if value > 50:
            raise forms.ValidationError("对照组比例不能超过 50%。")
        return value
