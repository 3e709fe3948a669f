"""The packaged catalogue: complete, cited, honest about unverified references."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from msclab.catalogue import CONTEXTS, load_catalogue
from msclab.errors import MsclabError

SHARED_YAML = Path(__file__).resolve().parents[1] / "data" / "reference" / "msc_effects_catalogue.yaml"


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def shared():
    return yaml.safe_load(SHARED_YAML.read_text())


def test_sixty_four_entries_each_cited(catalogue) -> None:
    assert len(catalogue) == 64
    for entry in catalogue.entries():
        assert entry.refs, entry.id
        for name, ctx in entry.contexts.items():
            assert name in CONTEXTS and ctx.refs, (entry.id, name)
        assert all(key in catalogue.references for key in entry.cited_keys())
    assert catalogue.primary_review == "Radmanesh2020"
    assert catalogue.references["Radmanesh2020"].doi == "10.1002/iub.2387"


def test_same_entries_and_directions_as_the_research_note(catalogue, shared) -> None:
    assert [e["id"] for e in shared["effects"]] == list(catalogue.effects)
    for src in shared["effects"]:
        entry = catalogue.effects[src["id"]]
        assert entry.expected == src["expected_direction"]
        assert entry.evidence == src["evidence_strength"]
        assert entry.conflicting == src["conflicting"]
        for ctx, value in src["direction_by_context"].items():
            assert entry.contexts[ctx].direction == value["direction"], (src["id"], ctx)
            assert entry.contexts[ctx].evidence == value["strength"], (src["id"], ctx)


def test_unverified_references_stay_marked(catalogue, shared) -> None:
    unverified = {k for k, r in shared["references"].items() if not r.get("verified")}
    assert len(unverified) == 21
    assert {k for k, r in catalogue.references.items() if not r.verified} == unverified
    for key in unverified:
        assert catalogue.references[key].citation().endswith("[unverified]")
    assert "[unverified]" not in catalogue.references["DiNicola2002"].citation()


def test_scoring_heuristics(catalogue) -> None:
    s = catalogue.scoring
    assert (s.log2fc_consistent, s.suppression_consistent, s.modifier_factor) == (0.26, 20.0, 0.5)
    assert s.weights == {"strong": 1.0, "moderate": 0.7, "weak": 0.4, "conflicting": 0.0, "insufficient": 0.0}


def test_modifiers_attached_where_the_guidance_says(catalogue) -> None:
    assert "mod_contact_transwell" in catalogue.effects["treg_frequency"].modifiers
    assert "mod_ifng_licensing" in catalogue.effects["plasmablast_frequency"].modifiers
    assert "mod_ifng_licensing" not in catalogue.effects["th17_frequency"].modifiers
    assert "mod_dose_ratio" in catalogue.effects["t_prolif_cd4"].modifiers
    assert catalogue.effects["mod_dose_ratio"].modifiers == []


def test_local_file_overrides_and_extends(tmp_path, catalogue) -> None:
    local = tmp_path / "local.yaml"
    local.write_text(yaml.safe_dump({
        "effects": [
            {"id": "treg_frequency", "contexts": {"in_vitro_human": {"evidence": "weak"}}},
            {"id": "cd39_treg", "label": "CD39+ Treg", "target": "CD39+ regulatory T cells", "category": "t_cell",
             "readout_type": "frequency_of_parent", "markers": "CD4+ FoxP3+ CD39+", "metric": "% of Treg",
             "expected": "up", "evidence": "weak", "conflicting": False,
             "contexts": {"in_vitro_human": {"direction": "up", "evidence": "weak", "refs": ["LabNote2024"]}},
             "refs": ["LabNote2024"]},
        ],
        "references": {"LabNote2024": {"authors": "Our lab", "year": 2024, "title": "pilot", "journal": "internal",
                                       "verified": False}},
    }))
    merged = load_catalogue(local)
    assert len(merged) == 65
    assert merged.effects["treg_frequency"].contexts["in_vitro_human"].evidence == "weak"
    assert merged.effects["treg_frequency"].contexts["in_vitro_human"].direction == "up"   # kept
    assert merged.effects["treg_frequency"].contexts["in_vitro_human"].refs == \
        catalogue.effects["treg_frequency"].contexts["in_vitro_human"].refs
    assert merged.sources == [str(local)]
    assert catalogue.effects["treg_frequency"].contexts["in_vitro_human"].evidence == "moderate"  # packaged unchanged


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"effects": [{"id": "il10", "refs": ["Nobody1999"]}]}, "not valid"),
        ({"effects": [{"id": "il10", "expected": "sideways"}]}, "not valid"),
        ({"effects": [{"label": "no id"}]}, "needs an 'id'"),
        ({"effects": [{"id": ["il10"]}]}, "needs an 'id'"),
        ({"scoring": [1]}, "'scoring' must be a mapping"),
        ("- just a list", "mapping"),
        ("scoring: {weight: " + "9" * 5000 + "}", "not valid YAML"),
    ],
)
def test_bad_local_files_are_refused(tmp_path, content, message) -> None:
    local = tmp_path / "bad.yaml"
    local.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    with pytest.raises(MsclabError, match=message) as info:
        load_catalogue(local)
    assert info.value.file == local


def test_unreadable_local_files_are_refused(tmp_path) -> None:
    local = tmp_path / "latin1.yaml"
    local.write_bytes("effects:\n  - id: il10\n    label: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(MsclabError, match=r"latin1.yaml, line 3, byte 36: not UTF-8 text .*Save the catalogue "
                                          r"file as UTF-8"):
        load_catalogue(local)
    with pytest.raises(MsclabError, match="cannot read the catalogue file") as info:
        load_catalogue(tmp_path)
    assert info.value.file == tmp_path


def test_unknown_id_suggests_close_ones(catalogue) -> None:
    with pytest.raises(MsclabError, match="treg_frequency"):
        catalogue.get("treg_freq")
