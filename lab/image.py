"""The appliance test image: Debian 12 with systemd, built by debootstrap and imported into podman.

The image is what molecule and the lab boot as "appliance hosts". It is built once per build
recipe: the recipe (suite, variant, packages, build steps) is hashed and the hash is the image
tag, so a changed recipe builds a new image and an unchanged one is reused from podman's store.
The rootfs tarball is cached outside the repository (``<cache root>/images``, published under a
lock by ``edgefill_build.cache``) so a wiped podman store re-imports without running debootstrap
again; the import into podman runs under a lock too, so concurrent callers (molecule and the lab
in two xdist workers) build and import once and the others use the result.

Podman must use runc with empty default ulimits on this kind of host: every podman call here
runs with ``CONTAINERS_CONF`` pointing at ``lab/containers.conf``.

Usage: ``python -m lab.image`` builds (or finds) the image and prints its reference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from edgefill_build.cache import LOCK_TIMEOUT_SECONDS, cache_root, published
from edgefill_build.step import run_step

logger = logging.getLogger(__name__)

IMAGE_REPOSITORY = "localhost/edgefill-appliance"
CONTAINERS_CONF = Path(__file__).resolve().parent / "containers.conf"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BUILD_TIMEOUT_SECONDS = 900


class ImageBuildError(Exception):
    """The appliance image could not be built or imported.

    Hierarchy: ImageBuildError is the only exception of this module; the message says which
    step failed, its output tail, and what to check.
    """


@dataclass(frozen=True)
class ImageRecipe:
    """Everything that decides the image's content; its hash is the image tag."""

    suite: str = "bookworm"
    variant: str = "minbase"
    # Baked in so converge runs need no package download; the roles still declare them.
    packages: tuple[str, ...] = (
        "systemd",
        "systemd-sysv",
        "dbus",
        "python3",
        "python3-venv",
        "python3-apt",
        "python3-packaging",
        "nginx",
        "libnginx-mod-http-js",
        "logrotate",
        "nftables",
        "procps",
        "iproute2",
        "systemd-timesyncd",
        "ca-certificates",
        "curl",
    )
    # Units that make no sense in a container and only slow boot or fail it.
    masked_units: tuple[str, ...] = (
        "getty@tty1.service",
        "console-getty.service",
        "systemd-remount-fs.service",
        "sys-kernel-debug.mount",
    )
    format_version: int = 1

    def digest(self) -> str:
        blob = json.dumps(
            {
                "suite": self.suite,
                "variant": self.variant,
                "packages": sorted(self.packages),
                "masked_units": sorted(self.masked_units),
                "format_version": self.format_version,
            },
            sort_keys=True,
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def reference(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.digest()}"


def podman_env() -> dict[str, str]:
    """The environment every podman call needs on this host (runc, no default ulimits)."""
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def cache_dir() -> Path:
    return cache_root() / "images"


def _run(step: str, argv: list[str], *, stdin: int | None = None) -> None:
    run_step(
        f"image build: {step}",
        argv,
        error=ImageBuildError,
        timeout_s=BUILD_TIMEOUT_SECONDS,
        timeout_hint=f"check that {DEBIAN_MIRROR} is reachable",
        env=podman_env(),
        stdin=stdin,
    )


def image_exists(reference: str) -> bool:
    completed = subprocess.run(
        ["podman", "image", "exists", reference], env=podman_env(), check=False
    )
    return completed.returncode == 0


def _build_rootfs_tarball(recipe: ImageRecipe, tarball: Path) -> None:
    """Debootstrap the recipe and write its rootfs as a tar at `tarball` (a staging path)."""
    if os.geteuid() != 0:
        raise ImageBuildError(
            "debootstrap needs root: run the image build (or the podman tests) as root"
        )
    with tempfile.TemporaryDirectory(prefix="edgefill-rootfs-", dir=tarball.parent) as work:
        rootfs = Path(work) / "rootfs"
        _run(
            "debootstrap",
            [
                "debootstrap",
                f"--variant={recipe.variant}",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
        )
        for unit in recipe.masked_units:
            link = rootfs / "etc/systemd/system" / unit
            link.unlink(missing_ok=True)
            link.symlink_to("/dev/null")
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        (rootfs / "etc/machine-id").write_text("")
        _run("tar rootfs", ["tar", "-C", str(rootfs), "-cf", str(tarball), "."])


def ensure_image(recipe: ImageRecipe | None = None) -> str:
    """Return the podman reference of the appliance image, building it only if it is missing."""
    recipe = recipe or ImageRecipe()
    reference = recipe.reference
    if image_exists(reference):
        logger.info("image %s is already in podman", reference)
        return reference
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tarball = published(
        directory / f"edgefill-appliance-{recipe.digest()}.tar",
        lambda staging: _build_rootfs_tarball(recipe, staging),
    )
    with FileLock(str(directory / f"import-{recipe.digest()}.lock"), timeout=LOCK_TIMEOUT_SECONDS):
        if image_exists(reference):
            logger.info("image %s was imported meanwhile by another process", reference)
            return reference
        with tarball.open("rb") as stream:
            _run(
                "podman import",
                ["podman", "import", "--change", 'CMD ["/sbin/init"]', "-", reference],
                stdin=stream.fileno(),
            )
    return reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.image", description=__doc__)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        reference = ensure_image()
    except ImageBuildError as exc:
        logger.error("%s", exc)
        return 1
    sys.stdout.write(reference + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
