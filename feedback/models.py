"""The feedback data model: projects, their members, items (prompts), candidate
responses, annotators' judgements and the leases that hand items out (import jobs and
the review history are in ``import_models`` and ``review_models``, re-exported here).

Rules that the database can hold are database constraints, so they hold even when
the code has a bug; the rest (a ranking names every shown response exactly once, and
so on) lives in ``feedback.services.judgements`` and is used by every door.
"""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel
from feedback.import_models import ImportJob as ImportJob  # registered with the app
from feedback.review_models import ReviewAction as ReviewAction  # registered with the app


class Project(TimeStampedModel):
    class Mode(models.TextChoices):
        RANK = "rank", "Rank k responses (ties allowed)"
        PAIRWISE = "pairwise", "Pairwise (A / B / tie / both bad)"

    class Rationale(models.TextChoices):
        OFF = "off", "Not asked"
        OPTIONAL = "optional", "Optional"
        REQUIRED = "required", "Required"

    class Order(models.TextChoices):
        """The selection policy for the next item (see feedback.services.assignments)."""

        CLOSEST = "closest", "FIFO: closest to completion first, then oldest"
        RANDOM = "random", "Random"
        DISAGREEMENT = "disagreement", "Disagreement: items whose judgements disagree most first"
        UNCERTAINTY = "uncertainty", "Uncertainty: smallest reward-model margin first"

    class RoundCompare(models.TextChoices):
        BEST = "best", "New candidates against the best response so far"
        ALL = "all", "New candidates against every earlier response"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.RANK)
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="Judgements each item needs, from distinct annotators."
    )
    ask_ratings = models.BooleanField(default=False)
    rating_scale = models.PositiveSmallIntegerField(
        default=5, help_text="Ratings run from 1 to this number."
    )
    rationale = models.CharField(
        max_length=16, choices=Rationale.choices, default=Rationale.OPTIONAL
    )
    lease_minutes = models.PositiveIntegerField(default=30)
    order = models.CharField(max_length=16, choices=Order.choices, default=Order.CLOSEST)
    responses_per_item = models.PositiveSmallIntegerField(
        default=2, help_text="Candidates each item should have; generation fills up to it."
    )
    # Gold items (feedback.quality.gold): mixed blind into each annotator's queue.
    gold_rate = models.FloatField(
        default=0.05, help_text="Share of an annotator's items that are gold, 0 to 1."
    )
    gold_threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="Flag annotators whose gold accuracy falls below this (0 to 1; empty: never).",
    )
    gold_stop = models.BooleanField(
        default=False, help_text="Stop serving new items to annotators below the gold threshold."
    )
    gold_items = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Gold items in the project: kept by feedback.quality.gold, so the next-item "
        "path knows without a query whether there is gold to mix in.",
    )
    round_compare = models.CharField(
        max_length=16,
        choices=RoundCompare.choices,
        default=RoundCompare.BEST,
        help_text="What new candidates of a judged item are compared with in their new round.",
    )
    members: "models.ManyToManyField[Any, Any]" = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="feedback_projects"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_gte_1"),
            models.CheckConstraint(
                condition=Q(rating_scale__gte=2) & Q(rating_scale__lte=100),
                name="project_rating_scale_range",
            ),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1), name="project_lease_gte_1"),
            models.CheckConstraint(
                condition=Q(responses_per_item__gte=2), name="project_responses_per_item_gte_2"
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(gold_threshold__isnull=True)
                | (Q(gold_threshold__gte=0) & Q(gold_threshold__lte=1)),
                name="project_gold_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    class Role(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator"
        EXPORTER = "exporter", "Exporter"
        ADMIN = "admin", "Admin"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class Item(TimeStampedModel):
    """A prompt: the conversation so far, as chat messages, to be answered."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=255)
    messages = models.JSONField(
        help_text='[{"role": "system"|"user"|"assistant", "content": str}, ...]'
    )
    metadata = models.JSONField(default=dict, blank=True)
    # ``messages`` rendered once, off the annotators' path, and the key they were rendered
    # under (see Response.content_html): a list of HTML strings, one per message.
    messages_html = models.JSONField(default=list, blank=True, editable=False)
    messages_html_key = models.CharField(max_length=64, blank=True, default="", editable=False)
    # A gold item has an expected answer; it is served outside the overlap rule (at most
    # once to each annotator) and left out of exports unless asked for.
    is_gold = models.BooleanField(default=False)
    gold_ranking = models.JSONField(
        null=True, blank=True, help_text="The expected ranking (groups of response ids)."
    )
    gold_both_bad = models.BooleanField(default=False)
    judgement_count = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Current human judgements of the current round: kept by "
        "feedback.services.judgements, in the same transaction as the judgement, so the "
        "next-item query reads an index, not a count.",
    )
    round = models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text="The current round (feedback.services.rounds): new candidates of an item "
        "already judged or held open a new one.",
    )
    # Selection scores, written off the annotators' path, read by the next-item query.
    disagreement = models.FloatField(
        default=0.0,
        editable=False,
        help_text="1 - agreement of the current round's human judgements (0 with fewer than two).",
    )
    rm_margin = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text="Smallest gap between the promoted reward model's scores of the current "
        "round's responses (scored by a job).",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="item_external_id_unique"
            ),
        ]
        indexes = [
            # The next-item query: a range scan of one project's unfinished items,
            # closest to completion first, then oldest.
            models.Index(fields=["project", "-judgement_count", "id"], name="item_next_closest"),
            # Random order starts at a random id and scans upward from there.
            models.Index(fields=["project", "id"], name="item_project_id"),
            models.Index(fields=["project"], condition=Q(is_gold=True), name="item_gold"),
            # The disagreement and uncertainty policies: the same scan, by their score.
            # (Postgres puts NULLs last in ascending order, as the uncertainty query asks.)
            models.Index(
                fields=["project", "-disagreement", "-judgement_count", "id"],
                name="item_next_disagreement",
            ),
            models.Index(
                fields=["project", "rm_margin", "-judgement_count", "id"],
                name="item_next_uncertainty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.external_id}"


class Response(TimeStampedModel):
    """A candidate answer to one item."""

    class Source(models.TextChoices):
        IMPORTED = "imported", "Imported"
        HUMAN = "human", "Written by a person"
        MODEL = "model", "Generated by a model"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="responses")
    position = models.PositiveIntegerField(help_text="Order of arrival within the item.")
    content = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.IMPORTED)
    model_name = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # ``content`` rendered once, off the annotators' path (feedback.services.rendering), and
    # the key it was rendered under: the renderer's policy and a hash of the content, so a
    # changed text or a changed policy is noticed when the item is shown, never served.
    content_html = models.TextField(blank=True, default="", editable=False)
    content_html_key = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        ordering = ["item_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "position"], name="response_position_unique"),
        ]

    def __str__(self) -> str:
        return f"response {self.pk} of item {self.item_id}"


class Round(models.Model):
    """The responses shown together in one round of an item.

    Round 1 of an item that never had another is every response of the item and has no
    row. When new candidates arrive for an item already judged or held, its current round
    is frozen here (if it was not yet) and a new one opens with the new candidates and the
    earlier responses the project's ``round_compare`` picks (feedback.services.rounds).
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    response_ids = models.JSONField(default=list, help_text="Response ids, in id order.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="round_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="round_number_gte_1"),
        ]

    def __str__(self) -> str:
        return f"round {self.number} of item {self.item_id}"


class Judgement(models.Model):
    """One annotator's verdict on one item.

    ``ranking`` is a list of groups of response ids, best first; a group of more
    than one is a tie. Pairwise mode uses the same structure with two responses
    (``[[a], [b]]``, or ``[[a, b]]`` for a tie) plus ``both_bad``. Edits never change
    a row: they add a new version and clear ``is_current`` on the old one.
    """

    class Source(models.TextChoices):
        HUMAN = "human", "Human annotator"
        IMPORTED = "imported", "Imported"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgements")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgements"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.HUMAN)
    round = models.PositiveIntegerField(default=1, help_text="The item's round judged.")
    ranking = models.JSONField(default=list, blank=True)
    both_bad = models.BooleanField(default=False)
    ratings = models.JSONField(default=dict, blank=True, help_text="{response_id: rating}")
    rationale = models.TextField(blank=True)
    not_rankable = models.BooleanField(default=False)
    flag_reason = models.TextField(blank=True)
    shown_order = models.JSONField(default=list, blank=True, help_text="Response ids as shown.")
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_version"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "round", "annotator"],
                condition=Q(is_current=True),
                name="judgement_one_current_per_round",
            ),
            models.UniqueConstraint(
                fields=["item", "round", "annotator", "version"],
                name="judgement_round_version_unique",
            ),
            models.CheckConstraint(
                condition=Q(not_rankable=True) | ~Q(ranking=[]),
                name="judgement_ranked_unless_flagged",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="judgement_version_gte_1"),
        ]
        indexes = [
            models.Index(fields=["item", "is_current"], name="judgement_item_current"),
        ]

    def __str__(self) -> str:
        return f"judgement {self.pk} on item {self.item_id} by {self.annotator_id}"


class Assignment(TimeStampedModel):
    """A lease of an item to an annotator, and what became of it.

    A live lease is ``status=active`` with ``expires_at`` in the future. Skips are
    kept so the same annotator is not offered the item again.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    round = models.PositiveIntegerField(default=1, help_text="The item's round handed out.")
    expires_at = models.DateTimeField()
    skip_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"],
                condition=Q(status="active"),
                name="assignment_one_active_per_annotator",
            ),
        ]
        indexes = [
            models.Index(fields=["annotator", "status"], name="assignment_annotator_status"),
            models.Index(fields=["item", "status", "expires_at"], name="assignment_item_live"),
            models.Index(fields=["item", "annotator"], name="assignment_item_annotator"),
        ]

    def __str__(self) -> str:
        return f"lease of item {self.item_id} to {self.annotator_id} ({self.status})"
