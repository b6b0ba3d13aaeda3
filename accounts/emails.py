"""Emails accounts sends: plain text and HTML, through Django's email backend."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def link_base(*, tenant: Any, base_url: str | None) -> str:
    """Scheme and host for links: the request's when there is one, else the configured template."""
    if base_url:
        return base_url.rstrip("/")
    return settings.ACCOUNTS_LINK_URL_TEMPLATE.format(host=tenant.primary_host).rstrip("/")


def send(*, to: str, subject: str, template: str, context: dict[str, Any]) -> None:
    text = render_to_string(f"accounts/emails/{template}.txt", context)
    html = render_to_string(f"accounts/emails/{template}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()


def send_invitation(*, tenant: Any, email: str, link: str, inviter: str, role: str, expires_at: Any) -> None:
    send(to=email, subject=f"You are invited to {tenant.name} on Gatehouse", template="invitation",
         context={"tenant": tenant, "link": link, "inviter": inviter, "role": role, "expires_at": expires_at})


def send_password_reset(*, tenant: Any, email: str, link: str, minutes: int) -> None:
    send(to=email, subject=f"Reset your Gatehouse password for {tenant.name}", template="password_reset",
         context={"tenant": tenant, "link": link, "minutes": minutes})
