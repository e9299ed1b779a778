"""
The browser page: C{--web} serves, with C{twisted.web}, a chat page at C{/}
and a WebSocket at C{/ws} that speaks the core's events as JSON.

Importing this package costs nothing: C{twisted.web} and C{wsproto} are
loaded by L{twisted_chat.frontends.web.listener}, only when C{--web} is
given.
"""
