"""The need model: ward_counts -> per-ward features -> the need index.

- :mod:`~planner.model.window`: the window of months, and ward_counts rows as integer arrays;
- :mod:`~planner.model.harm`: harm weights (CCHI or CSS, each ward's own offence mix), harm and
  counts by category, ASB, monthly series;
- :mod:`~planner.model.features`: rates and trend per ward, and every feature together;
- :mod:`~planner.model.forecast`: the harm forecast (a scikit-learn estimator);
- :mod:`~planner.model.backtest`: its naive baselines, rolling-origin backtest and verdict;
- :mod:`~planner.model.scoring`: the need index, its contributions, ranks and sensitivity;
- :mod:`~planner.model.hotspots`: Getis-Ord Gi* hot spots of ward harm;
- :mod:`~planner.model.need`: a dataset prepared for scoring, and scoring it.
"""
