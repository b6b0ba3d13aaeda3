"""Initialise Gatehouse's broker (idempotent): default deny, the platform's access, every organization."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from messaging import dynsec, services
from messaging.mqtt import BrokerUnavailable, broker_address


class Command(BaseCommand):
    help = ("Set up Mosquitto dynamic security for Gatehouse: default ACL access deny, the platform account's "
            "org/# role, each organization's role and integrator accounts (created, enabled or disabled, "
            "revoked ones removed), and removal of roles and accounts of deleted organizations. Safe to re-run.")

    def handle(self, *args: object, **options: object) -> None:
        try:
            report = services.mqtt_reconcile(full=True)
        except BrokerUnavailable as exc:
            raise CommandError(f"{exc}. Start the broker (`make services` or `docker compose up -d mqtt`) "
                               f"and check MQTT_URL / MQTT_USERNAME / MQTT_PASSWORD.") from exc
        except dynsec.DynsecError as exc:
            raise CommandError(f"{exc}. Is MQTT_USERNAME the broker's dynamic-security administrator "
                               f"(the account `mosquitto_ctrl dynsec init` created)?") from exc
        verbose = int(options.get("verbosity", 1)) >= 1
        if verbose:
            self.stdout.write(f"Broker {broker_address()}:")
            for change in report["platform"]:
                self.stdout.write(f"  platform: {change}")
            if not report["platform"]:
                self.stdout.write("  platform: already set up (default deny, org/# role)")
            self.stdout.write(f"  organizations in sync: {len(report['synced'])}")
            if report["reencrypted"]:
                self.stdout.write(f"  re-encrypted {report['reencrypted']} stored password(s) "
                                  f"with the first FERNET_KEYS key")
            for removed in report["orphans_removed"]:
                self.stdout.write(f"  removed leftover {removed}")
        for slug, error in report["failed"].items():
            self.stderr.write(f"  {slug}: {error}")
        if report["failed"]:
            raise CommandError(f"{len(report['failed'])} organization(s) could not be brought in line; see above.")
        if verbose:
            self.stdout.write(self.style.SUCCESS("MQTT broker set up."))
