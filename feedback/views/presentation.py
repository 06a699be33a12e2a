"""What the item page shows: the conversation and the responses, blind and shuffled."""

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.utils.safestring import SafeString

from feedback.blind import shown_order_for
from feedback.models import Assignment, Item, Judgement, Project
from feedback.rendering import markdown_render, markdown_render_many, render_key
from feedback.selectors import item_response_texts, round_response_ids
from feedback.services.rendering import message_texts, messages_key

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant"}


@dataclass
class ShownResponse:
    id: int
    label: str
    html: SafeString
    rating: int | None = None


@dataclass
class ShownMessage:
    role: str
    role_name: str
    html: SafeString


@dataclass
class ItemView:
    project: Project
    item: Item
    messages: list[ShownMessage]
    responses: list[ShownResponse]
    assignment: Assignment | None = None
    judgement: Judgement | None = None
    round: int = 1
    # Rank mode: one list per rank (ties share one), then the responses not yet ranked.
    slots: list[list[ShownResponse]] = field(default_factory=list)
    unranked: list[ShownResponse] = field(default_factory=list)
    verdict: str = ""  # pairwise: "a", "b", "tie", "both_bad" or ""
    guidelines_html: SafeString | None = None

    @property
    def shown_order(self) -> str:
        return ",".join(str(r.id) for r in self.responses)

    @property
    def rating_choices(self) -> range:
        return range(1, self.project.rating_scale + 1)


def item_view_build(
    *,
    user: AbstractBaseUser,
    item: Item,
    assignment: Assignment | None = None,
    judgement: Judgement | None = None,
) -> ItemView:
    project = item.project
    # The round shown: the lease's, the judgement's, else the item's current one. A response
    # that arrived after it was shown is not part of it (feedback.services.rounds).
    if assignment is not None:
        number = assignment.round
    elif judgement is not None:
        number = judgement.round
    else:
        number = item.round
    if judgement is not None and judgement.shown_order:
        texts = item_response_texts(item=item, ids=set(judgement.shown_order))
        order = [pk for pk in judgement.shown_order if pk in texts]
    else:
        ids = (
            None
            if number == 1 and item.round == 1
            else set(round_response_ids(item=item, number=number))
        )
        texts = item_response_texts(item=item, ids=ids)
        order = shown_order_for(user=user, item=item, response_ids=list(texts), round=number)
    ratings = judgement.ratings if judgement is not None else {}
    messages = [m for m in (item.messages or []) if isinstance(m, dict)]
    contents = message_texts(messages)
    # Stored renderings, each used only while its key still matches its text and policy.
    stored: list[str | None] = [
        texts[pk].html if texts[pk].html_key == render_key(texts[pk].content) else None
        for pk in order
    ]
    prompt_stored = item.messages_html_key == messages_key(contents)
    if prompt_stored and len(item.messages_html) == len(contents):
        stored += item.messages_html
    rendered = markdown_render_many([texts[pk].content for pk in order] + contents, stored=stored)
    shown = [
        ShownResponse(
            id=pk,
            label=LABELS[index % len(LABELS)],
            html=rendered[index],
            rating=ratings.get(str(pk)),
        )
        for index, pk in enumerate(order)
    ]
    roles = [str(m.get("role", "")) for m in messages]
    shown_messages = [
        ShownMessage(role=role, role_name=ROLE_NAMES.get(role, role.title()), html=html)
        for role, html in zip(roles, rendered[len(order) :], strict=True)
    ]
    view = ItemView(
        project=project,
        item=item,
        messages=shown_messages,
        responses=shown,
        assignment=assignment,
        judgement=judgement,
        round=number,
        guidelines_html=markdown_render(project.guidelines) if project.guidelines else None,
    )
    by_id = {r.id: r for r in shown}
    ranking = judgement.ranking if judgement is not None and not judgement.not_rankable else []
    if project.mode == Project.Mode.RANK:
        placed = [[by_id[pk] for pk in group if pk in by_id] for group in ranking]
        view.slots = placed + [[] for _ in range(len(shown) - len(placed))]
        ranked = {r.id for group in placed for r in group}
        view.unranked = [r for r in shown if r.id not in ranked]
    elif ranking and len(shown) == 2:
        first = shown[0]
        if judgement is not None and judgement.both_bad:
            view.verdict = "both_bad"
        elif len(ranking) == 1:
            view.verdict = "tie"
        else:
            view.verdict = "a" if ranking[0] == [first.id] else "b"
    return view


def ranking_text(*, judgement: Judgement, labels: dict[int, str]) -> str:
    """A judgement as the annotator saw it: "B > A = C", "cannot rank: ...", "both bad"
    (pairwise: "cannot judge: ...")."""
    if judgement.not_rankable:
        verb = "rank" if judgement.item.project.mode == Project.Mode.RANK else "judge"
        return f"cannot {verb}: {judgement.flag_reason}"
    groups = [" = ".join(labels.get(pk, f"#{pk}") for pk in group) for group in judgement.ranking]
    text = " > ".join(groups)
    return f"{text} (both bad)" if judgement.both_bad else text


@dataclass
class JudgementRow:
    """One line of "My judgements": the prompt as the task page shows it, the verdict."""

    item: Item
    prompt_html: SafeString
    verdict: str
    judgement: Judgement | None = None
    skip: Assignment | None = None


def _last_user_text(item: Item) -> str:
    messages = [m for m in (item.messages or []) if isinstance(m, dict)]
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    return users[-1] if users else (str(messages[-1].get("content", "")) if messages else "")


def judgement_rows(
    *,
    user: AbstractBaseUser,
    judgements: list[Judgement],
    skips: list[Assignment] | None = None,
) -> list[JudgementRow]:
    """Rows for the annotator's list: each prompt rendered by the task page's renderer
    (the last user turn), each ranking in the letters the annotator saw."""
    skips = skips or []
    items = [j.item for j in judgements] + [s.item for s in skips]
    rendered = markdown_render_many([_last_user_text(item) for item in items])
    rows: list[JudgementRow] = []
    for index, judgement in enumerate(judgements):
        order = judgement.shown_order or shown_order_for(
            user=user,
            item=judgement.item,
            response_ids=sorted(pk for group in judgement.ranking for pk in group),
        )
        labels = {pk: LABELS[n % len(LABELS)] for n, pk in enumerate(order)}
        rows.append(
            JudgementRow(
                item=judgement.item,
                prompt_html=rendered[index],
                verdict=ranking_text(judgement=judgement, labels=labels),
                judgement=judgement,
            )
        )
    for offset, skip in enumerate(skips):
        rows.append(
            JudgementRow(
                item=skip.item,
                prompt_html=rendered[len(judgements) + offset],
                verdict="skipped" + (f": {skip.skip_reason}" if skip.skip_reason else ""),
                skip=skip,
            )
        )
    return rows
