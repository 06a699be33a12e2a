"""REST API of the feedback app, one module per domain: ``projects`` (projects and
members), ``items`` (items, responses, skips, the next-item lease), ``judgements`` and
``export``.

Thin doors: every view under a project derives from ``feedback.api.base.ProjectView``,
which resolves the project and the caller's role once (404 for outsiders, 403 for members
without the role); input serializers check types; ``feedback.selectors`` scope every
queryset to what the user may see; the services do the work, with the same rules as the
pages.
"""

from feedback.api.views.export import ExportView
from feedback.api.views.items import (
    ItemDetailView,
    ItemImportView,
    ItemListView,
    ItemSkipView,
    NextView,
    ResponseListView,
)
from feedback.api.views.judgements import (
    JudgementDetailView,
    JudgementSubmitView,
    ProjectJudgementListView,
)
from feedback.api.views.projects import (
    MemberDetailView,
    MemberListView,
    ProjectDetailView,
    ProjectListView,
)

__all__ = [
    "ExportView",
    "ItemDetailView",
    "ItemImportView",
    "ItemListView",
    "ItemSkipView",
    "JudgementDetailView",
    "JudgementSubmitView",
    "MemberDetailView",
    "MemberListView",
    "NextView",
    "ProjectDetailView",
    "ProjectJudgementListView",
    "ProjectListView",
    "ResponseListView",
]
