"""Building the deployment images for the tests: scripts/build-deploy-images.sh, which
skips every image that is up to date (seconds), so each test session may call it."""

from __future__ import annotations

from tests.deploy.tools import REPO, run

SUITE = "bookworm"
DEPLOY_IMAGES = ("runtime", "control-plane", "executor", "gateway", "postgres", "opa")


def build_deploy_images() -> None:
    """Build (or confirm up to date) every deployment image; the first build takes minutes."""
    run([str(REPO / "scripts" / "build-deploy-images.sh")], timeout=1200)
