import pytest
from django.test import Client

from kehu.accounts.tokens import issue_token

pytestmark = pytest.mark.django_db


def test_the_docs_and_the_schema_are_for_signed_in_callers_only(alice):
    for path in ("/api/docs", "/api/openapi.json"):
        answer = Client().get(path)
        assert answer.status_code == 302 and answer.url.startswith("/accounts/login/"), path
        assert Client(headers={"Authorization": "Bearer kehu_not-a-real-token"}).get(path).status_code == 302
    _, raw = issue_token(alice)
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/openapi.json").status_code == 200


def test_the_schema_lists_the_customer_paths(alice):
    client = Client()
    client.force_login(alice)
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "kehu 客户分层管理 API"
    for path in ("/api/customers", "/api/customers/{code}", "/api/customers/{code}/orders",
                 "/api/customers/{code}/communications", "/api/follow-ups"):
        assert path in schema["paths"], path
    assert set(schema["paths"]["/api/customers/{code}"]) == {"get", "patch", "delete"}
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}


def test_the_docs_page_uses_local_files_only(alice):
    client = Client()
    client.force_login(alice)
    response = client.get("/api/docs")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
