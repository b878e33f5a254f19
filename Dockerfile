FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:$PATH" \
    SLEEPTIME_DATABASE_URL="sqlite+aiosqlite:////app/data/sleeptime.db" \
    SLEEPTIME_WORKER_HTTP_PORT=8284

RUN pip install --no-cache-dir uv==0.13.8 \
    && useradd --create-home --uid 10001 sleeptime

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY alembic.ini ./
COPY migrations ./migrations
COPY app ./app
# The project is installed editable, so UV_COMPILE_BYTECODE leaves app/ alone; with
# PYTHONDONTWRITEBYTECODE every start would compile it again: compile it once here.
RUN uv sync --locked --no-dev \
    && python -m compileall -q app migrations \
    && mkdir -p /app/data \
    && chown -R sleeptime:sleeptime /app/data

USER sleeptime
VOLUME ["/app/data"]
# 8283: the API (`sleeptime serve`); 8284: a worker's /livez, /readyz and /metrics.
EXPOSE 8283 8284
# One image, two roles: the check asks whichever of them the container runs (see
# app/healthcheck.py); a one-shot `sleeptime migrate` counts as healthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "app.healthcheck"]
CMD ["sleeptime", "serve", "--host", "0.0.0.0", "--port", "8283"]
