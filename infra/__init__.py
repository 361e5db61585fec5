"""edgefill's AWS control plane as a Pulumi program: one ComponentResource per service."""
