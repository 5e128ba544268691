"""The agent desktop, the supervisor wallboard and the admin console (issue 5).

Server-rendered page shells with plain ES modules (ADR 0009); the JSON the screens need
beyond the domain APIs lives under /api/v1/desktop. `routes.router` is what the ASGI app
includes.
"""
