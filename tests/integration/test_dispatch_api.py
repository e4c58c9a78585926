"""The dispatch API on the lab (issue 15): every host serves HTTPS on 8443 with the platform's CA,
answers from the driver state the pipeline keeps in Redis, filters by status exactly, refuses
requests without a known key, serves its OpenAPI document, is scraped by Prometheus, and its live
map works in headless Chromium (dots appear, a click lists the nearest available drivers, no
console errors). The drivers here go through the real pipeline: Kafka, the sink, Redis."""

from __future__ import annotations

import json
import random
import ssl
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import redis

from rastro_producer.contract import GEO_KEYS, format_timestamp
from rastro_producer.sender import Sender
from tests.lib.api import client, local_proxy, operator_key
from tests.lib.browser import Browser
from tests.lib.geo import brute_force
from tests.lib.lab import BOOTSTRAP, CREDENTIALS, HOSTS, REPO, kafka_conf, redis_admin, wait_until
from tests.lib.prom import query

ARTIFACTS = REPO / "artifacts" / "dispatch"
# A box far from the producer's city, so that only this module's drivers are in it.
BOX = (9.9, 10.1, 9.9, 10.1)


def send(updates: list[tuple[str, Optional[dict[str, Any]]]]) -> None:
    sender = Sender(BOOTSTRAP, "driver-locations", extra=kafka_conf())
    for key, value in updates:
        sender.send(key, value)
        sender.poll(0)
    assert sender.flush(60) == 0 and sender.stats.failed == 0


def now_stamp() -> str:
    from datetime import datetime, timezone
    return format_timestamp(datetime.now(timezone.utc))


@pytest.fixture(scope="module")
def r() -> redis.Redis:
    return redis.Redis(**redis_admin(), decode_responses=True)


@pytest.fixture(scope="module")
def fleet(r: redis.Redis) -> Iterator[dict[str, dict[str, Any]]]:
    """400 drivers that stay put in BOX, sent through Kafka; tombstoned afterwards."""
    prefix = f"api-{uuid.uuid4().hex[:6]}-"
    rnd = random.Random(15)
    stamp = now_stamp()
    drivers = {f"{prefix}{i:03d}": {"driver_id": f"{prefix}{i:03d}", "latitude": round(rnd.uniform(BOX[0], BOX[1]), 6),
                                    "longitude": round(rnd.uniform(BOX[2], BOX[3]), 6), "timestamp": stamp,
                                    "status": rnd.choice(["available", "available", "busy", "offline"])}
               for i in range(400)}
    send(list(drivers.items()))
    wait_until(lambda: all(r.hget(f"driver:{d}", "timestamp") == stamp for d in list(drivers)[-20:]), 120,
               what="the sink to write the API test drivers")
    wait_until(lambda: sum(1 for _ in r.scan_iter(match=f"driver:{prefix}*", count=1000)) == 400, 60,
               what="all 400 API test drivers in Redis")
    yield drivers
    send([(d, None) for d in drivers])


def test_every_host_answers_healthy_over_https_with_the_platform_ca() -> None:
    api = client()
    assert len(api.urls) == 3 and all(u.startswith("https://") and u.endswith(":8443") for u in api.urls), api.urls
    for url in api.urls:
        ctx = ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem"))
        with urllib.request.urlopen(url + "/healthz", timeout=10, context=ctx) as resp:
            body = json.loads(resp.read())
        assert resp.status == 200 and body["redis"] == "ok" and body["data"] == "fresh", (url, body)
        # A client that does not trust the platform's CA is refused the handshake.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url + "/healthz", timeout=10, context=ssl.create_default_context())


def test_driver_lookup_is_the_driver_s_hash_and_its_age(r: redis.Redis, fleet: dict[str, dict[str, Any]]) -> None:
    api = client()
    for d in list(fleet)[:30]:
        a = api.get(f"/v1/drivers/{d}", {"consistency": "strong"})
        assert a.status == 200, a.body
        want = fleet[d]
        assert {k: a.body[k] for k in want} == want, (a.host, a.body)
        assert 0 <= a.body["age_ms"] < 600_000
    a = api.get(f"/v1/drivers/{uuid.uuid4().hex}")
    assert a.status == 404 and a.body["error"] == "not_found"
    a = api.get("/v1/drivers/not%20valid")
    assert a.status == 400 and a.body["parameter"] == "driver_id"


def test_nearby_equals_a_brute_force_haversine_over_the_drivers_in_redis(r: redis.Redis, fleet: dict[str, dict[str, Any]]) -> None:
    # Every driver in BOX as the geo sets hold it (GEOPOS): only this module's drivers are there.
    indexed = {}
    for status, key in GEO_KEYS.items():
        members = [m for m in r.zrange(key, 0, -1) if m in fleet]
        for m, pos in zip(members, r.geopos(key, *members) if members else []):
            indexed[m] = (status, pos[1], pos[0])
    assert len(indexed) == 400
    api = client()
    rnd = random.Random(7)
    found = 0
    for _ in range(40):
        lat, lon = rnd.uniform(BOX[0], BOX[1]), rnd.uniform(BOX[2], BOX[3])
        radius, status, limit = rnd.choice([500, 1500, 4000]), rnd.choice(["available", "busy", "offline", "any"]), rnd.choice([5, 50, 100])
        a = api.get("/v1/drivers/nearby", {"lat": repr(lat), "lon": repr(lon), "radius_m": radius, "status": status,
                                          "limit": limit, "consistency": "strong"})
        assert a.status == 200, a.body
        want = brute_force(indexed, lat, lon, radius, status)[:limit]
        assert [x["driver_id"] for x in a.body["drivers"]] == [d for _, d in want], (lat, lon, radius, status, limit)
        assert all(abs(x["distance_m"] - w) < 1e-3 for x, (w, _) in zip(a.body["drivers"], want))
        found += len(want)
    assert found > 200, f"only {found} drivers found in all queries: too few to prove anything"


def test_a_driver_turned_busy_is_not_offered_as_available(r: redis.Redis, fleet: dict[str, dict[str, Any]]) -> None:
    api = client()
    d = next(k for k, v in fleet.items() if v["status"] == "available")
    spot = {"lat": fleet[d]["latitude"], "lon": fleet[d]["longitude"], "radius_m": 5, "consistency": "strong"}
    assert d in [x["driver_id"] for x in api.get("/v1/drivers/nearby", spot).body["drivers"]]
    busy = {**fleet[d], "status": "busy", "timestamp": now_stamp()}
    send([(d, busy)])
    wait_until(lambda: r.hget(f"driver:{d}", "status") == "busy", 60, what="the sink to write the busy status")
    # From the moment Redis holds the new status, no answer offers the driver as available.
    assert d not in [x["driver_id"] for x in api.get("/v1/drivers/nearby", spot).body["drivers"]]
    assert d in [x["driver_id"] for x in api.get("/v1/drivers/nearby", {**spot, "status": "busy"}).body["drivers"]]
    fleet[d] = busy


def test_requests_without_a_known_key_are_refused_and_the_document_is_served() -> None:
    api = client()
    for path in ("/v1/drivers/x", "/v1/drivers/nearby?lat=1&lon=1&radius_m=5", "/v1/map/points"):
        a = api.get(path, auth=False)
        assert a.status == 401 and a.body["error"] == "unauthorized", (path, a.body)
    doc = api.get("/v1/openapi.json", auth=False).body
    assert doc["openapi"].startswith("3.0") and "/v1/drivers/nearby" in doc["paths"]
    a = api.get("/v1/drivers/nearby", {"lat": "91", "lon": "1", "radius_m": "5"})
    assert a.status == 400 and (a.body["parameter"], a.body["value"]) == ("lat", "91")


def test_prometheus_scrapes_every_api_host() -> None:
    client().get("/v1/drivers/nearby", {"lat": 10, "lon": 10, "radius_m": 100})

    def scraped() -> bool:
        up = query('up{job="dispatch-api"}')
        return sorted(s["metric"]["instance"] for s in up if s["value"][1] == "1") == sorted(HOSTS)
    wait_until(scraped, 60, interval=3, what="Prometheus to scrape the dispatch API on every host")
    wait_until(lambda: bool(query('sum(rastro_api_requests_total{route="/v1/drivers/nearby"})')), 60, interval=3,
               what="the API's request counter in Prometheus")


def test_the_live_map_shows_dots_and_lists_the_nearest_on_a_click(fleet: dict[str, dict[str, Any]]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    center = next(v for v in fleet.values() if v["status"] == "available")
    with local_proxy(client().urls[0]) as base:
        browser = Browser()
        try:
            browser.navigate(base + "/map")
            browser.wait_for("document.readyState === 'complete' && !!window.rastroMap", 30, "the map page")
            # The key travels over the DevTools socket, never on a command line or in a URL.
            browser.evaluate(f"window.rastroMap.setKey({json.dumps(operator_key())})")
            dots = browser.wait_for("window.rastroMap.dotCount()", 30, "dots on the map", lambda v: (v or 0) >= 400)
            refreshes = browser.evaluate("window.rastroMap.refreshes()")
            browser.wait_for("window.rastroMap.refreshes()", 10, "a refresh a second", lambda v: (v or 0) >= refreshes + 2)
            browser.evaluate(f"void window.rastroMap.map.setView([{center['latitude']}, {center['longitude']}], 14)")
            time.sleep(0.5)
            x, y = browser.evaluate(
                f"(() => {{ const p = rastroMap.map.latLngToContainerPoint([{center['latitude']}, {center['longitude']}]);"
                " const r = document.getElementById('map').getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; })()")
            browser.click(x, y)
            listed = browser.wait_for("Array.from(document.querySelectorAll('#nearest li.nearest-driver'))"
                                      ".map(li => li.textContent)", 20, "the nearest drivers listed", bool)
            time.sleep(1.2)
            browser.screenshot(ARTIFACTS / "map.png")
            errors = list(browser.errors)
        finally:
            browser.close()
    assert dots >= 400
    assert any(center["driver_id"] in item for item in listed), listed
    assert all(" m" in item for item in listed), listed
    assert not errors, errors
    assert (ARTIFACTS / "map.png").stat().st_size > 30_000
