"""Placement errors.

PlacementError (BadRequest, 400): the inputs cannot be placed as given (empty cluster, duplicate ids)
"""

from __future__ import annotations

from control_plane.common.errors import BadRequest


class PlacementError(BadRequest):
    code = "placement_error"
