# syntax=docker/dockerfile:1
# monitor as a long-running container: `docker compose up -d` (see docker-compose.yml).
#   build:  docker build -t monitor .            (add --build-arg EXTRAS=[apprise] for Apprise channels)
#   run:    docker run -d --name monitor --env-file monitor.env -p 127.0.0.1:8080:8080 \
#             -v monitor-data:/data -v "$PWD/config.yaml:/data/config.yaml:ro" monitor
#   once:   docker exec monitor monitor fetch
ARG PYTHON=3.12

# ---- build: wheels of monitor and of every dependency (compilers exist in this stage only)
FROM python:${PYTHON}-slim AS build
ARG EXTRAS=""
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".${EXTRAS}"

# ---- final: the wheels installed from the build stage, no compilers, a non-root user, tini as PID 1
FROM python:${PYTHON}-slim
ARG EXTRAS=""
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 monitor \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin monitor \
 && mkdir -p /data \
 && chown 10001:10001 /data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels "monitor${EXTRAS}"
# The database lives in /data (a volume); the config is mounted at /data/config.yaml, so the
# shipped config's `database: monitor.db` lands in the volume. Secrets come from the environment.
ENV MONITOR_CONFIG=/data/config.yaml \
    MONITOR_LISTEN=0.0.0.0:8080 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["monitor", "health"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["monitor", "run"]
