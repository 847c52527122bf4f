"""The profiles reference, from the installed plugins' settings classes.

The keys, their types, defaults and help are read from the attrs classes each broker declares
(``BrokerSpec.settings``) and each strategy's ``options``, the way ``brokerauth init`` asks for
them: a field's profile key is its alias, else its name; its help is ``metadata["help"]``.
"""

from __future__ import annotations

from typing import Any

import attrs

from tools.docs_gen.markdown import read, section, shift_headings


@attrs.frozen
class SettingRow:
    """One profile key of a settings (or options) class."""

    key: str
    type: str
    default: str
    help: str
    secret: bool


def setting_rows(cls: type[Any]) -> list[SettingRow]:
    """The profile keys of an attrs settings class, in declaration order."""
    if not attrs.has(cls):
        return []
    rows = []
    for field in attrs.fields(cls):
        type_text = field.type if isinstance(field.type, str) else _type_name(field.type)
        rows.append(SettingRow(
            key=field.alias or field.name,
            type=type_text,
            default=_default_text(field.default),
            help=str(field.metadata.get("help", "")),
            secret="Secret" in type_text,
        ))
    return rows


def _type_name(annotation: Any) -> str:
    if annotation is None:
        return ""
    name = getattr(annotation, "__name__", None)
    return name if isinstance(name, str) else str(annotation).replace("typing.", "")


def _default_text(default: Any) -> str:
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return "computed"
    if default is None:
        return "none"
    if isinstance(default, bool):
        return "`true`" if default else "`false`"
    if isinstance(default, str):
        return f'`"{default}"`'
    value = getattr(default, "value", default)  # an Enum's TOML spelling
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[SettingRow]) -> list[str]:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for row in rows:
        kind = f"`{_cell(row.type)}`" + (" (secret reference)" if row.secret else "")
        lines.append(f"| `{row.key}` | {kind} | {_cell(row.default)} | {_cell(row.help)} |")
    return lines


def installed_plugins() -> Any:
    """The plugin host with every installed plugin loaded (as ``brokerauth plugins`` does)."""
    from brokerauth.engine.pluginhost import PluginHost

    host = PluginHost.create()
    host.load_all()
    return host


def profiles_reference(host: Any | None = None, common: str | None = None) -> str:
    """The Markdown of the profiles reference page; ``common`` is the section on the keys every
    profile has (README.md's "Profile keys", links already made site links)."""
    host = host or installed_plugins()
    if common is None:
        common = shift_headings(section(read("README.md"), "Profile keys"), top=2)
    out = [
        "# Profiles reference",
        "",
        "Generated from the installed plugins' settings classes when the site is built: the "
        "keys below are exactly what `brokerauth init` asks for and what a profile's table in "
        "`brokerauth.toml` may hold. Secrets are references, `{ env = \"NAME\" }` or "
        "`{ file = \"path\" }`, never values.",
        "",
        common.rstrip(),
        "",
        "## Brokers",
        "",
    ]
    for broker_id, (spec, owner) in sorted(host.brokers.items()):
        loaded = host.loaded.get(owner)
        distribution = f"`{loaded.distribution}` {loaded.version}" if loaded else f"`{owner}`"
        out += [f"### `{broker_id}`", ""]
        if spec.description:
            out += [spec.description, ""]
        out += [f"From {distribution}. Default strategies: signer `{spec.signer}`, "
                f"flow `{spec.flow}`, store `{spec.store}`.", ""]
        if spec.environments:
            out += ["Environments: " + ", ".join(
                f"`{e.name}`" + (f" ({_cell(e.description)})" if e.description else "")
                for e in spec.environments) + ".", ""]
        for budget in spec.token_budgets:
            out += [f"Token-request limit `{budget.name}`: {budget.calls} per {budget.per:g} s "
                    f"per {'app key' if budget.scope == 'app' else 'user'}.", ""]
        name = broker_id.replace("_", "-")
        out += [f'```toml\n[profiles.my-{name}]\nbroker = "{broker_id}"\n```', ""]
        out += [*_table(setting_rows(spec.settings)), ""]

    out += ["## Strategies", "",
            "A profile's `signer`, `flow`, `store` and `notify` name one of these, as "
            "`\"name\"` or `{ name = \"...\", option = ... }` with the options listed.", ""]
    for (kind, name), (strategy, owner) in sorted(host.strategies.items()):
        out += [f"### {kind} `{name}`", "", f"From plugin `{owner}`. {_cell(strategy.description)}",
                ""]
        if strategy.needs:
            out += ["Reads the settings " + ", ".join(f"`{n}`" for n in strategy.needs) + ".", ""]
        if strategy.options is not None:
            out += [*_table(setting_rows(strategy.options)), ""]
    return "\n".join(out).rstrip() + "\n"
