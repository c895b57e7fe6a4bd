"""Customer validation in one place: the edit page, the API and spreadsheet import all use CustomerForm."""

import re

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from kehu.lib.dates import DateTimeSecondsInput, date_problem
from kehu.lib.phones import InvalidMobile, normalize_mobile

from . import probes
from .models import Customer, CustomField, Tag

CODE_PATTERN = re.compile(r"[\w-][\w.-]*")  # \w: letters of any script (客户 too), digits and '_'


def validate_customer_code(code: str) -> None:
    """A customer code is one word of letters, digits, '-', '_' and '.', not starting with '.': it is part of
    the customer's address (/customers/<code>/) and of files people export and import again."""
    if not CODE_PATTERN.fullmatch(code):
        raise forms.ValidationError(
            _("客户编号只能由字母、数字、“-”、“_”和“.”组成，且不能以“.”开头：%(code)s") % {"code": code[:40]},
            code="invalid_code")


class MobileField(forms.CharField):
    """Accepts '138 1234 5678', '+86 138…', 13812345678.0; cleans to +8613812345678."""

    def to_python(self, value):
        if value in self.empty_values:
            return ""
        try:
            return normalize_mobile(value)
        except InvalidMobile as exc:
            raise forms.ValidationError(str(exc), code="invalid_mobile") from exc


class TagsField(forms.CharField):
    """Tags typed as '老客户, VIP、团购' (comma, Chinese comma, 、 or space)."""

    def to_python(self, value):
        if isinstance(value, list | tuple):
            names = [str(v) for v in value]
        else:
            import re

            names = re.split(r"[,，、;；\s]+", value or "")
        return sorted({n.strip()[:30] for n in names if n.strip()})


def find_duplicate(field: str, value: str, exclude_pk: int | None = None) -> Customer | None:
    """The existing customer with the same normalised mobile, e-mail or WeChat ID, if any."""
    if not value:
        return None
    lookup = {"mobile": Customer.objects.by_mobile, "email": Customer.objects.by_email,
              "wechat": Customer.objects.by_wechat}[field]
    qs = lookup(value)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.only("id", "code", "name").first()


class CustomerForm(forms.ModelForm):
    mobile = MobileField(label="手机", required=False, max_length=40)
    email = forms.EmailField(label="电子邮箱", required=False,
                             error_messages={"invalid": "请输入有效的电子邮箱地址"})
    wechat = forms.CharField(label="微信号", required=False, max_length=60)
    address = forms.CharField(label="详细地址", required=False, max_length=200)
    birthday = forms.DateField(label="生日", required=False, widget=forms.DateInput(attrs={"type": "date"}),
                               error_messages={"invalid": "请输入有效的日期，如 1990-05-01"})
    tag_names = TagsField(label="标签", required=False, help_text="多个标签用逗号或顿号分隔")
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Customer
        fields = [
            "code", "name", "kind", "gender", "birthday", "mobile", "email", "wechat",
            "province", "city", "district", "address", "registered_at", "source",
            "company", "industry", "company_size", "grade", "owner", "notes",
        ]
        widgets = {
            "registered_at": DateTimeSecondsInput(),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.duplicate_of: Customer | None = None
        self.fields["code"].required = False
        self.fields["code"].help_text = "留空则自动生成"
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
            self.fields["tag_names"].initial = "、".join(t.name for t in self.instance.tags.all())
        if user is not None and not user.sees_all_customers:
            # A sales rep owns what they create and cannot hand customers to others.
            del self.fields["owner"]
        if user is not None and self.instance.pk and not user.sees_contact_details:
            # Who may not see contact details may not overwrite them either.
            for name in Customer.CONTACT_FIELDS:
                del self.fields[name]
        self.custom_fields = list(CustomField.objects.all())
        for cf in self.custom_fields:
            self.fields[f"cf_{cf.key}"] = self._custom_form_field(cf)
            self.fields[f"cf_{cf.key}"].initial = (self.instance.extra or {}).get(cf.key)

    @staticmethod
    def _custom_form_field(cf: CustomField) -> forms.Field:
        if cf.type == CustomField.Type.NUMBER:
            return forms.DecimalField(label=cf.label, required=False)
        if cf.type == CustomField.Type.DATE:
            return forms.DateField(label=cf.label, required=False, widget=forms.DateInput(attrs={"type": "date"}))
        if cf.type == CustomField.Type.CHOICE:
            return forms.ChoiceField(label=cf.label, required=False,
                                     choices=[("", "—")] + [(c, c) for c in cf.choice_list])
        return forms.CharField(label=cf.label, required=False, max_length=200)

    def clean_email(self):
        return (self.cleaned_data.get("email") or "").strip().lower()

    def clean_wechat(self):
        return (self.cleaned_data.get("wechat") or "").strip()

    def clean_birthday(self):
        value = self.cleaned_data.get("birthday")
        if value and (msg := date_problem(value, "生日")):
            raise forms.ValidationError(msg)
        return value

    def clean_registered_at(self):
        value = self.cleaned_data.get("registered_at")
        if value and (msg := date_problem(value, "注册时间")):
            raise forms.ValidationError(msg)
        return value

    def clean_code(self):
        code = (self.cleaned_data.get("code") or "").strip()
        if not code and self.instance.pk:
            return self.instance.code  # left empty on an edit: the customer keeps its code (and its address)
        if code and code != self.instance.code:  # a code stored before the rule may stay as it is
            validate_customer_code(code)
        return code

    def clean(self):
        """Duplicates by mobile, e-mail or WeChat, for a new customer or a changed contact: a pair already stored
        (waiting on the merge page) does not block editing either of them. One the user may not see (a colleague's
        customer) is named by no name, code or id; such hits are audited and limited per hour (see probes.py)."""
        cleaned = super().clean()
        labels = {"mobile": "手机号码", "email": "电子邮箱", "wechat": "微信号"}
        exhausted = None
        for field, label in labels.items():
            value = cleaned.get(field, "") if field in self.fields else ""
            if not value or (self.instance.pk and field not in self.changed_data):
                continue
            if probes.guarded(self.user):
                exhausted = probes.duplicate_probes_exhausted(self.user) if exhausted is None else exhausted
                if exhausted:
                    self.add_error(field, forms.ValidationError(probes.duplicate_limit_message(),
                                                                code="rate_limited"))
                    continue
            dup = find_duplicate(field, value, exclude_pk=self.instance.pk)
            if dup and probes.hidden_from(self.user, dup):
                probes.record_hidden_duplicate(self.user, field, value, dup)
                self.add_error(field, forms.ValidationError(probes.hidden_duplicate_message(field),
                                                            code="duplicate_hidden"))
            elif dup:
                self.duplicate_of = dup
                self.add_error(field, forms.ValidationError(
                    f"{label}与已有客户 {dup.name}（{dup.code}）重复", code="duplicate"))
        return cleaned

    def save(self, commit: bool = True) -> Customer:
        customer = super().save(commit=False)
        extra = dict(customer.extra or {})
        for cf in self.custom_fields:
            value = self.cleaned_data.get(f"cf_{cf.key}")
            if value in (None, ""):
                extra.pop(cf.key, None)
            else:
                extra[cf.key] = value.isoformat() if hasattr(value, "isoformat") else str(value)
        customer.extra = extra
        if self.user is not None and not self.user.sees_all_customers and not customer.owner_id:
            customer.owner = self.user
        if commit:
            customer.save()
            self.save_tags(customer)
        return customer

    def save_tags(self, customer: Customer) -> None:
        if "tag_names" not in self.cleaned_data:
            return
        tags = [Tag.objects.get_or_create(name=n)[0] for n in self.cleaned_data["tag_names"]]
        customer.tags.set(tags)
