#!/usr/bin/env bash
# Set up both Python environments. Safe to run again: it only does what is missing.
#   .venv       Python 3.11: the app (FastAPI, SQLAlchemy 2, twilio 9) and the tests
#   .venv-rasa  Python 3.10: Rasa 3.6.21, pinned by requirements/rasa.txt
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {  # find_python 3.11 -> a path to that interpreter
  local v="$1" p
  for p in "python$v" "$(command -v pyenv >/dev/null && pyenv root)/versions/$v"*/bin/python; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$v'.split('.'))))" 2>/dev/null; then
      command -v "$p"; return 0
    fi
  done
  echo "error: Python $v not found (install it with pyenv: pyenv install $v)" >&2
  return 1
}

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

app_stamp=$(stamp pyproject.toml)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.stamp 2>/dev/null)" != "$app_stamp" ]; then
  echo "[setup] app environment (.venv, Python 3.11)..."
  [ -x .venv/bin/python ] || "$(find_python 3.11)" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
  echo "$app_stamp" > .venv/.stamp
fi

rasa_stamp=$(stamp requirements/rasa.txt)
if [ ! -x .venv-rasa/bin/rasa ] || [ "$(cat .venv-rasa/.stamp 2>/dev/null)" != "$rasa_stamp" ]; then
  echo "[setup] Rasa environment (.venv-rasa, Python 3.10, about 2 minutes the first time)..."
  [ -x .venv-rasa/bin/python ] || "$(find_python 3.10)" -m venv .venv-rasa
  .venv-rasa/bin/pip install --quiet --disable-pip-version-check -r requirements/rasa.txt
  echo "$rasa_stamp" > .venv-rasa/.stamp
fi
echo "[setup] environments ready."
