"""Preference-dataset export: judgements to JSON Lines that TRL reads unchanged.

``export_params_parse`` checks parameters, ``export_rows`` yields the rows and
``ExportStream`` turns them into JSON Lines chunks with a row count and SHA-256. The formats,
the pairing rules, the consensus method and the prompt rendering are described in
``feedback/export/README.md``.
"""

from feedback.export.params import FORMATS, ExportParams, export_params_parse
from feedback.export.reading import export_row_count, item_in_test_split, judgements_for_export
from feedback.export.rows import ExportStream, export_rows

__all__ = [
    "FORMATS",
    "ExportParams",
    "ExportStream",
    "export_params_parse",
    "export_row_count",
    "export_rows",
    "item_in_test_split",
    "judgements_for_export",
]
