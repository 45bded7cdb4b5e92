# hedged as a container image, for fleets on Kubernetes or Nomad (systemd hosts: hedged.service).
# One container per market/account, each with its own state volume (README "Containers").
#   docker build -t hedged .
#   docker run -v hedged-sol:/var/lib/hedged -v ./sol.toml:/etc/hedged/hedged.toml:ro hedged
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY hedged ./hedged
# The wheel and its runtime dependencies only, pinned by the lock file (used as constraints).
RUN python -m venv /opt/hedged/venv \
 && /opt/hedged/venv/bin/pip install --no-cache-dir -c requirements.lock .

FROM python:3.11-slim
# Same path as in the build stage: a venv's scripts name their interpreter by absolute path.
COPY --from=build /opt/hedged/venv /opt/hedged/venv
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/hedged --shell /usr/sbin/nologin hedged \
 && install -d -o hedged -g hedged -m 0700 /var/lib/hedged \
 && install -d -m 0755 /etc/hedged
# The daemon takes its state dir from $STATE_DIRECTORY (as under systemd's StateDirectory=).
ENV PATH=/opt/hedged/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STATE_DIRECTORY=/var/lib/hedged
VOLUME ["/var/lib/hedged"]
USER hedged
WORKDIR /var/lib/hedged
# metrics.host must be "0.0.0.0" in the mounted config for the port to be reachable from outside.
EXPOSE 9464
# SIGTERM is the graceful stop: give it more than daemon.graceful_stop_s (docker stop -t 45).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/hedged/venv/bin/hedged"]
CMD ["--config", "/etc/hedged/hedged.toml"]
