# The lab's Locust image (mlepc4w2-ugl:locust) without Nix and without a registry:
# FROM scratch plus a minimal Debian bookworm holding a venv with Locust, the tree
# that tests/e2e/locust-rootfs.sh makes (debootstrap, pip install -r
# src/lab/locust/requirements.txt). The build context is a folder holding exactly `rootfs.tar`.
#
# Like the upstream locustio/locust image its entrypoint is `locust` (deploy/images.json
# says so), so the compose command `-f /mnt/locust/locustfile.py` works unchanged.
#
# It runs as images.json's user (numeric, no /etc/passwd entry: Locust looks up no
# user name) with HOME=/tmp; Locust writes nothing but the reports it is asked for.
# `docker stop` sends images.json's locustStopSignal (SIGINT): on SIGTERM Locust
# 2.47 exits without writing its --html report (main.py: only the SIGINT path
# calls save_html_report); on SIGINT it writes every report, then exits 0.
FROM scratch
ARG IMAGE_USER
ARG STOP_SIGNAL
ADD rootfs.tar /
ENV PATH=/opt/locust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /mnt/locust
EXPOSE 8089/tcp
USER ${IMAGE_USER}
STOPSIGNAL ${STOP_SIGNAL}
ENTRYPOINT ["locust"]
