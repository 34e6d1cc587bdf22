# Layerloom: one image for the API and the workers.
#   docker build -t layerloom .                                   # CPU (the default)
#   docker build -t layerloom:cuda --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
# The CUDA variant needs the NVIDIA container toolkit on the host; see docs/deploy.md, "GPU workers".

FROM node:22-slim AS editor
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAYERLOOM_DATA_DIR=/data \
    LAYERLOOM_HOST=0.0.0.0 \
    LAYERLOOM_PORT=8000
WORKDIR /app
# torch first and alone, from the chosen index, so no other requirement pulls a different build.
RUN pip install --no-cache-dir --index-url ${TORCH_INDEX} torch==2.13.0
COPY pyproject.toml README.md alembic.ini ./
COPY backend/ backend/
COPY migrations/ migrations/
COPY examples/ examples/
COPY --from=editor /src/frontend/dist/ frontend/dist/
# Editable: the migrations and the editor are found next to the package, as in a checkout.
RUN pip install --no-cache-dir -e . \
    && useradd --create-home --uid 1000 layerloom \
    && mkdir -p /data && chown layerloom /data
USER layerloom
VOLUME /data
EXPOSE 8000
CMD ["layerloom", "serve", "--no-worker"]
