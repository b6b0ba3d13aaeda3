#!/usr/bin/env bash
# Prepare this checkout to run Gatehouse: Python 3.11 virtualenv, pinned
# requirements, `.env` with generated secrets, and the services it needs.
#   scripts/bootstrap.sh local   # for `make demo`
#   scripts/bootstrap.sh test    # for `make test` (adds the browser and PDF tools)
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-local}"
venv=".venv"

say() { printf '[bootstrap] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else return 1; fi
}

find_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && \
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  python="$(find_python || true)"
  if [ -z "$python" ] && command -v apt-get >/dev/null 2>&1 && as_root true; then
    say "installing Python 3.11 with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv >/dev/null
    python="$(find_python || true)"
  fi
  [ -n "$python" ] || { echo "Gatehouse needs Python 3.11 (python3.11 on PATH)." >&2; exit 1; }
  say "creating $venv with $python"
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if command -v apt-get >/dev/null 2>&1 && as_root true; then
      say "installing python3-venv with apt"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3.11-venv >/dev/null || true
      "$python" -m venv "$venv"
    else
      echo "Could not create a virtualenv: install python3.11-venv (sudo apt-get install python3.11-venv)." >&2
      exit 1
    fi
  fi
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi

# Install requirements when they changed since the last install.
req="requirements/$profile.txt"
stamp="$venv/.installed-$profile"
digest="$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  say "installing $req"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$digest" > "$stamp"
fi

"$venv/bin/python" scripts/write_env.py

system_packages=(mosquitto mosquitto-clients libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
if [ "$profile" = "test" ]; then
  system_packages+=(chromium poppler-utils)
fi
"$venv/bin/python" scripts/ensure_services.py --system-packages "${system_packages[@]}"
