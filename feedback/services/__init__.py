"""Writes of the feedback app, one module per domain (imports, judgements, assignments, projects).

Every door (pages, API, management commands, tasks) calls these; none writes on its own.
"""
