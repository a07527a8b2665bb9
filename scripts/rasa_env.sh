#!/usr/bin/env bash
# Creates or updates .venv-rasa (Python 3.10): Rasa 3.6 + rasa-sdk + test tools.
# Idempotent: reinstalls only when bot/requirements*.txt change (hash kept in a stamp file).
# Usage: scripts/rasa_env.sh            (env RASA_VENV overrides the venv path)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RASA_VENV:-$ROOT/.venv-rasa}"
REQS=("$ROOT/bot/requirements.txt" "$ROOT/bot/requirements-dev.txt")
STAMP="$VENV/.deskmate-requirements.sha256"

log() { printf '[rasa_env] %s\n' "$*"; }

runs_310() { [ -n "${1:-}" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }

find_python310() {
    local candidate
    if [ -n "${PYTHON310:-}" ]; then
        runs_310 "$PYTHON310" && { echo "$PYTHON310"; return 0; }
        log "PYTHON310=$PYTHON310 is not a working Python 3.10" >&2
        return 1
    fi
    candidate="$(command -v python3.10 || true)"
    runs_310 "$candidate" && { echo "$candidate"; return 0; }
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in "$(pyenv root)"/versions/3.10.*/bin/python3.10; do
            runs_310 "$candidate" && { echo "$candidate"; return 0; }
        done
    fi
    for candidate in "$HOME"/.pyenv/versions/3.10.*/bin/python3.10; do
        runs_310 "$candidate" && { echo "$candidate"; return 0; }
    done
    if command -v uv >/dev/null 2>&1; then
        candidate="$(uv python find 3.10 2>/dev/null || true)"
        runs_310 "$candidate" && { echo "$candidate"; return 0; }
    fi
    return 1
}

want_hash="$(cat "${REQS[@]}" | sha256sum | cut -d' ' -f1)"
if [ -x "$VENV/bin/rasa" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_hash" ]; then
    log "up to date: $VENV (requirements unchanged)"
    exit 0
fi

if ! PY="$(find_python310)"; then
    echo "[rasa_env] ERROR: Python 3.10 not found. Rasa 3.6 needs Python 3.8-3.10." >&2
    echo "[rasa_env] Set PYTHON310=/path/to/python3.10, or install one (pyenv install 3.10 / uv python install 3.10)." >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ] || ! runs_310 "$VENV/bin/python"; then
    log "creating $VENV with $PY"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

log "installing ${REQS[*]#$ROOT/} into $VENV (first time: ~4 min, ~2.7 GB)"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# Drop pip's notes about extra index locations that do not exist on this machine.
quiet_pip() { grep -v -E '^WARNING: Location .* is ignored' || true; }
"$VENV/bin/python" -m pip install --quiet $(printf -- '-r %s ' "${REQS[@]}") 2>&1 | quiet_pip

export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
"$VENV/bin/rasa" --version >/dev/null 2>&1 || { echo "[rasa_env] ERROR: rasa does not start in $VENV" >&2; exit 1; }
echo "$want_hash" > "$STAMP"
version="$("$VENV/bin/python" -c 'import rasa, rasa_sdk; print(f"rasa {rasa.__version__}, rasa-sdk {rasa_sdk.__version__}")' 2>/dev/null)"
log "ready: $VENV ($version)"
