"""Data in: source files -> the canonical ward_counts table.

- :mod:`~planner.ingest.sources`: one reader per input format (ward boundaries, police.uk
  street CSVs and API JSON, Met ward files and dashboard, population);
- :mod:`~planner.ingest.fetch`: ``planner fetch``, the official downloads (on the session and
  reachability check of :mod:`~planner.ingest.network`);
- :mod:`~planner.ingest.mirror`: ``planner fetch --from DIR``, importing a local copy;
- :mod:`~planner.ingest.transfer`: what both write: the checked copy of a file, the report and
  its manifest;
- :mod:`~planner.ingest.join`: point incidents -> wards;
- :mod:`~planner.ingest.build`: a dataset's sources -> ward_counts, rejects, the cache and its
  manifest (:func:`ingest`);
- :mod:`~planner.ingest.quality`: the data-quality report;
- :mod:`~planner.ingest.uploads`: a person's own files, read privately and checked the same way.
"""

from planner.ingest.build import IngestResult, ingest, input_files

__all__ = ["IngestResult", "ingest", "input_files"]
