"""Mosquitto dynamic-security administration from Python.

Commands are JSON documents published to `$CONTROL/dynamic-security/v1` by the
platform account (the broker's only dynsec administrator); the broker answers
on `.../response`. Each command carries a `correlationData` so that answers are
matched to questions even when another administrator is talking at the same time.

What Gatehouse keeps in the broker (every function here is idempotent):

- default ACL access: deny for publishing, receiving, subscribing and unsubscribing;
- role `gatehouse-platform` on the platform account: publish, subscribe and receive `org/#`;
- role `org-<slug>` per organization: subscribe/receive `org/<slug>/#`, publish only
  `org/<slug>/feeds/#`;
- one client per integrator credential, holding only its organization's role, with
  the text name `gatehouse:<slug>:<credential id>` so Gatehouse recognises its own.

Mosquitto kicks a client's live sessions when it is disabled, deleted or its roles
change; changing a role's ACLs applies to the next packet without a kick.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from messaging import mqtt

logger = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
PLATFORM_ROLE = "gatehouse-platform"
TENANT_ROLE_PREFIX = "org-"
TEXTNAME_PREFIX = "gatehouse:"
DEFAULT_ACL_TYPES = ("publishClientSend", "publishClientReceive", "subscribe", "unsubscribe")

Acl = tuple[str, str]  # (acltype, topic), always allow


class DynsecError(RuntimeError):
    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"dynamic security refused {command}: {error}")
        self.command = command
        self.error = error


def platform_acls() -> list[Acl]:
    return [("publishClientSend", "org/#"), ("publishClientReceive", "org/#"),
            ("subscribePattern", "org/#"), ("unsubscribePattern", "org/#")]


def tenant_role_name(slug: str) -> str:
    return f"{TENANT_ROLE_PREFIX}{slug}"


def tenant_acls(slug: str) -> list[Acl]:
    return [("subscribePattern", f"org/{slug}/#"), ("publishClientReceive", f"org/{slug}/#"),
            ("unsubscribePattern", f"org/{slug}/#"), ("publishClientSend", f"org/{slug}/feeds/#")]


def credential_textname(slug: str, credential_id: str) -> str:
    return f"{TEXTNAME_PREFIX}{slug}:{credential_id}"


def parse_textname(textname: str | None) -> tuple[str, str] | None:
    """(slug, credential id) from a text name Gatehouse wrote, else None."""
    if not textname or not textname.startswith(TEXTNAME_PREFIX):
        return None
    slug, sep, credential_id = textname[len(TEXTNAME_PREFIX):].partition(":")
    return (slug, credential_id) if sep and slug and credential_id else None


class DynsecAdmin:
    """A short-lived administrative connection: `with DynsecAdmin() as admin: admin.call(...)`."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = settings.MQTT_CONNECT_TIMEOUT_SECONDS * 2 if timeout is None else timeout
        self._client: Any = None
        self._cond = threading.Condition()
        self._responses: dict[str, dict[str, Any]] = {}
        self._subscribed = threading.Event()
        self._lost = threading.Event()

    # -- connection -----------------------------------------------------------------
    def __enter__(self) -> DynsecAdmin:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self._responses.clear()
        self._subscribed.clear()
        self._lost.clear()
        client = mqtt.new_client(mqtt.client_id("dynsec"), reconnect_on_failure=False)
        client.on_message = self._on_message
        client.on_subscribe = lambda *args: self._subscribed.set()
        mqtt.connect(client, timeout=self.timeout)
        # After CONNACK only: the connect helper installs its own on_disconnect-free callbacks.
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.subscribe(RESPONSE_TOPIC, qos=1)
        if not self._subscribed.wait(self.timeout):
            self.close()
            raise mqtt.BrokerUnavailable("the MQTT broker did not confirm the dynamic-security subscription")

    def close(self) -> None:
        if self._client is not None:
            mqtt.close(self._client)
            self._client = None

    def reopen(self) -> None:
        self.close()
        self.open()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._lost.set()
        with self._cond:
            self._cond.notify_all()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        with self._cond:
            for response in body.get("responses", []) if isinstance(body, dict) else []:
                correlation = response.get("correlationData")
                if isinstance(correlation, str):
                    self._responses[correlation] = response
            self._cond.notify_all()

    # -- commands -------------------------------------------------------------------
    def execute(self, commands: Iterable[dict[str, Any]], *, expect_kick: bool = False) -> list[dict[str, Any]]:
        """Send commands in one message; their responses, in order.

        With `expect_kick`, losing the connection before the answers arrive is the
        expected outcome (the commands changed this account's own roles): returns [].
        """
        if self._client is None:
            raise RuntimeError("DynsecAdmin is not open")
        batch = []
        for command in commands:
            batch.append({**command, "correlationData": uuid.uuid4().hex})
        keys = [c["correlationData"] for c in batch]
        info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": batch}), qos=1)
        if info.rc != 0:
            raise mqtt.BrokerUnavailable("the dynamic-security command could not be sent")
        with self._cond:
            done = self._cond.wait_for(lambda: all(k in self._responses for k in keys) or self._lost.is_set(),
                                       timeout=self.timeout)
            if all(k in self._responses for k in keys):
                return [self._responses.pop(k) for k in keys]
        if expect_kick and self._lost.is_set():
            return []
        reason = "the connection was lost" if self._lost.is_set() else ("no answer in time" if not done else "")
        raise mqtt.BrokerUnavailable(f"dynamic security did not answer ({reason})")

    def call(self, command: str, *, ok: Iterable[str] = (), **fields: Any) -> dict[str, Any]:
        """One command; raises DynsecError unless it succeeded or failed with an error listed in `ok`."""
        response = self.execute([{"command": command, **fields}])[0]
        error = response.get("error")
        if error and error not in ok:
            raise DynsecError(command, error)
        return response


# --- Building blocks ------------------------------------------------------------------

def ensure_default_deny(admin: DynsecAdmin) -> bool:
    current = admin.call("getDefaultACLAccess").get("data", {}).get("acls", [])
    if current and all(not acl.get("allow") for acl in current) and len(current) >= len(DEFAULT_ACL_TYPES):
        return False
    admin.call("setDefaultACLAccess", acls=[{"acltype": t, "allow": False} for t in DEFAULT_ACL_TYPES])
    return True


def ensure_role(admin: DynsecAdmin, rolename: str, acls: list[Acl], *, textname: str = "") -> bool:
    """Create the role or bring its ACLs to exactly `acls` (all allow). True when something changed."""
    response = admin.call("getRole", rolename=rolename, ok=("Role not found",))
    if response.get("error"):
        admin.call("createRole", rolename=rolename, textname=textname)
        current: set[tuple[str, str, bool]] = set()
    else:
        role = response.get("data", {}).get("role", {})
        current = {(a["acltype"], a["topic"], bool(a.get("allow"))) for a in role.get("acls", [])}
    wanted = {(acltype, topic, True) for acltype, topic in acls}
    commands: list[dict[str, Any]] = []
    for acltype, topic, _allow in sorted(current - wanted):
        commands.append({"command": "removeRoleACL", "rolename": rolename, "acltype": acltype, "topic": topic})
    for acltype, topic, _allow in sorted(wanted - current):
        commands.append({"command": "addRoleACL", "rolename": rolename, "acltype": acltype, "topic": topic,
                         "allow": True, "priority": 0})
    if commands:
        for result in admin.execute(commands):
            if result.get("error"):
                raise DynsecError(result.get("command", "?"), result["error"])
    return bool(commands) or response.get("error") is not None


def delete_role(admin: DynsecAdmin, rolename: str) -> bool:
    return not admin.call("deleteRole", rolename=rolename, ok=("Role not found",)).get("error")


def get_client(admin: DynsecAdmin, username: str) -> dict[str, Any] | None:
    response = admin.call("getClient", username=username, ok=("Client not found",))
    if response.get("error"):
        return None
    return response.get("data", {}).get("client", {})


def list_clients(admin: DynsecAdmin) -> list[dict[str, Any]]:
    return admin.call("listClients", verbose=True).get("data", {}).get("clients", [])


def list_roles(admin: DynsecAdmin) -> list[str]:
    roles = admin.call("listRoles", verbose=False).get("data", {}).get("roles", [])
    return [r if isinstance(r, str) else r.get("rolename", "") for r in roles]


def ensure_client(admin: DynsecAdmin, *, username: str, password: str, rolename: str, textname: str,
                  enabled: bool) -> bool:
    """Create the client, or give an existing one exactly `rolename`; then enable or disable it."""
    existing = get_client(admin, username)
    changed = False
    if existing is None:
        admin.call("createClient", username=username, password=password, textName=textname,
                   roles=[{"rolename": rolename}])
        changed = True
    else:
        roles = sorted(r.get("rolename", "") for r in existing.get("roles", []))
        if roles != [rolename] or existing.get("groups"):
            admin.call("modifyClient", username=username, roles=[{"rolename": rolename}], groups=[])
            changed = True
    set_client_enabled(admin, username, enabled)
    return changed


def set_client_enabled(admin: DynsecAdmin, username: str, enabled: bool) -> bool:
    """Enable or disable (kicking its live sessions) a client. False when it does not exist."""
    command = "enableClient" if enabled else "disableClient"
    return not admin.call(command, username=username, ok=("Client not found",)).get("error")


def delete_client(admin: DynsecAdmin, username: str) -> bool:
    """Disable (which kicks the live session at once), then delete. False when it did not exist."""
    if not set_client_enabled(admin, username, False):
        return False
    admin.call("deleteClient", username=username, ok=("Client not found",))
    return True


# --- The platform account ---------------------------------------------------------------

_platform_ready: set[tuple[str, str]] = set()
_platform_lock = threading.Lock()


def ensure_platform_access(admin: DynsecAdmin) -> list[str]:
    """Default deny everywhere, and the platform account's `org/#` role. Returns what changed."""
    changes = []
    if ensure_default_deny(admin):
        changes.append("default ACL access set to deny")
    if ensure_role(admin, PLATFORM_ROLE, platform_acls(), textname="Gatehouse platform"):
        changes.append(f"role {PLATFORM_ROLE}")
    me = get_client(admin, settings.MQTT_USERNAME)
    if me is None:
        raise DynsecError("getClient", f"the platform account {settings.MQTT_USERNAME!r} is not a dynsec client")
    if PLATFORM_ROLE not in {r.get("rolename") for r in me.get("roles", [])}:
        # Changing our own roles makes the broker kick every session of this account,
        # this one included: expect it, then reconnect and check.
        admin.execute([{"command": "addClientRole", "username": settings.MQTT_USERNAME,
                        "rolename": PLATFORM_ROLE, "priority": -1}], expect_kick=True)
        admin.reopen()
        me = get_client(admin, settings.MQTT_USERNAME) or {}
        if PLATFORM_ROLE not in {r.get("rolename") for r in me.get("roles", [])}:
            raise DynsecError("addClientRole", f"the platform account did not get role {PLATFORM_ROLE}")
        changes.append(f"platform account given role {PLATFORM_ROLE}")
    with _platform_lock:
        _platform_ready.add((settings.MQTT_URL, settings.MQTT_USERNAME))
    return changes


def ensure_platform_access_once(admin: DynsecAdmin) -> None:
    """`ensure_platform_access` at most once per process and broker."""
    with _platform_lock:
        if (settings.MQTT_URL, settings.MQTT_USERNAME) in _platform_ready:
            return
    ensure_platform_access(admin)


def forget_platform_access() -> None:
    """Make the next `ensure_platform_access_once` check again (a broker was replaced)."""
    with _platform_lock:
        _platform_ready.clear()
