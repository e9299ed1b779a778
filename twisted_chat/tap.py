"""
C{twistd chat}: what the plugin names; everything lives in L{twisted_chat.daemon}.
"""

from twisted_chat.daemon.options import Options
from twisted_chat.daemon.service import makeService

__all__ = ["Options", "makeService"]
