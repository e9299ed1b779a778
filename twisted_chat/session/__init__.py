"""
One person connected, whatever the front end: a L{Session} over any
transport that takes a registered producer, with the output cap,
back-pressure, flood control, admission and the idle timeout.
"""
