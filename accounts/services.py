"""Every write of the accounts app: sign-in, tokens, passwords, MFA, members, roles, API keys.

Each function validates, writes in a transaction, records the audit event and,
for domain events (a member invited, joined, changed role...), queues the event
in the outbox. Views and serializers only parse input and call these.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, user_logged_in, user_login_failed
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import emails, lockout, mfa, redis_store, selectors, tokens
from accounts.managers import normalize_email_address
from accounts.models import ApiKey, Invitation, PasswordHistory, RecoveryCode, Role, User
from accounts.roles import OWNER, PERMISSIONS, ROLE_DESCRIPTIONS, ROLE_NAME_PATTERN, ROLE_PERMISSIONS, SYSTEM_ROLES
from accounts.scopes import PLATFORM_SCOPES, SCOPES, permissions_for_scopes
from audit.context import Actor, client_ip
from audit.services import audit_record, diff
from config.errors import Conflict, NotFound, PermissionDenied, RateLimited, Unauthenticated, ValidationFailed
from messaging.events import publish_event

if TYPE_CHECKING:
    from django.http import HttpRequest

    from tenants.models import Tenant

INVALID_CREDENTIALS = "Email or password is incorrect."


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    default_message = INVALID_CREDENTIALS


class MfaRequired(Unauthenticated):
    code = "mfa_required"
    default_message = "This account uses two-factor authentication: send the 6-digit code (or a recovery code) as `otp`."


class InvalidMfaCode(Unauthenticated):
    code = "invalid_mfa_code"
    default_message = "The two-factor code is wrong or was already used."


class AccountLocked(RateLimited):
    code = "account_locked"
    default_message = lockout.LOCKED_MESSAGE


# --- Helpers ---------------------------------------------------------------------------------

def _user_of(actor: Actor) -> User:
    if actor.user is None or not getattr(actor.user, "is_authenticated", False):
        raise Unauthenticated()
    return actor.user


def _as_user_actor(actor: Actor, user: User) -> Actor:
    """The same request context, now attributed to the user who just proved who they are."""
    return dataclasses.replace(actor, type="user", id=str(user.pk), email=user.email, user=user)


def _validation(field: str, exc: ValidationError) -> ValidationFailed:
    return ValidationFailed(details={field: list(exc.messages)})


def _check_new_password(password: str, user: User, *, field: str = "new_password") -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise _validation(field, exc) from exc


def _store_password(user: User, raw_password: str) -> None:
    user.set_password(raw_password)
    user.password_changed_at = timezone.now()
    user.save(update_fields=["password", "password_changed_at", "updated_at"])
    PasswordHistory.objects.create(user=user, password=user.password)
    stale = PasswordHistory.objects.filter(user=user).values_list("pk", flat=True)[10:]
    PasswordHistory.objects.filter(pk__in=list(stale)).delete()


def _role_group(name: str) -> Group:
    group = Group.objects.filter(name=name).first()
    if group is None:
        raise ValidationFailed(details={"role": [f"No role named '{name}'. See /api/v1/tenants/me/roles."]})
    return group


def _is_owner(user: Any) -> bool:
    return bool(user) and user.groups.filter(name=OWNER).exists()


def _tenant_now() -> Any:
    from django.db import connection

    return getattr(connection, "tenant", None)


# --- Users ------------------------------------------------------------------------------------

def user_create(*, actor: Actor, email: str, full_name: str = "", password: str | None = None,
                role: str | None = None, validate: bool = True) -> User:
    """Create a member of the current organization (or a staff user in the public schema)."""
    email = normalize_email_address(email)
    User_ = get_user_model()
    if not email or "@" not in email:
        raise ValidationFailed(details={"email": ["Enter a valid email address."]})
    if User_.objects.filter(email=email).exists():
        raise Conflict(f"{email} is already a member.", code="member_exists")
    group = _role_group(role) if role else None
    with transaction.atomic():
        user = User_(email=email, full_name=(full_name or "").strip()[:150])
        if password:
            if validate:
                _check_new_password(password, user, field="password")
            user.set_unusable_password()
            user.save()
            _store_password(user, password)
        else:
            user.set_unusable_password()
            user.save()
        if group is not None:
            user.groups.set([group])
        audit_record(actor=actor, action="member.create", resource_type="user", resource_id=str(user.pk),
                     changes={"email": {"after": email}, "role": {"after": role}})
    return user


def profile_update(*, actor: Actor, user: User, full_name: str) -> User:
    before = {"full_name": user.full_name}
    user.full_name = (full_name or "").strip()[:150]
    with transaction.atomic():
        user.save(update_fields=["full_name", "updated_at"])
        audit_record(actor=actor, action="user.update", resource_type="user", resource_id=str(user.pk),
                     changes=diff(before, {"full_name": user.full_name}))
    return user


def user_revoke_tokens(*, users: Iterable[User] | Any) -> None:
    """Refuse every token these users hold: bump auth_version and blacklist their refresh tokens."""
    ids = [u.pk for u in users]
    get_user_model().objects.filter(pk__in=ids).update(auth_version=F("auth_version") + 1)
    tokens.blacklist_all_for(ids)


# --- Sign-in -----------------------------------------------------------------------------------

def auth_check_credentials(*, request: HttpRequest, email: str, password: str) -> User:
    """Email + password, throttled and locked out; the same answer whether or not the email exists."""
    actor = Actor.from_request(request)
    email = normalize_email_address(email)
    redis_store.throttle_login(ip=client_ip(request), email=email)
    if email and lockout.is_locked(request, email):
        request.gatehouse_lockout_handled = True  # type: ignore[attr-defined]
        audit_record(actor=actor, action="auth.login", resource_type="user", outcome="failure",
                     reason="account locked", metadata={"email": email})
        raise AccountLocked(retry_after=lockout.seconds_until_unlocked(email))
    user = authenticate(request, email=email, password=password or "") if email and password else None
    if user is None:
        if email and not password:
            # Django only signals a failure when it tried; an empty password still counts.
            user_login_failed.send(sender=__name__, credentials={"email": email}, request=request)
        audit_record(actor=actor, action="auth.login", resource_type="user", outcome="failure",
                     reason="invalid credentials", metadata={"email": email})
        if getattr(request, "axes_locked_out", False):
            request.gatehouse_lockout_handled = True  # type: ignore[attr-defined]
            audit_record(actor=actor, action="auth.lockout", resource_type="user", outcome="failure",
                         reason=f"{settings.AXES_FAILURE_LIMIT} failed sign-ins", metadata={"email": email})
            raise AccountLocked(retry_after=lockout.seconds_until_unlocked(email))
        raise InvalidCredentials()
    return user


def auth_check_second_factor(*, request: HttpRequest, user: User, code: str | None) -> str | None:
    """When the user has MFA: check the TOTP or recovery code. Returns the method used, or None."""
    device = selectors.user_totp_device(user=user)
    if device is None:
        return None
    if not code:
        raise MfaRequired()
    actor = _as_user_actor(Actor.from_request(request), user)
    code = code.strip()
    if mfa.looks_like_totp(code) and device.verify_token(code.replace(" ", "")):
        return "totp"
    if not mfa.looks_like_totp(code) and _consume_recovery_code(user=user, code=code):
        audit_record(actor=actor, action="mfa.recovery_code_used", resource_type="user", resource_id=str(user.pk),
                     metadata={"left": selectors.recovery_codes_left(user=user)})
        return "recovery_code"
    user_login_failed.send(sender=__name__, credentials={"email": user.email}, request=request)
    audit_record(actor=actor, action="auth.login", resource_type="user", resource_id=str(user.pk),
                 outcome="failure", reason="invalid MFA code")
    if getattr(request, "axes_locked_out", False):
        request.gatehouse_lockout_handled = True  # type: ignore[attr-defined]
        audit_record(actor=actor, action="auth.lockout", resource_type="user", resource_id=str(user.pk),
                     outcome="failure", reason=f"{settings.AXES_FAILURE_LIMIT} failed sign-ins")
        raise AccountLocked(retry_after=lockout.seconds_until_unlocked(user.email))
    raise InvalidMfaCode()


def _consume_recovery_code(*, user: User, code: str) -> bool:
    digest = mfa.sha256_hex(mfa.normalize_recovery_code(code))
    return bool(RecoveryCode.objects.filter(user=user, code_hash=digest, used_at__isnull=True)
                .update(used_at=timezone.now()))


def auth_login_succeeded(*, request: HttpRequest, user: User, method: str, mfa_method: str | None,
                         session: bool) -> None:
    """Record the sign-in; for token sign-ins, send Django's signal (last_login, axes reset)."""
    if not session:
        # django.contrib.auth.login() sends it for browser sessions.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
    audit_record(actor=_as_user_actor(Actor.from_request(request), user), action="auth.login",
                 resource_type="user", resource_id=str(user.pk),
                 metadata={"method": method, "mfa": mfa_method or "none"})


def auth_login(*, request: HttpRequest, tenant: Tenant, email: str, password: str,
               otp: str | None = None) -> tuple[User, tokens.TokenPair]:
    """The API's sign-in: credentials, then the second factor when the user has one, then tokens."""
    user = auth_check_credentials(request=request, email=email, password=password)
    mfa_method = auth_check_second_factor(request=request, user=user, code=otp)
    with transaction.atomic():
        pair = tokens.issue_pair(user=user, tenant=tenant)
        auth_login_succeeded(request=request, user=user, method="token", mfa_method=mfa_method, session=False)
    return user, pair


def auth_refresh(*, request: HttpRequest, tenant: Tenant, refresh: str) -> tokens.TokenPair:
    """Rotate: the presented refresh token is blacklisted and a new pair issued in the same session.

    Presenting an already-rotated token again is a reuse: the whole session (`sid`) is
    revoked, so whoever holds its newer tokens is signed out too.
    """
    user, token, reused = tokens.validate_refresh(refresh, tenant=tenant)
    if reused:
        redis_store.deny("sid", token["sid"], seconds=int(settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"].total_seconds()))
        audit_record(actor=_as_user_actor(Actor.from_request(request), user), action="auth.refresh_reuse",
                     resource_type="user", resource_id=str(user.pk), outcome="failure",
                     reason="a rotated refresh token was presented again; the session is revoked",
                     metadata={"sid": token["sid"]})
        raise tokens.TokenRejected("This refresh token was already used; the session is revoked. Sign in again.",
                                   code="token_reused")
    with transaction.atomic():
        tokens.blacklist(token, user=user)
        pair = tokens.issue_pair(user=user, tenant=tenant, sid=token["sid"])
        audit_record(actor=_as_user_actor(Actor.from_request(request), user), action="auth.refresh",
                     resource_type="user", resource_id=str(user.pk), metadata={"sid": token["sid"]})
    return pair


def auth_logout(*, request: HttpRequest, tenant: Tenant, refresh: str | None, access: Any | None) -> None:
    """Blacklist the refresh token and denylist the access token's jti until it expires."""
    actor = Actor.from_request(request)
    user = actor.user if actor.user is not None and actor.user.is_authenticated else None
    sid = None
    with transaction.atomic():
        if refresh:
            refresh_user, token, _reused = tokens.validate_refresh(refresh, tenant=tenant)
            if user is not None and refresh_user.pk != user.pk:
                raise tokens.TokenRejected("The refresh token belongs to another user.", code="token_mismatch")
            user = user or refresh_user
            sid = token["sid"]
            tokens.blacklist(token, user=refresh_user)
        if access is not None:
            redis_store.deny("jti", access["jti"], seconds=tokens.seconds_left(access))
            sid = sid or access.get("sid")
        if user is None:
            raise Unauthenticated("Send the refresh token (or an access token) to sign out.")
        audit_record(actor=_as_user_actor(actor, user), action="auth.logout", resource_type="user",
                     resource_id=str(user.pk), metadata={"sid": sid or ""})


def session_logout_recorded(*, request: HttpRequest, user: User) -> None:
    audit_record(actor=_as_user_actor(Actor.from_request(request), user), action="auth.logout",
                 resource_type="user", resource_id=str(user.pk), metadata={"method": "session"})


# --- Passwords -----------------------------------------------------------------------------------

def password_change(*, actor: Actor, user: User, current_password: str, new_password: str) -> None:
    """Change the password; every token the user holds is revoked (the caller re-issues its own)."""
    if not user.check_password(current_password or ""):
        audit_record(actor=actor, action="password.change", resource_type="user", resource_id=str(user.pk),
                     outcome="failure", reason="wrong current password")
        raise ValidationFailed(details={"current_password": ["Your current password is not correct."]})
    _check_new_password(new_password, user)
    with transaction.atomic():
        _store_password(user, new_password)
        user_revoke_tokens(users=[user])
        user.refresh_from_db(fields=["auth_version"])
        audit_record(actor=actor, action="password.change", resource_type="user", resource_id=str(user.pk))


def password_reset_request(*, actor: Actor, tenant: Tenant, email: str, base_url: str | None = None) -> None:
    """Email a one-time reset link when the address belongs to an active member; answer the same otherwise."""
    email = normalize_email_address(email)
    user = get_user_model().objects.filter(email=email, is_active=True).first() if email else None
    audit_record(actor=actor, action="password.reset_requested", resource_type="user",
                 resource_id=str(user.pk) if user else None, metadata={"email": email, "known": user is not None})
    if user is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = f"{emails.link_base(tenant=tenant, base_url=base_url)}/password/reset/{uid}/{token}/"
    emails.send_password_reset(tenant=tenant, email=user.email, link=link,
                               minutes=settings.PASSWORD_RESET_TIMEOUT // 60)


def password_reset_user(*, uid: str, token: str) -> User | None:
    """The user a reset link is for, when its token is still valid."""
    try:
        pk = force_str(urlsafe_base64_decode(uid or ""))
        user = get_user_model().objects.filter(pk=pk, is_active=True).first()
    except (ValueError, ValidationError, TypeError, OverflowError):
        return None
    if user is None or not default_token_generator.check_token(user, token or ""):
        return None
    return user


def password_reset_confirm(*, actor: Actor, uid: str, token: str, new_password: str) -> User:
    user = password_reset_user(uid=uid, token=token)
    if user is None:
        raise ValidationFailed("This reset link is invalid, expired or already used; ask for a new one.",
                               code="invalid_reset_token", details={"token": ["Invalid or expired."]})
    _check_new_password(new_password, user)
    with transaction.atomic():
        _store_password(user, new_password)
        user_revoke_tokens(users=[user])
        audit_record(actor=_as_user_actor(actor, user), action="password.reset", resource_type="user",
                     resource_id=str(user.pk))
    from axes.utils import reset as axes_reset

    axes_reset(username=user.email)
    return user


# --- MFA -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MfaSetup:
    secret: str
    otpauth_url: str
    qr_svg: str


def mfa_setup_begin(*, actor: Actor, user: User, tenant_name: str) -> MfaSetup:
    """A new, unconfirmed TOTP secret (replacing any earlier unconfirmed one)."""
    if selectors.user_has_mfa(user=user):
        raise Conflict("Two-factor authentication is already on; turn it off first to change the device.",
                       code="mfa_already_enabled")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
        audit_record(actor=actor, action="mfa.setup_started", resource_type="user", resource_id=str(user.pk))
    url = mfa.otpauth_url(device, tenant_name=tenant_name)
    return MfaSetup(secret=mfa.secret_base32(device), otpauth_url=url, qr_svg=mfa.qr_svg(url))


def mfa_pending_setup(*, user: User, tenant_name: str) -> MfaSetup | None:
    device = selectors.user_totp_device(user=user, confirmed=False)
    if device is None:
        return None
    url = mfa.otpauth_url(device, tenant_name=tenant_name)
    return MfaSetup(secret=mfa.secret_base32(device), otpauth_url=url, qr_svg=mfa.qr_svg(url))


def _new_recovery_codes(user: User) -> list[str]:
    codes = mfa.new_recovery_codes()
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=mfa.sha256_hex(mfa.normalize_recovery_code(c))) for c in codes])
    return codes


def mfa_confirm(*, actor: Actor, user: User, code: str) -> list[str]:
    """Confirm the pending device with a current code; returns the recovery codes (shown once)."""
    device = selectors.user_totp_device(user=user, confirmed=False)
    if device is None:
        raise Conflict("Start the set-up first: there is no pending authenticator.", code="mfa_not_started")
    if not mfa.looks_like_totp(code or "") or not device.verify_token((code or "").replace(" ", "")):
        audit_record(actor=actor, action="mfa.enable", resource_type="user", resource_id=str(user.pk),
                     outcome="failure", reason="wrong code")
        raise ValidationFailed(details={"code": ["This code is not the one your app shows; try the next one."]})
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = _new_recovery_codes(user)
        audit_record(actor=actor, action="mfa.enable", resource_type="user", resource_id=str(user.pk))
    return codes


def _verify_current_factor(*, actor: Actor, user: User, code: str, action: str) -> None:
    device = selectors.user_totp_device(user=user)
    ok = device is not None and (
        (mfa.looks_like_totp(code or "") and device.verify_token((code or "").replace(" ", "")))
        or (not mfa.looks_like_totp(code or "") and _consume_recovery_code(user=user, code=code or ""))
    )
    if not ok:
        audit_record(actor=actor, action=action, resource_type="user", resource_id=str(user.pk),
                     outcome="failure", reason="wrong code")
        raise ValidationFailed(details={"code": ["Enter the current code from your app or a recovery code."]})


def mfa_disable(*, actor: Actor, user: User, password: str, code: str, tenant: Tenant | None) -> None:
    if not selectors.user_has_mfa(user=user):
        raise Conflict("Two-factor authentication is not on.", code="mfa_not_enabled")
    if tenant is not None and tenant.setting("require_mfa"):
        raise Conflict("Your organization requires two-factor authentication; it cannot be turned off.",
                       code="mfa_required_by_organization")
    if not user.check_password(password or ""):
        raise ValidationFailed(details={"password": ["Your password is not correct."]})
    _verify_current_factor(actor=actor, user=user, code=code, action="mfa.disable")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        audit_record(actor=actor, action="mfa.disable", resource_type="user", resource_id=str(user.pk))


def mfa_recovery_codes_regenerate(*, actor: Actor, user: User, code: str) -> list[str]:
    _verify_current_factor(actor=actor, user=user, code=code, action="mfa.recovery_codes_regenerate")
    with transaction.atomic():
        codes = _new_recovery_codes(user)
        audit_record(actor=actor, action="mfa.recovery_codes_regenerate", resource_type="user",
                     resource_id=str(user.pk))
    return codes


# --- Members and invitations --------------------------------------------------------------------

def _require_owner_for(actor: Actor, *roles: str | None) -> None:
    if actor.type == "system":
        return
    if OWNER in roles and not _is_owner(_user_of(actor)):
        raise PermissionDenied("Only an owner can grant or remove the owner role.", code="owner_required")


def _publish(tenant: Tenant | None, type_: str, subject: str, data: dict[str, Any], actor: Actor) -> None:
    tenant = tenant or _tenant_now()
    if tenant is not None and not tenant.is_public:
        publish_event(tenant=tenant, type=type_, subject=subject, data=data, actor=actor)


def member_invite(*, actor: Actor, tenant: Tenant, email: str, role: str, full_name: str = "",
                  base_url: str | None = None) -> tuple[Invitation, str]:
    """Invite someone by email with a one-time link that expires; returns the invitation and its token."""
    email = normalize_email_address(email)
    errors: dict[str, list[str]] = {}
    if not email or "@" not in email:
        errors["email"] = ["Enter a valid email address."]
    if errors:
        raise ValidationFailed(details=errors)
    group = _role_group(role)
    _require_owner_for(actor, role)
    if get_user_model().objects.filter(email=email).exists():
        raise Conflict(f"{email} is already a member of this organization.", code="member_exists")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        # A new invitation replaces any pending one for the same address.
        Invitation.objects.filter(email=email, accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=now)
        invitation = Invitation.objects.create(
            email=email, full_name=(full_name or "").strip()[:150], role=group, token_hash=mfa.sha256_hex(token),
            invited_by=actor.user if actor.user is not None and actor.user.is_authenticated else None,
            expires_at=now + timedelta(days=settings.ACCOUNTS_INVITATION_DAYS),
        )
        audit_record(actor=actor, action="member.invite", resource_type="invitation", resource_id=str(invitation.pk),
                     changes={"email": {"after": email}, "role": {"after": role}})
        _publish(tenant, "member.invited", f"invitation/{invitation.pk}",
                 {"invitation_id": str(invitation.pk), "email": email, "role": role,
                  "expires_at": invitation.expires_at.isoformat()}, actor)
    link = f"{emails.link_base(tenant=tenant, base_url=base_url)}/invitations/{token}/"
    inviter = actor.email or "Gatehouse"
    emails.send_invitation(tenant=tenant, email=email, link=link, inviter=inviter, role=role,
                           expires_at=invitation.expires_at)
    return invitation, token


def invitation_revoke(*, actor: Actor, invitation: Invitation) -> Invitation:
    if not invitation.is_pending:
        raise Conflict(f"This invitation is already {invitation.status}.", code="invitation_not_pending")
    _require_owner_for(actor, invitation.role.name)
    with transaction.atomic():
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="invitation.revoke", resource_type="invitation",
                     resource_id=str(invitation.pk), changes={"email": {"before": invitation.email}})
    return invitation


def invitation_accept(*, actor: Actor, tenant: Tenant, token: str, password: str, full_name: str = "") -> User:
    """Create the member the invitation names, with the chosen password. The link then stops working."""
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None:
        audit_record(actor=actor, action="invitation.accept", resource_type="invitation", outcome="failure",
                     reason="unknown, used, revoked or expired token")
        raise NotFound("This invitation link is invalid, expired or already used. Ask for a new invitation.",
                       code="invitation_invalid")
    if get_user_model().objects.filter(email=invitation.email).exists():
        raise Conflict(f"{invitation.email} is already a member; sign in instead.", code="member_exists")
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not locked.is_pending:
            raise NotFound("This invitation link was just used.", code="invitation_invalid")
        user = get_user_model()(email=invitation.email, full_name=(full_name or invitation.full_name).strip()[:150])
        _check_new_password(password, user, field="password")
        user.set_unusable_password()
        user.save()
        _store_password(user, password)
        user.groups.set([invitation.role])
        locked.accepted_at = timezone.now()
        locked.accepted_user = user
        locked.save(update_fields=["accepted_at", "accepted_user"])
        member_actor = _as_user_actor(actor, user)
        audit_record(actor=member_actor, action="invitation.accept", resource_type="invitation",
                     resource_id=str(locked.pk), changes={"role": {"after": invitation.role.name}})
        _publish(tenant, "member.joined", f"user/{user.pk}",
                 {"user_id": str(user.pk), "email": user.email, "role": invitation.role.name}, member_actor)
    return user


def _would_leave_no_owner(member: User) -> bool:
    return (member.is_active and member.groups.filter(name=OWNER).exists()
            and not selectors.owners().exclude(pk=member.pk).exists())


def member_change_role(*, actor: Actor, tenant: Tenant | None, member: User, role: str) -> User:
    group = _role_group(role)
    current = member.role_name
    if current == role:
        return member
    _require_owner_for(actor, role, current)
    if current == OWNER and _would_leave_no_owner(member):
        raise Conflict("This is the last owner: make someone else owner first.", code="last_owner")
    with transaction.atomic():
        member.groups.set([group])
        audit_record(actor=actor, action="member.role_change", resource_type="user", resource_id=str(member.pk),
                     changes={"role": {"before": current, "after": role}})
        _publish(tenant, "member.role_changed", f"user/{member.pk}",
                 {"user_id": str(member.pk), "email": member.email, "before": current, "after": role}, actor)
    if hasattr(member, "_prefetched_objects_cache"):
        member._prefetched_objects_cache.pop("groups", None)
    return member


def member_assign_role(*, actor: Actor, member: User, role: str) -> User:
    """Provisioning and demo data: set a role without the owner rules (the system acts)."""
    if actor.type != "system":
        raise PermissionDenied("Only Gatehouse itself assigns roles this way.")
    group = _role_group(role)
    with transaction.atomic():
        before = member.role_name
        member.groups.set([group])
        audit_record(actor=actor, action="member.role_change", resource_type="user", resource_id=str(member.pk),
                     changes={"role": {"before": before, "after": role}})
    return member


def member_deactivate(*, actor: Actor, tenant: Tenant | None, member: User) -> User:
    if not member.is_active:
        return member
    if actor.user is not None and actor.user.pk == member.pk:
        raise Conflict("You cannot deactivate yourself; ask another admin.", code="cannot_deactivate_self")
    _require_owner_for(actor, member.role_name)
    if _would_leave_no_owner(member):
        raise Conflict("This is the last owner: make someone else owner first.", code="last_owner")
    with transaction.atomic():
        member.is_active = False
        member.deactivated_at = timezone.now()
        member.save(update_fields=["is_active", "deactivated_at", "updated_at"])
        user_revoke_tokens(users=[member])
        _end_sessions(user_ids={str(member.pk)})
        audit_record(actor=actor, action="member.deactivate", resource_type="user", resource_id=str(member.pk),
                     changes={"is_active": {"before": True, "after": False}})
        _publish(tenant, "member.deactivated", f"user/{member.pk}",
                 {"user_id": str(member.pk), "email": member.email}, actor)
    return member


def member_reactivate(*, actor: Actor, tenant: Tenant | None, member: User) -> User:
    if member.is_active:
        return member
    _require_owner_for(actor, member.role_name)
    with transaction.atomic():
        member.is_active = True
        member.deactivated_at = None
        member.save(update_fields=["is_active", "deactivated_at", "updated_at"])
        audit_record(actor=actor, action="member.reactivate", resource_type="user", resource_id=str(member.pk),
                     changes={"is_active": {"before": False, "after": True}})
        _publish(tenant, "member.reactivated", f"user/{member.pk}",
                 {"user_id": str(member.pk), "email": member.email}, actor)
    return member


def _end_sessions(*, user_ids: set[str] | None = None) -> int:
    """Delete browser sessions (of these users, or all of them) in the current schema."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if user_ids is None or session.get_decoded().get("_auth_user_id") in user_ids:
            session.delete()
            ended += 1
    return ended


# --- Roles -----------------------------------------------------------------------------------------

def _permissions_for(names: Iterable[str]) -> list[Permission]:
    wanted = set(names)
    unknown = sorted(wanted - set(PERMISSIONS))
    if unknown:
        raise ValidationFailed(details={"permissions": [f"Unknown permission: {p}." for p in unknown]})
    found = []
    for perm in Permission.objects.select_related("content_type").filter(
            codename__in={n.split(".", 1)[1] for n in wanted}):
        if f"{perm.content_type.app_label}.{perm.codename}" in wanted:
            found.append(perm)
    return found


def system_roles_seed() -> list[str]:
    """Create the system roles in the current schema and give them exactly their permissions (idempotent)."""
    names = []
    for name in SYSTEM_ROLES:
        group, _ = Group.objects.get_or_create(name=name)
        Role.objects.update_or_create(group=group, defaults={"description": ROLE_DESCRIPTIONS[name], "is_system": True})
        perms = [p for p in Permission.objects.select_related("content_type").filter(
            codename__in={n.split(".", 1)[1] for n in ROLE_PERMISSIONS[name]})
            if f"{p.content_type.app_label}.{p.codename}" in ROLE_PERMISSIONS[name]]
        group.permissions.set(perms)
        names.append(name)
    return names


def _validate_role_input(*, name: str | None, description: str | None) -> dict[str, list[str]]:
    import re

    errors: dict[str, list[str]] = {}
    if name is not None:
        if name in SYSTEM_ROLES:
            errors["name"] = [f"'{name}' is a system role."]
        elif not re.match(ROLE_NAME_PATTERN, name):
            errors["name"] = ["Use 3 to 40 lowercase letters, digits and underscores, starting with a letter."]
    if description is not None and len(description) > 255:
        errors["description"] = ["Use at most 255 characters."]
    return errors


def role_create(*, actor: Actor, name: str, description: str = "", permissions: Iterable[str] = ()) -> Group:
    name = (name or "").strip()
    errors = _validate_role_input(name=name, description=description)
    if errors:
        raise ValidationFailed(details=errors)
    if Group.objects.filter(name=name).exists():
        raise Conflict(f"A role named '{name}' already exists.", code="role_exists")
    perms = _permissions_for(permissions)
    with transaction.atomic():
        group = Group.objects.create(name=name)
        Role.objects.create(group=group, description=description or "", is_system=False)
        group.permissions.set(perms)
        audit_record(actor=actor, action="role.create", resource_type="role", resource_id=name,
                     changes={"permissions": {"after": sorted(permissions)}, "description": {"after": description}})
    return group


def role_update(*, actor: Actor, group: Group, description: str | None = None,
                permissions: Iterable[str] | None = None) -> Group:
    if selectors.role_is_system(group):
        raise Conflict("System roles cannot be changed; create a custom role instead.", code="system_role")
    errors = _validate_role_input(name=None, description=description)
    if errors:
        raise ValidationFailed(details=errors)
    before_perms = selectors.role_permission_names(group)
    before_desc = selectors.role_description(group)
    with transaction.atomic():
        changes: dict[str, Any] = {}
        if description is not None:
            Role.objects.update_or_create(group=group, defaults={"description": description, "is_system": False})
            changes.update(diff({"description": before_desc}, {"description": description}))
        if permissions is not None:
            perms = _permissions_for(permissions)
            group.permissions.set(perms)
            changes.update(diff({"permissions": before_perms}, {"permissions": sorted(set(permissions))}))
        audit_record(actor=actor, action="role.update", resource_type="role", resource_id=group.name, changes=changes)
    return selectors.role_get(name=group.name)


def role_delete(*, actor: Actor, group: Group) -> None:
    if selectors.role_is_system(group):
        raise Conflict("System roles cannot be deleted.", code="system_role")
    if group.user_set.exists():
        raise Conflict("Members still have this role; give them another role first.", code="role_in_use")
    if Invitation.objects.filter(role=group, accepted_at__isnull=True, revoked_at__isnull=True,
                                 expires_at__gt=timezone.now()).exists():
        raise Conflict("Pending invitations use this role; revoke them first.", code="role_in_use")
    with transaction.atomic():
        name = group.name
        Invitation.objects.filter(role=group).delete()
        group.delete()
        audit_record(actor=actor, action="role.delete", resource_type="role", resource_id=name)


# --- API keys ----------------------------------------------------------------------------------------

API_KEY_PREFIX_LENGTH = 8


def _key_parts(raw: str) -> tuple[str, str] | None:
    parts = (raw or "").strip().split("_")
    if len(parts) != 3 or parts[0] != "gh" or len(parts[1]) != API_KEY_PREFIX_LENGTH or not parts[2]:
        return None
    return parts[1], parts[2]


def _defined_permissions(names: Iterable[str]) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in _permissions_for(names)}


def api_key_create(*, actor: Actor, name: str, scopes: Iterable[str], expires_at: datetime | None = None,
                   platform: bool = False) -> tuple[ApiKey, str]:
    """Create a key acting as the actor within `scopes`; returns it and the secret (shown once)."""
    user = _user_of(actor)
    if actor.type == "api_key":
        raise PermissionDenied("An API key cannot create API keys.", code="api_key_forbidden")
    scopes = sorted(set(scopes or []))
    available = PLATFORM_SCOPES if platform else SCOPES
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = ["Give the key a name that says where it is used."]
    elif len(name) > 100:
        errors["name"] = ["Use at most 100 characters."]
    if not scopes:
        errors["scopes"] = [f"Choose at least one scope: {', '.join(available)}."]
    unknown = [s for s in scopes if s not in available]
    if unknown:
        errors["scopes"] = [f"Unknown scope: {s}." for s in unknown]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["Choose a time in the future."]
    if errors:
        raise ValidationFailed(details=errors)
    if platform:
        if not user.is_staff:
            raise PermissionDenied("Only platform staff can create platform keys.")
    else:
        # Every request through the key needs the creator's permission too, so a key never does
        # more than its creator; a scope the creator holds nothing of is refused outright.
        # (Permissions no installed app defines yet cannot be held, nor checked by any view.)
        useless = []
        for scope in scopes:
            defined = _defined_permissions(permissions_for_scopes([scope]))
            if defined and not any(user.has_perm(p) for p in defined):
                useless.append(scope)
        if useless:
            raise PermissionDenied(f"You cannot grant scopes you hold no permission of: {', '.join(useless)}.",
                                   code="scope_not_allowed", details={"scopes": useless})
    secret = secrets.token_hex(24)
    for _ in range(5):
        prefix = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    with transaction.atomic():
        key = ApiKey.objects.create(name=name.strip(), prefix=prefix, secret_hash=mfa.sha256_hex(secret),
                                    scopes=scopes, created_by=user, expires_at=expires_at)
        audit_record(actor=actor, action="api_key.create", resource_type="api_key", resource_id=str(key.pk),
                     changes={"name": {"after": key.name}, "scopes": {"after": scopes},
                              "expires_at": {"after": expires_at.isoformat() if expires_at else None}})
    return key, f"gh_{prefix}_{secret}"


def api_key_revoke(*, actor: Actor, key: ApiKey) -> ApiKey:
    if key.revoked_at:
        return key
    with transaction.atomic():
        key.revoked_at = timezone.now()
        key.revoked_by = actor.user if actor.user is not None and actor.user.is_authenticated else None
        key.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(actor=actor, action="api_key.revoke", resource_type="api_key", resource_id=str(key.pk),
                     changes={"revoked_at": {"after": key.revoked_at.isoformat()}})
    return key


def api_key_authenticate(*, raw: str, ip: str | None) -> ApiKey:
    """The usable key `raw` names in the current schema, its last use recorded (at most once a minute)."""
    parts = _key_parts(raw)
    if parts is None:
        raise Unauthenticated("The API key is malformed: expected gh_<prefix>_<secret>.", code="api_key_invalid")
    prefix, secret = parts
    key = ApiKey.objects.select_related("created_by").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.secret_hash, mfa.sha256_hex(secret)):
        raise Unauthenticated("The API key is not valid for this organization.", code="api_key_invalid")
    if key.revoked_at:
        raise Unauthenticated("This API key was revoked.", code="api_key_revoked")
    if key.expires_at and key.expires_at <= timezone.now():
        raise Unauthenticated("This API key has expired.", code="api_key_expired")
    if not key.created_by.is_active:
        raise Unauthenticated("The member who created this API key is deactivated.", code="api_key_invalid")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(seconds=60):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_ip=ip)
        key.last_used_at, key.last_used_ip = now, ip
    return key


# --- The organization ---------------------------------------------------------------------------------

def tenant_settings_update(*, actor: Actor, tenant: Tenant, name: str | None = None,
                           settings_changes: dict[str, Any] | None = None) -> Tenant:
    """Owners and admins change their organization's name and settings (validated by tenants)."""
    from rest_framework.exceptions import ValidationError as DRFValidationError

    from tenants.services import tenant_update

    before = {"name": tenant.name, **{f"settings.{k}": v for k, v in (tenant.settings or {}).items()}}
    try:
        tenant_update(tenant=tenant, name=name, settings_changes=settings_changes, actor=actor)
    except DRFValidationError as exc:
        raise ValidationFailed(details={"settings": exc.detail}) from exc
    after = {"name": tenant.name, **{f"settings.{k}": v for k, v in (tenant.settings or {}).items()}}
    audit_record(actor=actor, action="tenant.settings_update", resource_type="tenant", resource_id=str(tenant.pk),
                 changes=diff(before, after))
    return tenant


def tenant_revoke_all_tokens(*, tenant: Tenant) -> int:
    """Suspension: every member's tokens and browser sessions stop working, for good."""
    users = list(get_user_model().objects.all())
    user_revoke_tokens(users=users)
    ended = _end_sessions()
    audit_record(actor=Actor.system("tenant-suspension"), action="tenant.tokens_revoked", resource_type="tenant",
                 resource_id=str(tenant.pk), metadata={"members": len(users), "sessions": ended})
    return len(users)

