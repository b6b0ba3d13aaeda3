"""Development on a laptop: `make demo`."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Serve static files straight from the source folders, picking up edits.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # noqa: F405
