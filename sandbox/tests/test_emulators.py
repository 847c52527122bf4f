"""Emulators are found through their own entry-point group, by broker id."""

from __future__ import annotations

import importlib.metadata

import pytest
from brokerauth.contract.errors import PluginError
from brokerauth_sandbox.emulators import GROUP, provider, providers


def test_the_installed_emulators_are_the_groups_entry_points() -> None:
    listed = {ep.name for ep in importlib.metadata.entry_points(group=GROUP)}
    assert set(providers()) == listed


def test_a_broker_without_an_emulator_says_what_to_install() -> None:
    with pytest.raises(PluginError) as caught:
        provider("no-such-broker")
    assert "no sandbox is installed for broker 'no-such-broker'" in caught.value.message
    assert "[sandbox]" in (caught.value.hint or "")
