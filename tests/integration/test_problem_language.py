"""Problems speak the screen's language: the desk sends its locale as Accept-Language and
gets zh-CN titles, validation details and field messages; English stays pydantic's."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tenant

ZH = {"Accept-Language": "zh-CN"}


def test_validation_problems_in_chinese_for_a_chinese_screen(
    client: TestClient, tenant_a: Tenant
) -> None:
    body = {"name": "队" * 201, "kind": "team", "surprise": 1}
    zh = client.post("/api/v1/teams", headers=tenant_a.headers | ZH, json=body)
    en = client.post("/api/v1/teams", headers=tenant_a.headers, json=body)

    assert zh.status_code == en.status_code == 422
    assert (zh.json()["title"], zh.json()["detail"]) == ("输入无效", "请求无效")
    zh_fields = {e["loc"][-1]: e["msg"] for e in zh.json()["errors"]}
    assert zh_fields == {"name": "最多 200 个字符", "surprise": "不允许此字段"}
    assert en.json()["detail"] == "the request is not valid"
    assert {e["msg"] for e in en.json()["errors"]} == {
        "String should have at most 200 characters",
        "Extra inputs are not permitted",
    }


def test_domain_problems_lead_with_a_chinese_title(client: TestClient, tenant_a: Tenant) -> None:
    missing = "/api/v1/customers/0" + "f" * 31
    zh = client.get(missing, headers=tenant_a.headers | ZH).json()
    en = client.get(missing, headers=tenant_a.headers).json()
    unknown_zone = client.patch(
        "/api/v1/organisation", headers=tenant_a.headers | ZH, json={"timezone": "Mars/Base"}
    ).json()
    unauthenticated = client.get("/api/v1/customers", headers=ZH).json()

    assert zh["status"] == 404 and zh["title"] == "未找到"
    assert zh["detail"] == f"未找到（{en['detail']}）"
    assert unknown_zone["errors"][0]["msg"].startswith("值无效（unknown time zone")
    assert unauthenticated["status"] == 401 and unauthenticated["title"] == "需要登录"
