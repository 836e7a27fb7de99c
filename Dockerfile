# syntax=docker/dockerfile:1
# keysentry: the long-running worker (`keysentry run`): scheduled scans, /metrics,
# /healthz and /readyz on port 9184. Runs as a non-root numeric user and needs no
# writable path but /tmp (mount an emptyDir there with a read-only root filesystem).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/keysentry
# Dependencies first, from the lock file only, so that a code change reuses this layer.
COPY requirements.lock ./
RUN /opt/keysentry/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY scanner ./scanner
RUN /opt/keysentry/bin/pip install --no-deps --no-build-isolation . \
    && /opt/keysentry/bin/python -m compileall -q /opt/keysentry

FROM ${PYTHON_IMAGE}
ARG VERSION=0.2.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="keysentry" \
      org.opencontainers.image.description="Finds the Google Cloud API keys that are broken, exposed or about to be cut off, and says who must fix each one by when." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/keysentry/keysentry"
ENV PATH=/opt/keysentry/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/keysentry /opt/keysentry
# Nothing but /tmp writable by the user, even where the root is not mounted
# read-only: the base leaves /var/tmp and /run/lock world-writable.
RUN find / -xdev -perm -0002 ! -type l ! -path /tmp -exec chmod o-w {} +
USER 10001:10001
WORKDIR /tmp
EXPOSE 9184
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:9184/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["keysentry", "run"]
