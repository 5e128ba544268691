"""Composition root: settings, wiring, ASGI app, CLI. The only package that imports everything."""
