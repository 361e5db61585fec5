"""Placement errors.

ControlPlaneError
├── PlacementError (BadRequest, 400): the inputs cannot be placed as given (empty cluster,
│                                     duplicate ids)
└── ManifestJobIncomplete (500): some clusters' manifests could not be written this run
"""

from __future__ import annotations

from control_plane.common.errors import BadRequest, ControlPlaneError


class PlacementError(BadRequest):
    code = "placement_error"


class ManifestJobIncomplete(ControlPlaneError):
    """Some clusters failed (each recorded with its reason); the others were written."""

    code = "manifest_job_incomplete"

    def __init__(self, *, failed: dict[str, str], written: object) -> None:
        shown = "; ".join(f"{cluster}: {reason}" for cluster, reason in sorted(failed.items())[:10])
        super().__init__(
            f"the manifest job could not write {len(failed)} cluster(s) ({shown}); the other "
            f"clusters were written ({written} manifests). Fix the cause named per cluster; "
            "the job's retries and its next run write only what changed"
        )
        self.failed = failed
