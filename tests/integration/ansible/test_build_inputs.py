"""What the Ansible tests and playbooks are built from: the image recipe and the agent wheelhouse."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from edgefill_build.wheelhouse import AGENT_WHEEL_PACKAGES, build, wheel_packages
from lab.image import IMAGE_REPOSITORY, ImageRecipe

FORBIDDEN_ON_APPLIANCES = ("fastapi", "boto3", "botocore", "pulumi", "mangum", "uvicorn", "moto")


def test_image_tag_follows_the_recipe() -> None:
    recipe = ImageRecipe()
    reordered = dataclasses.replace(recipe, packages=tuple(reversed(recipe.packages)))
    grown = dataclasses.replace(recipe, packages=(*recipe.packages, "less"))

    assert recipe.reference.startswith(f"{IMAGE_REPOSITORY}:")
    assert reordered.digest() == recipe.digest(), "package order must not rebuild the image"
    assert grown.digest() != recipe.digest(), "a changed recipe must build a new image"
    assert re.fullmatch(r"[0-9a-f]{16}", recipe.digest())


def test_wheelhouse_holds_the_agent_and_base_dependencies_only(tmp_path: Path) -> None:
    built = build(tmp_path / "wheelhouse")
    wheels = [wheel.name.lower() for wheel in built]

    agent = [w for w in built if re.fullmatch(r"edgefill-[0-9.]+-py3-none-any\.whl", w.name)]
    assert len(agent) == 1, wheels
    # The agent wheel carries the agent and the contracts, never the control plane.
    assert (
        wheel_packages(agent[0])
        == AGENT_WHEEL_PACKAGES
        == {"appliance_agent", "edgefill_contracts"}
    )
    for needed in ("pydantic-", "pydantic_core-", "pydantic_settings-", "httpx-", "jinja2-"):
        assert any(name.startswith(needed) for name in wheels), needed
    for forbidden in FORBIDDEN_ON_APPLIANCES:
        assert not any(name.startswith(f"{forbidden}-") for name in wheels), forbidden
