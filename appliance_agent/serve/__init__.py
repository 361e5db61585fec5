"""Serving: the nginx the agent renders, validates, swaps in and reloads; secrets, TLS, drain."""

from __future__ import annotations
