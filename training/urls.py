"""Page URLs of the training app (the JSON API is in config/api_urls.py)."""

from django.urls import path

from training import retrain_views, views

urlpatterns = [
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
    path(
        "p/<slug:slug>/retraining/",
        retrain_views.retrain_policy_page,
        name="training-retrain-policy",
    ),
]
