"""Forms for communications, follow-ups, feedback and preferences (pages and API alike)."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from kehu.lib.dates import DateTimeSecondsInput, date_problem

from .models import Communication, Feedback, FeedbackDimension, FeedbackRating, FollowUp, Preference


class CommunicationForm(forms.ModelForm):
    class Meta:
        model = Communication
        fields = ["occurred_at", "method", "content", "outcome", "next_follow_up"]
        widgets = {
            "occurred_at": DateTimeSecondsInput(),
            "content": forms.Textarea(attrs={"rows": 3}),
            "next_follow_up": forms.DateInput(attrs={"type": "date"}),
        }

    def clean_occurred_at(self):
        value = self.cleaned_data["occurred_at"]
        if msg := date_problem(value, str(_("沟通时间"))):
            raise forms.ValidationError(msg)
        return value


class FollowUpForm(forms.ModelForm):
    class Meta:
        model = FollowUp
        fields = ["title", "due", "assignee"]
        widgets = {"due": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["assignee"].required = False


class FeedbackForm(forms.ModelForm):
    """Comment plus one 1–5 score field per active dimension the shop defined (score_<id>)."""

    class Meta:
        model = Feedback
        fields = ["received_at", "comment"]
        widgets = {
            "received_at": DateTimeSecondsInput(),
            "comment": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dimensions = list(FeedbackDimension.objects.filter(active=True))
        for dim in self.dimensions:
            self.fields[f"score_{dim.pk}"] = forms.TypedChoiceField(
                label=dim.label, required=False, coerce=int, empty_value=None,
                choices=[("", "—")] + [(i, "★" * i) for i in range(5, 0, -1)],
            )

    def clean_received_at(self):
        value = self.cleaned_data["received_at"]
        if msg := date_problem(value, str(_("反馈时间"))):
            raise forms.ValidationError(msg)
        return value

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("comment") and not any(cleaned.get(f"score_{d.pk}") for d in self.dimensions):
            raise forms.ValidationError(_("请至少填写一项评分或评价内容"))
        return cleaned

    def save(self, commit: bool = True) -> Feedback:
        feedback = super().save(commit=commit)
        if commit:
            for dim in self.dimensions:
                if score := self.cleaned_data.get(f"score_{dim.pk}"):
                    FeedbackRating.objects.create(feedback=feedback, dimension=dim, score=score)
        return feedback


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = Preference
        fields = ["categories", "preferred_channel", "notes"]
        widgets = {"categories": forms.CheckboxSelectMultiple}
