"""edgefill appliance agent: fills the store in the window, renders nginx, reports health."""

from __future__ import annotations

__version__ = "0.1.0"

# Every HTTP request the agent makes (fills from peers and origin, the fleet API) names it, so
# a peer's nginx can tell a fill from a subscriber (serve/log_format.py's peer_fill).
USER_AGENT_PRODUCT = "edgefill-agent"
USER_AGENT = f"{USER_AGENT_PRODUCT}/{__version__}"
