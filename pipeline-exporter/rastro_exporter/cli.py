"""rastro-exporter: serve consumer-group lag and driver-state freshness on one port (9308)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from typing import Optional, Sequence

import redis
from prometheus_client import REGISTRY
from rastro_producer import metrics_http
from rastro_producer.metrics_http import port

from rastro_exporter.freshness import FreshnessCollector
from rastro_exporter.lag import LagCollector


def group_pattern(value: str) -> str:
    """argparse type: a regular expression for consumer group ids."""
    try:
        re.compile(value)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"--group-pattern {value!r} is not a regular expression: {exc}") from None
    return value


def positive_int(value: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def client_config(path: Optional[str]) -> dict[str, str]:
    """librdkafka key=value lines (security protocol, SASL user and password, CA) from a file the
    role writes, so the password never shows in `ps`."""
    if not path:
        return {}
    conf = {}
    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}:{n}: expected key=value")
            conf[key.strip()] = value.strip()
    return conf


def parse_sentinels(sentinels: str) -> list[tuple[str, int]]:
    """host:port,... as (host, port) pairs; ValueError names the entry that is not host:port."""
    addrs = []
    for entry in sentinels.split(","):
        host, sep, p = entry.strip().rpartition(":")
        if not sep or not host or not p.isdigit():
            raise ValueError(f"{entry.strip()!r} is not host:port")
        addrs.append((host, int(p)))
    return addrs


def sentinel_replica(url: str, password: Optional[str], sentinels: str, master: str, timeout: float,
                     tls: dict[str, str]) -> redis.Redis:
    """A client that reads from a replica the Sentinels name (the primary when no replica is up): the
    freshness figures may trail the primary by the replication lag, a fraction of a second."""
    from urllib.parse import urlparse

    from redis.sentinel import Sentinel
    u = urlparse(url)
    addrs = parse_sentinels(sentinels)
    common: dict[str, object] = {"username": u.username, "password": password, "socket_timeout": timeout}
    if u.scheme == "rediss":
        common.update(ssl=True, **tls)
    db = int(u.path.lstrip("/") or 0)
    return Sentinel(addrs, sentinel_kwargs=common, **common).slave_for(master, db=db, decode_responses=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rastro-exporter", description=__doc__)
    p.add_argument("--bootstrap-servers", required=True, help="Kafka brokers, host:port[,host:port]")
    p.add_argument("--client-config", default=os.environ.get("RASTRO_EXPORTER_CLIENT_CONFIG"), metavar="FILE",
                   help="librdkafka properties for Kafka: security protocol, SASL user and password, CA "
                        "(env RASTRO_EXPORTER_CLIENT_CONFIG)")
    p.add_argument("--redis-url", help="redis://user@host:6379/0 (rediss:// for TLS) of the driver state; omit to skip "
                                       "freshness")
    p.add_argument("--redis-sentinels", metavar="HOST:PORT,...",
                   help="ask these Sentinels for a replica (the primary when none is up) instead of the --redis-url "
                        "host; user, password, TLS and database still come from --redis-url")
    p.add_argument("--redis-sentinel-master", default="rastro", help="name the Sentinels watch the primary under")
    p.add_argument("--redis-ca-file", metavar="FILE", help="PEM CA that a rediss:// server's certificate is checked against")
    p.add_argument("--listen-address", default="0.0.0.0")
    p.add_argument("--port", type=port, default=9308)
    p.add_argument("--tls-cert", metavar="PEM", help="serve the metrics over HTTPS with this certificate")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--users-file", metavar="FILE",
                   help="require HTTP basic authentication by these users (user:sha256:salt:hash lines)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per Kafka or Redis call")
    p.add_argument("--lag-interval", type=float, default=5.0,
                   help="seconds between lag refreshes in the background (0: query Kafka during each scrape)")
    p.add_argument("--exclude-topic", action="append", default=[], help="topic to leave out (repeatable)")
    p.add_argument("--group-pattern", type=group_pattern, default=".*", metavar="REGEX",
                   help="report only consumer groups whose whole id matches (default: every group)")
    p.add_argument("--max-group-clients", type=positive_int, default=16, metavar="N",
                   help="Kafka clients kept open for reading groups' committed offsets (least recently used closed first)")
    p.add_argument("--max-driver-keys", type=int, default=200_000, help="stop scanning driver keys after this many")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="rastro-exporter: %(levelname)s %(name)s: %(message)s")
    if not any(":" in s for s in args.bootstrap_servers.split(",")):
        print(f"rastro-exporter: --bootstrap-servers {args.bootstrap_servers!r} needs host:port", file=sys.stderr)
        return 2
    try:
        conf = client_config(args.client_config)
    except (OSError, ValueError) as exc:
        print(f"rastro-exporter: --client-config: {exc}", file=sys.stderr)
        return 2
    REGISTRY.register(LagCollector(args.bootstrap_servers, args.timeout, args.exclude_topic, args.lag_interval, conf,
                                   group_pattern=args.group_pattern, max_group_clients=args.max_group_clients))
    if args.redis_url:
        # The password comes from the environment so that it does not show in `ps`.
        if args.redis_ca_file and not args.redis_url.startswith("rediss://"):
            print(f"rastro-exporter: --redis-ca-file needs a rediss:// --redis-url (got {args.redis_url!r})", file=sys.stderr)
            return 2
        tls = {"ssl_ca_certs": args.redis_ca_file} if args.redis_ca_file else {}
        password = os.environ.get("RASTRO_EXPORTER_REDIS_PASSWORD")
        if args.redis_sentinels:
            try:
                client = sentinel_replica(args.redis_url, password, args.redis_sentinels, args.redis_sentinel_master,
                                          args.timeout, tls)
            except ValueError as exc:
                print(f"rastro-exporter: --redis-sentinels: {exc}", file=sys.stderr)
                return 2
        else:
            client = redis.Redis.from_url(args.redis_url, password=password, decode_responses=True,
                                          socket_timeout=args.timeout, **tls)
        REGISTRY.register(FreshnessCollector(client, args.max_driver_keys))
        if args.redis_sentinels:
            from urllib.parse import urlparse

            from .sentinel import SentinelCollector
            u = urlparse(args.redis_url)
            REGISTRY.register(SentinelCollector(parse_sentinels(args.redis_sentinels), args.redis_sentinel_master, username=u.username,
                                                password=password, socket_timeout=args.timeout,
                                                **({"ssl": True, **tls} if u.scheme == "rediss" else {})))
    try:
        metrics_http.serve(args.port, args.listen_address, REGISTRY, args.tls_cert, args.tls_key, args.users_file)
    except ValueError as exc:
        print(f"rastro-exporter: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"rastro-exporter: cannot serve on {args.listen_address}:{args.port}: {exc}", file=sys.stderr)
        return 1
    logging.getLogger(__name__).info("serving on %s:%s", args.listen_address, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    return 0
