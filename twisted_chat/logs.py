"""
The older path of the JSON-lines log observers, kept so that
C{twistd --logger twisted_chat.logs.json_file} (or C{json_stdout}) still
works; they live in L{twisted_chat.daemon.logs}.
"""

from twisted_chat.daemon.logs import json_file, json_stdout

__all__ = ["json_file", "json_stdout"]
