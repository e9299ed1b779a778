"""C{python -m twisted_chat.client}: runs L{twisted_chat.client.main.main}."""

from twisted_chat.client.main import main

main()
