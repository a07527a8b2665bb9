#!/usr/bin/env bash
# Trains the Rasa model into bot/models/deskmate.tar.gz, only when the training inputs
# changed: the sha256 of bot/config.yml, bot/domain.yml and data/{nlu,rules,stories} is
# stored next to the model (bot/models/deskmate.sha256). --force retrains everything, ignoring
# both that hash and Rasa's component cache (bot/.rasa/cache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RASA_VENV:-$ROOT/.venv-rasa}"
MODEL_DIR="$ROOT/bot/models"
MODEL="$MODEL_DIR/deskmate.tar.gz"
STAMP="$MODEL_DIR/deskmate.sha256"
INPUTS=(bot/config.yml bot/domain.yml data/nlu data/rules data/stories)

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # custom components: bot.arbiter
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export RASA_CACHE_DIRECTORY="${RASA_CACHE_DIRECTORY:-$ROOT/bot/.rasa/cache}"

log() { printf '[train_bot] %s\n' "$*"; }
# The gateway's intent hints (api/chat/hints.py) are trained from the same data, with the backend's Python.
hints() {
    if [ -x "$ROOT/.venv/bin/python" ]; then
        HF_HUB_OFFLINE=1 "$ROOT/.venv/bin/python" -m api.chat.hints
    else
        log "no backend environment (.venv): the api builds the intent hints on its first chat turn"
    fi
}

[ -x "$VENV/bin/rasa" ] || { echo "[train_bot] ERROR: $VENV/bin/rasa missing; run scripts/rasa_env.sh first" >&2; exit 1; }

cd "$ROOT"
inputs_hash() {
    find "${INPUTS[@]}" -type f \( -name '*.yml' -o -name '*.yaml' \) -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
want="$(inputs_hash)"

FORCE=()
if [ "${1:-}" = "--force" ]; then
    FORCE=(--force)
    log "--force: retraining every component"
elif [ -f "$MODEL" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    log "model is up to date, reusing $MODEL (inputs unchanged)"
    hints
    exit 0
elif [ -f "$MODEL" ]; then
    log "training inputs changed: retraining (Rasa reuses unchanged components from its cache)"
else
    log "no model yet: training"
fi
log "inputs: ${INPUTS[*]} -> $MODEL (from scratch about 4 min on 2 cores)"
mkdir -p "$MODEL_DIR"
start=$(date +%s)
"$VENV/bin/rasa" train \
    --config bot/config.yml --domain bot/domain.yml \
    --data data/nlu data/rules data/stories \
    --out "$MODEL_DIR" --fixed-model-name deskmate --quiet "${FORCE[@]}"
[ -f "$MODEL" ] || { echo "[train_bot] ERROR: training finished but $MODEL is missing" >&2; exit 1; }
echo "$want" > "$STAMP"
log "trained $MODEL in $(( $(date +%s) - start ))s"
hints
