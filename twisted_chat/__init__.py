"""
twisted_chat: a line chat daemon on Twisted, for telnet, nc and its own client.
"""

__version__ = "0.1.0"
