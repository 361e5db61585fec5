"""Fleet registry and health: sites, clusters, appliances, credentials, heartbeats, manifest locations.

Errors are the shared control_plane.common.errors hierarchy (each maps to one HTTP status);
the fleet adds `InvalidTransition` (Conflict, 409) in state_machine.
"""
