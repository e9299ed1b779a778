"""
C{twistd chat}'s command line: every option, and its merge with the
configuration file (L{load_settings}), checked before anything starts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from twisted.python import usage

from twisted_chat.daemon.config import (
    BY_NAME,
    PARAMETERS,
    ConfigError,
    check_endpoint,
    load_settings,
)
from twisted_chat.frontends.web.origin import check_origin


class Options(usage.Options):
    """
    Options of C{twistd chat}.

    Guarantees: a bad value stops start-up with one line on stderr naming
    it, and exit status 1, instead of twistd's full usage text.
    """

    synopsis = "[options]"
    longdesc = (
        "A line chat for telnet, nc and the twisted_chat client: every line a "
        "person types reaches everyone else in the room."
    )
    optParameters: ClassVar[list[list[object]]] = [
        [p.name, None, p.default, p.help, p.coerce] for p in PARAMETERS
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []
        self["config"] = None
        self._web_origins: list[str] = []
        #: The options given on the command line: they win over the file.
        self.given: dict[str, Any] = {}

    def opt_config(self, path: str) -> None:
        """
        Read settings from this TOML file (any option of twistd chat, by
        name); the command line wins. SIGHUP reads it again.
        """
        self["config"] = path

    opt_config.__doc__ = " ".join((opt_config.__doc__ or "").split())

    def opt_port(self, value: str) -> None:
        """
        Where to listen: a port number (TCP on all interfaces, listen
        backlog 1024) or a Twisted endpoint description
        (tcp:5000:interface=127.0.0.1, tcp6:5000, unix:/path/chat.sock,
        ssl:..., systemd:...; add :backlog=N to a tcp one for many clients
        joining at once). Repeat to listen on several. [default: 5000]
        """
        try:
            self["port"].append(check_endpoint(value))
        except ValueError as error:
            raise usage.UsageError(str(error)) from None

    # usage.Options shows a docstring as is; fold it into one paragraph.
    opt_port.__doc__ = " ".join((opt_port.__doc__ or "").split())
    opt_p = opt_port

    def opt_web_origin(self, value: str) -> None:
        """
        The origin of another page that may open the chat's WebSocket
        (e.g. https://chat.example.org); repeat for several. The page's own
        origin always may.
        """
        try:
            self._web_origins.append(check_origin(value))
        except ValueError as error:
            raise usage.UsageError(str(error)) from None

    opt_web_origin.__doc__ = " ".join((opt_web_origin.__doc__ or "").split())

    def postOptions(self) -> None:
        for name in self.given:
            self.given[name] = self[name]
        if self["port"]:
            self.given["port"] = self["port"]
        if self._web_origins:
            self.given["web-origins"] = [
                *(self.given.get("web-origins") or []),
                *self._web_origins,
            ]
        try:
            settings = load_settings(self["config"], self.given)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        for name, value in settings.items():
            self[name] = value

    def settings(self) -> dict[str, Any]:
        """Every setting in force since start-up, C{port} included."""
        names = [parameter.name for parameter in PARAMETERS]
        return {name: self[name] for name in [*names, "port"]}

    def _long_option(self, name: str) -> str:
        """The option C{--name} means: getopt takes a unique prefix too."""
        names = [option.rstrip("=") for option in self.longOpt]
        if name in names:
            return name
        matches = [option for option in names if option.startswith(name)]
        return matches[0] if len(matches) == 1 else name

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        arguments = list(sys.argv[1:] if options is None else options)
        for argument in arguments:
            if argument.startswith("--") and argument != "--":
                name = self._long_option(argument[2:].split("=", 1)[0])
                if name in BY_NAME:
                    self.given[name] = None  # postOptions fills the value in
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            reason = str(error).removeprefix("Parameter type enforcement failed: ")
            sys.stderr.write(f"twistd chat: {reason}\n")
            raise SystemExit(1) from None
