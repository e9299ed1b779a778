"""
The daemon's settings: every C{twistd chat} option, its default and how its
value is checked, and reading them from a TOML configuration file.

One table (L{PARAMETERS}) serves the command line and the file, so the two
accept the same names and refuse bad values with the same words; one merge
(L{load_settings}: defaults, then the file, then the command line) serves
start-up and SIGHUP, so a reload checks and applies exactly what a restart
would.
"""

from __future__ import annotations

import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet.endpoints import serverFromString

from twisted_chat.backplane.address import RedisURLError, parse_redis_url
from twisted_chat.core.hub import DEFAULT_ROOM
from twisted_chat.core.limits import Limits
from twisted_chat.core.room import ROOM_HELP, room_name
from twisted_chat.frontends.web.origin import check_origins
from twisted_chat.names import NAME_HELP, NAME_RULE
from twisted_chat.text import TLS_MISSING, clean_text


class ConfigError(Exception):
    """A configuration file that cannot be used; the message is one line."""


#: Connections the kernel may complete before the daemon accepts them; the
#: usual 50 drops SYNs (a 1 s retry each) when hundreds join at once.
LISTEN_BACKLOG = 1024
DEFAULT_PORT = f"tcp:5000:backlog={LISTEN_BACKLOG}"
#: Settings a running daemon cannot change: it listens once, at start-up.
RESTART_ONLY = (
    "port",
    "metrics",
    "history-db",
    "redis",
    "node-name",
    "claim-expiry",
    "web",
    "web-origins",
)


def endpoint_description(value: str) -> str:
    """
    A bare port number means TCP on all interfaces, with a listen backlog of
    L{LISTEN_BACKLOG}; anything else is as given.
    """
    return f"tcp:{value}:backlog={LISTEN_BACKLOG}" if value.isdigit() else value


def check_endpoint(value: str, option: str = "port") -> str:
    """
    The endpoint description for a --port (or --metrics) value.

    @raise ValueError: one line naming the option, the value and the reason.
    """
    from twisted.internet import reactor

    description = endpoint_description(value)
    try:
        serverFromString(reactor, description)
    except Exception as error:
        reason = str(error)
        if description.startswith("ssl:") and isinstance(error, ImportError):
            reason = TLS_MISSING
        elif description.startswith("systemd:") and isinstance(
            error, IndexError | KeyError
        ):
            reason = (
                "no socket inherited from systemd by that index or name "
                "(LISTEN_FDS, LISTEN_FDNAMES)"
            )
        raise ValueError(f"invalid --{option} {value!r}: {reason}") from None
    return description


def _metrics_endpoint(value: str) -> str:
    return check_endpoint(value, "metrics")


def _redis_url(value: str) -> str:
    try:
        address = parse_redis_url(value)
    except RedisURLError as error:
        raise ValueError(f"--redis: {error}") from None
    if address.tls:
        try:
            import OpenSSL  # noqa: F401  (Twisted's TLS client needs it)
        except ImportError:
            raise ValueError(f"--redis {address}: {TLS_MISSING}") from None
    return value


_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _node_name(value: str) -> str:
    if not _NODE_NAME.fullmatch(value):
        raise ValueError(
            f"--node-name takes 1 to 64 letters, digits, '.', '_' or '-', not {value!r}"
        )
    return value


def _web_endpoint(value: str) -> str:
    return check_endpoint(value, "web")


def number(option: str, kind: type[int] | type[float], minimum: float = 0) -> Any:
    """A coercer for a numeric option that names the option when it refuses."""
    what = "a whole number" if kind is int else "a number"

    def coerce(value: str) -> int | float:
        try:
            result = kind(value)
        except ValueError:
            result = minimum - 1
        if not result >= minimum:  # also refuses NaN
            raise ValueError(
                f"--{option} takes {what}, {minimum:g} or more, not {value!r}"
            )
        return result

    coerce.coerceDoc = f"{what.capitalize()}, {minimum:g} or more."  # type: ignore[attr-defined]
    return coerce


def _room(value: str) -> str:
    name = room_name(value)
    if name is None:
        raise ValueError(
            f"--default-room takes a room name ({ROOM_HELP}), not {value!r}"
        )
    return name


def _rooms(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    bad = [name for name in names if room_name(name) is None]
    if bad:
        raise ValueError(
            f"--rooms takes room names ({ROOM_HELP}), separated by commas, "
            f"not {bad[0]!r}"
        )
    return [name.removeprefix("#") for name in names]


def _switch(option: str) -> Callable[[str], bool]:
    def coerce(value: str) -> bool:
        if value.lower() in ("on", "yes", "true", "1"):
            return True
        if value.lower() in ("off", "no", "false", "0"):
            return False
        raise ValueError(f"--{option} takes on or off, not {value!r}")

    return coerce


def _names(value: str) -> list[str]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    bad = [
        name
        for name in names
        if not NAME_RULE.fullmatch(name) or re.fullmatch(r"guest\d+", name, re.I)
    ]
    if bad:
        raise ValueError(
            f"--operators takes names ({NAME_HELP}), separated by commas, "
            f"not {bad[0]!r}"
        )
    return names


@dataclass(frozen=True)
class Parameter:
    """One option: name, default, help, and the function that checks a value."""

    name: str
    default: object
    help: str
    coerce: Callable[[str], object] = str


PARAMETERS = (
    Parameter("server-name", socket.gethostname(), "The name the greeting shows."),
    Parameter(
        "max-line-length",
        Limits.max_line_length,
        "Longest line accepted, in bytes; a longer one is refused with a notice.",
        number("max-line-length", int, 1),
    ),
    Parameter(
        "rate",
        Limits.rate,
        "Lines per second one client may send (0: no flood control).",
        number("rate", float),
    ),
    Parameter(
        "burst",
        Limits.burst,
        "Lines one client may send at once before --rate applies.",
        number("burst", int, 1),
    ),
    Parameter(
        "flood-timeout",
        Limits.flood_timeout,
        "Seconds a client may flood without pause before it is disconnected.",
        number("flood-timeout", float, 1),
    ),
    Parameter(
        "max-queue",
        Limits.max_queue,
        "Bytes of output queued for a client that does not read before it "
        "is disconnected (0: no cap).",
        number("max-queue", int),
    ),
    Parameter(
        "max-clients",
        Limits.max_clients,
        "Connections in all (0: no limit).",
        number("max-clients", int),
    ),
    Parameter(
        "max-per-ip",
        Limits.max_per_ip,
        "Connections from one IP address (0: no limit).",
        number("max-per-ip", int),
    ),
    Parameter(
        "announce-limit",
        100,
        "Above this many people, joins and leaves are not announced "
        "(0: always announced).",
        number("announce-limit", int),
    ),
    Parameter(
        "idle-timeout",
        Limits.idle_timeout,
        "Seconds a client may send nothing before it is disconnected (0: off).",
        number("idle-timeout", float),
    ),
    Parameter(
        "keepalive",
        Limits.keepalive,
        "Seconds of silence before TCP checks that a client is still there; "
        "one that does not answer is dropped after 3 times as long (0: off).",
        number("keepalive", float),
    ),
    Parameter(
        "motd", None, "A file whose text every newcomer sees after the greeting."
    ),
    Parameter("default-room", DEFAULT_ROOM, "The room everyone starts in.", _room),
    Parameter(
        "rooms",
        [],
        "Rooms that always exist, even when empty, separated by commas "
        "(in the file: a list).",
        _rooms,
    ),
    Parameter(
        "max-rooms",
        1000,
        "How many rooms may exist at once (0: no limit).",
        number("max-rooms", int),
    ),
    Parameter(
        "history",
        50,
        "Lines each room keeps and shows a newcomer (0: none).",
        number("history", int),
    ),
    Parameter(
        "history-total",
        50_000,
        "Lines all rooms together keep in memory; past it the oldest go "
        "(0: no limit but each room's).",
        number("history-total", int),
    ),
    Parameter(
        "history-db",
        None,
        "Keep history (and topics) in this SQLite file, so a restart loses "
        "nothing; without it, history is in memory only.",
    ),
    Parameter(
        "accounts",
        True,
        "on: people may register their names (/register, /login); off: "
        "names are first come, first served.",
        _switch("accounts"),
    ),
    Parameter(
        "operators",
        [],
        "Registered names that are server operators, separated by commas "
        "(in the file: a list).",
        _names,
    ),
    Parameter(
        "history-max-age",
        0.0,
        "Days after which lines are dropped from --history-db (0: never).",
        number("history-max-age", float),
    ),
    Parameter(
        "redis",
        None,
        "Link with every daemon using this Redis: redis://[:PASSWORD@]HOST"
        "[:PORT][/DB] (rediss:// for TLS). History, accounts and bans are "
        "then kept in Redis, not in --history-db.",
        _redis_url,
    ),
    Parameter(
        "node-name",
        socket.gethostname(),
        "This daemon's name among linked daemons (each needs its own).",
        _node_name,
    ),
    Parameter(
        "claim-expiry",
        15.0,
        "Seconds after which a linked daemon that stopped answering counts "
        "as gone, its people shown as gone and their names freed.",
        number("claim-expiry", float, 1),
    ),
    Parameter(
        "metrics",
        None,
        "Serve Prometheus metrics at /metrics on this endpoint "
        "(e.g. tcp:9100:interface=127.0.0.1).",
        _metrics_endpoint,
    ),
    Parameter(
        "web",
        None,
        "Serve the chat page at / and its WebSocket at /ws on this endpoint "
        "(e.g. tcp:8080, or ssl:8443:privateKey=key.pem:certKey=cert.pem).",
        _web_endpoint,
    ),
    Parameter(
        "web-origins",
        [],
        "Origins of other pages that may open the chat's WebSocket "
        "(e.g. https://chat.example.org), separated by commas (in the file: "
        "a list); the page's own origin always may.",
        check_origins,
    ),
)
BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}


def limits_from(settings: Mapping[str, Any]) -> Limits:
    """The L{Limits} that C{settings} (option name to value) describe."""
    return Limits(
        max_line_length=settings["max-line-length"],
        max_queue=settings["max-queue"],
        rate=settings["rate"],
        burst=settings["burst"],
        flood_timeout=settings["flood-timeout"],
        max_clients=settings["max-clients"],
        max_per_ip=settings["max-per-ip"],
        idle_timeout=settings["idle-timeout"],
        keepalive=settings["keepalive"],
    )


def _line_of(source: str, key: str) -> int | None:
    for number_, line in enumerate(source.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number_
    return None


def read_config(path: str) -> dict[str, Any]:
    """
    The settings in the TOML file at C{path}, checked like the command line.

    Keys are option names (C{max-per-ip}, or C{max_per_ip}); C{port} is one
    endpoint or a list of them; C{motd} is relative to the file's folder.

    @raise ConfigError: naming the file, the line where known, and the problem.
    """
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{path}: {getattr(error, 'strerror', None) or error}"
        ) from None
    try:
        table = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    settings: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("_", "-")
        line = _line_of(source, key)
        where = f"{path}, line {line}" if line else path
        if name == "port":
            ports = value if isinstance(value, list) else [value]
            if not ports or not all(isinstance(p, str | int) for p in ports):
                raise ConfigError(f"{where}: port takes an endpoint or a list of them")
            try:
                settings["port"] = [check_endpoint(str(p)) for p in ports]
            except ValueError as error:
                raise ConfigError(f"{where}: {_unflagged(error)}") from None
            continue
        parameter = BY_NAME.get(name)
        if parameter is None:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        if name in ("rooms", "operators", "web-origins") and isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ConfigError(f"{where}: {key} takes a list of names")
            value = ",".join(value) or ","
        if name == "accounts" and isinstance(value, bool):
            value = "on" if value else "off"
        if isinstance(value, dict | list | bool):
            raise ConfigError(f"{where}: {key} cannot be {type(value).__name__}")
        try:
            settings[name] = parameter.coerce(str(value))
        except ValueError as error:
            raise ConfigError(f"{where}: {_unflagged(error)}") from None
        if name in ("motd", "history-db"):
            settings[name] = str(Path(path).parent / str(value))
    return settings


def _unflagged(error: ValueError) -> str:
    """A refusal worded for the command line (C{--rate ...}), for a file."""
    return str(error).replace("--", "", 1)


def load_settings(path: str | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """
    Every setting (option name to checked value, C{port} a list of endpoint
    descriptions): the defaults, overridden by the file at C{path} (if any),
    overridden by C{given} (the command line). Start-up and SIGHUP both
    call this, so both check and merge the same way.

    @raise ConfigError: the file cannot be used; nothing is half-merged.
    """
    settings: dict[str, Any] = {p.name: p.default for p in PARAMETERS}
    settings["port"] = [DEFAULT_PORT]
    settings.update(read_config(path) if path else {})
    settings.update(given)
    return settings


def read_motd(path: str | None) -> list[str]:
    """The message of the day, one entry per line; none without a file."""
    if not path:
        return []
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"--motd {path}: {error.strerror or error}") from None
    return [clean_text(line) for line in raw.splitlines()]
