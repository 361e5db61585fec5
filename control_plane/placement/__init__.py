"""Placement: which appliances of a cluster hold which content units (rendezvous hashing)."""
