# mockpay, the Antom card vaulting sandbox, to run beside a merchant's app.
#
# One container, two listeners on one state (see README, "Docker beside an app"):
#   8080  plain HTTP: admin API, dashboard, health
#   8443  HTTPS with the certificate of mockpay's own CA (<data dir>/tls/ca.pem);
#         the official SDKs only speak HTTPS to port 443: set MOCKPAY_HTTPS_PORT=443
#         (compose.yaml shows how, without running as root).
# The container listens on 0.0.0.0, so it refuses to start without MOCKPAY_ADMIN_TOKEN.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/mockpay
COPY pyproject.toml README.md ./
COPY mockpay ./mockpay
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 mockpay \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin mockpay \
    && mkdir -p /data \
    && chown 10001:10001 /data

ENV MOCKPAY_DATA_DIR=/data \
    MOCKPAY_HOST=0.0.0.0 \
    MOCKPAY_PORT=8080 \
    MOCKPAY_HTTPS_PORT=8443 \
    MOCKPAY_TLS_HOSTS=localhost,mockpay \
    MOCKPAY_WORKERS=1 \
    MOCKPAY_LOG_FORMAT=text

VOLUME ["/data"]
EXPOSE 8080 8443
USER 10001:10001

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "mockpay.healthcheck"]

CMD ["mockpay", "serve"]
