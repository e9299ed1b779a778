"""Telnet and nc: lines of UTF-8 text over a byte stream."""
