"""
The chat itself, with no sockets and no reactor: rooms, the hub of rooms
and names, what happens as events, and the commands.

Front ends (the line protocol, later a browser page) join people to the
hub as members and render its events in their own format.
"""
