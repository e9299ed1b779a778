"""
Socket activation without systemd, for the tests: bind a listening socket,
put it on descriptor 3, set LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES as
systemd does, print the port, and exec the command given.

    python systemd_launcher.py HOST NAME COMMAND...
"""

from __future__ import annotations

import os
import socket
import sys


def main() -> None:
    host, name, *command = sys.argv[1:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(1024)
    if listener.fileno() != 3:
        os.dup2(listener.fileno(), 3)
        listener.close()
    os.set_inheritable(3, True)
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=name)
    print(socket.socket(fileno=os.dup(3)).getsockname()[1], flush=True)
    os.execv(command[0], command)  # the same process: LISTEN_PID stays true


if __name__ == "__main__":
    main()
