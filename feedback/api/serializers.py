"""Shapes of the feedback API: output serializers for reading, input serializers that only
check types (the services check the rules)."""

from typing import Any

from rest_framework import serializers

from feedback.blind import sees_everything, shown_responses
from feedback.models import Item, Judgement, Membership, Project, Response
from feedback.services.imports import IMPORT_FORMATS


class ProjectSerializer(serializers.ModelSerializer[Project]):
    role = serializers.SerializerMethodField(
        help_text="Your role in the project (admin, exporter, annotator); 'staff' for staff."
    )

    class Meta:
        model = Project
        fields = [
            "slug",
            "name",
            "description",
            "guidelines",
            "mode",
            "overlap",
            "ask_ratings",
            "rating_scale",
            "rationale",
            "lease_minutes",
            "order",
            "responses_per_item",
            "round_compare",
            "gold_rate",
            "gold_threshold",
            "gold_stop",
            "created_at",
            "role",
        ]
        read_only_fields = fields

    def get_role(self, project: Project) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(project.pk)


class ProjectCreateInput(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    guidelines = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    mode = serializers.ChoiceField(choices=Project.Mode.choices, required=False)
    overlap = serializers.IntegerField(min_value=1, max_value=100, required=False)
    ask_ratings = serializers.BooleanField(required=False)
    rating_scale = serializers.IntegerField(min_value=2, max_value=100, required=False)
    rationale = serializers.ChoiceField(choices=Project.Rationale.choices, required=False)
    lease_minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60, required=False)
    order = serializers.ChoiceField(choices=Project.Order.choices, required=False)
    responses_per_item = serializers.IntegerField(min_value=2, max_value=20, required=False)
    round_compare = serializers.ChoiceField(choices=Project.RoundCompare.choices, required=False)
    gold_rate = serializers.FloatField(
        min_value=0, max_value=1, required=False, help_text="Share of each queue that is gold."
    )
    gold_threshold = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        allow_null=True,
        help_text="Flag annotators whose gold accuracy is below this (null: never).",
    )
    gold_stop = serializers.BooleanField(
        required=False, help_text="Serve no new items to annotators below the threshold."
    )


class ProjectUpdateInput(ProjectCreateInput):
    """Any of the project's name and settings; the slug cannot change."""

    slug = None  # type: ignore[assignment]
    name = serializers.CharField(max_length=200, required=False)


class MemberSerializer(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)
    user_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "role", "created_at"]
        read_only_fields = fields


class MemberSetInput(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class ResponseSerializer(serializers.ModelSerializer[Response]):
    class Meta:
        model = Response
        fields = ["id", "position", "content", "source", "model_name", "metadata", "created_at"]
        read_only_fields = fields


class MessageSerializer(serializers.Serializer[Any]):
    role = serializers.CharField()
    content = serializers.CharField()


class ItemSerializer(serializers.ModelSerializer[Item]):
    messages = MessageSerializer(many=True, read_only=True)
    responses = ResponseSerializer(many=True, read_only=True)

    class Meta:
        model = Item
        fields = [
            "id",
            "external_id",
            "messages",
            "metadata",
            "judgement_count",
            "is_gold",  # admins, exporters and staff only: annotators get BlindItemSerializer
            "responses",
            "created_at",
        ]
        read_only_fields = fields


class NativeResponseInput(serializers.Serializer[Any]):
    content = serializers.CharField(trim_whitespace=False)
    model = serializers.CharField(required=False, max_length=255)
    metadata = serializers.DictField(required=False)


class ItemCreateInput(serializers.Serializer[Any]):
    """One item in the native import format (see ``feedback/importers/native.py``)."""

    external_id = serializers.CharField(required=False, max_length=255)
    prompt = serializers.CharField(required=False, trim_whitespace=False)
    messages = MessageSerializer(many=True, required=False)
    responses = serializers.ListField(
        child=serializers.JSONField(),
        min_length=2,
        help_text='Strings, or objects {"content", "model"?, "metadata"?}.',
    )
    ranking = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(min_value=0)),
        required=False,
        help_text="Groups of indexes into responses, best first; a group of several is a tie.",
    )
    metadata = serializers.DictField(required=False)


class ItemsCreateInput(serializers.Serializer[Any]):
    items = ItemCreateInput(many=True, allow_empty=False)
    source_name = serializers.CharField(required=False, max_length=100)


class ImportInput(serializers.Serializer[Any]):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=IMPORT_FORMATS)
    source_name = serializers.CharField(required=False, max_length=100)


class ImportResultSerializer(serializers.Serializer[Any]):
    items_created = serializers.IntegerField()
    items_existing = serializers.IntegerField()
    responses_created = serializers.IntegerField()
    judgements_created = serializers.IntegerField()
    rows_read = serializers.IntegerField()
    rows_skipped = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.DictField())


class JudgementSerializer(serializers.ModelSerializer[Judgement]):
    project = serializers.CharField(source="item.project.slug", read_only=True)
    annotator = serializers.CharField(source="annotator.username", read_only=True)

    class Meta:
        model = Judgement
        fields = [
            "id",
            "project",
            "item",
            "annotator",
            "source",
            "round",
            "ranking",
            "both_bad",
            "ratings",
            "rationale",
            "not_rankable",
            "flag_reason",
            "shown_order",
            "time_spent_ms",
            "version",
            "is_current",
            "previous",
            "created_at",
        ]
        read_only_fields = fields


class StrictTextField(serializers.CharField):
    """Text that must arrive as text: DRF's CharField reads 5 as "5", a client's mistake."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    """true or false: DRF's BooleanField also reads "yes", 1 and "on" (form habits)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class JudgementFieldsInput(serializers.Serializer[Any]):
    """The one input of a judgement (the page's JSON and the API's): see
    ``feedback.api.judgement_input``."""

    ranking = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        required=False,
        allow_null=True,
        help_text="Groups of response ids, best first; a group of several is a tie.",
    )
    both_bad = StrictBooleanField(required=False, default=False)
    ratings = serializers.DictField(
        child=serializers.IntegerField(), required=False, allow_null=True
    )
    rationale = StrictTextField(required=False, allow_blank=True, default="", max_length=20_000)
    not_rankable = StrictBooleanField(required=False, default=False)
    flag_reason = StrictTextField(required=False, allow_blank=True, default="", max_length=5_000)
    shown_order = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_null=True
    )
    time_spent_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2_000_000_000
    )
    round = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The item's round judged (default: your lease's, else the newest you "
        "judged, else the current one).",
    )


class JudgementSubmitInput(JudgementFieldsInput):
    item = serializers.IntegerField(min_value=1, help_text="Id of the item judged.")


class SkipInput(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class AssignmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    round = serializers.IntegerField(help_text="The item's round this lease shows.")
    response_ids = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="The responses of that round: the ones to judge (others are not shown).",
    )
    item = ItemSerializer()


def page_of(
    child: type[serializers.Serializer[Any]], name: str
) -> type[serializers.Serializer[Any]]:
    """The schema of a cursor page of ``child`` (for the OpenAPI document)."""
    fields = {
        "next": serializers.URLField(allow_null=True, help_text="The next page, or null."),
        "previous": serializers.URLField(allow_null=True, help_text="The previous page, or null."),
        "results": child(many=True),
    }
    return type(name, (serializers.Serializer,), fields)


ItemPage = page_of(ItemSerializer, "ItemPage")
JudgementPage = page_of(JudgementSerializer, "JudgementPage")


class BlindResponseSerializer(serializers.ModelSerializer[Response]):
    """A response as an annotator sees it: its text only (see ``feedback.blind``)."""

    class Meta:
        model = Response
        fields = ["id", "content"]
        read_only_fields = fields


class BlindItemSerializer(serializers.ModelSerializer[Item]):
    """An item as an annotator sees it: the conversation and the shown responses, in the
    order shuffled for them; no item metadata, no model names, sources or positions."""

    messages = MessageSerializer(many=True, read_only=True)
    responses = serializers.SerializerMethodField()

    class Meta:
        model = Item
        # No judgement count: it would tell a gold item (judged by every annotator, outside
        # the overlap) from an ordinary one.
        fields = ["id", "external_id", "messages", "responses", "created_at"]
        read_only_fields = fields

    def get_responses(self, item: Item) -> Any:
        given = self.context.get("shown_ids", {}).get(item.pk)
        if given is not None:  # a lease: its round's responses, in the shown order
            by_id = {r.pk: r for r in item.responses.all()}
            shown = [by_id[i] for i in given if i in by_id]
        else:
            shown = shown_responses(
                user=self.context["user"], item=item, responses=item.responses.all()
            )
        return BlindResponseSerializer(shown, many=True).data


def item_data(item: Item, *, user: Any, role: str) -> Any:
    """An item for this user: everything, or blind for an annotator."""
    if sees_everything(role):
        return ItemSerializer(item).data
    return BlindItemSerializer(item, context={"user": user}).data


def items_data(items: Any, *, user: Any, role: str) -> Any:
    if sees_everything(role):
        return ItemSerializer(items, many=True).data
    return BlindItemSerializer(items, many=True, context={"user": user}).data


class BlindAssignmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    round = serializers.IntegerField()
    response_ids = serializers.ListField(child=serializers.IntegerField())
    item = BlindItemSerializer()
