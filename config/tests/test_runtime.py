"""Long-running processes keep their startup objects out of garbage collection."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_asgi_application_freezes_what_it_loaded_at_startup():
    # A fresh interpreter, as a web worker starts: importing the application freezes Django,
    # the apps and their modules, so full collections no longer walk them (a 60 ms pause).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    out = subprocess.run([sys.executable, "-c", "import gc, config.asgi; print(gc.get_freeze_count())"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert int(out.stdout.strip().splitlines()[-1]) > 50_000, out.stdout

