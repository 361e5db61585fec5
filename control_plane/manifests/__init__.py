"""Manifests, one home: each appliance's manifest built from its placement (`builder`) and kept in S3 (`store`)."""
