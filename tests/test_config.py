"""The configuration is checked once, at load, and every problem is named with its fix."""

from __future__ import annotations

import dataclasses

import pytest

from planner.config import (
    FILES,
    AllocationSettings,
    NeedSettings,
    Problems,
    SettingsError,
    build,
    load_config,
)
from planner.errors import ConfigError
from tests.factories import CONFIG_DIR, config_copy

# (file, a line of the shipped file, the same line with the key misspelt, the key)
MISSPELT = [  # (file, a line of the shipped file, that line misspelt, the wrong key, the key)
    ("planner", "snap_distance_m =", "snap_distanse_m =", "snap_distanse_m", "snap_distance_m"),
    ("categories", "[police_uk.csv]", "[police_uk.cvs]", "cvs", "csv"),
    ("wards", "ward_code = [", "ward_cod = [", "ward_cod", "ward_code"),
    ("boroughs", "[aliases]", "[alias]", "alias", "aliases"),
    ("need", "scale_quantile =", "scale_quantlie =", "scale_quantlie", "scale_quantile"),
    ("harm", "factor = 0.5", "facter = 0.5", "facter", "factor"),
    ("hotspots", "permutations = 999", "permutation = 999", "permutation", "permutations"),
    ("forecast", "n_origins = 8", "n_orgins = 8", "n_orgins", "n_origins"),
    ("allocation", "borough_floor_share = 0.8", "borough_floor_shar = 0.8", "borough_floor_shar",
     "borough_floor_share"),
    ("priorities", "n_priorities = 2", "n_priority = 2", "n_priority", "n_priorities"),
    ("yardsticks", "equality_gap = 0.05", "equality_gab = 0.05", "equality_gab", "equality_gap"),
    ("population", "min_plausible = 1000", "min_plausable = 1000", "min_plausable",
     "min_plausible"),
    ("sources", 'licence = "OGL v3.0"', 'license = "OGL v3.0"', "license", "licence"),
    ("store", "busy_timeout_s = 30.0", "busy_timeout = 30.0", "busy_timeout", "busy_timeout_s"),
    ("access", 'default_role = "viewer"', 'defualt_role = "viewer"', "defualt_role",
     "default_role"),
]  # fmt: skip


def test_every_file_has_a_case():
    assert sorted(stem for stem, *_ in MISSPELT) == sorted(FILES)
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.toml")) == sorted(FILES)


@pytest.mark.parametrize(
    ("stem", "line", "wrong", "bad", "key"), MISSPELT, ids=[m[0] for m in MISSPELT]
)
def test_a_misspelt_key_is_named_with_its_file_and_fix(tmp_path, stem, line, wrong, bad, key):
    text = (CONFIG_DIR / f"{stem}.toml").read_text(encoding="utf-8")
    assert line in text
    cdir = config_copy(tmp_path, **{stem: text.replace(line, wrong, 1)})
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    message = str(info.value)
    assert f"{cdir / f'{stem}.toml'}" in message
    assert f"unknown key {bad!r} (did you mean {key!r}?)" in message
    assert "correct its spelling or remove it" in message


def test_every_problem_is_reported_together(tmp_path):
    need = (CONFIG_DIR / "need.toml").read_text(encoding="utf-8")
    need = need.replace("window_months = 12", "window_months = -1").replace(
        "scale_quantile = 0.95", 'scale_quantile = "high"'
    )
    store = (CONFIG_DIR / "store.toml").read_text(encoding="utf-8") + "\nextra = 1\n"
    cdir = config_copy(tmp_path, need=need, store=store)
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    message = str(info.value)
    assert message.startswith("2 problem(s) in the configuration")  # need's range check waits
    assert "'scale_quantile' should be a number, found 'high'" in message
    assert f"{cdir / 'store.toml'}: unknown key 'extra'" in message


def test_range_checks_name_the_file(tmp_path):
    text = (CONFIG_DIR / "allocation.toml").read_text(encoding="utf-8")
    cdir = config_copy(
        tmp_path, allocation=text.replace("borough_floor_share = 0.8", "borough_floor_share = 1.5")
    )
    with pytest.raises(
        ConfigError, match=r"allocation.toml: borough_floor_share must be in \[0, 1\], found 1.5"
    ):
        load_config(cdir)


def test_a_missing_key_says_what_to_add(tmp_path):
    text = (CONFIG_DIR / "hotspots.toml").read_text(encoding="utf-8").replace("seed = 0", "")
    cdir = config_copy(tmp_path, hotspots=text)
    with pytest.raises(
        ConfigError, match=r"missing key 'seed' \(a whole number\); add `seed = \.\.\.`"
    ):
        load_config(cdir)


def test_a_stray_file_and_a_missing_file_are_problems(tmp_path):
    cdir = config_copy(tmp_path)
    (cdir / "harms.toml").write_text("x = 1\n", encoding="utf-8")
    (cdir / "store.toml").unlink()
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    assert "harms.toml: not a file the planner reads" in str(info.value)
    assert "store.toml: not found" in str(info.value)


def test_references_across_files_are_checked(tmp_path):
    need = (CONFIG_DIR / "need.toml").read_text(encoding="utf-8")
    access = (
        (CONFIG_DIR / "access.toml")
        .read_text(encoding="utf-8")
        .replace(
            "[users]",
            '[users]\n"leader@x.gov.uk" = { role = "council_leader", boroughs = ["Camdem"] }',
        )
    )
    cdir = config_copy(tmp_path, need=need.replace('harm_index = "cchi"', 'harm_index = "chi"'),
                       access=access)  # fmt: skip
    with pytest.raises(ConfigError) as info:
        load_config(cdir)
    assert "harm_index 'chi' is not an index of harm.toml (cchi, css)" in str(info.value)
    cdir = config_copy(tmp_path / "b", access=access)
    with pytest.raises(ConfigError, match="borough 'Camdem' is neither .* did you mean 'Camden'"):
        load_config(cdir)


def test_the_shipped_defaults_are_the_files_own():
    config = load_config(CONFIG_DIR)
    assert config.allocation.borough_floor_share == 0.8  # allocation.toml, not a code default
    assert config.pool == 600 and config.allocation.method == "webster"
    required = [f.name for f in dataclasses.fields(AllocationSettings)
                if f.default is dataclasses.MISSING]  # fmt: skip
    assert {"method", "borough_floor_share", "baseline_dwo", "baseline_pcso"} <= set(required)
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(NeedSettings))


def test_settings_check_themselves_outside_files_too():
    config = load_config(CONFIG_DIR)
    with pytest.raises(SettingsError, match="weights must be >= 0 and not all zero"):
        config.need.with_weights(**dict.fromkeys(config.need.weights, 0.0))
    with pytest.raises(ConfigError, match="method should be one of 'webster', .* found 'fastest'"):
        dataclasses.replace(config.allocation, method="fastest")


def test_the_builder_converts_and_reports_types():
    problems = Problems()
    built = build(
        AllocationSettings,
        {
            "method": "dhondt",
            "policy": "whole_team",
            "need_exponent": 1,
            "baseline_dwo": 2,
            "baseline_pcso": 1,
            "borough_floor_share": 1,
            "excluded": ["E05000001"],
        },
        "x.toml",
        problems,
    )
    assert not problems and built.borough_floor_share == 1.0
    assert built.need_exponent == 1.0 and isinstance(built.need_exponent, float)
    assert built.excluded == frozenset({"E05000001"})
    assert build(AllocationSettings, {"method": 3}, "x.toml", problems) is None
    assert "x.toml: 'method' should be one of 'webster', 'dhondt'" in problems.items[0]
