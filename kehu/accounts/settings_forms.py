"""Forms of the users page in settings. User names and passwords follow the rules of credentials.py
(the model's validators and settings.AUTH_PASSWORD_VALIDATORS), as `kehu createuser` does."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from kehu.lib import money

from .models import Role, User


class UserCreateForm(UserCreationForm):
    role = forms.ChoiceField(label=_("角色"), choices=Role.choices, initial=Role.SALES)

    class Meta:
        model = User
        fields = ("username", "last_name", "first_name", "email", "role")
        labels = {"last_name": _("姓"), "first_name": _("名"), "email": _("电子邮箱")}


class UserEditForm(forms.ModelForm):
    role = forms.ChoiceField(label=_("角色"), choices=Role.choices)

    class Meta:
        model = User
        fields = ("last_name", "first_name", "email", "role")
        labels = {"last_name": _("姓"), "first_name": _("名"), "email": _("电子邮箱")}


class CurrencyForm(forms.Form):
    currency = forms.ChoiceField(label=_("币种"), choices=money.CHOICES,
                                 help_text=_("所有金额（页面、说明、导出、图表）都以此币种显示；只改显示，不换算已有金额。"))
