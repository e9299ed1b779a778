"""
C{python -m twisted_chat.benchmark}: measure a line-chat server under load.

L{options} checks the command line; L{connect} paces the connects;
L{clients} and L{load} drive the clients; L{analysis} checks what arrived;
L{__main__} starts the daemon (or targets any server on host:port), runs the
load and reports. L{nodes} starts a redis-server and daemons linked through
it (C{--nodes K}), and L{spread} spreads the clients over linked daemons;
L{proc} reads a process's CPU time and memory.
"""
