"""The OpenAPI document is valid 3.1 and lists every route of the app."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


async def test_openapi_is_valid_and_lists_every_route(client):
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"].startswith("3.1")

    documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    served = set()
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path is None or route.method in ("HEAD", "OPTIONS", "*"):
            continue
        served.add((route.method, _PARAM.sub(r"{\1}", path)))
    # The contract covers the API, media and operations endpoints; web pages and their assets are not API.
    contract = ("/api/", "/hls/", "/media/", "/healthz", "/readyz", "/metrics")
    missing = {r for r in served if r[1].startswith(contract)} - documented
    assert not missing, f"routes missing from OpenAPI: {sorted(missing)}"
    assert ("POST", "/api/v1/auth/login") in documented
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"]
    assert "security" in doc["paths"]["/api/v1/me"]["get"]
