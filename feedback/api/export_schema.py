"""The export parameters as DRF fields, made from ``feedback.export.params.PARAMS``.

``ExportParameters`` documents them in the OpenAPI schema twice from one source: as the
export's query parameters and as the snapshot API's JSON body. It documents only; the
values are checked by ``export_params_parse`` (which both endpoints call), so an error
names the field the same way whichever door it came through.
"""

from typing import Any

from rest_framework import serializers

from feedback.export.params import PARAMS, ParamSpec


def _field(spec: ParamSpec) -> serializers.Field[Any, Any, Any, Any]:
    common: dict[str, Any] = {"required": False, "help_text": spec.help}
    if spec.default is not None:
        common["default"] = spec.default
    if spec.kind == "choice":
        return serializers.ChoiceField(choices=list(spec.choices), **common)
    if spec.kind == "number":
        return serializers.FloatField(min_value=spec.low, max_value=spec.high, **common)
    if spec.kind == "whole":
        return serializers.IntegerField(min_value=int(spec.low), max_value=int(spec.high), **common)
    if spec.kind == "moment":
        return serializers.DateTimeField(**common)
    if spec.kind == "flag":
        return serializers.BooleanField(**common)
    return serializers.CharField(max_length=spec.max_length, **common)


ExportParameters = type(
    "ExportParameters",
    (serializers.Serializer,),
    {
        "__doc__": "The export parameters (query string of the export, body of a snapshot).",
        **{spec.name: _field(spec) for spec in PARAMS},
    },
)
