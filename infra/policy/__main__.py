"""The policy pack the Pulumi CLI runs: `pulumi preview --policy-pack infra/policy`."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

from control_plane.services import all_services
from infra.policy.rules import all_rules

PolicyPack(
    name="edgefill-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(name=name, description=description, validate=validate)
        for name, (description, validate) in all_rules(all_services()).items()
    ],
)
