"""Fakes at the wire: devices and servers our code talks to over a socket."""
