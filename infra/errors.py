"""The infra package's exceptions: what went wrong building or checking the control plane.

InfraError
├── StackConfigError      stack config missing or invalid (raised at preview time)
├── PackagingError        a Lambda archive could not be built
├── MaterializeError      a resource declared by the program could not be created in moto
└── RegistryError         the service registry is inconsistent (duplicate or dangling names)
"""

from __future__ import annotations


class InfraError(Exception):
    """Base of every error raised by infra/; the message says what, why and what to do."""


class StackConfigError(InfraError):
    """The stack's config (Pulumi.<stack>.yaml) is missing a key or holds a bad value."""


class PackagingError(InfraError):
    """A service's Lambda archive could not be built from the locked dependencies."""


class MaterializeError(InfraError):
    """moto refused to create a resource the Pulumi program declares."""


class RegistryError(InfraError):
    """control_plane/services.py declares something the stack cannot build (a clash, a dangling name)."""
