"""The need model: ward_counts -> per-ward features -> the need index.

- :mod:`~planner.model.features`: harm (CCHI or CSS, each ward's own offence mix), ASB, rates
  and trend per ward;
- :mod:`~planner.model.forecast`: the harm forecast (a scikit-learn estimator) and its backtest;
- :mod:`~planner.model.scoring`: the need index, its contributions, ranks and sensitivity;
- :mod:`~planner.model.hotspots`: Getis-Ord Gi* hot spots of ward harm;
- :mod:`~planner.model.need`: a dataset prepared for scoring, and scoring it.
"""
