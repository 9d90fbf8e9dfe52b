"""Bearer-key authentication and the per-app state the routes share."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..assistant.store import Store
from .access import Access
from .engine import RunEngine
from .errors import APIError
from .keys import KeyStore

bearer = HTTPBearer(auto_error=False, description="A key from `qlwork serve keys create --user ID`.")


@dataclass
class ServerState:
    store: Store
    keys: KeyStore
    access: Access
    engine: RunEngine
    poll_after_ms: int = 25
    poll_wait: float = 2.0
    extras: dict = field(default_factory=dict)


# Dependencies are ``async def`` so FastAPI calls them on the event loop: a sync dependency costs
# a worker-thread hop per request, and these are quick (the key check is one indexed SELECT).

def app_state(request: Request) -> ServerState:
    return request.app.state.qlwork


async def state(request: Request) -> ServerState:
    return app_state(request)


async def current_user(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
    """The user id of the request's bearer key; 401 when it is missing, unknown or revoked."""
    if credentials is None or not credentials.credentials:
        raise APIError(401, "You didn't provide an API key. Send 'Authorization: Bearer <key>' "
                       "(create one with `qlwork serve keys create --user ID`).", code="missing_api_key",
                       headers={"www-authenticate": "Bearer"})
    user = app_state(request).keys.authenticate(credentials.credentials)
    if user is None:
        raise APIError(401, "Incorrect API key provided (unknown or revoked).", code="invalid_api_key",
                       headers={"www-authenticate": "Bearer"})
    request.state.user = user
    return user
