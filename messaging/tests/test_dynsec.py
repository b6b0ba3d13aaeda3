"""Mosquitto dynamic security, administered from Python: default deny, per-organization roles,
integrator credentials confined to their organization, suspension and revocation kick at once."""

import json
import uuid

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from audit.context import Actor
from messaging import dynsec, services
from messaging.models import MqttCredential, MqttSyncState
from tenants.services import tenant_create, tenant_reactivate, tenant_suspend

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def admin_call(command, **fields):
    with dynsec.DynsecAdmin() as admin:
        return admin.call(command, **fields)


def new_credential(tenant, name, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.mqtt_credential_create(tenant=tenant, actor=ACTOR, name=name)


def test_mqtt_setup_denies_by_default_and_is_idempotent(mqtt_ready):
    call_command("mqtt_setup", verbosity=0)
    call_command("mqtt_setup", verbosity=0)
    acls = admin_call("getDefaultACLAccess")["data"]["acls"]
    assert {a["acltype"]: a["allow"] for a in acls} == {
        "publishClientSend": False, "publishClientReceive": False, "subscribe": False, "unsubscribe": False}
    platform = admin_call("getRole", rolename="gatehouse-platform")["data"]["role"]
    assert {(a["acltype"], a["topic"]) for a in platform["acls"]} == set(dynsec.platform_acls())
    for slug in ("acme", "globex"):
        role = admin_call("getRole", rolename=f"org-{slug}")["data"]["role"]
        assert {(a["acltype"], a["topic"], a["allow"]) for a in role["acls"]} == {
            ("subscribePattern", f"org/{slug}/#", True), ("publishClientReceive", f"org/{slug}/#", True),
            ("unsubscribePattern", f"org/{slug}/#", True), ("publishClientSend", f"org/{slug}/feeds/#", True)}


def test_a_tenants_credentials_reach_only_its_own_topics(tenant_a, tenant_b, probe,
                                                         django_capture_on_commit_callbacks):
    cred_a, password_a = new_credential(tenant_a, "CI", django_capture_on_commit_callbacks)
    cred_b, password_b = new_credential(tenant_b, "SIEM", django_capture_on_commit_callbacks)
    a = probe(cred_a.username, password_a)
    b = probe(cred_b.username, password_b)
    assert a.accepted and b.accepted

    # Subscriptions outside org/acme/# are refused.
    for topic in ("org/globex/#", "org/globex/events/scan.completed", "#", "org/+/#", "org/#", "$SYS/#",
                  "$CONTROL/dynamic-security/#"):
        assert a.subscribe(topic).is_failure, topic
    assert not a.subscribe("org/acme/#").is_failure
    assert not b.subscribe("org/globex/#").is_failure

    platform = probe()
    assert not platform.subscribe("org/#").is_failure

    # Publishing outside org/acme/feeds/# is refused by the broker...
    for topic in ("org/acme/events/scan.completed", "org/acme/scans/x/progress", "org/globex/feeds/x",
                  "org/globex/events/scan.completed", "elsewhere", "$CONTROL/dynamic-security/v1"):
        assert a.publish(topic, b'{"forged": true}').is_failure, topic
    # ...and a feed of its own is accepted and relayed.
    assert not a.publish("org/acme/feeds/sensors", b'{"ok": 1}').is_failure
    platform.wait_for("org/acme/feeds/sensors")
    assert [t for t, _p in platform.received()] == ["org/acme/feeds/sensors"]

    # Events of one organization reach only its own credentials.
    platform.publish("org/globex/events/scan.completed", b'{"n": 1}')
    platform.publish("org/acme/events/scan.completed", b'{"n": 2}')
    a.wait_for("org/acme/events/scan.completed")
    b.wait_for("org/globex/events/scan.completed")
    assert [t for t, _p in a.received()] == ["org/acme/feeds/sensors", "org/acme/events/scan.completed"]
    assert [t for t, _p in b.received()] == ["org/globex/events/scan.completed"]


def test_a_revoked_credential_is_disconnected_and_refused(tenant_a, probe, django_capture_on_commit_callbacks):
    credential, password = new_credential(tenant_a, "Mirror", django_capture_on_commit_callbacks)
    client = probe(credential.username, password)
    assert client.accepted
    with django_capture_on_commit_callbacks(execute=True):
        services.mqtt_credential_revoke(tenant=tenant_a, actor=ACTOR, credential_id=credential.pk)
    assert client.disconnected.wait(20), "the live session was not kicked"
    again = probe(credential.username, password)
    assert again.connack.is_failure
    with schema_context("acme"):
        credential.refresh_from_db()
        assert credential.revoked_at is not None and credential.broker_synced
    with dynsec.DynsecAdmin() as admin:
        assert dynsec.get_client(admin, credential.username) is None


def test_suspension_disconnects_the_tenants_clients_and_reactivation_lets_them_back(
        probe, django_capture_on_commit_callbacks):
    tenant = tenant_create(slug="mqtt_susp", name="Suspend me").tenant
    credential, password = new_credential(tenant, "Device", django_capture_on_commit_callbacks)
    client = probe(credential.username, password)
    assert client.accepted

    tenant_suspend(tenant=tenant, reason="unpaid")
    assert client.disconnected.wait(20), "suspension did not kick the client"
    assert probe(credential.username, password).connack.is_failure

    tenant_reactivate(tenant=tenant)
    assert probe(credential.username, password).accepted


def test_provisioning_survives_a_dead_broker_and_is_reconciled(settings, mqtt_ready):
    live_url = settings.MQTT_URL
    settings.MQTT_URL = "mqtt://127.0.0.1:1"
    tenant = tenant_create(slug="mqtt_down", name="Broker down").tenant
    assert tenant.is_ready and "mqtt_role" in tenant.provisioning_steps
    with schema_context(tenant.schema_name):
        state = MqttSyncState.objects.get(pk=1)
        assert state.needs_sync and "mqtt://127.0.0.1:1" in state.last_error
        # A credential made while the broker is down is kept, and pending.
        credential, password = services.mqtt_credential_create(tenant=tenant, actor=ACTOR, name="Later")
    settings.MQTT_URL = live_url
    assert admin_call("getRole", rolename="org-mqtt_down", ok=("Role not found",)).get("error") == "Role not found"

    report = services.mqtt_reconcile()
    assert "mqtt_down" in report["synced"]
    assert "error" not in admin_call("getRole", rolename="org-mqtt_down")
    with schema_context(tenant.schema_name):
        assert not MqttSyncState.objects.get(pk=1).needs_sync
        assert MqttCredential.objects.get(pk=credential.pk).broker_synced
    from messaging.tests.helpers import MqttProbe

    late = MqttProbe(credential.username, password).connect()
    try:
        assert late.accepted
    finally:
        late.close()


def test_reused_slug_does_not_inherit_a_deleted_tenants_accounts(mqtt_ready, probe):
    # An account left behind by a deleted organization of the same slug (the broker was down then).
    leftover = f"mqtt_reuse.{uuid.uuid4().hex[:8]}"
    with dynsec.DynsecAdmin() as admin:
        dynsec.ensure_role(admin, "org-mqtt_reuse", dynsec.tenant_acls("mqtt_reuse"))
        dynsec.ensure_client(admin, username=leftover, password="old-secret-123", rolename="org-mqtt_reuse",  # noqa: S106
                             textname=dynsec.credential_textname("mqtt_reuse", str(uuid.uuid4())), enabled=True)
    assert probe(leftover, "old-secret-123").accepted
    tenant_create(slug="mqtt_reuse", name="Reused slug")
    with dynsec.DynsecAdmin() as admin:
        assert dynsec.get_client(admin, leftover) is None


def test_mqtt_setup_removes_roles_and_accounts_of_deleted_tenants(mqtt_ready):
    ghost = f"ghost_{uuid.uuid4().hex[:6]}"
    with dynsec.DynsecAdmin() as admin:
        dynsec.ensure_role(admin, f"org-{ghost}", dynsec.tenant_acls(ghost))
        dynsec.ensure_client(admin, username=f"{ghost}.1", password="x-secret-123",  # noqa: S106
                             rolename=f"org-{ghost}",
                             textname=dynsec.credential_textname(ghost, "1"), enabled=True)
        # Accounts Gatehouse did not make are left alone.
        admin.call("createClient", username=f"operator-{ghost}", password="y-secret-123",  # noqa: S106
                   ok=("Client already exists",))
    call_command("mqtt_setup", verbosity=0)
    with dynsec.DynsecAdmin() as admin:
        assert dynsec.get_client(admin, f"{ghost}.1") is None
        assert f"org-{ghost}" not in dynsec.list_roles(admin)
        assert dynsec.get_client(admin, f"operator-{ghost}") is not None
        admin.call("deleteClient", username=f"operator-{ghost}")


def test_credential_password_is_stored_encrypted_and_never_logged(tenant_a, caplog,
                                                                   django_capture_on_commit_callbacks):
    caplog.set_level("DEBUG")
    credential, password = new_credential(tenant_a, "Logs", django_capture_on_commit_callbacks)
    with schema_context("acme"):
        stored = MqttCredential.objects.get(pk=credential.pk).password_encrypted
    assert password not in stored
    assert password not in caplog.text
    from messaging.crypto import decrypt

    assert decrypt(stored) == password
    assert json.dumps(admin_call("getClient", username=credential.username)).find(password) == -1


def test_mqtt_setup_reencrypts_stored_passwords_after_a_key_rotation(tenant_a, settings,
                                                                       django_capture_on_commit_callbacks):
    from cryptography.fernet import Fernet

    from messaging import crypto

    old_key = Fernet.generate_key().decode()
    settings.FERNET_KEYS = [old_key]
    credential, password = new_credential(tenant_a, "Rotated", django_capture_on_commit_callbacks)
    settings.FERNET_KEYS = [Fernet.generate_key().decode(), old_key]  # a new key first, the old one kept
    with schema_context("acme"):
        before = MqttCredential.objects.get(pk=credential.pk).password_encrypted
    assert not crypto.is_current(before)
    call_command("mqtt_setup", verbosity=0)
    with schema_context("acme"):
        after = MqttCredential.objects.get(pk=credential.pk).password_encrypted
    assert crypto.is_current(after) and crypto.decrypt(after) == password
    settings.FERNET_KEYS = settings.FERNET_KEYS[:1]  # the old key can go now
    assert crypto.decrypt(after) == password
