# prenatal-cds: production image. See docs/production.md for the environment it expects.
#
#   docker build -t prenatal-cds .
#   docker run -p 8080:8080 \
#     -e CDS_BASE_URL=https://cds.example.org \
#     -e CDS_DATABASE_URL=postgresql+psycopg://cds:secret@db:5432/prenatal_cds \
#     -e CDS_CLIENTS_FILE=/run/secrets/clients.toml \
#     -v "$PWD/clients.toml:/run/secrets/clients.toml:ro" \
#     prenatal-cds
#
# Production mode refuses to start without a clients file (trusted EHRs and their keys).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 cds \
 && useradd --system --uid 10001 --gid cds --home-dir /srv/prenatal-cds --no-create-home \
      --shell /usr/sbin/nologin cds

WORKDIR /srv/prenatal-cds

# Dependencies pinned by requirements.lock (used as constraints: only the runtime set is
# installed). The project is installed in editable mode so that hooks/, fixtures/ and
# openapi.yaml are found beside the package, as in the source tree.
COPY pyproject.toml requirements.lock README.md ./
COPY cds_service ./cds_service
RUN pip install --constraint requirements.lock --editable . \
 && python -c "import cds_service.api.app"
COPY hooks ./hooks
COPY fixtures ./fixtures
COPY openapi.yaml ./

# The only writable place: the metrics of the worker processes (and SQLite, if used).
RUN mkdir -p /srv/prenatal-cds/var/metrics && chown -R cds:cds /srv/prenatal-cds/var

ENV CDS_ENVIRONMENT=production \
    CDS_LOG_JSON=true \
    CDS_DATABASE_URL=sqlite:////srv/prenatal-cds/var/prenatal-cds.sqlite3 \
    PROMETHEUS_MULTIPROC_DIR=/srv/prenatal-cds/var/metrics \
    WEB_WORKERS=2

USER cds:cds
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]

# TLS is terminated at the proxy in front (docs/production.md). `sh -c` only expands
# WEB_WORKERS; `exec` makes cds-service PID 1, so it receives SIGTERM and drains its workers.
CMD ["sh", "-c", "exec cds-service serve --host 0.0.0.0 --port 8080 --workers \"${WEB_WORKERS}\""]
