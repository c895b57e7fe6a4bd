import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_schema_lists_the_customer_paths():
    schema = Client().get("/api/openapi.json").json()
    assert schema["info"]["title"] == "kehu 客户分层管理 API"
    for path in ("/api/customers", "/api/customers/{code}", "/api/customers/{code}/orders",
                 "/api/customers/{code}/communications", "/api/follow-ups"):
        assert path in schema["paths"], path
    assert set(schema["paths"]["/api/customers/{code}"]) == {"get", "patch", "delete"}
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}


def test_the_docs_page_uses_local_files_only():
    response = Client().get("/api/docs")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
