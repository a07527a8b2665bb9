"""SLA policy input that Postgres cannot store is refused with a clear 422, not a 500."""

from __future__ import annotations

import uuid

import pytest

from api.auth.models import Role


@pytest.mark.parametrize("ratio", [1e-323, 1e-40, 0.999999999, 0.0, 1.0])
async def test_a_warn_ratio_a_real_column_cannot_hold_is_a_422(client, make_actor, ratio):
    admin = await make_actor(Role.admin)
    body = {"name": f"P5 {uuid.uuid4().hex[:6]}", "priority": 5, "respond_minutes": 60, "resolve_minutes": 600}
    created = await client.post("/api/v1/sla/policies", json=body | {"team": None}, headers=admin.headers)
    if created.status_code == 409:  # a general P5 policy exists already (demo data): update that one
        policies = (await client.get("/api/v1/sla/policies", headers=admin.headers)).json()
        policy_id = next(p["id"] for p in policies if p["priority"] == 5 and p["team"] is None)
    else:
        assert created.status_code == 201, created.text
        policy_id = created.json()["id"]
    put = await client.put(f"/api/v1/sla/policies/{policy_id}", json=body | {"warn_ratio": ratio}, headers=admin.headers)
    assert put.status_code == 422, put.text
    assert put.headers["content-type"].startswith("application/problem+json")
    assert "warn_ratio" in put.text
