"""rastro driver-location producer: simulator, contract validation and a Kafka producer."""

__version__ = "0.1.0"
