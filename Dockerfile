# whisper-api server image: Debian Bookworm, Python 3.11, ffmpeg from Debian, a non-root user,
# models, key database and config on the /data volume. See docs/docker.md.
#   docker build -t whisper-api .                                  # in-process engine
#   docker build --build-arg WHISPER_CLI=1 -t whisper-api .        # also whisper-cli (the cli engine)
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG WHISPER_CLI=0
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY whisper_api ./whisper_api
RUN python -m venv /opt/whisper-api \
    && /opt/whisper-api/bin/pip install --no-cache-dir ".[server,postgres,redis,cluster]"
# The in-process binding rebuilt with ggml's matrix kernels (1.5x faster than the published wheel), for
# any x86-64 CPU with AVX2 (not only the one building the image): see docs/engines.md.
RUN /opt/whisper-api/bin/whisper-api engine build --binding --cmake-arg=-DGGML_NATIVE=OFF
# whisper-cli from the pinned whisper.cpp source, only when asked for (it takes minutes to compile).
RUN mkdir -p /opt/whisper-cli \
    && if [ "$WHISPER_CLI" = "1" ]; then /opt/whisper-api/bin/whisper-api engine build --dest /opt/whisper-cli; fi

FROM python:${PYTHON_VERSION}-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 whisper \
    && mkdir -p /data \
    && chown whisper /data
COPY --from=build /opt/whisper-api /opt/whisper-api
COPY --from=build /opt/whisper-cli /opt/whisper-cli
ENV PATH=/opt/whisper-api/bin:/opt/whisper-cli:$PATH \
    WHISPER_API_HOME=/data \
    WHISPER_API_HOST=0.0.0.0 \
    WHISPER_API_PORT=7860 \
    PYTHONUNBUFFERED=1
USER whisper
VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/readyz', timeout=4)"]
CMD ["whisper-api", "serve"]
