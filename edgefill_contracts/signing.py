"""Signed content URLs, in exactly the form the appliance's nginx `secure_link` checks.

Layout: ``/t/<secret_id>/<token>/<expires>/<title>/<path inside the title>``

``token`` is the unpadded base64url MD5 of ``"<expires>/<title> <secret>"``, which is what
``secure_link_md5 "$expires/$title $secret"`` computes. The token covers the title's directory,
not one file, so the relative segment URLs inside an HLS playlist inherit a valid token, and
that token opens no other title. ``secret_id`` picks the secret in nginx's map, which is how
an appliance accepts the current and the previous secret during a rotation.

MD5 here is nginx's choice (secure_link_md5), not ours; it is keyed with the secret and bounded
by the expiry, and it is what nginx can check without a module outside Debian's build.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from edgefill_contracts.errors import ContractError
from edgefill_contracts.object_key import validate_object_key

SIGNED_PREFIX = "/t"
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SIGNED = re.compile(
    r"^/t/(?P<secret_id>[A-Za-z0-9_-]{1,32})/(?P<token>[A-Za-z0-9_-]{22})/"
    r"(?P<expires>[0-9]{1,12})/(?P<title>[^/]+)(?:/(?P<rest>.*))?$"
)


@dataclass(frozen=True)
class SignedPath:
    secret_id: str
    token: str
    expires: int
    title: str
    rest: str


def compute_token(*, secret: str, title: str, expires: int) -> str:
    """The token nginx recomputes: base64url(md5("<expires>/<title> <secret>")) without padding."""
    digest = hashlib.md5(f"{expires}/{title} {secret}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_path(*, secret_id: str, secret: str, key: str, expires: int) -> str:
    """The signed path for object `key` (``<title>/...``), valid until unix time `expires`."""
    if not _SECRET_ID.match(secret_id):
        raise ContractError(f"secret id {secret_id!r} must match [A-Za-z0-9_-]{{1,32}}")
    if not secret:
        raise ContractError("refusing to sign with an empty secret")
    if expires <= 0:
        raise ContractError(f"expiry {expires} is not a unix time")
    title, rest = validate_object_key(key).split("/", 1)
    token = compute_token(secret=secret, title=title, expires=expires)
    return f"{SIGNED_PREFIX}/{secret_id}/{token}/{expires}/{title}/{rest}"


def title_base_path(*, secret_id: str, secret: str, title: str, expires: int) -> str:
    """The signed directory of a whole title (ends with '/'); relative URLs resolve under it."""
    base = sign_path(secret_id=secret_id, secret=secret, key=f"{title}/x", expires=expires)
    return base[: -len("x")]


def parse_signed_path(path: str) -> SignedPath:
    """Split a signed path into its parts (for tests and logs; nginx does the real check)."""
    match = _SIGNED.match(path)
    if match is None:
        raise ContractError(f"{path!r} is not a signed content path")
    return SignedPath(
        secret_id=match["secret_id"],
        token=match["token"],
        expires=int(match["expires"]),
        title=match["title"],
        rest=match["rest"] or "",
    )
