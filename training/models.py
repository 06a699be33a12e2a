"""Training data model: immutable dataset snapshots that every training job reads.

Training never reads the live feedback tables: a snapshot is written once, with its
parameters, row count, size and SHA-256, so each model can name the exact data it saw.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from feedback.models import Project
from training.engine.catalog import METHODS


class DatasetSnapshot(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Being written"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    format = models.CharField(max_length=32)
    params = models.JSONField(default=dict, help_text="The export parameters, as given.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(
        max_length=500, blank=True, help_text="JSONL file, relative to SNAPSHOT_DIR."
    )
    parquet_path = models.CharField(max_length=500, blank=True)
    row_count = models.PositiveBigIntegerField(null=True, blank=True)
    byte_size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="ready") | (Q(row_count__isnull=False) & ~Q(sha256="")),
                name="snapshot_ready_has_hash",
            ),
        ]

    def __str__(self) -> str:
        return f"snapshot {self.pk} of {self.project.slug} ({self.format})"


# The engine's methods (training.engine.catalog.METHODS, the one list of them) and two more kinds.
# (django-stubs types only the class form of TextChoices, hence the ignore.)
JobKind: type[models.TextChoices] = models.TextChoices(  # type: ignore[call-overload]
    "JobKind",
    [(m.name.upper(), (m.name, m.label)) for m in METHODS.values()]
    + [
        ("GENERATE", ("generate", "Generate candidates")),
        ("EVALUATE", ("evaluate", "Evaluate win rate")),
    ],
)

# Kinds that train a model with the engine, and which model kind each produces.
TRAIN_KINDS: tuple[str, ...] = tuple(METHODS)
POLICY_KINDS: tuple[str, ...] = tuple(m.name for m in METHODS.values() if m.produces == "policy")
# Online methods score their samples with a reward model; so does evaluation.
NEEDS_REWARD_MODEL: tuple[str, ...] = (
    *(m.name for m in METHODS.values() if m.needs_reward_model),
    "evaluate",
)
_METHOD_NAMES = f"{', '.join(TRAIN_KINDS[:-1])} or {TRAIN_KINDS[-1]}"


class TrainingJob(models.Model):
    """One unit of work for the gpu worker: train, generate candidates or evaluate.

    The row is the source of truth (the Celery result backend is not): a task claims
    it by moving it from ``queued`` to ``running``, streams progress into it, and a
    reaper re-queues it when its heartbeat stops.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = ("succeeded", "failed", "cancelled")

    kind = models.CharField(max_length=16, choices=JobKind.choices)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_jobs")
    snapshot = models.ForeignKey(
        DatasetSnapshot,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        help_text="The data it trains on (none for generate and evaluate).",
    )
    base_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="Hub id or local directory it starts from, when it has no parent version.",
    )
    parent = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="child_jobs",
        help_text="The model version it starts from (the policy generate/evaluate use).",
    )
    reward_model = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="judged_jobs",
    )
    baseline = models.ForeignKey(
        "ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="baseline_jobs",
        help_text="evaluate: the policy it is compared with (none: the base model).",
    )
    config = models.JSONField(default=dict, help_text="Validated engine config, all fields.")
    holdout_prompts = models.JSONField(
        default=list, blank=True, help_text="Prompts left out of training (kept for evaluation)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    launched_by = models.CharField(max_length=200, help_text="admin:<user> or schedule:<name>")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retrain_run = models.ForeignKey(
        "RetrainRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    result = models.JSONField(default=dict, blank=True, help_text="Final metrics or counts.")
    engine_seconds = models.FloatField(
        default=0.0, help_text="Wall time spent inside the engine, all attempts."
    )
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_attempts__gte=1), name="trainingjob_max_attempts_gte_1"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=TRAIN_KINDS) | Q(snapshot__isnull=False),
                name="trainingjob_training_has_snapshot",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="trainingjob_status_heartbeat"),
            models.Index(fields=["project", "status"], name="trainingjob_project_status"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class JobMetric(models.Model):
    """One value of one metric at one step of a job (curves are drawn from these)."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    value = models.FloatField()

    class Meta:
        ordering = ["job_id", "step", "id"]
        indexes = [models.Index(fields=["job", "name", "step"], name="jobmetric_job_name_step")]

    def __str__(self) -> str:
        return f"{self.name}={self.value} at step {self.step} of job {self.job_id}"


class ModelVersion(models.Model):
    """A trained model in the registry, with where it came from (lineage)."""

    class Kind(models.TextChoices):
        POLICY = "policy", "Policy"
        REWARD = "reward", "Reward model"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        PROMOTED = "promoted", "Promoted"
        ARCHIVED = "archived", "Archived"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    number = models.PositiveIntegerField(help_text="1, 2, 3... per project and kind.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    base_model = models.CharField(max_length=500, blank=True, help_text="Root of the lineage.")
    job = models.OneToOneField(
        TrainingJob,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="model_version",
        help_text="The job that made it: one version per job, however many attempts it took.",
    )
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="models"
    )
    method = models.CharField(max_length=16, help_text=_METHOD_NAMES)
    artifact_path = models.CharField(max_length=500, help_text="Relative to ARTIFACT_DIR.")
    metrics = models.JSONField(default=dict, blank=True)
    # A reward model's held-out pairwise accuracy (ties as half) and its 95% Wilson interval:
    # what the retrain loop's gate reads before it lets this model judge a policy.
    heldout_accuracy = models.FloatField(null=True, blank=True)
    heldout_accuracy_low = models.FloatField(null=True, blank=True)
    heldout_accuracy_high = models.FloatField(null=True, blank=True)
    heldout_pairs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Held-out preference pairs the accuracy is measured on."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind"],
                condition=Q(status="promoted"),
                name="modelversion_one_promoted_per_kind",
            ),
            models.UniqueConstraint(
                fields=["project", "kind", "number"], name="modelversion_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.project.slug}/{self.kind}-v{self.number}"

    @property
    def can_judge(self) -> bool:
        """A reward model may judge a policy only when its held-out accuracy's 95% interval
        lies above chance (0.5); without a recorded interval it may not."""
        low = self.heldout_accuracy_low
        return low is not None and low > 0.5


class RetrainPolicy(models.Model):
    """When and how a project retrains itself on new human feedback."""

    class Method(models.TextChoices):
        DPO = "dpo", "DPO"
        PPO = "ppo", "PPO"
        GRPO = "grpo", "GRPO"
        RLOO = "rloo", "RLOO"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="retrain_policy")
    enabled = models.BooleanField(default=False)
    min_new_judgements = models.PositiveIntegerField(
        default=100, help_text="Human judgements since the last reward model that start a run."
    )
    policy_method = models.CharField(max_length=16, choices=Method.choices, default=Method.DPO)
    win_rate_threshold = models.FloatField(
        default=0.55, help_text="Promote the new policy only if it wins at least this often."
    )
    eval_prompts = models.PositiveIntegerField(
        default=32, help_text="Held-out prompts the new and promoted policies are compared on."
    )
    check_every_seconds = models.PositiveIntegerField(
        default=300, help_text="How often beat checks the threshold."
    )
    snapshot_params = models.JSONField(
        default=dict, blank=True, help_text="Export parameters of the run's snapshot."
    )
    reward_config = models.JSONField(default=dict, blank=True)
    policy_config = models.JSONField(default=dict, blank=True)
    evaluate_config = models.JSONField(default=dict, blank=True)
    generate_after = models.BooleanField(
        default=True, help_text="After a promotion, generate candidates for items lacking them."
    )
    generate_config = models.JSONField(default=dict, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retrain policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(win_rate_threshold__gte=0) & Q(win_rate_threshold__lte=1),
                name="retrainpolicy_threshold_range",
            ),
            models.CheckConstraint(
                condition=Q(min_new_judgements__gte=1), name="retrainpolicy_min_judgements_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(check_every_seconds__gte=1), name="retrainpolicy_interval_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"retrain policy of {self.project.slug}"


class RetrainRun(models.Model):
    """One pass of the loop for a project: snapshot, reward model, policy, evaluation,
    promotion. At most one runs at a time per project (a partial unique constraint)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Not promoted (win rate below threshold)"
        STOPPED = "stopped", "Stopped (the reward model is not better than chance)"
        FAILED = "failed", "Failed"

    class Stage(models.TextChoices):
        SNAPSHOT = "snapshot", "Snapshot"
        REWARD = "reward", "Reward model"
        POLICY = "policy", "Policy"
        EVALUATE = "evaluate", "Evaluation"
        DONE = "done", "Done"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="retrain_runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.SNAPSHOT)
    launched_by = models.CharField(max_length=200)
    new_judgements = models.PositiveIntegerField(help_text="Count that triggered the run.")
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reward_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    policy_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    eval_prompts = models.JSONField(
        default=list, blank=True, help_text="Held-out prompts (left out of the policy's training)."
    )
    win_rate = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(
        default=dict, blank=True, help_text="Seconds per stage, and engine seconds per stage."
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status="running"),
                name="retrainrun_one_running_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"retrain run {self.pk} of {self.project.slug} ({self.status})"
