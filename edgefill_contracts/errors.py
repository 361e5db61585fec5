"""The contracts' one exception: a value that does not fit a wire format.

ContractError (ValueError)
"""

from __future__ import annotations


class ContractError(ValueError):
    """A value breaks a wire contract (bad key, bad signature input, bad version)."""
