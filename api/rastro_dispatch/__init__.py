"""rastro dispatch API: the driver state in Redis, over HTTPS (docs/contracts.md, "Dispatch API")."""

__version__ = "0.2.0"
