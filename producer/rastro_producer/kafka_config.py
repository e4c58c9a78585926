"""Kafka client configuration files: the Java properties format that Kafka's own tools read, turned
into librdkafka settings for confluent-kafka.

The deploy writes one such file per principal (credentials/<inventory>/admin.properties and
credentials/<inventory>/kafka/<principal>.properties on the controller, the producer's on its host).
Each carries both dialects: librdkafka keys (sasl.username, ssl.ca.location, ...) and Java-only
keys (sasl.jaas.config, ssl.truststore.*), which are dropped here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

# Keys only Java clients understand; librdkafka refuses unknown properties.
JAVA_ONLY_PREFIXES = ("ssl.truststore.", "ssl.keystore.type", "sasl.jaas.config", "ssl.key.password",
                      "sasl.login.", "ssl.enabled.protocols")


class ClientConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and the line."""


def read_properties(path: Union[str, Path]) -> dict[str, str]:
    """key=value lines of a Java properties file (comments and blank lines skipped)."""
    props: dict[str, str] = {}
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ClientConfigError(f"cannot read Kafka client config {p}: {exc.strerror}") from None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ClientConfigError(f"{p}:{n}: expected key=value (got {line.split('=')[0][:40]!r})")
        props[key.strip()] = value.strip()
    return props


def load(path: Union[str, Path]) -> dict[str, str]:
    """librdkafka settings from a client config file; relative file paths are taken from its folder."""
    props = read_properties(path)
    conf = {k: v for k, v in props.items() if not k.startswith(JAVA_ONLY_PREFIXES)}
    base = Path(path).resolve().parent
    for key in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.keystore.location"):
        if key in conf and not Path(conf[key]).is_absolute():
            conf[key] = str(base / conf[key])
    if "bootstrap.servers" not in conf:
        raise ClientConfigError(f"{path}: no bootstrap.servers")
    return conf


def _redis_props(path: Union[str, Path]) -> tuple[Path, dict[str, str], dict[str, object]]:
    """The file's properties and the keyword arguments every Redis or Sentinel connection shares:
    user, password, and with tls=true the CA file (relative to the file's directory)."""
    p = Path(path)
    props = read_properties(p)
    missing = [k for k in ("port", "user", "password") if k not in props]
    if not any(k in props for k in ("host", "sentinels")):
        missing.insert(0, "sentinels (or host)")
    if missing:
        raise ClientConfigError(f"{p}: missing {', '.join(missing)}")
    common: dict[str, object] = {"username": props["user"], "password": props["password"]}
    tls = props.get("tls", "false").lower()
    if tls not in ("true", "false"):
        raise ClientConfigError(f"{p}: tls must be true or false (got {props['tls']!r})")
    if tls == "true":
        ca = p.parent / props.get("cafile", "ca.pem")
        if not ca.is_file():
            raise ClientConfigError(f"{p}: cafile {ca} is not a file")
        common.update(ssl=True, ssl_ca_certs=str(ca))
    return p, props, common


def _port(p: Path, key: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ClientConfigError(f"{p}: {key} must be a number (got {value!r})") from None
    if not 0 < port < 65536:
        raise ClientConfigError(f"{p}: {key} must be 1..65535 (got {port})")
    return port


def redis_settings(path: Union[str, Path]) -> tuple[dict[str, object], dict[str, str]]:
    """The keyword arguments every Redis or Sentinel connection of a Redis credentials file shares
    (user, password, TLS and its CA), and the file's properties."""
    _, props, common = _redis_props(path)
    return common, props


def redis_sentinels(path: Union[str, Path]) -> tuple[list[tuple[str, int]], str]:
    """The Sentinels (host, port) and the name of the primary they watch, from a Redis credentials file."""
    p, props, _ = _redis_props(path)
    if "sentinels" not in props:
        raise ClientConfigError(f"{p}: no sentinels")
    out = []
    for entry in props["sentinels"].split(","):
        host, sep, port = entry.strip().rpartition(":")
        if not sep or not host:
            raise ClientConfigError(f"{p}: sentinels must be host:port,... (got {entry.strip()!r})")
        out.append((host, _port(p, "sentinels", port)))
    return out, props.get("sentinel_master", "rastro")


def redis_sentinel(path: Union[str, Path], socket_timeout: float = 5.0) -> Any:
    """A redis-py Sentinel client for the Sentinels of a Redis credentials file (TLS and user as the file says)."""
    from redis.sentinel import Sentinel
    _, _, common = _redis_props(path)
    sentinels, _ = redis_sentinels(path)
    return Sentinel(sentinels, sentinel_kwargs={**common, "socket_timeout": socket_timeout},
                    socket_timeout=socket_timeout, **common)


def redis_primary(path: Union[str, Path]) -> tuple[str, int]:
    """(host, port) of the current primary: what the first Sentinel that answers says."""
    p, props, _ = _redis_props(path)
    if "sentinels" not in props:
        return props["host"], _port(p, "port", props["port"])
    _, name = redis_sentinels(path)
    try:
        host, port = redis_sentinel(path).discover_master(name)
    except Exception as exc:  # redis.sentinel.MasterNotFoundError, connection errors
        raise ClientConfigError(f"{p}: no Sentinel of {props['sentinels']} names a primary for {name!r}: {exc}") from None
    return str(host), int(port)


def redis_connection(path: Union[str, Path]) -> dict[str, object]:
    """redis-py keyword arguments for the current primary, from a Redis credentials file
    (credentials/<inventory>/redis-admin.properties): the Sentinels named in it are asked where the
    primary is (a file with host= instead of sentinels= names the server itself); user, password and,
    with tls=true, the CA file (relative to the file's directory). Long-lived clients that must follow a
    failover use redis_client() instead."""
    p, props, common = _redis_props(path)
    _port(p, "port", props["port"])
    host, port = redis_primary(path)
    return {"host": host, "port": port, **common}


def redis_client(path: Union[str, Path], socket_timeout: float = 5.0, **kwargs: Any) -> Any:
    """A redis-py client that follows the primary through the Sentinels (after a failover its next
    command goes to the new primary). Without sentinels= in the file, a plain client of host=."""
    import redis
    p, props, common = _redis_props(path)
    if "sentinels" not in props:
        return redis.Redis(host=props["host"], port=_port(p, "port", props["port"]), socket_timeout=socket_timeout,
                           **common, **kwargs)
    _, name = redis_sentinels(path)
    return redis_sentinel(path, socket_timeout).master_for(name, socket_timeout=socket_timeout, **kwargs)


def redis_replicas(path: Union[str, Path]) -> list[dict[str, object]]:
    """redis-py keyword arguments for every Redis server of the file's hosts= (primary and replicas),
    for reads that may be a little stale and for checks of each server."""
    p, props, common = _redis_props(path)
    port = _port(p, "port", props["port"])
    hosts = [h.strip() for h in props.get("hosts", props.get("host", "")).split(",") if h.strip()]
    return [{"host": h, "port": port, **common} for h in hosts]
