"""Fixtures for the hardening tests: the real-mount fixtures of tests/mount
(loaded by path, so both suites share one harness) plus a few helpers for
killing the daemon, running as another user and reading its memory use."""
import importlib.util
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MOUNT_TESTS = os.path.join(REPO, "tests", "mount")
sys.path.insert(0, MOUNT_TESTS)
sys.path.insert(0, HERE)

_spec = importlib.util.spec_from_file_location("layerfs_mount_conftest",
                                               os.path.join(MOUNT_TESTS, "conftest.py"))
_mount_conftest = importlib.util.module_from_spec(_spec)
sys.modules["layerfs_mount_conftest"] = _mount_conftest
_spec.loader.exec_module(_mount_conftest)

# Hooks and fixtures pytest picks up from this conftest.
pytest_sessionstart = _mount_conftest.pytest_sessionstart
_environment_ok = _mount_conftest._environment_ok
union = _mount_conftest.union
ref = _mount_conftest.ref

LAYERFS_BIN = _mount_conftest.LAYERFS_BIN
LAYERCTL_BIN = os.environ.get("LAYERCTL_BIN") or os.path.join(REPO, "build", "tools", "layerctl")
