# HarmonyStream server and transcoder worker (one image, two commands).

# The web app's browser libraries (hls.js, socket.io-client) come from npm, pinned by the lock file.
FROM node:20-bookworm-slim AS web-libraries
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HS_DATA_DIR=/data \
    HS_HOST=0.0.0.0 \
    HS_PORT=8080

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY server ./server
COPY media ./media
COPY transcoder ./transcoder
COPY migrations ./migrations
COPY web ./web
COPY --from=web-libraries /app/node_modules ./node_modules
RUN pip install -e .

RUN useradd --system --uid 10001 --home-dir /app harmony \
    && mkdir -p /data \
    && chown harmony /data
USER harmony
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"

CMD ["harmonystream", "serve"]
