# A model-server image of the lab (mlepc4w2-ugl:no-batch, :with-batch) without Nix and
# without a registry: FROM scratch, it holds the statically linked wine-server and the
# trained model, nothing else (no shell, no libc, no base image).
#
# Every value comes from deploy/images.json as a --build-arg (tests/e2e/images.rs
# derives them; `WINE_LAB_TAG_IMAGES=1 cargo test --test compose -- --ignored
# docker_images` builds both images). The build context is a folder holding exactly
# `wine-server` and `wine.model`. Works with the legacy builder and with BuildKit.
FROM scratch

# images.json: serverBinary, modelPath, servers.<variant>.api, host, port, user
ARG SERVER_BINARY
ARG MODEL_PATH
ARG API
ARG HOST
ARG PORT
ARG IMAGE_USER

COPY wine-server ${SERVER_BINARY}
COPY wine.model ${MODEL_PATH}
ENV WINE_API=${API} WINE_HOST=${HOST} WINE_PORT=${PORT} WINE_MODEL=${MODEL_PATH}
EXPOSE ${PORT}/tcp
# Not root: a numeric uid:gid (there is no /etc/passwd to name it). Port 80 still
# binds, since Docker sets net.ipv4.ip_unprivileged_port_start=0 in the container.
USER ${IMAGE_USER}
# HEALTHCHECK expands no build arguments (`--interval=${INTERVAL}` fails the build:
# `time: invalid duration "${INTERVAL}"`), so this is images.json's healthcheck
# written out; tests/compose.rs fails if the two ever differ.
HEALTHCHECK --interval=60000ms --timeout=3000ms --start-period=10000ms --retries=3 CMD ["/bin/wine-server", "healthcheck"]
# The exec form expands no build arguments, so images.json's serverBinary is written
# here a second time; tests/compose.rs fails if the two ever differ.
ENTRYPOINT ["/bin/wine-server"]
