"""Why playback refused, each a 4xx through the shared app factory.

Forbidden (403)
├── NotEntitled: no active subscription
├── MaturityRestricted: the title is rated above the profile's limit
├── RenditionNotAllowed: the plan does not include that quality
├── SessionInvalid: a session token this stack did not sign, or one altered
└── SessionExpired: a session token past its expiry
NotFound (404)
├── RenditionMissing: the title has no such rendition
└── PathwayUnknown: a pathway or rendition the session does not include
Unavailable (503)
└── SessionsUnconfigured: no session secret is set (EDGEFILL_SESSION_SECRET)
"""

from __future__ import annotations

from control_plane.common.errors import Forbidden, NotFound, Unavailable


class NotEntitled(Forbidden):
    code = "not_entitled"


class MaturityRestricted(Forbidden):
    code = "maturity_restricted"


class RenditionNotAllowed(Forbidden):
    code = "rendition_not_allowed"


class RenditionMissing(NotFound):
    code = "rendition_missing"


class SessionInvalid(Forbidden):
    code = "session_invalid"


class SessionExpired(Forbidden):
    code = "session_expired"


class PathwayUnknown(NotFound):
    code = "pathway_not_in_session"


class SessionsUnconfigured(Unavailable):
    code = "sessions_unconfigured"
