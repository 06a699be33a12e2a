"""Snapshot tests use the export tests' data builders."""

from tests.feedback.export.conftest import annotators, judge, make_item, project

__all__ = ["annotators", "judge", "make_item", "project"]
