"""The lab's one exception: something the demo needs is missing or did not come up.

LabError
"""

from __future__ import annotations


class LabError(Exception):
    """Shown to the person running `make demo` as is: say what failed and what to do."""
