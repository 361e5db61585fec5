"""Content units: the file set of one title rendition, the thing placement moves and steering checks.

Origin keys are ``<title_id>/<rendition>/<file>`` (edgefill_contracts.object_key); every file of
one rendition lives on the same appliances, so a unit is ``<title_id>/<rendition>``.
"""

from __future__ import annotations

from edgefill_contracts.object_key import validate_object_key


def content_unit(title_id: str, rendition: str) -> str:
    """The unit id of one title rendition."""
    return f"{title_id}/{rendition}"


def unit_of_key(key: str) -> str:
    """The unit a file key belongs to: its first two path segments.

    Raises ContractError for keys that are not safe object keys and ValueError for keys with
    fewer than three segments (a file must sit inside ``<title>/<rendition>/``).
    """
    parts = validate_object_key(key).split("/")
    if len(parts) < 3:
        raise ValueError(f"object key {key!r} is not <title>/<rendition>/<file>")
    return f"{parts[0]}/{parts[1]}"
