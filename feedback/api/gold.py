"""Gold items through the API: ``/api/projects/{slug}/items/{id}/gold/`` (project admins).

``GET`` the item's expected answer, ``PUT`` it (mark the item gold, or change its answer),
``DELETE`` it (the item becomes an ordinary one again). Every write goes through
``feedback.services.gold.item_gold_set``, the service the admin's item page and the import
use; annotators never see any of it (gold items are served blind).
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from core.errors import NotFound, ValidationError
from feedback.access import MANAGING_ROLES
from feedback.api.base import ProjectView
from feedback.models import Item
from feedback.services.gold import VERDICTS, gold_verdict_answer, item_gold_set


class GoldInput(serializers.Serializer[Any]):
    ranking = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        required=False,
        help_text="The expected ranking: groups of response ids, best first (ties allowed).",
    )
    both_bad = serializers.BooleanField(
        required=False, default=False, help_text="Pairwise: the tie is 'both bad'."
    )
    verdict = serializers.ChoiceField(
        choices=VERDICTS,
        required=False,
        help_text="Instead of a ranking, for two responses: A (the first by position), B, "
        "tie or both_bad.",
    )


class GoldSerializer(serializers.Serializer[Any]):
    item = serializers.IntegerField(source="pk")
    is_gold = serializers.BooleanField()
    ranking = serializers.JSONField(source="gold_ranking", allow_null=True)
    both_bad = serializers.BooleanField(source="gold_both_bad")


class ItemGoldView(ProjectView):
    roles = MANAGING_ROLES

    def _item(self, item_id: int) -> Item:
        item = Item.objects.filter(project=self.project, pk=item_id).first()
        if item is None:
            raise NotFound(f"No item {item_id} in project '{self.project.slug}'.")
        item.project = self.project
        return item

    @extend_schema(
        operation_id="projects_items_gold_read",
        summary="An item's gold answer (project admins)",
        responses=GoldSerializer,
    )
    def get(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        return ApiResponse(GoldSerializer(self._item(item_id)).data)

    @extend_schema(
        operation_id="projects_items_gold_set",
        summary="Mark an item gold with its expected answer (project admins)",
        description=(
            "Exactly one of `ranking` (response ids, best first; `both_bad` for a pairwise "
            "tie) and `verdict` (A, B, tie, both_bad; two responses). A gold item is mixed "
            "blind into each annotator's queue at the project's `gold_rate`, at most once "
            "per annotator, and left out of exports unless `include_gold=true`."
        ),
        request=GoldInput,
        responses=GoldSerializer,
    )
    def put(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        item = self._item(item_id)
        body = GoldInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if ("ranking" in data) == ("verdict" in data):
            reason = "give exactly one of 'ranking' and 'verdict'"
            raise ValidationError(reason, details={"ranking": [reason], "verdict": [reason]})
        if "verdict" in data:
            if "both_bad" in request.data:
                reason = "a verdict says it already (both_bad)"
                raise ValidationError(f"both_bad: {reason}", details={"both_bad": [reason]})
            ranking, both_bad = gold_verdict_answer(item=item, verdict=data["verdict"])
        else:
            ranking, both_bad = data["ranking"], data["both_bad"]
        item = item_gold_set(item=item, ranking=ranking, both_bad=both_bad)
        return ApiResponse(GoldSerializer(item).data)

    @extend_schema(
        operation_id="projects_items_gold_clear",
        summary="Make a gold item an ordinary one again (project admins)",
        request=None,
        responses={204: None},
    )
    def delete(self, request: Request, slug: str, item_id: int) -> ApiResponse:
        item_gold_set(item=self._item(item_id), ranking=None, clear=True)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)
