"""The word catalogue: both languages complete and alike, a bureau's own names for its codes,
no Chinese guess beside an English code, and no Chinese text in the code outside the catalogue."""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from optimizer.i18n import BureauNames, texts, vocabulary

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "optimizer" / "locales"
CJK = re.compile(r"[\u3400-\u9fff]")


def leaves(table: dict, prefix: str = "") -> dict[str, str]:
    """Every string of a TOML table by its dotted key."""
    out = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out |= leaves(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_chinese_has_every_english_word_with_the_same_placeholders():
    en = leaves(tomllib.loads((LOCALES / "en.toml").read_text(encoding="utf-8")))
    zh = leaves(tomllib.loads((LOCALES / "zh.toml").read_text(encoding="utf-8")))
    assert set(en) - set(zh) == set()
    for key, text in en.items():
        assert placeholders(zh[key]) == placeholders(text), key
    untranslated = [
        k for k in en if not k.endswith(("head", "rule", "gap", "end")) and zh[k] == en[k]
    ]
    assert untranslated == ["report.difference"]  # "Δ {label}" reads the same in both


def test_missing_keys_fall_back_to_english_and_sections_are_read_only():
    assert texts("zh", "map")["stations"] == "辖区（考核等级）"
    assert texts("en", "report")["rules"]["budget"] == "every hour of the budget used"
    with pytest.raises(TypeError):
        texts("en", "map")["stations"] = "x"  # type: ignore[index]
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        vocabulary("fr")


def test_product_terms_are_translated_and_bureau_codes_only_by_the_bureau():
    zh = vocabulary("zh")
    assert zh.term("excellent") == "优秀" and zh.term("night") == "夜班"
    # a bureau that names nothing keeps its own codes: no built-in guess beside them
    assert zh.term("violence", "category") == "violence"
    assert zh.term("regional", "station_type") == "regional"
    assert zh.term("late_shift") == "late_shift"  # a shift of its own config
    en = vocabulary("en")
    assert en.term("public_order", "category") == "public order"
    assert en.term("missing_report") == "missing report"
    with pytest.raises(ValueError, match="unknown kind"):
        zh.term("x", "grade")


def test_bureau_names_come_from_its_data_folder_and_round_trip_through_plan_json():
    offences = pd.DataFrame(
        {
            "offence": ["pickpocketing", "ebike_theft", "arson"],
            "category": ["theft", "theft", "arson"],
            "name_zh": ["扒窃", "", None],
            "category_zh": ["", " 盗窃 ", ""],
        }
    )
    stations = pd.DataFrame({"station_type": ["regional", "regional"], "type_zh": ["", "地区所"]})
    names = BureauNames.from_tables(offences, stations)
    assert names.offence == {"pickpocketing": "扒窃"}
    assert names.category == {"theft": "盗窃"}  # the first name given for the category
    assert names.station_type == {"regional": "地区所"}
    assert BureauNames.from_json(names.to_json()) == names
    assert BureauNames.from_json(None) == BureauNames()
    zh = vocabulary("zh", names)
    assert zh.term("theft", "category") == "盗窃"
    assert zh.term("arson", "category") == "arson"
    assert zh.term("ebike_theft", "offence") == "ebike_theft"
    assert vocabulary("en", names).term("theft", "category") == "theft"
    assert BureauNames.from_tables(offences[["offence", "category"]]) == BureauNames()


def test_no_chinese_text_in_the_code_outside_the_catalogue():
    allowed = {
        "optimizer/i18n.py",  # its examples
        "models/columns.py",  # SPEC §2: booleans read 是/否
        "optimizer/demo.py",  # the demo bureau's own data: names of stations and offences
    }
    found = {
        str(path.relative_to(ROOT))
        for package in ("geo", "models", "optimizer")
        for path in (ROOT / package).rglob("*.py")
        if CJK.search(path.read_text(encoding="utf-8"))
    }
    assert found <= allowed, found - allowed
