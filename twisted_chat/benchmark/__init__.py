"""
C{python -m twisted_chat.benchmark}: measure a line-chat server under load.

L{load} drives the clients; L{__main__} starts the daemon (or targets any
server on host:port), runs the load and reports.
"""
