"""Signed appliance URLs: an object's path or a whole title's directory, for one signing key.

The token format is the contract's (`edgefill_contracts.signing`, what nginx `secure_link`
checks); this module applies it with a `SigningKey`, for manifest peer sources and steering.
"""

from __future__ import annotations

import functools

from control_plane.signing.keys import SigningKey
from edgefill_contracts.signing import sign_path, title_base_path


def signed_object_url(*, base_url: str, key: SigningKey, object_key: str, expires: int) -> str:
    """``<base_url>/t/<id>/<token>/<expires>/<object_key>``: one object, until `expires`."""
    return base_url + sign_path(
        secret_id=key.secret_id,
        secret=key.secret.get_secret_value(),
        key=object_key,
        expires=expires,
    )


def signed_title_base(*, key: SigningKey, title_id: str, expires: int) -> str:
    """The signed directory of a title (ends with '/'); relative URLs resolve under it."""
    return _title_base(key.secret_id, key.secret.get_secret_value(), title_id, expires)


@functools.lru_cache(maxsize=16_384)
def _title_base(secret_id: str, secret: str, title_id: str, expires: int) -> str:
    # Cached: every session of a title in one second shares it.
    return title_base_path(secret_id=secret_id, secret=secret, title=title_id, expires=expires)
