"""Django admin for every feedback model (staff only), scoped by the same selector as the
pages. It writes through the same services as the API and the pages (``project_create``,
``project_update``, ``membership_set``), and what those services guard is read-only here:
a project's mode once judged, an item once judged, judgements and leases always (a deleted
judgement would leave the per-item counter that the next-item query trusts wrong; the
review queue is where a judgement is rejected)."""

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
from feedback.services.projects import (
    membership_remove,
    membership_set,
    project_create,
    project_locked_check,
    project_locked_fields,
    project_update,
)


class ProjectAdminForm(forms.ModelForm):  # ModelAdmin.get_form adds Meta (model, fields)
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk:  # a judgement made since the page was opened locks the mode
            try:
                project_locked_check(project=self.instance, changed=list(self.changed_data))
            except ApplicationError as error:
                raise forms.ValidationError(error.message) from error
        return cleaned


class ReadOnlyAdmin(admin.ModelAdmin):
    """A list and a detail page of an item's rows, nothing else: services write them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        visible = projects_for_user(user=request.user)
        return super().get_queryset(request).filter(item__project__in=visible)


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
    form = ProjectAdminForm
    inlines = [MembershipInline]
    actions = ["add_members"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return projects_for_user(user=request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["slug", *project_locked_fields(project=obj)]  # the slug is the address

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> dict[str, Any]:
        return {} if obj is not None else dict(self.prepopulated_fields)

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            saved = project_update(project=Project.objects.get(pk=obj.pk), **values)
        else:
            settings = {k: v for k, v in form.cleaned_data.items() if k not in ("name", "slug")}
            saved = project_create(name=obj.name, slug=obj.slug, **settings)
        obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        memberships = formset.save(commit=False)
        for gone in formset.deleted_objects:
            membership_remove(membership=gone)
        for membership in memberships:
            membership_set(project=form.instance, user=membership.user, role=membership.role)

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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        visible = projects_for_user(user=request.user)
        return super().get_queryset(request).filter(project__in=visible)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "project"] if obj is not None else []  # a role change, or a new row

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        saved = membership_set(project=obj.project, user=obj.user, role=obj.role)
        obj.pk, obj.created_at = saved.pk, saved.created_at

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(membership=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset:
            membership_remove(membership=membership)


def _judged(item: Item | None) -> bool:
    return item is not None and item.judgements.exists()


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["position", "source", "model_name", "content"]

    # Once judged, the responses are what the judgements ranked: they stay as they are.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _judged(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _judged(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _judged(obj) and super().has_delete_permission(request, obj)


_GOLD_FIELDS = ["is_gold", "gold_ranking", "gold_both_bad"]  # set by item_gold_set only


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

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, and only what nobody judged
        return actions

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if _judged(obj):  # the prompt is what the annotators saw; only metadata may change
            return ["project", "external_id", "messages", *_GOLD_FIELDS, "judgement_count"]
        return [*_GOLD_FIELDS, "judgement_count"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _judged(obj) and super().has_delete_permission(request, obj)


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    list_display = ["pk", "item", "position", "source", "model_name", "created_at"]
    list_filter = ["source", "item__project"]
    search_fields = ["model_name", "item__external_id"]
    raw_id_fields = ["item"]
    list_select_related = ["item__project"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # with an unjudged item, its responses go (Django asks this for each one)
        return obj is None or not _judged(obj.item)


@admin.register(Judgement)
class JudgementAdmin(ReadOnlyAdmin):
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
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "item", "annotator", "status", "expires_at", "created_at"]
    list_filter = ["status", "item__project"]
    search_fields = ["annotator__username", "item__external_id"]
    raw_id_fields = ["item", "annotator"]
    list_select_related = ["item__project", "annotator"]
