"""
The daemon: what C{twistd chat} is made of around the chat itself.

L{options} (the command line), L{config} (every setting, its check and the
TOML file), L{service} (the listening ports, reload on SIGHUP, shutdown, and
L{service.makeService}), L{signals} (handlers that run in the reactor),
L{metrics} (Prometheus) and L{logs} (JSON-lines observers for
C{twistd --logger}).

Nothing is imported here, so importing one module (the client uses
L{signals}) does not import the others.
"""
