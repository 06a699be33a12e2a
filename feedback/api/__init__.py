"""REST API of the feedback app (``views``: the doors; ``serializers``: the shapes)."""
