"""Every URL under /api/: the feedback and training APIs, the token, the OpenAPI schema
and its offline docs, and a JSON 404 for anything else."""

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.api import TokenView, error_body
from feedback.api import imports as feedback_imports
from feedback.api import views as feedback
from feedback.api.agreement import AgreementView
from feedback.api.gold import ItemGoldView
from feedback.api.leaderboard import LeaderboardView
from feedback.api.review import JudgementReviewView
from training import api as training


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return JsonResponse(error_body("not_found", f"No API endpoint /api/{rest}."), status=404)


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("token/", TokenView.as_view(), name="api-token"),
    path("projects/", feedback.ProjectListView.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", feedback.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<slug:slug>/members/", feedback.MemberListView.as_view()),
    path("projects/<slug:slug>/members/<str:username>/", feedback.MemberDetailView.as_view()),
    path("projects/<slug:slug>/items/", feedback.ItemListView.as_view(), name="api-items"),
    path("projects/<slug:slug>/items/import/", feedback.ItemImportView.as_view()),
    path("projects/<slug:slug>/imports/", feedback_imports.ImportJobListView.as_view()),
    path(
        "projects/<slug:slug>/imports/<int:job_id>/",
        feedback_imports.ImportJobDetailView.as_view(),
        name="api-import",
    ),
    path("projects/<slug:slug>/items/<int:item_id>/", feedback.ItemDetailView.as_view()),
    path(
        "projects/<slug:slug>/items/<int:item_id>/responses/",
        feedback.ResponseListView.as_view(),
    ),
    path("projects/<slug:slug>/items/<int:item_id>/skip/", feedback.ItemSkipView.as_view()),
    path("projects/<slug:slug>/items/<int:item_id>/gold/", ItemGoldView.as_view()),
    path("projects/<slug:slug>/next/", feedback.NextView.as_view(), name="api-next"),
    path("projects/<slug:slug>/judgements/", feedback.ProjectJudgementListView.as_view()),
    path(
        "projects/<slug:slug>/judgements/<int:judgement_id>/review/",
        JudgementReviewView.as_view(),
        name="api-judgement-review",
    ),
    path("projects/<slug:slug>/export/", feedback.ExportView.as_view(), name="api-export"),
    path("projects/<slug:slug>/leaderboard/", LeaderboardView.as_view(), name="api-leaderboard"),
    path("projects/<slug:slug>/agreement/", AgreementView.as_view(), name="api-agreement"),
    path("projects/<slug:slug>/snapshots/", training.SnapshotListView.as_view()),
    path(
        "projects/<slug:slug>/snapshots/<int:snapshot_id>/",
        training.SnapshotDetailView.as_view(),
    ),
    path(
        "projects/<slug:slug>/snapshots/<int:snapshot_id>/download/",
        training.SnapshotDownloadView.as_view(),
    ),
    path("projects/<slug:slug>/retrain-policy/", training.RetrainPolicyDetail.as_view()),
    path("projects/<slug:slug>/retrain-policy/check/", training.RetrainCheckNow.as_view()),
    path("jobs/", training.JobListCreate.as_view(), name="api-jobs"),
    path("jobs/kinds/", training.JobKinds.as_view(), name="api-job-kinds"),
    path("jobs/<int:job_id>/", training.JobDetail.as_view(), name="api-job"),
    path("jobs/<int:job_id>/cancel/", training.JobCancel.as_view(), name="api-job-cancel"),
    path("jobs/<int:job_id>/retry/", training.JobRetry.as_view(), name="api-job-retry"),
    path("models/", training.ModelList.as_view(), name="api-models"),
    path("models/rollback/", training.ModelRollback.as_view(), name="api-model-rollback"),
    path("models/<int:version_id>/", training.ModelDetail.as_view(), name="api-model"),
    path("models/<int:version_id>/promote/", training.ModelPromote.as_view()),
    path(
        "models/<int:version_id>/download/",
        training.ModelDownload.as_view(),
        name="api-model-download",
    ),
    path("judgements/", feedback.JudgementSubmitView.as_view(), name="api-judgements"),
    path("judgements/<int:judgement_id>/", feedback.JudgementDetailView.as_view()),
    re_path(r"^(?P<rest>[\s\S]*)$", api_not_found),
]
