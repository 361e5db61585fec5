"""Builds of what production ships, with their caches: the appliance wheelhouse and the steps.

Run from a checkout on the operator's (or CI's) machine, never on an appliance or in a Lambda.
`cache` keeps every artifact under one root, published by atomic rename under a lock; `step`
runs one external command and turns its failures into the caller's error; `wheelhouse` builds
what the Ansible agent role installs on appliances.
"""
