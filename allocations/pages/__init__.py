"""The dashboard: server-rendered pages for every role, their charts' JSON and the controls.

Like ``api`` and ``admin`` it reads through ``allocations.selectors`` and writes through
``allocations.services``, with the same per-portfolio permission checks as the API.
"""
