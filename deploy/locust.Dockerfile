# The lab's Locust image (mlepc4w2-ugl:locust) without Nix and without a registry:
# FROM scratch plus a minimal Debian bookworm holding a venv with Locust, the tree
# that tests/e2e/locust-rootfs.sh makes (debootstrap, pip install -r
# tests/requirements.txt). The build context is a folder holding exactly `rootfs.tar`.
#
# Like the upstream locustio/locust image its entrypoint is `locust` (deploy/images.json
# says so), so the compose command `-f /mnt/locust/locustfile.py` works unchanged.
FROM scratch
ADD rootfs.tar /
ENV PATH=/opt/locust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1
WORKDIR /mnt/locust
EXPOSE 8089/tcp
ENTRYPOINT ["locust"]
