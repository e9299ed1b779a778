"""
The ways in: each front end frames its input and renders the core's events
in its own format, over a L{twisted_chat.session.Session}.
"""
