"""Health: registration, heartbeats, serving counters from nginx, disk use, Prometheus metrics."""

from __future__ import annotations
