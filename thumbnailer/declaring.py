"""Settings declared once: the mechanism behind thumbnailer/config.py and localdev/settings.py.

A setting is one field of a settings class (a NamedTuple), declared with ``setting(variable,
default, description, parser)``: the field's name and type, the environment variable,
its default, what the documentation says and how its text is parsed, in one place (as
functions-framework's click options carry their envvar, type and default). ``@declared``
puts each field's parsed default in place of its declaration, so ``ImagingSettings()``
is the defaults, and records the declarations; everything else is derived from them:
``read`` (settings from an environment), ``variables`` (the configuration tables in
docs/, deploy's list of variables to pass).
"""

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar, get_args


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Setting(NamedTuple):
    """One environment variable: its name, default (None: required), description and parser."""

    variable: str
    default: str | None
    description: str
    parse: Callable[[str], Any]

    def read(self, environ: Mapping[str, str]) -> Any:
        raw = environ.get(self.variable)
        if raw is None or raw == "":
            if self.default is None:
                raise ConfigError(f"{self.variable} is required: {self.description}")
            raw = self.default
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{self.variable}: {error}") from None

    def default_value(self) -> Any:
        assert self.default is not None, f"{self.variable} has no default"
        return self.parse(self.default)


def setting(variable: str, default: str | None, description: str, parse: Callable[[str], Any]) -> Any:
    """A field's declaration, as its default (``= setting(...)``), or for a required one in
    its annotation (``Annotated[str, setting(...)]``). Typed Any so it may stand for a default
    of any type until ``@declared`` puts the parsed default in its place."""
    return Setting(variable, default, description, parse)


Declared = TypeVar("Declared", bound=tuple[Any, ...])


def declared(cls: type[Declared]) -> type[Declared]:
    """Record a NamedTuple's settings and give each field its parsed default."""
    # The annotations as written (the modules declaring settings do not postpone them), read
    # directly: typing.get_type_hints would evaluate each again, at every start-up.
    hints = cls.__annotations__
    settings: dict[str, Setting] = {}
    for name in cls._fields:  # type: ignore[attr-defined]
        default = cls._field_defaults.get(name)  # type: ignore[attr-defined]
        annotated = [item for item in get_args(hints[name])[1:] if isinstance(item, Setting)]
        if isinstance(default, Setting) or annotated:
            settings[name] = default if isinstance(default, Setting) else annotated[0]
    defaults = {
        name: value.default_value() if isinstance(value, Setting) else value
        for name, value in cls._field_defaults.items()  # type: ignore[attr-defined]
    }
    cls.__new__.__defaults__ = tuple(defaults.values())
    cls._field_defaults = defaults  # type: ignore[attr-defined]
    cls.__settings__ = settings  # type: ignore[attr-defined]
    return cls


def declaration(cls: type[tuple[Any, ...]], field: str) -> Setting:
    """The declaration of one field of a settings class."""
    found: Setting = cls.__settings__[field]  # type: ignore[attr-defined]
    return found


def _groups(cls: type[tuple[Any, ...]]) -> dict[str, type[tuple[Any, ...]]]:
    """The fields that are settings classes of their own (``Settings.imaging``)."""
    return {name: hint for name, hint in cls.__annotations__.items() if hasattr(hint, "__settings__")}


def read(cls: type[Declared], environ: Mapping[str, str]) -> Declared:
    """The settings of ``cls`` (and its groups) from ``environ``; ConfigError names a bad one."""
    values = {name: declaration.read(environ) for name, declaration in cls.__settings__.items()}  # type: ignore[attr-defined]
    values |= {name: read(group, environ) for name, group in _groups(cls).items()}
    return cls(**values)


def variables(cls: type[tuple[Any, ...]]) -> Iterator[Setting]:
    """Every setting of ``cls``, its groups' in place, in declaration order."""
    groups = _groups(cls)
    for name in cls._fields:  # type: ignore[attr-defined]
        if name in groups:
            yield from variables(groups[name])
        elif name in cls.__settings__:  # type: ignore[attr-defined]
            yield cls.__settings__[name]  # type: ignore[attr-defined]


def markdown_table(cls: type[tuple[Any, ...]]) -> str:
    """A configuration table for docs/, generated so it cannot drift from the code."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for declaration in variables(cls):
        default = "*(required)*" if declaration.default is None else f"`{declaration.default}`"
        if declaration.default == "":
            default = "*(empty)*"
        rows.append(f"| `{declaration.variable}` | {default} | {declaration.description} |")
    return "\n".join(rows)
