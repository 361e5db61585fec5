"""Object keys: relative POSIX paths of a file in the origin bucket and an appliance's store."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from edgefill_contracts.errors import ContractError

MAX_KEY_LENGTH = 512
MAX_COMPONENT_LENGTH = 255
# Letters, digits and a few punctuation marks: enough for `<title>/<rendition>/<file>`, and
# nothing a shell, nginx location or URL needs to escape.
_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")


def validate_object_key(key: str) -> str:
    """Return `key` if it is a safe relative POSIX path, else raise ContractError saying why."""
    if not key:
        raise ContractError("object key is empty")
    if "\x00" in key:
        raise ContractError("object key contains a NUL byte")
    if len(key) > MAX_KEY_LENGTH:
        raise ContractError(f"object key is {len(key)} characters; the limit is {MAX_KEY_LENGTH}")
    if key.startswith("/"):
        raise ContractError(f"object key {key!r} is absolute; keys are relative paths")
    if "\\" in key:
        raise ContractError(f"object key {key!r} contains a backslash")
    parts = key.split("/")
    if len(parts) < 2:
        raise ContractError(f"object key {key!r} has no title directory (expected '<title>/...')")
    for part in parts:
        if part in ("", ".", ".."):
            raise ContractError(f"object key {key!r} has an empty, '.' or '..' component")
        if len(part) > MAX_COMPONENT_LENGTH:
            raise ContractError(f"object key {key!r} has a component over {MAX_COMPONENT_LENGTH}")
        if not _COMPONENT.match(part):
            raise ContractError(
                f"object key {key!r} has a component {part!r} outside [A-Za-z0-9._=-] "
                "or starting with punctuation"
            )
    return key


def title_of(key: str) -> str:
    """The title directory of a key: its first component (what a signed URL covers)."""
    return validate_object_key(key).split("/", 1)[0]


def content_unit(title_id: str, rendition: str) -> str:
    """The unit id of one title rendition, ``<title_id>/<rendition>``.

    Every file of one rendition lives on the same appliances, so placement moves, steering
    checks and popularity scores this unit; `unit_of_key` gives the unit of one file key.
    """
    return f"{title_id}/{rendition}"


def unit_of_key(key: str) -> str:
    """The content unit a file key belongs to: its first two path segments.

    A unit is one title rendition, ``<title_id>/<rendition>``: placement moves units, steering
    checks them and popularity scores them. Raises ContractError for keys that are not safe
    object keys and ValueError for keys with fewer than three segments (a file must sit inside
    ``<title>/<rendition>/``).
    """
    parts = validate_object_key(key).split("/")
    if len(parts) < 3:
        raise ValueError(f"object key {key!r} is not <title>/<rendition>/<file>")
    return f"{parts[0]}/{parts[1]}"


def validate_unit_id(unit_id: str) -> str:
    """Return `unit_id` if it is ``<title_id>/<rendition>`` of safe components, else raise."""
    parts = validate_object_key(unit_id).split("/")
    if len(parts) != 2:
        raise ContractError(f"unit id {unit_id!r} is not <title_id>/<rendition>")
    return unit_id


ObjectKey = Annotated[str, AfterValidator(validate_object_key)]
UnitId = Annotated[str, AfterValidator(validate_unit_id)]
