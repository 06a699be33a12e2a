"""Shapes of training jobs, model versions and retrain policies in the API (and the JSON
that the pages poll). Input serializers only check types; the services check the rest."""

from typing import Any

from rest_framework import serializers

from training.models import JobKind, ModelVersion, RetrainPolicy, RetrainRun, TrainingJob
from training.selectors import job_metric_series, job_truncation
from training.services.retrain import POLICY_FIELDS


def _version_ref(version: ModelVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {"id": version.pk, "label": version.label, "status": version.status}


class JobCreateInput(serializers.Serializer):
    project = serializers.SlugField()
    kind = serializers.ChoiceField(choices=JobKind.choices)
    snapshot = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    snapshot_params = serializers.DictField(required=False, allow_null=True)
    base_model = serializers.CharField(required=False, allow_blank=True, max_length=500)
    parent = serializers.IntegerField(  # type: ignore[assignment]
        required=False, allow_null=True, min_value=1
    )
    reward_model = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    baseline = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    config = serializers.DictField(required=False, allow_null=True)
    max_attempts = serializers.IntegerField(required=False, min_value=1, max_value=20)


class RollbackInput(serializers.Serializer):
    project = serializers.SlugField()
    kind = serializers.ChoiceField(choices=ModelVersion.Kind.choices)


class JobSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug")
    progress = serializers.SerializerMethodField()
    snapshot = serializers.SerializerMethodField()
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]
    reward_model = serializers.SerializerMethodField()
    baseline = serializers.SerializerMethodField()
    model_version = serializers.SerializerMethodField()
    log = serializers.SerializerMethodField()
    truncation = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "kind",
            "project",
            "status",
            "progress",
            "attempts",
            "max_attempts",
            "heartbeat_at",
            "cancel_requested",
            "launched_by",
            "snapshot",
            "base_model",
            "parent",
            "reward_model",
            "baseline",
            "model_version",
            "retrain_run",
            "config",
            "result",
            "truncation",
            "engine_seconds",
            "error",
            "log",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_progress(self, job: TrainingJob) -> dict[str, Any]:
        fraction = job.step / job.total_steps if job.total_steps else None
        if job.status == TrainingJob.Status.SUCCEEDED:
            fraction = 1.0
        return {"step": job.step, "total_steps": job.total_steps, "fraction": fraction}

    def get_snapshot(self, job: TrainingJob) -> dict[str, Any] | None:
        s = job.snapshot
        if s is None:
            return None
        return {"id": s.pk, "format": s.format, "row_count": s.row_count, "sha256": s.sha256}

    def get_parent(self, job: TrainingJob) -> dict[str, Any] | None:
        return _version_ref(job.parent)

    def get_reward_model(self, job: TrainingJob) -> dict[str, Any] | None:
        return _version_ref(job.reward_model)

    def get_baseline(self, job: TrainingJob) -> dict[str, Any] | None:
        return _version_ref(job.baseline)

    def get_model_version(self, job: TrainingJob) -> dict[str, Any] | None:
        try:
            version = job.model_version
        except ModelVersion.DoesNotExist:
            return None
        return _version_ref(version)

    def get_truncation(self, job: TrainingJob) -> dict[str, int] | None:
        """Reward jobs: pairs truncated to fit max_length, and those that could not fit."""
        return job_truncation(job=job)

    def get_log(self, job: TrainingJob) -> list[str]:
        return job.log_tail.splitlines()[-int(self.context.get("log_lines", 50)) :]


class JobDetailSerializer(JobSerializer):
    metrics = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "metrics"]

    def get_metrics(self, job: TrainingJob) -> dict[str, list[list[float]]]:
        """Curves: {metric name: [[step, value], ...]} in step order."""
        return job_metric_series(job=job)


class RetrainRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = RetrainRun
        fields = [
            "id",
            "status",
            "stage",
            "launched_by",
            "new_judgements",
            "snapshot",
            "reward_version",
            "policy_version",
            "win_rate",
            "timings",
            "error",
            "created_at",
            "finished_at",
        ]


class RetrainCheckSerializer(serializers.Serializer):
    started = serializers.BooleanField()
    run = RetrainRunSerializer(allow_null=True)


class ModelVersionSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug")
    label = serializers.CharField()  # type: ignore[assignment]
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]
    snapshot = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "label",
            "project",
            "kind",
            "number",
            "method",
            "status",
            "parent",
            "base_model",
            "job",
            "snapshot",
            "metrics",
            "heldout_accuracy",
            "heldout_accuracy_low",
            "heldout_accuracy_high",
            "heldout_pairs",
            "created_at",
            "promoted_at",
        ]

    def get_parent(self, version: ModelVersion) -> dict[str, Any] | None:
        return _version_ref(version.parent)

    def get_snapshot(self, version: ModelVersion) -> dict[str, Any] | None:
        s = version.snapshot
        if s is None:
            return None
        return {"id": s.pk, "format": s.format, "row_count": s.row_count, "sha256": s.sha256}


class RetrainPolicySerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.slug", read_only=True)
    updated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Null until the policy is first saved."
    )

    class Meta:
        model = RetrainPolicy
        fields = ["project", *POLICY_FIELDS, "updated_at"]
