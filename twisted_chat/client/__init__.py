"""
The terminal client: C{python -m twisted_chat.client HOST [PORT]}.

Its modules, each one idea:

  - L{main}: the command line, the terminal's modes, start and end
  - L{session}: the connection, reconnection with back-off, the name the
    server confirmed
  - L{script}: plain mode for scripts: every line sent, the exit status
  - L{pacing}: the server's limits, and the token bucket that keeps within them
  - L{tls}: the TLS settings and one line for each way a connection fails
  - L{keyboard}: keys and escape sequences from the terminal, the window's size
  - L{terminal}: the screen on a terminal (C{twisted.conch.insults})
  - L{input_line}: the line being typed: editing and history
  - L{style}: colours by name; the server's notices and its history set apart
  - L{testing}: an in-memory fake server, for testing code built on the client

The client shares only the line formats and the cleaning of text
(L{twisted_chat.text}) with the rest of the package: it never imports the
server's modules, so it cannot come to depend on how the server works
inside, only on what it sends.
"""
