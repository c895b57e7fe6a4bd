"""The JSON API under /api/: one NinjaAPI, its routers, and errors in Chinese. Docs at /api/docs."""

import json

from django.http import Http404, HttpRequest
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import JSONRenderer

from kehu.lib.params import BadParameter

from . import customers, engagement, orders, risk
from .access import user_ref
from .auth import SessionAuth, TokenAuth, signed_in_only
from .errors import FormInvalid, pydantic_errors
from .schemas import Me

DESCRIPTION = """
kehu 客户档案的 JSON 接口：客户、消费记录、沟通记录与跟进任务。

**认证**：在请求头中加入 `Authorization: Bearer <令牌>`，令牌由管理员在服务器上用
`kehu apitoken 用户名 [--name 名称]` 生成（只显示一次）。在浏览器中已登录时也可直接调用（写操作需 CSRF 令牌）。

**权限与掩码**与页面一致：销售只能看到和修改自己负责的客户（其他客户返回 404）；只读账号不能修改（403）；
无权查看联系方式的角色看到的手机、邮箱、微信、地址、生日为掩码（如 138****5678）。

**错误**：`{"detail": "…"}`；字段校验错误为 422 `{"errors": {"mobile": ["…"]}}`；
修改冲突为 409 `{"detail": "…", "version": 当前版本}`。

**翻页**：列表返回 `items`、`next_cursor`、`prev_cursor`；把游标作为 `cursor` 参数传回即可翻页。
"""



class ReadableJSON(JSONRenderer):
    """UTF-8 JSON with Chinese as Chinese (not \\uXXXX escapes)."""

    json_dumps_params = {"ensure_ascii": False}


class StrictJSONParser(Parser):
    """JSON bodies whose text can be stored: a lone surrogate ("\\ud800") is refused (400) like broken JSON,
    instead of failing deep in the database driver."""

    def parse_body(self, request: HttpRequest):
        data = super().parse_body(request)
        json.dumps(data, ensure_ascii=False).encode()  # UnicodeEncodeError on a lone surrogate
        return data


class KehuAPI(NinjaAPI):
    """The schema also documents the errors any operation can answer: 401 without a valid token, 400 for a body
    that is not JSON, 422 when parameters or body do not validate (schemathesis found them undocumented)."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if 401 not in responses and "401" not in responses:
                    responses[401] = {"description": "未登录或令牌无效", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}
                if operation.get("requestBody") and 400 not in responses and "400" not in responses:
                    responses[400] = {"description": "请求体不是有效的 JSON", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}
                if (operation.get("parameters") or operation.get("requestBody")) \
                        and 422 not in responses and "422" not in responses:
                    responses[422] = {"description": "参数或请求体校验失败", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/FieldErrors"}}}}
        return schema


api = KehuAPI(
    title="kehu 客户分层管理 API",
    version="1.0",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=[TokenAuth(), SessionAuth()],
    docs_decorator=signed_in_only,
    renderer=ReadableJSON(),
    parser=StrictJSONParser(),
)

me = Router(tags=["账号"])


@me.get("/me", response=Me, summary="当前用户", description="调用者是谁，以及其角色和权限。")
def who_am_i(request: HttpRequest) -> dict:
    user = request.user
    return {**user_ref(user), "role": user.role, "sees_contact_details": user.sees_contact_details,
            "sees_all_customers": user.sees_all_customers, "can_edit_customers": user.can_edit_customers,
            "can_manage": user.can_manage}


api.add_router("", me)
api.add_router("", customers.router)
api.add_router("", orders.router)
api.add_router("", engagement.router)
api.add_router("", risk.router)


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, exc: AuthenticationError):
    response = api.create_response(
        request, {"detail": "未登录或令牌无效：请在请求头中加入 Authorization: Bearer <令牌>"}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="kehu"'
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError):
    message = str(exc)
    if message.startswith("Cannot parse request body"):
        message = "请求体不是有效的 JSON（或含有无法保存的字符，如单独的 Unicode 代理项 \\ud800）"
    return api.create_response(request, {"detail": message}, status=exc.status_code)


@api.exception_handler(ValidationError)
def invalid_request(request: HttpRequest, exc: ValidationError):
    return api.create_response(request, {"errors": pydantic_errors(exc.errors)}, status=422)


@api.exception_handler(BadParameter)
def bad_parameter(request: HttpRequest, exc: BadParameter):
    return api.create_response(request, {"errors": {exc.name: [exc.message]}}, status=422)


@api.exception_handler(FormInvalid)
def invalid_form(request: HttpRequest, exc: FormInvalid):
    body: dict = {"errors": exc.errors}
    if exc.duplicate_of:
        body["duplicate_of"] = exc.duplicate_of
    return api.create_response(request, body, status=422)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404):
    return api.create_response(request, {"detail": "未找到"}, status=404)
