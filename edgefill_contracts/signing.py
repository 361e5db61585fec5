"""Signed content URLs, in exactly the form the appliance's nginx `secure_link` checks.

Two kinds of signed path, each with its own scope and its own expiry ceiling at the edge:

``/t/<secret_id>/<token>/<expires>/<title>/<rendition>/<file>``  playback
    ``token`` covers one rendition's directory (``<title>/<rendition>``): the relative URLs
    inside its media playlist inherit the token, and the token opens no other rendition, so a
    plan that stops at 720p cannot fetch 2160p by editing the path.

``/f/<secret_id>/<token>/<expires>/<title>/<path inside the title>``  fill
    ``token`` covers a whole title: what an appliance's manifest carries to fill from a peer
    (one token per title keeps a 120,000-unit manifest small; peers hold the secrets anyway).

``token`` is the unpadded base64url MD5 of ``"<expires>/<scope> <secret>"``, which is what
``secure_link_md5 "$expires/$scope $secret"`` computes. ``secret_id`` picks the secret in
nginx's map, which is how an appliance accepts the current and the previous secret during a
rotation. nginx also refuses an expiry further out than its configured ceiling for the kind
(see the appliance's `serve` settings), so a URL signed for a week is refused, not served.

MD5 here is nginx's choice (secure_link_md5), not ours; it is keyed with the secret and bounded
by the expiry, and it is what nginx can check without a module outside Debian's build.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from edgefill_contracts.errors import ContractError
from edgefill_contracts.object_key import validate_object_key


class SignedKind(StrEnum):
    """What a signed path is for; its value is the path's first segment."""

    PLAYBACK = "t"  # a subscriber's player: one rendition
    FILL = "f"  # an appliance filling from a peer: one title


SIGNED_PREFIX = f"/{SignedKind.PLAYBACK.value}"
FILL_PREFIX = f"/{SignedKind.FILL.value}"
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_COMPONENT = r"[A-Za-z0-9][A-Za-z0-9._=-]*"
_SIGNED = re.compile(
    r"^/(?P<kind>[tf])/(?P<secret_id>[A-Za-z0-9_-]{1,32})/(?P<token>[A-Za-z0-9_-]{22})/"
    rf"(?P<expires>[0-9]{{1,12}})/(?P<title>{_COMPONENT})/(?P<rest>.*)$"
)


@dataclass(frozen=True)
class SignedPath:
    kind: SignedKind
    secret_id: str
    token: str
    expires: int
    title: str
    rest: str

    @property
    def scope(self) -> str:
        """What the token covers: ``<title>/<rendition>`` for playback, ``<title>`` for fill."""
        if self.kind is SignedKind.FILL:
            return self.title
        return f"{self.title}/{self.rest.split('/', 1)[0]}"


def compute_token(*, secret: str, scope: str, expires: int) -> str:
    """The token nginx recomputes: base64url(md5("<expires>/<scope> <secret>")), no padding."""
    digest = hashlib.md5(f"{expires}/{scope} {secret}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _check_signer(*, secret_id: str, secret: str, expires: int) -> None:
    if not _SECRET_ID.match(secret_id):
        raise ContractError(f"secret id {secret_id!r} must match [A-Za-z0-9_-]{{1,32}}")
    if not secret:
        raise ContractError("refusing to sign with an empty secret")
    if expires <= 0:
        raise ContractError(f"expiry {expires} is not a unix time")


def sign_path(*, secret_id: str, secret: str, key: str, expires: int) -> str:
    """The playback path of `key` (``<title>/<rendition>/<file>``), valid until `expires`."""
    _check_signer(secret_id=secret_id, secret=secret, expires=expires)
    parts = validate_object_key(key).split("/")
    if len(parts) < 3:
        raise ContractError(f"object key {key!r} is not <title>/<rendition>/<file>")
    scope = f"{parts[0]}/{parts[1]}"
    token = compute_token(secret=secret, scope=scope, expires=expires)
    return f"{SIGNED_PREFIX}/{secret_id}/{token}/{expires}/{key}"


def sign_fill_path(*, secret_id: str, secret: str, key: str, expires: int) -> str:
    """The fill path of `key` (``<title>/...``) for a peer appliance, valid until `expires`."""
    _check_signer(secret_id=secret_id, secret=secret, expires=expires)
    title = validate_object_key(key).split("/", 1)[0]
    token = compute_token(secret=secret, scope=title, expires=expires)
    return f"{FILL_PREFIX}/{secret_id}/{token}/{expires}/{key}"


def rendition_base_path(
    *, secret_id: str, secret: str, title: str, rendition: str, expires: int
) -> str:
    """The signed playback directory of one rendition (ends with '/'); relative URLs resolve
    under it and nowhere else."""
    base = sign_path(
        secret_id=secret_id, secret=secret, key=f"{title}/{rendition}/x", expires=expires
    )
    return base[: -len("x")]


def parse_signed_path(path: str) -> SignedPath:
    """Split a signed path into its parts (for tests and logs; nginx does the real check)."""
    match = _SIGNED.match(path)
    if match is None:
        raise ContractError(f"{path!r} is not a signed content path")
    kind = SignedKind(match["kind"])
    if kind is SignedKind.PLAYBACK and "/" not in match["rest"]:
        raise ContractError(f"{path!r} is a playback path with no <rendition>/<file>")
    return SignedPath(
        kind=kind,
        secret_id=match["secret_id"],
        token=match["token"],
        expires=int(match["expires"]),
        title=match["title"],
        rest=match["rest"],
    )
