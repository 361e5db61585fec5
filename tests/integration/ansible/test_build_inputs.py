"""What the Ansible tests and playbooks are built from: the image recipe and the agent wheelhouse."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from lab.image import IMAGE_REPOSITORY, ImageRecipe
from lab.wheelhouse import build

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
    wheels = [wheel.name.lower() for wheel in build(tmp_path / "wheelhouse")]

    assert any(re.fullmatch(r"edgefill-[0-9.]+-py3-none-any\.whl", name) for name in wheels)
    for needed in ("pydantic-", "pydantic_core-", "pydantic_settings-", "httpx-", "jinja2-"):
        assert any(name.startswith(needed) for name in wheels), needed
    for forbidden in FORBIDDEN_ON_APPLIANCES:
        assert not any(name.startswith(f"{forbidden}-") for name in wheels), forbidden
