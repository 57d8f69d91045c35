"""The package list in pyproject.toml covers every package, and wheels carry the icons."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_for_setuptools() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "nexus_logger").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"
    assert listed - found == {"nexus_logger.resources"}
    assert config["package-dir"]["nexus_logger.resources"] == "resources"


def test_icons_named_in_package_data_exist() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["nexus_logger.resources"]
    for suffix in ("svg", "png", "ico"):
        assert f"*.{suffix}" in patterns
        assert list((ROOT / "resources").glob(f"*.{suffix}")), suffix
