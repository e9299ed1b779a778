"""Makes C{twistd chat} available; everything else lives in L{twisted_chat}."""

from twisted.application.service import ServiceMaker

chat = ServiceMaker(
    "twisted_chat",
    "twisted_chat.tap",
    "A line chat for telnet, nc and the twisted_chat client.",
    "chat",
)
