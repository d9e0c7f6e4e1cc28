# despina server: the Neptune Scale protocol, the web UI, PostgreSQL and S3-compatible storage.
#   docker build -t despina .
#   docker run -p 8899:8899 -e DESPINA_DB=postgresql://… -e DESPINA_FILES=s3://bucket/prefix despina
# See deploy/compose.yaml for PostgreSQL, MinIO and two server processes.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY core ./core
COPY server ./server
COPY integrations ./integrations
RUN pip install ".[server,postgres,s3,metrics]" && rm -rf /src

# A user of its own: the server needs no privilege (port 8899, files in a bucket or /data).
RUN useradd --create-home --uid 10001 despina && mkdir /data && chown despina /data
USER despina
WORKDIR /data

EXPOSE 8899 9100
# JSON request logs for the log collector; SIGTERM (docker stop) drains requests and exits 0.
ENTRYPOINT ["despina", "server", "--host", "0.0.0.0", "--port", "8899", "--log-format", "json"]
CMD []
