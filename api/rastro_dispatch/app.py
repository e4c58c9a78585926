"""HTTP routes of the dispatch API (aiohttp): /v1 JSON endpoints behind bearer keys, /healthz,
/metrics for Prometheus, the OpenAPI document and the live map."""

from __future__ import annotations

import hmac
import json
import logging
import time
from base64 import b64decode
from importlib import resources
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import redis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from rastro_producer.metrics_http import load_users, password_hash

from rastro_dispatch import params
from rastro_dispatch.store import DriverStore

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Routes that need no key: health for load balancers, the metrics (basic auth of their own), the
# API's description, the map's page and scripts (the data they fetch needs a key).
OPEN_PREFIXES = ("/healthz", "/metrics", "/v1/openapi.json", "/map", "/static/")
MAX_MAP_POINTS = 20_000


class Keys:
    """Bearer keys, one per client, stored as `client:sha256:<salt>:<hex SHA-256 of salt:key>` lines
    (the format of rastro_producer.metrics_http's users files): the file never holds a key."""

    def __init__(self, entries: dict[str, tuple[str, str]]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> "Keys":
        return cls(load_users(path))

    def client(self, key: str) -> Optional[str]:
        """The client the key belongs to, or None."""
        found = None
        for name, (salt, digest) in self._entries.items():
            if hmac.compare_digest(password_hash(key, salt), digest):
                found = name
        return found


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("rastro_api_requests", "Requests answered, by route, method and status code",
                                ["route", "method", "code"], registry=self.registry)
        self.latency = Histogram("rastro_api_request_duration_seconds", "Time to answer a request, by route",
                                 ["route"], registry=self.registry,
                                 buckets=(.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5))
        self.redis_errors = Counter("rastro_api_redis_errors", "Requests that failed because Redis did not answer",
                                    ["route"], registry=self.registry)
        self.up = Gauge("rastro_api_up", "1 while the API serves", registry=self.registry)
        self.up.set(1)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def error(status: int, kind: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": kind, "message": message, **extra}, status=status)


def make_app(store: DriverStore, keys: Keys, metrics_users: Optional[dict[str, tuple[str, str]]] = None,
             max_age_s: float = 30.0, metrics: Optional[Metrics] = None, tile_url: str = "",
             tile_attribution: str = "") -> web.Application:
    """`tile_url`: the live map's tile server ({z}/{x}/{y} URL template); empty: a coordinate grid."""
    metrics = metrics or Metrics()

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = _route(request)
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except web.HTTPException as exc:
            code = exc.status
            raise
        except redis.RedisError as exc:
            metrics.redis_errors.labels(route).inc()
            log.warning("%s %s: Redis did not answer: %s", request.method, request.path, exc)
            code = 503
            return error(503, "redis_unavailable", "Redis did not answer; retry")
        except Exception:  # noqa: BLE001 — answered 500 and counted, never a dropped connection
            log.exception("%s %s failed", request.method, request.path)
            return error(500, "internal", "internal error")
        finally:
            metrics.latency.labels(route).observe(time.perf_counter() - started)
            metrics.requests.labels(route, request.method, str(code)).inc()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(OPEN_PREFIXES) or request.path == "/":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip() or keys.client(key.strip()) is None:
            return web.json_response({"error": "unauthorized", "message": "Authorization: Bearer <key> required; "
                                      "the key was missing or is not a known client's"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="rastro"'})
        return await handler(request)

    async def get_driver(request: web.Request) -> web.Response:
        try:
            driver_id = params.driver_id(request.match_info["driver_id"])
            strong = params.choice(request.query, "consistency", params.CONSISTENCY, "eventual") == "strong"
        except params.BadParameter as exc:
            return web.json_response(exc.body(), status=400)
        found = await store.driver(driver_id, strong)
        if found is None:
            return error(404, "not_found", f"no driver {driver_id!r} in Redis: it never sent an update, "
                         "or a tombstone removed it", driver_id=driver_id)
        return web.json_response(found)

    async def nearby(request: web.Request) -> web.Response:
        try:
            q = params.nearby(request.query)
            strong = params.choice(request.query, "consistency", params.CONSISTENCY, "eventual") == "strong"
        except params.BadParameter as exc:
            return web.json_response(exc.body(), status=400)
        found = await store.nearby(q["lat"], q["lon"], q["radius_m"], q["status"], q["limit"], strong)  # type: ignore[arg-type]
        return web.json_response({"query": q, "count": len(found), "drivers": found})

    async def map_points(request: web.Request) -> web.Response:
        try:
            limit = params.integer(request.query, "max", 1, MAX_MAP_POINTS, MAX_MAP_POINTS)
        except params.BadParameter as exc:
            return web.json_response(exc.body(), status=400)
        points, counts = await store.points(limit)
        return web.json_response({"points": points, "counts": counts,
                                  "truncated": any(n > limit for n in counts.values())})

    async def healthz(request: web.Request) -> web.Response:
        body: dict[str, Any] = {"redis": "ok"}
        try:
            await store.replica.ping()
            age = await store.newest_age_s()
        except redis.RedisError as exc:
            return web.json_response({"status": "unhealthy", "redis": f"unreachable: {exc}"}, status=503)
        body["newest_update_age_s"] = age
        body["max_age_s"] = max_age_s
        fresh = age is not None and age <= max_age_s
        body["data"] = "fresh" if fresh else "stale"
        body["status"] = "ok" if fresh else "unhealthy"
        return web.json_response(body, status=200 if fresh else 503)

    async def metrics_endpoint(request: web.Request) -> web.Response:
        if metrics_users and not _basic_ok(request.headers.get("Authorization"), metrics_users):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="rastro"'})
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    async def map_page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "map.html")

    async def map_config(request: web.Request) -> web.Response:
        return web.json_response({"tile_url": tile_url, "tile_attribution": tile_attribution})

    app = web.Application(middlewares=[observe, authenticate])
    app.router.add_get("/v1/drivers/nearby", nearby)
    app.router.add_get("/v1/drivers/{driver_id}", get_driver)
    app.router.add_get("/v1/map/points", map_points)
    app.router.add_get("/v1/openapi.json", openapi)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get("/map", map_page)
    app.router.add_get("/map/config.json", map_config)
    app.router.add_static("/static/", STATIC)
    # Every counter of the data routes exists from the start (at 0): an alert or a panel on a
    # counter that was never incremented would query a name Prometheus has not seen.
    for resource in app.router.resources():
        if resource.canonical.startswith("/v1/") and resource.canonical != "/v1/openapi.json":
            metrics.redis_errors.labels(resource.canonical)
    return app


def _basic_ok(header: Optional[str], users: dict[str, tuple[str, str]]) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    salt, digest = users.get(user, ("", ""))
    return bool(salt) and hmac.compare_digest(password_hash(password, salt), digest)


STATIC = Path(str(resources.files("rastro_dispatch") / "static"))
OPENAPI = json.loads((resources.files("rastro_dispatch") / "openapi.json").read_text())
