"""Content units: the file set of one title rendition, the thing placement moves and steering checks.

Origin keys are ``<title_id>/<rendition>/<file>`` (edgefill_contracts.object_key); every file of
one rendition lives on the same appliances, so a unit is ``<title_id>/<rendition>``. The unit of
a file key is edgefill_contracts.unit_of_key, shared with the agent.
"""

from __future__ import annotations


def content_unit(title_id: str, rendition: str) -> str:
    """The unit id of one title rendition."""
    return f"{title_id}/{rendition}"
