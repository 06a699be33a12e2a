"""Admin of the training app. Saves go through the services (a retrain policy edited here
syncs its beat schedule; its PeriodicTask is also listed under Periodic tasks)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.errors import ApplicationError
from training.models import JobMetric, ModelVersion, RetrainPolicy, RetrainRun, TrainingJob
from training.selectors import training_projects_for_user
from training.services import job_cancel, model_promote
from training.services.retrain import POLICY_FIELDS, retrain_policy_save


class ProjectScopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return (
            super()
            .get_queryset(request)
            .filter(project__in=training_projects_for_user(user=request.user))
        )


@admin.register(TrainingJob)
class TrainingJobAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "kind",
        "project",
        "status",
        "step",
        "total_steps",
        "attempts",
        "launched_by",
        "created_at",
    ]
    list_filter = ["status", "kind", "project"]
    readonly_fields = [f.name for f in TrainingJob._meta.fields]
    actions = ["cancel_jobs"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[TrainingJob]) -> None:
        for job in queryset:
            try:
                job_cancel(job=job)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.WARNING)


@admin.register(ModelVersion)
class ModelVersionAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "project",
        "kind",
        "number",
        "method",
        "status",
        "created_at",
        "promoted_at",
    ]
    list_filter = ["status", "kind", "project"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["promote"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Promote the selected version")
    def promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for version in queryset:
            model_promote(version=version)


@admin.register(RetrainPolicy)
class RetrainPolicyAdmin(ProjectScopedAdmin):
    list_display = [
        "project",
        "enabled",
        "min_new_judgements",
        "policy_method",
        "win_rate_threshold",
        "check_every_seconds",
    ]
    readonly_fields = ["periodic_task", "updated_at"]

    def save_model(self, request: HttpRequest, obj: RetrainPolicy, form: Any, change: bool) -> None:
        values = {name: getattr(obj, name) for name in POLICY_FIELDS}
        try:
            saved = retrain_policy_save(project=obj.project, **values)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk


@admin.register(RetrainRun)
class RetrainRunAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "project",
        "status",
        "stage",
        "new_judgements",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "project"]
    readonly_fields = [f.name for f in RetrainRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(JobMetric)
class JobMetricAdmin(admin.ModelAdmin):
    list_display = ["job", "step", "name", "value"]
    list_filter = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobMetric]:
        return (
            super()
            .get_queryset(request)
            .filter(job__project__in=training_projects_for_user(user=request.user))
        )
