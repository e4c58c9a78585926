"""Prometheus exporter for rastro: consumer-group lag and driver-state freshness."""
