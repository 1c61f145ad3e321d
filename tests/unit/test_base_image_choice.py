"""Which base image the integration tests build FROM (tests/baseimage.py, used by tests/conftest.py's base_image
fixture): they run whenever Docker has one, and say precisely why they skip when it has none."""

from __future__ import annotations

import baseimage

from lab.core.config import Settings

DEFAULT = baseimage.dockerfile_default()


def test_the_dockerfile_default_is_the_labs_default() -> None:
    assert DEFAULT == Settings().base_image == "python:3.12-slim"


def test_unset_uses_the_dockerfile_default_when_docker_has_it() -> None:
    assert baseimage.choose({}, lambda name: name == DEFAULT) == (DEFAULT, "")


def test_unset_and_no_default_image_says_how_to_get_one() -> None:
    name, why = baseimage.choose({}, lambda name: False)
    assert name is None
    assert f"LAB_BASE_IMAGE is not set and app/Dockerfile's default base {DEFAULT} is not present locally" in why
    assert f"`docker pull {DEFAULT}`" in why


def test_a_set_base_image_wins_and_must_be_present() -> None:
    environ = {"LAB_BASE_IMAGE": "lab-base:bookworm"}
    assert baseimage.choose(environ, lambda name: True) == ("lab-base:bookworm", "")
    name, why = baseimage.choose(environ, lambda name: name == DEFAULT)  # no fallback: the setting was explicit
    assert name is None and "LAB_BASE_IMAGE=lab-base:bookworm is not present locally" in why
