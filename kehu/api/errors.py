"""Errors as API callers see them: always JSON, always a Chinese message, field errors keyed by field."""

from django.forms import BaseForm
from ninja.errors import HttpError


class FormInvalid(Exception):
    """A form did not validate: 422 with {"errors": {field: [messages]}} (and the duplicate's code)."""

    def __init__(self, errors: dict[str, list[str]], duplicate_of: str | None = None):
        self.errors = errors
        self.duplicate_of = duplicate_of
        super().__init__(errors)

    @classmethod
    def from_form(cls, form: BaseForm, names: dict[str, str] | None = None, duplicate_of: str | None = None):
        return cls(field_errors(form, names), duplicate_of)


def field_errors(form: BaseForm, names: dict[str, str] | None = None) -> dict[str, list[str]]:
    """form.errors keyed by the API's field names (`names` maps form names to API names)."""
    names = names or {}
    return {names.get(field, field): [str(m) for m in messages] for field, messages in form.errors.items()}


def forbidden(message: str) -> HttpError:
    return HttpError(403, message)


def not_found(message: str = "未找到") -> HttpError:
    return HttpError(404, message)


_MESSAGES = {
    "missing": "此字段为必填项",
    "extra_forbidden": "不支持的字段",
    "int_parsing": "请输入整数",
    "int_type": "请输入整数",
    "int_from_float": "请输入整数",
    "decimal_parsing": "请输入数字",
    "decimal_type": "请输入数字",
    "float_parsing": "请输入数字",
    "float_type": "请输入数字",
    "string_type": "请输入文本",
    "list_type": "请输入列表",
    "dict_type": "请输入对象",
    "bool_parsing": "请输入 true 或 false",
    "bool_type": "请输入 true 或 false",
    "json_invalid": "请求体不是有效的 JSON",
    "model_attributes_type": "请求体应为 JSON 对象",
    "literal_error": "不是可选的值",
    "enum": "不是可选的值",
}


def pydantic_errors(errors: list[dict]) -> dict[str, list[str]]:
    """Ninja's request-validation errors, in Chinese, keyed by field ('limit', 'lines.0.quantity')."""
    result: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        # ('body', 'payload', 'mobile') → 'mobile'; ('query', 'limit') → 'limit'
        if loc and loc[0] == "body":
            loc = loc[2:] or loc[1:]
        elif loc:
            loc = loc[1:]
        ctx = error.get("ctx") or {}
        kind = error.get("type", "")
        if kind == "less_than_equal":
            message = f"不能大于 {ctx.get('le')}"
        elif kind == "greater_than_equal":
            message = f"不能小于 {ctx.get('ge')}"
        elif kind == "string_too_long":
            message = f"最多 {ctx.get('max_length')} 个字符"
        else:
            message = _MESSAGES.get(kind, error.get("msg", "无效的值"))
        result.setdefault(".".join(loc) or "__all__", []).append(message)
    return result


def bad_request(request, exception):
    """handler400: a refused request (an empty or unknown Host header…) under /api/ is answered in JSON, as the
    schema documents; pages get Django's own 400 page."""
    from django.http import JsonResponse
    from django.views.defaults import bad_request as page

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "请求无效"}, status=400, json_dumps_params={"ensure_ascii": False})
    return page(request, exception)
