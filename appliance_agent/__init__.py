"""edgefill appliance agent: fills the store in the window, renders nginx, reports health."""

from __future__ import annotations

__version__ = "0.1.0"
