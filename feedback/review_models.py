"""The review history: what a project's admin did with a judgement, who did it and when.

Kept apart from ``feedback.models`` (which imports it, so Django registers it with the
app) because that module is long enough. Rows are never changed or deleted: the history
of a judgement is its rows, oldest first. What an action does is in
``feedback.services.review``.
"""

from django.conf import settings
from django.db import models


class ReviewAction(models.Model):
    class Action(models.TextChoices):
        ACCEPT = "accept", "Accepted"
        REJECT = "reject", "Rejected"

    project = models.ForeignKey(
        "feedback.Project", on_delete=models.CASCADE, related_name="review_actions"
    )
    judgement = models.ForeignKey(
        "feedback.Judgement", on_delete=models.PROTECT, related_name="review_actions"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_actions"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["judgement", "id"], name="review_judgement"),
            models.Index(fields=["project", "-id"], name="review_project_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.action} of judgement {self.judgement_id} by {self.reviewer_id}"
