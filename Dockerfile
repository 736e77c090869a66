# The gateway image. Build: docker build -t ingress-gateway:0.1.0 .
# Air-gapped: pass your own base with --build-arg PYTHON_IMAGE=registry.example/python:3.11-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY annotations ./annotations
COPY routing ./routing
COPY gateway ./gateway
# Dependencies come from the project's own metadata (pyproject.toml), into a relocatable venv.
RUN python -m venv /opt/gateway \
 && /opt/gateway/bin/pip install --no-cache-dir /src

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
