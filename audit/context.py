"""Who did something, and from where: passed explicitly to every service that writes.

Services take `actor: Actor` as a keyword argument; views build it with
`Actor.from_request(request)`, tasks and commands with `Actor.system(...)`.
It carries what the audit trail records (actor type, id and email snapshot, IP,
user agent, request id) and the user object for permission checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from config.errors import PermissionDenied
from config.logging import current_request_var, request_id_var

ActorType = Literal["user", "api_key", "staff", "system", "anonymous"]


def client_ip(request: Any) -> str | None:
    """The client's address: REMOTE_ADDR (uvicorn --proxy-headers already applied X-Forwarded-For)."""
    return (getattr(request, "META", {}) or {}).get("REMOTE_ADDR") or None


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None = None
    email: str = ""
    ip: str | None = None
    user_agent: str = ""
    request_id: str | None = None
    # The authenticated user (for an API key: the user who created it); None for system.
    user: Any = field(default=None, compare=False, repr=False)
    # The API key used, when type == "api_key".
    api_key: Any = field(default=None, compare=False, repr=False)

    @property
    def signed_in_user(self) -> Any:
        """The authenticated user behind this actor; None for the system and anonymous callers."""
        user = self.user
        return user if user is not None and getattr(user, "is_authenticated", False) else None

    def has_perm(self, perm: str) -> bool:
        """The system may do anything; a user (or API key) what its Django permissions allow."""
        if self.type == "system":
            return True
        user = self.signed_in_user
        return bool(user is not None and user.is_active and user.has_perm(perm))

    def require_perm(self, perm: str, message: str) -> None:
        if not self.has_perm(perm):
            raise PermissionDenied(message)

    @classmethod
    def from_request(cls, request: Any) -> Actor:
        request_id = getattr(request, "request_id", None) or request_id_var.get()
        ip = client_ip(request)
        user_agent = (request.META.get("HTTP_USER_AGENT", "") if hasattr(request, "META") else "")[:512]
        api_key = getattr(request, "api_key", None)
        auth = getattr(request, "auth", None)
        if api_key is None and auth is not None and auth.__class__.__name__ == "ApiKey":
            api_key = auth
        user = getattr(request, "user", None)
        if api_key is not None:
            return cls(type="api_key", id=str(api_key.pk), email=getattr(user, "email", "") or "",
                       ip=ip, user_agent=user_agent, request_id=request_id, user=user, api_key=api_key)
        if user is not None and getattr(user, "is_authenticated", False):
            tenant = getattr(request, "tenant", None)
            kind: ActorType = "staff" if tenant is None or tenant.is_public else "user"
            return cls(type=kind, id=str(user.pk), email=user.email, ip=ip, user_agent=user_agent,
                       request_id=request_id, user=user)
        return cls(type="anonymous", ip=ip, user_agent=user_agent, request_id=request_id)

    @classmethod
    def for_user(cls, user: Any, *, staff: bool = False) -> Actor:
        """A user acting outside a request (management command, test).

        During a request (code that has the user but not the request, such as the
        admin's change log) the client address, user agent and request id of the
        request being served are recorded too.
        """
        request = current_request_var.get()
        ip = client_ip(request) if request is not None else None
        user_agent = (request.META.get("HTTP_USER_AGENT", "")[:512] if request is not None else "")
        return cls(type="staff" if staff else "user", id=str(user.pk), email=user.email, ip=ip,
                   user_agent=user_agent, request_id=request_id_var.get(), user=user)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """Gatehouse itself: a beat task, the pipeline, a management command."""
        return cls(type="system", id=name, email="", request_id=request_id_var.get())

    @property
    def is_authenticated(self) -> bool:
        return self.type in ("user", "api_key", "staff")
