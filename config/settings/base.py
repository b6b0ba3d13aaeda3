"""Settings shared by every environment.

Every value comes from the environment through django-environ; `.env.example`
documents each variable. `local.py`, `test.py` and `production.py` only adjust.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A developer's `.env` fills in what the real environment does not set.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

GATEHOUSE_VERSION = "0.1.0"
API_VERSION = "v1"

# --- Core -------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
BASE_DOMAIN = env("GATEHOUSE_BASE_DOMAIN", default="localhost")
# Hosts that serve the staff side (admin, system endpoints) rather than a tenant.
PUBLIC_HOSTS = env.list(
    "GATEHOUSE_PUBLIC_HOSTS", default=[BASE_DOMAIN, f"admin.{BASE_DOMAIN}", "127.0.0.1"]
)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[BASE_DOMAIN, f".{BASE_DOMAIN}", "127.0.0.1"]
)
# Tenant slugs that may never be used: they would shadow platform hosts or schemas.
RESERVED_TENANT_SLUGS = frozenset(
    {
        "public", "admin", "api", "www", "static", "media", "app", "mail", "smtp",
        "mqtt", "ws", "docs", "status", "health", "metrics", "system", "staff",
        "root", "postgres", "template", "default", "gatehouse", "information_schema",
        "test", "localhost", "support", "billing", "auth", "login", "help",
    }
)
TEMPLATE_SCHEMA_NAME = "_template"

# --- Applications -------------------------------------------------------------
# `tenants` precedes `django_tenants` so that its migrate commands (which keep the
# template schema migrated) take precedence over the library's.
SHARED_APPS = [
    "tenants",
    "django_tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_celery_beat",
    "accounts",
    "audit",
    # accounts: lockout, MFA and the refresh-token blacklist (staff live in public too).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework_simplejwt.token_blacklist",
    # The shared vulnerability advisory database: public schema only, read by every organization.
    "scanning.advisories",
]

TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "accounts",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rest_framework_simplejwt.token_blacklist",
    "audit",
    "messaging",
    "scanning",
    "policies",
    # Report templates, generated reports and schedules (scanning's domain, its own app).
    "scanning.reports",
]

INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
TENANT_BASE_SCHEMA = TEMPLATE_SCHEMA_NAME
TENANT_CREATION_FAKES_MIGRATIONS = True
TENANT_LIMIT_SET_CALLS = True
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"

AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    "config.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.TenantMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "config.security.RequestBodyLimitMiddleware",  # before CsrfViewMiddleware, which reads form bodies
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.AccountsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenant",
            ],
        },
    }
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database -----------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/gatehouse")}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# Persistent connections, no transaction pooling: a pooled connection in
# transaction mode could carry another tenant's search_path.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
# Under ASGI each request may run in a thread of its own, so per-thread persistent
# connections would pile up: the web process sets DATABASE_POOL_MAX_SIZE and shares a
# bounded psycopg pool instead. django-tenants sets the search_path again on the first
# cursor after every checkout, so a pooled connection never carries another tenant's.
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
if DATABASE_POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 2, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": 30}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker -----------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="gh"),
        # Keys carry the tenant's schema so one tenant never reads another's entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env("CHANNEL_LAYER_PREFIX", default="gh:ws")},
    }
}

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ("default", "scans", "reports")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- MQTT (Mosquitto with dynamic security) -----------------------------------------
MQTT_URL = env("MQTT_URL", default="mqtt://127.0.0.1:1884")
MQTT_USERNAME = env("MQTT_USERNAME", default="gatehouse")
MQTT_PASSWORD = env("MQTT_PASSWORD", default="")
MQTT_CLIENT_ID_PREFIX = env("MQTT_CLIENT_ID_PREFIX", default="gatehouse")
MQTT_REQUIRED_FOR_READY = env.bool("MQTT_REQUIRED_FOR_READY", default=True)

# --- Messaging ------------------------------------------------------------------
# Broker address integrators are told to use (empty: the same as MQTT_URL).
MQTT_PUBLIC_URL = env("MQTT_PUBLIC_URL", default="")
MQTT_KEEPALIVE_SECONDS = env.int("MQTT_KEEPALIVE_SECONDS", default=30)
MQTT_CONNECT_TIMEOUT_SECONDS = env.float("MQTT_CONNECT_TIMEOUT_SECONDS", default=3.0)
# The bridge's persistent session: a fixed client id, kept by the broker this long while it is away.
MQTT_BRIDGE_CLIENT_ID = env("MQTT_BRIDGE_CLIENT_ID", default="gatehouse-bridge")
MQTT_BRIDGE_SESSION_EXPIRY_SECONDS = env.int("MQTT_BRIDGE_SESSION_EXPIRY_SECONDS", default=7 * 24 * 3600)
MQTT_BRIDGE_MAX_PAYLOAD_BYTES = env.int("MQTT_BRIDGE_MAX_PAYLOAD_BYTES", default=64 * 1024)
MQTT_BRIDGE_DEDUP_TTL_SECONDS = env.int("MQTT_BRIDGE_DEDUP_TTL_SECONDS", default=24 * 3600)
OUTBOX_RELAY_BATCH_SIZE = env.int("OUTBOX_RELAY_BATCH_SIZE", default=200)
OUTBOX_RELAY_POLL_SECONDS = env.float("OUTBOX_RELAY_POLL_SECONDS", default=5.0)
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=7)
# Seconds a WebSocket may take to send its JWT in the first message.
WEBSOCKET_AUTH_TIMEOUT_SECONDS = env.float("WEBSOCKET_AUTH_TIMEOUT_SECONDS", default=10.0)
# Redis Pub/Sub channel layer: each organization event is published once and fanned out
# to the WebSockets inside each web process (messaging/layers.py).
CHANNEL_LAYERS["default"]["BACKEND"] = "messaging.layers.RedisChannelLayer"

# --- Auth ---------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse API",
    "DESCRIPTION": (
        "Scan the packages your organization is about to trust, gate them with your policies, "
        "and follow the results live. Every error answers "
        '`{"error": {"code", "message", "details", "request_id"}}`.'
    ),
    "VERSION": GATEHOUSE_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from our own static files: the product works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set shared by several fields (otherwise hashed names like Status40fEnum).
    "ENUM_NAME_OVERRIDES": {
        "EcosystemEnum": "scanning.models.ECOSYSTEM_CHOICES",
        "ScanStatusEnum": "scanning.models.Scan.StatusChoices",
        "ReportFormatEnum": "scanning.reports.models.Format",
    },
}

# --- Static files -------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tenant files (artifacts, reports) live under DATA_ROOT/<schema>/, never in a web root.
DATA_ROOT = Path(env("GATEHOUSE_DATA_ROOT", default=str(BASE_DIR / ".data" / "files")))
READY_MIN_FREE_DISK_MB = env.int("READY_MIN_FREE_DISK_MB", default=512)

# --- Scanning -------------------------------------------------------------------
# Fernet keys (comma separated) that encrypt registry credentials at rest. The first
# encrypts, every key decrypts; rotate by putting a new key first, then run
# `manage.py rotate_connection_keys`.
FERNET_KEYS = env.list("FERNET_KEYS", default=[])
# Largest upload accepted (MB); the organization's plan may allow less (tenants.plans).
SCANNING_MAX_UPLOAD_MB = env.int("SCANNING_MAX_UPLOAD_MB", default=1024)
# Safe-extraction limits.
SCANNING_MAX_EXTRACTED_MB = env.int("SCANNING_MAX_EXTRACTED_MB", default=1024)
SCANNING_MAX_FILES = env.int("SCANNING_MAX_FILES", default=50_000)
SCANNING_MAX_COMPRESSION_RATIO = env.int("SCANNING_MAX_COMPRESSION_RATIO", default=200)
SCANNING_RATIO_FLOOR_MB = env.int("SCANNING_RATIO_FLOOR_MB", default=16)
SCANNING_MAX_PATH_DEPTH = env.int("SCANNING_MAX_PATH_DEPTH", default=32)
# Processes one scan may use for CPU-bound analysis (0: one per CPU, at most 4), once the
# artifact holds at least SCANNING_PARALLEL_MIN_MB of Python and JavaScript source.
SCANNING_ANALYSIS_PROCESSES = env.int("SCANNING_ANALYSIS_PROCESSES", default=0)
SCANNING_PARALLEL_MIN_MB = env.float("SCANNING_PARALLEL_MIN_MB", default=1)
# The scan task: queue, soft/hard time limits (s), retries of transient fetch errors.
SCANNING_QUEUE = env("SCANNING_QUEUE", default="scans")
SCANNING_SOFT_TIME_LIMIT = env.int("SCANNING_SOFT_TIME_LIMIT", default=240)
SCANNING_TIME_LIMIT = env.int("SCANNING_TIME_LIMIT", default=300)
SCANNING_FETCH_RETRIES = env.int("SCANNING_FETCH_RETRIES", default=3)
SCANNING_RETRY_BACKOFF_SECONDS = env.int("SCANNING_RETRY_BACKOFF_SECONDS", default=10)
# A worker that dies takes its scan with it: the reaper fails scans `running` for longer
# than the hard time limit plus this grace, every SCANNING_REAPER_INTERVAL seconds.
SCANNING_STUCK_GRACE_SECONDS = env.int("SCANNING_STUCK_GRACE_SECONDS", default=120)
SCANNING_REAPER_INTERVAL = env.int("SCANNING_REAPER_INTERVAL", default=60)
SCANNING_MAX_ATTEMPTS = env.int("SCANNING_MAX_ATTEMPTS", default=3)
# Where sandboxes are created (default: DATA_ROOT/.work).
SCANNING_WORK_DIR = env("SCANNING_WORK_DIR", default="")
# Registry fetches refuse loopback/private/link-local addresses unless this is true (SSRF guard).
SCANNING_FETCH_ALLOW_PRIVATE = env.bool("SCANNING_FETCH_ALLOW_PRIVATE", default=False)

# --- Email --------------------------------------------------------------------
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Gatehouse <no-reply@gatehouse.localhost>")

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security -----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # uploads always stream to a temporary file on disk
CORS_ALLOWED_ORIGINS: list[str] = []

# --- Audit, observability, security ---------------------------------------------
# Content-Security-Policy (django-csp 4): scripts and styles only from our own static
# files, never inline. Pages rendered by trusted third-party code (Swagger UI, the
# admin) get the hashes of their own inline blocks, per response (config/security.py).
CSP_REPORT_URI = env("CSP_REPORT_URI", default="")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        **({"report-uri": [CSP_REPORT_URI]} if CSP_REPORT_URI else {}),
    },
}
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# CORS: only the API, only to the origins each organization lists in its
# `cors_allowed_origins` setting (config.security.cors_allowed_for_tenant); no cookies.
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "user-agent", "x-requested-with",
                      "idempotency-key", "x-request-id"]
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Location", "Content-Disposition"]
CORS_PREFLIGHT_MAX_AGE = 600
# Request bodies: larger ones are refused with 413 before they are read. Upload views
# (multipart or file parsers, or marked with config.security.accepts_uploads) get the
# larger cap, which the ASGI guard (config.security.limit_request_body) also applies.
REQUEST_MAX_BODY_BYTES = env.int("REQUEST_MAX_BODY_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)
# The upload cap must exceed the largest artifact scanning accepts, plus multipart overhead.
REQUEST_MAX_UPLOAD_BYTES = env.int("REQUEST_MAX_UPLOAD_BYTES",
                                   default=(env.int("SCANNING_MAX_UPLOAD_MB", default=1024) + 16) * 1024 * 1024)
# Audit trail: how long a writer waits for its organization's chain lock before failing (503).
AUDIT_CHAIN_LOCK_WAIT_MS = env.int("AUDIT_CHAIN_LOCK_WAIT_MS", default=30_000)
# Audit export: events read per query while streaming a CSV / JSON Lines export.
AUDIT_EXPORT_CHUNK_ROWS = env.int("AUDIT_EXPORT_CHUNK_ROWS", default=2000)
# Rate limits (config/api/throttling.py), counted in Redis per organization: "<count>/<period>".
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "config.api.throttling.IPRateThrottle",
    "config.api.throttling.UserRateThrottle",
    "config.api.throttling.ApiKeyRateThrottle",
    "config.api.throttling.ScopedRateThrottle",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "ip": env("THROTTLE_RATE_IP", default="600/min"),
    "user": env("THROTTLE_RATE_USER", default="600/min"),
    "api_key": env("THROTTLE_RATE_API_KEY", default="1200/min"),
    "audit_export": env("THROTTLE_RATE_AUDIT_EXPORT", default="20/hour"),
}

# --- Advisories -----------------------------------------------------------------
# OSV sources the beat task imports: local paths (file, directory, zip) or http(s) URLs.
ADVISORY_SOURCES = env.list("ADVISORY_SOURCES", default=[])
ADVISORY_SYNC_INTERVAL_SECONDS = env.int("ADVISORY_SYNC_INTERVAL_SECONDS", default=6 * 60 * 60)
ADVISORY_DOWNLOAD_TIMEOUT = env.int("ADVISORY_DOWNLOAD_TIMEOUT", default=60)
ADVISORY_DOWNLOAD_MAX_BYTES = env.int("ADVISORY_DOWNLOAD_MAX_BYTES", default=1024 * 1024 * 1024)

# --- Policies -------------------------------------------------------------------
# After a policy or waiver change, the completed scans of the last N days are re-evaluated
# (0 turns automatic re-evaluation off), in Celery tasks of this many scans each.
POLICIES_REEVALUATE_DAYS = env.int("POLICIES_REEVALUATE_DAYS", default=30)
POLICIES_REEVALUATE_CHUNK = env.int("POLICIES_REEVALUATE_CHUNK", default=500)
# Seconds between two sweeps that mark waivers past their expiry as expired.
POLICIES_WAIVER_EXPIRY_INTERVAL = env.int("POLICIES_WAIVER_EXPIRY_INTERVAL", default=300)
# Longest wait a client may ask for (POST /api/v1/scans?wait=N), and most scans a simulation evaluates.
POLICIES_MAX_WAIT_SECONDS = env.int("POLICIES_MAX_WAIT_SECONDS", default=120)
POLICIES_SIMULATION_MAX_SCANS = env.int("POLICIES_SIMULATION_MAX_SCANS", default=1000)

# --- Metrics ------------------------------------------------------------------
# Bearer token that lets a scraper read /metrics from outside the public host.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# --- Logging ------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "text": {"()": "config.logging.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Requests are logged once by our access log; Django's own lines would repeat them.
        "django.request": {"level": "ERROR", "propagate": True},
        "django.server": {"level": "WARNING", "propagate": True},
        "django.db.backends": {"level": "WARNING", "propagate": True},
        "uvicorn.access": {"level": "WARNING", "propagate": True},
        "celery": {"level": "INFO", "propagate": True},
    },
}

# Durations for JWTs etc. are configured by the accounts app; kept here so every
# process reads the same values.
JWT_ACCESS_TOKEN_LIFETIME = timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15))
JWT_REFRESH_TOKEN_LIFETIME = timedelta(days=env.int("JWT_REFRESH_DAYS", default=7))

# --- Accounts -----------------------------------------------------------------
# Authentication (email + password, locked out by django-axes per organization schema).
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
AUTH_PASSWORD_VALIDATORS += [
    {"NAME": "accounts.password_validation.ComplexityValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "accounts.password_validation.HistoryValidator", "OPTIONS": {"history": 5}},
]
# Browser sessions (dashboard) and, for integrators, RS256 JWTs and API keys.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "accounts.authentication.JWTAuthentication",
    "accounts.authentication.ApiKeyAuthentication",
    "accounts.authentication.SessionAuthentication",
]


def _jwt_key(name: str, default_file: str) -> str:
    """PEM text from JWT_<name>, or from the file named by JWT_<name>_FILE (relative to the project)."""
    text = env.str(f"JWT_{name}", default="").replace("\\n", "\n").strip()
    if text:
        return text
    path = env.str(f"JWT_{name}_FILE", default=default_file)
    if path:
        file = Path(path) if Path(path).is_absolute() else BASE_DIR / path
        if file.is_file():
            return file.read_text().strip()
    return ""


JWT_PRIVATE_KEY = _jwt_key("PRIVATE_KEY", "keys/jwt-private.pem")
JWT_PUBLIC_KEY = _jwt_key("PUBLIC_KEY", "keys/jwt-public.pem")
JWT_KEY_ID = env.str("JWT_KEY_ID", default="") or "gatehouse"
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": JWT_PRIVATE_KEY,
    "VERIFYING_KEY": JWT_PUBLIC_KEY,
    "ACCESS_TOKEN_LIFETIME": JWT_ACCESS_TOKEN_LIFETIME,
    "REFRESH_TOKEN_LIFETIME": JWT_REFRESH_TOKEN_LIFETIME,
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ISSUER": "gatehouse",
    "LEEWAY": 5,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": "typ",
    "JTI_CLAIM": "jti",
    "AUTH_HEADER_TYPES": ("Bearer",),
}

# django-axes: 5 failures for one email within 15 minutes lock it out, per organization
# (its tables live in each schema). The login views answer 429 with Retry-After.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("ACCOUNTS_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ACCOUNTS_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "accounts.lockout.axes_username"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.axes_client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_SENSITIVE_PARAMETERS = ["password", "otp", "code", "token", "new_password", "current_password"]
# Lockout is per account on purpose (IPs are throttled separately), so axes' hint to add the IP does not apply.
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "axes.W006"]

# Login throttles (fixed windows in Redis, per organization): "<count>/<seconds>".
ACCOUNTS_LOGIN_RATE_IP = env.str("ACCOUNTS_LOGIN_RATE_IP", default="30/60")
ACCOUNTS_LOGIN_RATE_ACCOUNT = env.str("ACCOUNTS_LOGIN_RATE_ACCOUNT", default="10/60")
# Invitation links and password-reset links.
ACCOUNTS_INVITATION_DAYS = env.int("ACCOUNTS_INVITATION_DAYS", default=7)
PASSWORD_RESET_TIMEOUT = env.int("ACCOUNTS_PASSWORD_RESET_SECONDS", default=60 * 60)
# Links in emails sent outside a request (the first owner's invitation): {host} is the organization's.
ACCOUNTS_LINK_URL_TEMPLATE = env.str("GATEHOUSE_LINK_URL_TEMPLATE", default="https://{host}")
OTP_TOTP_ISSUER = "Gatehouse"
OTP_TOTP_THROTTLE_FACTOR = 1
LOGGING["loggers"]["axes"] = {"level": env("AXES_LOG_LEVEL", default="WARNING"), "propagate": True}

# --- Reports --------------------------------------------------------------------
# Reports are generated by Celery on this queue, within these soft/hard time limits (s);
# a report whose worker died is started again at most REPORTS_MAX_ATTEMPTS times.
REPORTS_QUEUE = env("REPORTS_QUEUE", default="reports")
REPORTS_SOFT_TIME_LIMIT = env.int("REPORTS_SOFT_TIME_LIMIT", default=240)
REPORTS_TIME_LIMIT = env.int("REPORTS_TIME_LIMIT", default=300)
REPORTS_MAX_ATTEMPTS = env.int("REPORTS_MAX_ATTEMPTS", default=3)
# Most scans one period or package report covers, and most findings a PDF/HTML report
# prints (JSON, SARIF and CSV always carry every finding).
REPORTS_MAX_SCANS = env.int("REPORTS_MAX_SCANS", default=500)
REPORTS_MAX_RENDERED_FINDINGS = env.int("REPORTS_MAX_RENDERED_FINDINGS", default=5000)
# The most severe findings a PDF/HTML report prints in detail; the others take one line each.
REPORTS_DETAILED_FINDINGS = env.int("REPORTS_DETAILED_FINDINGS", default=100)
# Template logos (PNG or JPEG; SVG is refused): largest file (KB) and side (pixels).
REPORTS_LOGO_MAX_KB = env.int("REPORTS_LOGO_MAX_KB", default=512)
REPORTS_LOGO_MAX_SIDE = env.int("REPORTS_LOGO_MAX_SIDE", default=2048)
# Largest custom CSS of a template (KB).
REPORTS_CUSTOM_CSS_MAX_KB = env.int("REPORTS_CUSTOM_CSS_MAX_KB", default=32)
# Seconds between two beat sweeps for due report schedules.
REPORTS_SCHEDULE_INTERVAL = env.int("REPORTS_SCHEDULE_INTERVAL", default=300)
# Scheduled reports larger than this (MB) are emailed as a link instead of an attachment.
REPORTS_EMAIL_MAX_ATTACHMENT_MB = env.int("REPORTS_EMAIL_MAX_ATTACHMENT_MB", default=10)
# WeasyPrint logs every layout step at INFO.
LOGGING["loggers"]["weasyprint"] = {"level": "WARNING", "propagate": True}
LOGGING["loggers"]["fontTools"] = {"level": "WARNING", "propagate": True}
