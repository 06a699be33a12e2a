"""URLs of the training app: the JSON API under /api/ and the pages under /training/."""

from django.urls import path

from training import api, views

urlpatterns = [
    path("api/jobs/", api.JobListCreate.as_view(), name="api-jobs"),
    path("api/jobs/kinds/", api.JobKinds.as_view(), name="api-job-kinds"),
    path("api/jobs/<int:job_id>/", api.JobDetail.as_view(), name="api-job"),
    path("api/jobs/<int:job_id>/cancel/", api.JobCancel.as_view(), name="api-job-cancel"),
    path("api/jobs/<int:job_id>/retry/", api.JobRetry.as_view(), name="api-job-retry"),
    path("api/models/", api.ModelList.as_view(), name="api-models"),
    path("api/models/rollback/", api.ModelRollback.as_view(), name="api-model-rollback"),
    path("api/models/<int:version_id>/", api.ModelDetail.as_view(), name="api-model"),
    path(
        "api/models/<int:version_id>/promote/",
        api.ModelPromote.as_view(),
        name="api-model-promote",
    ),
    path(
        "api/models/<int:version_id>/download/",
        api.ModelDownload.as_view(),
        name="api-model-download",
    ),
    path(
        "api/projects/<slug:slug>/retrain-policy/",
        api.RetrainPolicyDetail.as_view(),
        name="api-retrain-policy",
    ),
    path(
        "api/projects/<slug:slug>/retrain-policy/check/",
        api.RetrainCheckNow.as_view(),
        name="api-retrain-check",
    ),
    path("training/jobs/", views.job_list, name="training-jobs"),
    path("training/jobs/new/", views.job_new, name="training-job-new"),
    path("training/jobs/<int:job_id>/", views.job_detail, name="training-job"),
    path("training/jobs/<int:job_id>/<str:action>/", views.job_action, name="training-job-action"),
    path("training/models/", views.model_list, name="training-models"),
    path(
        "training/models/<int:version_id>/<str:action>/",
        views.model_action,
        name="training-model-action",
    ),
]
