# The gateway image. Build: docker build -t ingress-gateway:0.1.0 .
# Air-gapped: pass your own base with --build-arg PYTHON_IMAGE=registry.example/python:3.11-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The hot path is compiled with mypyc (docs/development.md#compiled-hot-path): gcc, and Python's
# headers where the base lacks them (Debian's python3; the python images carry their own).
# Versions are the base release's (the build stage is thrown away); $extra may be empty.
# hadolint ignore=DL3008,SC2086
RUN headers=$(python -c 'import os, sysconfig; print(os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))') \
 && extra=$([ "$headers" = True ] || echo python3-dev) \
 && apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev $extra \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY annotations ./annotations
COPY routing ./routing
COPY gateway ./gateway
# A wheel with the hot path compiled, built where mypyc can type-check it (the dependencies and
# mypy installed, no build isolation); then a clean, relocatable venv with only that wheel and
# the dependencies it declares (pyproject.toml).
RUN python -m venv /opt/build \
 && GATEWAY_COMPILE=0 /opt/build/bin/pip install --no-cache-dir /src "mypy>=1.10,<3" "setuptools>=77" "types-PyYAML>=6,<7" \
 && GATEWAY_COMPILE=1 /opt/build/bin/pip wheel --no-cache-dir --no-build-isolation --no-deps -w /wheels /src \
 && python -m venv /opt/gateway \
 && /opt/gateway/bin/pip install --no-cache-dir /wheels/*.whl

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway
COPY --from=build /opt/gateway /opt/gateway
ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001
EXPOSE 8080 8443 10254
STOPSIGNAL SIGTERM
ENTRYPOINT ["gateway", "run"]
