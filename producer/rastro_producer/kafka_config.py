"""Kafka client configuration files: the Java properties format that Kafka's own tools read, turned
into librdkafka settings for confluent-kafka.

The deploy writes one such file per principal (credentials/<inventory>/admin.properties and
credentials/<inventory>/kafka/<principal>.properties on the controller, the producer's on its host).
Each carries both dialects: librdkafka keys (sasl.username, ssl.ca.location, ...) and Java-only
keys (sasl.jaas.config, ssl.truststore.*), which are dropped here."""

from __future__ import annotations

from pathlib import Path
from typing import Union

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


def redis_connection(path: Union[str, Path]) -> dict[str, object]:
    """redis-py keyword arguments from a Redis credentials file (credentials/<inventory>/redis-admin.properties):
    host, port, user, password, and with tls=true the CA file (relative to the file's directory)."""
    p = Path(path)
    props = read_properties(p)
    missing = [k for k in ("host", "port", "user", "password") if k not in props]
    if missing:
        raise ClientConfigError(f"{p}: missing {', '.join(missing)}")
    try:
        port = int(props["port"])
    except ValueError:
        raise ClientConfigError(f"{p}: port must be a number (got {props['port']!r})") from None
    kwargs: dict[str, object] = {"host": props["host"], "port": port, "username": props["user"],
                                 "password": props["password"]}
    tls = props.get("tls", "false").lower()
    if tls not in ("true", "false"):
        raise ClientConfigError(f"{p}: tls must be true or false (got {props['tls']!r})")
    if tls == "true":
        ca = p.parent / props.get("cafile", "ca.pem")
        if not ca.is_file():
            raise ClientConfigError(f"{p}: cafile {ca} is not a file")
        kwargs.update(ssl=True, ssl_ca_certs=str(ca))
    return kwargs
