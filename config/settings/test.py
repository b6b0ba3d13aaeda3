"""The test suite: real PostgreSQL, Redis and Mosquitto; fast hashing; in-memory email."""

import secrets
from pathlib import Path

from .base import *  # noqa: F403
from .base import CACHES, CHANNEL_LAYERS, DATABASES, env

SECRET_KEY = env("DJANGO_SECRET_KEY", default=secrets.token_urlsafe(50))
DEBUG = False
# bcrypt at cost 12 would dominate the suite's run time; production keeps it, and so do the
# benchmarks, which measure sign-in with it (GATEHOUSE_TEST_PRODUCTION_HASHER=true).
if not env.bool("GATEHOUSE_TEST_PRODUCTION_HASHER", default=False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# A live server started by a browser test writes its emails as files the test reads.
if env("GATEHOUSE_TEST_EMAIL_DIR", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env("GATEHOUSE_TEST_EMAIL_DIR")
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_gatehouse")}
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Benchmarks: a bounded psycopg pool, so 100 requests in flight wait for a connection instead
# of exceeding PostgreSQL's max_connections (Django under ASGI holds one per request).
if env.int("GATEHOUSE_TEST_DB_POOL", default=0):
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 2, "max_size": env.int("GATEHOUSE_TEST_DB_POOL"),
                                               "timeout": 120}
LOG_FORMAT = "json"
LOG_LEVEL = env("LOG_LEVEL", default="WARNING")
LOGGING["root"]["level"] = LOG_LEVEL  # noqa: F405
DATA_ROOT = Path(env("GATEHOUSE_DATA_ROOT", default=str(BASE_DIR / ".data" / "test-files")))  # noqa: F405

# Tests use their own Redis database so they never touch a developer's running stack.
REDIS_URL = env("TEST_REDIS_URL", default="redis://127.0.0.1:6379/1")
CACHES["default"]["LOCATION"] = REDIS_URL
CACHES["default"]["KEY_PREFIX"] = env("TEST_CACHE_KEY_PREFIX", default="gh-test")
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS_URL]
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "gh-test:ws"
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
# The session's private broker: conftest sets it in-process, and passes it to the
# worker and server processes it starts through GATEHOUSE_TEST_MQTT_URL.
MQTT_URL = env("GATEHOUSE_TEST_MQTT_URL", default="mqtt://127.0.0.1:1")
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# --- Audit, observability, security ---
# Rate limits high enough that no test trips them by accident (every test client comes
# from 127.0.0.1); the throttling tests set their own low rates.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {scope: "100000/min" for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}  # noqa: F405
