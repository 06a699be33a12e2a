"""Pages of the annotator workspace: thin doors onto feedback.services and selectors.

``workspace`` holds the annotator's pages and the small JSON endpoints their script
calls (``/p/<slug>/...``); ``dashboard`` the project admins' page.
"""
