"""Signed appliance URLs for one signing key: a rendition's playback directory.

The token format is the contract's (`edgefill_contracts.signing`, what nginx `secure_link`
checks); this module applies it with a `SigningKey`, for steering. Manifests carry fill
tokens instead (`control_plane/manifests/builder.py`).
"""

from __future__ import annotations

import functools

from control_plane.signing.keys import SigningKey
from edgefill_contracts.signing import rendition_base_path


def signed_rendition_base(*, key: SigningKey, title_id: str, rendition: str, expires: int) -> str:
    """The signed playback directory of one rendition (ends with '/'); relative URLs resolve
    under it, and its token opens no other rendition."""
    return _rendition_base(
        key.secret_id, key.secret.get_secret_value(), title_id, rendition, expires
    )


@functools.lru_cache(maxsize=16_384)
def _rendition_base(
    secret_id: str, secret: str, title_id: str, rendition: str, expires: int
) -> str:
    # Cached: every session of a rendition in one second shares it.
    return rendition_base_path(
        secret_id=secret_id, secret=secret, title=title_id, rendition=rendition, expires=expires
    )
