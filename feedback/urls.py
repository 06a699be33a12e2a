"""Page URLs of the feedback app (the annotator workspace).

``/p/<slug>/next/``, ``.../judgement/`` and ``.../skip/`` are the small JSON endpoints
the workspace script calls; they call the same services as the REST API.
"""

from django.contrib.auth import views as auth_views
from django.urls import path

from core.logout import LogoutView
from feedback.views import agreement, dashboard, data, leaderboard, projects, review, workspace

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="feedback/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("", workspace.home, name="home"),
    path("p/<slug:slug>/", workspace.annotate, name="annotate"),
    path("p/<slug:slug>/next/", workspace.next_item, name="next-item"),
    path("p/<slug:slug>/judgements/", workspace.judgement_list, name="judgements"),
    path("p/<slug:slug>/dashboard/", dashboard.dashboard, name="dashboard"),
    path("p/<slug:slug>/leaderboard/", leaderboard.leaderboard, name="leaderboard"),
    path("p/<slug:slug>/agreement/", agreement.agreement, name="agreement"),
    path("p/<slug:slug>/review/", review.review, name="review"),
    path(
        "p/<slug:slug>/review/judgements/<int:judgement_id>/",
        review.review_judgement,
        name="review-judgement",
    ),
    path("p/<slug:slug>/items/<int:item_id>/", workspace.item_page, name="item"),
    path(
        "p/<slug:slug>/items/<int:item_id>/judgement/",
        workspace.judgement_post,
        name="judgement-submit",
    ),
    path("p/<slug:slug>/items/<int:item_id>/skip/", workspace.skip_post, name="item-skip"),
    path("p/<slug:slug>/items/<int:item_id>/reopen/", workspace.item_reopen, name="item-reopen"),
    path("projects/", projects.projects_manage, name="projects-manage"),
    path("projects/new/", projects.project_new, name="project-new"),
    path("markdown/preview/", projects.markdown_preview, name="markdown-preview"),
    path("p/<slug:slug>/settings/", projects.project_settings, name="project-settings"),
    path("p/<slug:slug>/members/", projects.project_members, name="project-members"),
    path("p/<slug:slug>/import/", data.project_import, name="project-import"),
    path("p/<slug:slug>/export/", data.project_export, name="project-export"),
]
