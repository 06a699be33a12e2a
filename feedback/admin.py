"""Django admin for every feedback model (staff only), scoped by the same selector as the
pages; the "add members" action calls ``membership_set``."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from feedback.models import Assignment, Item, Judgement, Membership, Project, Response
from feedback.selectors import projects_for_user
from feedback.services.gold import item_gold_set
from feedback.services.projects import membership_set


class AddMembersForm(forms.Form):
    users = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        widget=forms.SelectMultiple(attrs={"size": 12}),
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name", "slug", "mode", "overlap", "order", "rationale", "ask_ratings", "created_at",
    ]  # fmt: skip
    list_filter = ["mode", "order", "rationale", "ask_ratings"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    actions = ["add_members"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return projects_for_user(user=request.user)

    @admin.action(description="Add members to the selected projects")
    def add_members(self, request: HttpRequest, queryset: QuerySet[Project]) -> HttpResponse | None:
        form = AddMembersForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            added = 0
            try:
                for project in queryset:
                    for user in form.cleaned_data["users"]:
                        membership_set(project=project, user=user, role=form.cleaned_data["role"])
                        added += 1
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
                return None
            self.message_user(request, f"{added} memberships set.", messages.SUCCESS)
            return None
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Add members",
            "form": form,
            "projects": queryset,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/feedback/project/add_members.html", context)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]
    autocomplete_fields = ["user", "project"]


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["position", "source", "model_name", "content"]


class ItemGoldForm(forms.Form):
    """The small gold form of the item page: the expected ranking as JSON (response ids,
    best first, ties grouped), or "not gold"."""

    ranking = forms.CharField(
        required=False,
        label="Expected ranking",
        help_text="Response ids, best first, in groups: [[12], [13, 14]] ranks 12 first, "
        "13 and 14 tied after it.",
        widget=forms.TextInput(attrs={"size": 40}),
    )
    both_bad = forms.BooleanField(required=False, label="Both bad (pairwise tie)")
    clear = forms.BooleanField(required=False, label="Not gold (an ordinary item again)")


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "is_gold", "judgement_count", "created_at"]
    list_filter = ["project", "is_gold"]
    search_fields = ["external_id"]
    # Gold is set through its form (item_gold_set keeps the project's gold count).
    readonly_fields = ["judgement_count", "is_gold", "gold_ranking", "gold_both_bad"]
    inlines = [ResponseInline]
    list_select_related = ["project"]
    change_form_template = "admin/feedback/item/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Item]:
        visible = projects_for_user(user=request.user)
        return super().get_queryset(request).filter(project__in=visible)

    def get_urls(self) -> list[URLPattern]:
        gold = self.admin_site.admin_view(require_POST(self.gold_view))
        return [
            path("<int:object_id>/gold/", gold, name="feedback_item_gold"),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        item = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if item is not None:
            initial = {
                "ranking": json.dumps(item.gold_ranking) if item.gold_ranking else "",
                "both_bad": item.gold_both_bad,
            }
            context["gold_form"] = ItemGoldForm(initial=initial)
            context["gold_url"] = reverse("admin:feedback_item_gold", args=[item.pk])
            context["gold_responses"] = list(item.responses.order_by("position"))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def gold_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        item = self.get_object(request, str(object_id))
        if item is None:
            raise Http404("No such item.")
        if not self.has_change_permission(request, item):
            raise DjangoPermissionDenied
        back = HttpResponseRedirect(reverse("admin:feedback_item_change", args=[item.pk]))
        form = ItemGoldForm(request.POST)
        if not form.is_valid():  # pragma: no cover - every field is optional text or a box
            self.message_user(request, "The gold form was not understood.", messages.ERROR)
            return back
        try:
            if form.cleaned_data["clear"]:
                item_gold_set(item=item, ranking=None, clear=True)
                self.message_user(request, "The item is an ordinary item again.")
                return back
            text = form.cleaned_data["ranking"].strip()
            try:
                ranking = json.loads(text) if text else None
            except ValueError:
                self.message_user(
                    request, "Expected ranking: not JSON, e.g. [[12], [13, 14]].", messages.ERROR
                )
                return back
            item_gold_set(item=item, ranking=ranking, both_bad=form.cleaned_data["both_bad"])
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return back
        self.message_user(request, "The item is gold, with this expected ranking.")
        return back


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["pk", "item", "position", "source", "model_name", "created_at"]
    list_filter = ["source", "item__project"]
    search_fields = ["model_name", "item__external_id"]
    raw_id_fields = ["item"]
    list_select_related = ["item__project"]


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = [
        "pk", "item", "annotator", "source", "version", "is_current", "not_rankable", "both_bad",
        "created_at",
    ]  # fmt: skip
    list_filter = ["source", "is_current", "not_rankable", "both_bad", "item__project"]
    search_fields = ["annotator__username", "item__external_id"]
    raw_id_fields = ["item", "annotator", "previous"]
    list_select_related = ["item__project", "annotator"]
    date_hierarchy = "created_at"


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["pk", "item", "annotator", "status", "expires_at", "created_at"]
    list_filter = ["status", "item__project"]
    search_fields = ["annotator__username", "item__external_id"]
    raw_id_fields = ["item", "annotator"]
    list_select_related = ["item__project", "annotator"]
