"""rastro-dispatch: serve the dispatch API over HTTPS (docs/contracts.md, port 8443)."""

from __future__ import annotations

import argparse
import logging
import ssl
import sys
from pathlib import Path
from typing import Optional, Sequence

from aiohttp import web
from rastro_producer.metrics_http import port

from rastro_dispatch import __version__
from rastro_dispatch.app import Keys, make_app
from rastro_dispatch.store import DriverStore

log = logging.getLogger("rastro_dispatch")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rastro-dispatch", description=__doc__)
    p.add_argument("--redis-config", required=True, metavar="FILE",
                   help="Redis credentials file (sentinels=, sentinel_master=, port=, user=, password=, tls=, "
                        "cafile=; the format of credentials/<inventory>/redis-admin.properties)")
    p.add_argument("--keys-file", required=True, metavar="FILE",
                   help="client:sha256:<salt>:<SHA-256 of salt:key> per client allowed on /v1")
    p.add_argument("--metrics-users-file", metavar="FILE",
                   help="user:sha256:<salt>:<hash> lines: basic authentication on /metrics (none: open)")
    p.add_argument("--listen-address", default="0.0.0.0")
    p.add_argument("--port", type=port, default=8443)
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (plain HTTP without)")
    p.add_argument("--tls-key", metavar="PEM")
    p.add_argument("--redis-timeout", type=float, default=2.0, help="seconds per Redis call")
    p.add_argument("--max-age", type=float, default=30.0,
                   help="/healthz answers 503 when the newest update in Redis is older than this many seconds")
    p.add_argument("--tile-url", default="", help="the live map's tile server, a {z}/{x}/{y} URL template "
                   "(empty: a coordinate grid on a plain background)")
    p.add_argument("--tile-attribution", default="", help="the tile server's attribution line")
    p.add_argument("--version", action="version", version=__version__)
    return p


def store_from(path: Path, timeout: float) -> DriverStore:
    """Clients that follow the Sentinels: a replica for reads (the primary when none is up), the primary."""
    from rastro_producer.kafka_config import redis_sentinels, redis_settings
    from redis.asyncio import Redis
    from redis.asyncio.sentinel import Sentinel
    common, props = redis_settings(path)
    kwargs = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "decode_responses": True,
              "health_check_interval": 10}
    if "sentinels" not in props:
        plain = Redis(host=props["host"], port=int(props["port"]), **common, **kwargs)
        return DriverStore(replica=plain, primary=plain)
    sentinels, master = redis_sentinels(path)
    s = Sentinel(sentinels, sentinel_kwargs={**common, "socket_timeout": timeout}, **common)
    return DriverStore(replica=s.slave_for(master, **kwargs), primary=s.master_for(master, **kwargs))


def event_loop() -> str:
    """uvloop when it is installed (python3-uvloop; the role installs it): with hiredis, the same
    routes answer 1.08× (nearby) to 1.37× (by id) as many requests as on asyncio's own loop
    (make bench-api-frameworks, 2026-12-08)."""
    try:
        import uvloop
    except ImportError:
        return "asyncio's event loop"
    uvloop.install()
    return f"uvloop {uvloop.__version__}"


def redis_parser() -> str:
    """redis-py parses replies with hiredis (C) when python3-hiredis is installed, else in Python."""
    from redis.utils import HIREDIS_AVAILABLE
    return "hiredis" if HIREDIS_AVAILABLE else "redis-py's Python parser"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    if bool(args.tls_cert) != bool(args.tls_key):
        print("rastro-dispatch: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    try:
        from rastro_producer.kafka_config import ClientConfigError
        from rastro_producer.metrics_http import UsersFileError, load_users
        store = store_from(Path(args.redis_config), args.redis_timeout)
        keys = Keys.load(Path(args.keys_file))
        users = load_users(args.metrics_users_file) if args.metrics_users_file else None
    except (ClientConfigError, UsersFileError, OSError, ValueError) as exc:
        print(f"rastro-dispatch: {exc}", file=sys.stderr)
        return 2
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"rastro-dispatch: --tls-cert/--tls-key: {exc}", file=sys.stderr)
            return 2
    loop = event_loop()
    app = make_app(store, keys, users, max_age_s=args.max_age, tile_url=args.tile_url,
                   tile_attribution=args.tile_attribution)
    log.info("rastro-dispatch %s serving %s on %s:%d (%s, Redis replies parsed by %s)", __version__,
             "HTTPS" if context else "HTTP", args.listen_address, args.port, loop, redis_parser())
    # No access log: a busy dispatch floor would write thousands of lines a second; /metrics counts them.
    web.run_app(app, host=args.listen_address, port=args.port, ssl_context=context, access_log=None,
                print=None, handle_signals=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
