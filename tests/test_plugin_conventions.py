"""The files napari's plugin conventions ask for exist and say what they should (no network:
the workflow and the hooks themselves run elsewhere; tests/hub/check_wheel.sh builds the wheel)."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "test_and_deploy.yml").read_text())


def test_workflow_tests_three_platforms_and_three_pythons_headless():
    test = _workflow()["jobs"]["test"]
    matrix = test["strategy"]["matrix"]
    assert set(matrix["platform"]) == {"ubuntu-latest", "macos-latest", "windows-latest"}
    assert matrix["python-version"] == ["3.10", "3.11", "3.12"]
    assert any(str(step.get("uses", "")).startswith("aganders3/headless-gui") for step in test["steps"])


def test_workflow_publishes_on_a_version_tag_with_trusted_publishing():
    workflow = _workflow()
    # PyYAML reads the key "on" as True
    assert "v*" in (workflow.get("on") or workflow[True])["push"]["tags"]
    deploy = workflow["jobs"]["deploy"]
    assert "refs/tags/v" in deploy["if"] and set(deploy["needs"]) >= {"test", "build"}
    assert deploy["permissions"] == {"id-token": "write"}
    uses = [step.get("uses", "") for step in deploy["steps"]]
    assert any(u.startswith("pypa/gh-action-pypi-publish") for u in uses)
    assert "password" not in str(deploy).lower()  # no API token: trusted publishing


def test_pre_commit_runs_ruff_and_napari_plugin_checks():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "napari-plugin-checks"} <= hooks


def test_version_lives_in_one_place():
    import napari_mcsc

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["version"].strip() == "attr: napari_mcsc.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", napari_mcsc.__version__)


def test_hub_metadata_and_changelog():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    urls = setup["metadata"]["project_urls"]
    for name in ("Source Code", "Bug Tracker", "Documentation", "User Support"):
        assert re.search(rf"^{name} = https://", urls, re.MULTILINE), name
    assert "napari" in setup["metadata"]["keywords"].split()
    extras = setup["options.extras_require"]
    assert "highdicom" in extras["dicom"] and "highdicom" in extras["testing"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "keepachangelog.com" in changelog
