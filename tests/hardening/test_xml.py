"""XML safety of GatingML and FlowJo workspaces, and property-based fuzzing of both readers.

A document can never make msclab expand entities, fetch a DTD, read a local
file or open a network connection: every DTD is refused (defusedxml,
``forbid_dtd=True``) with an MsclabError, quickly.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import hardening_support as hs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from msclab.cli import app
from msclab.errors import MsclabError
from msclab.flow.gating import flowjo_counts, read_gatingml, read_strategy, read_workspace

pytestmark = pytest.mark.timeout(120)

GML_HEAD = ('<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" '
            'xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">')
RECT = ('<gating:RectangleGate gating:id="{id}"><gating:dimension gating:min="1" gating:max="{max}">'
        '<data-type:fcs-dimension data-type:name="FSC-H"/></gating:dimension></gating:RectangleGate>')


def _gatingml(doctype: str, gate_id: str = "R1", max_value: str = "2") -> str:
    return f'<?xml version="1.0"?>\n{doctype}\n{GML_HEAD}{RECT.format(id=gate_id, max=max_value)}</gating:Gating-ML>'


def _workspace(doctype: str, name: str = "s1.fcs") -> str:
    return (f'<?xml version="1.0"?>\n{doctype}\n<Workspace version="20.0"><SampleList><Sample>'
            f'<SampleNode name="{name}" count="10"/></Sample></SampleList></Workspace>')


def _attacks(secret: Path) -> dict[str, tuple[str, str]]:
    """Name -> (DOCTYPE, entity reference to use): XXE, billion laughs, external DTD, parameter entities."""
    laughs = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return {
        "xxe_local_file": (f'<!DOCTYPE g [<!ENTITY secret SYSTEM "file://{secret}">]>', "&secret;"),
        "xxe_network": ('<!DOCTYPE g [<!ENTITY net SYSTEM "http://127.0.0.1:9/x">]>', "&net;"),
        "billion_laughs": (f"<!DOCTYPE g [{laughs}]>", "&l9;"),
        "quadratic_blowup": (f'<!DOCTYPE g [<!ENTITY a "{"a" * 50_000}">]>', "&a;" * 2_000),
        "external_dtd": ('<!DOCTYPE g SYSTEM "http://127.0.0.1:9/gating.dtd">', ""),
        "parameter_entity": (f'<!DOCTYPE g [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>', ""),
    }


@pytest.fixture()
def no_network(monkeypatch):
    """Fail the test if anything tries to open a socket."""
    def refuse(*args, **kwargs):
        raise AssertionError("a document made msclab open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("attack", ["xxe_local_file", "xxe_network", "billion_laughs", "quadratic_blowup",
                                    "external_dtd", "parameter_entity"])
@pytest.mark.parametrize("kind", ["gatingml", "workspace"])
def test_entities_and_dtds_are_refused_quickly(tmp_path, no_network, attack, kind):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doctype, reference = _attacks(secret)[attack]
    target = tmp_path / ("strategy.xml" if kind == "gatingml" else "strategy.wsp")
    target.write_text(_gatingml(doctype, max_value=reference or "2") if kind == "gatingml"
                      else _workspace(doctype, name=reference or "s1.fcs"))
    readers = [read_strategy] + ([read_gatingml] if kind == "gatingml" else [read_workspace, flowjo_counts])
    for reader in readers:
        assert hs.check_outcome(lambda: reader(target), target, seconds=2.0) == "refused"  # noqa: B023
        with pytest.raises(MsclabError) as caught:
            reader(target)
        assert "TOP-SECRET" not in str(caught.value)
        # read_strategy sniffs the first 4 kB; a long DOCTYPE hides the root, so it refuses the kind instead
        assert "DTD" in str(caught.value) or reader is read_strategy


def test_the_gate_command_refuses_an_xxe_strategy_with_exit_2(tmp_path, example_fcs, no_network):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    target = tmp_path / "xxe.xml"
    target.write_text(_gatingml(f'<!DOCTYPE g [<!ENTITY s SYSTEM "file://{secret}">]>', max_value="&s;"))
    result = CliRunner().invoke(app, ["gate", str(example_fcs), "--strategy", str(target), "-o",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "xxe.xml" in result.output and "TOP-SECRET" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_plain_document_of_the_same_shape_is_read(tmp_path):
    target = tmp_path / "plain.xml"
    target.write_text(_gatingml(""))
    assert "R1" in read_gatingml(target).populations


# -- property-based fuzzing -------------------------------------------------------------------------------

HOSTILE_ATTRIBUTES = ("", " ", "NaN", "nan", "inf", "-inf", "1e308", "1e999", "-1", "0", "abc", "1,5", "&amp;",
                      "9" * 40, "R1", "FCS", "uncompensated", "true")
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: A text mutation: (operation, position as a fraction, payload).
text_mutations = st.one_of(
    st.tuples(st.sampled_from(("truncate", "delete_line", "duplicate_line", "swap_lines")),
              st.floats(0, 1, exclude_max=True), st.just("")),
    st.tuples(st.just("attribute"), st.floats(0, 1, exclude_max=True), st.sampled_from(HOSTILE_ATTRIBUTES)),
    st.tuples(st.just("number"), st.floats(0, 1, exclude_max=True), st.sampled_from(HOSTILE_ATTRIBUTES)),
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.text(min_size=1, max_size=4)),
)


def apply_text(text: str, mutation: tuple) -> str:
    """Apply one :data:`text_mutations` draw to a document."""
    op, where, payload = mutation
    lines = text.splitlines(keepends=True)
    line = int(where * len(lines))
    if not lines and op in ("delete_line", "duplicate_line", "swap_lines"):
        return text  # an empty document has no line to move; earlier mutations emptied it
    if op == "truncate":
        return text[:int(where * len(text))]
    if op == "delete_line":
        return "".join(lines[:line] + lines[line + 1:])
    if op == "duplicate_line":
        return "".join(lines[:line + 1] + lines[line:])
    if op == "swap_lines":
        other = (line * 7 + 3) % len(lines)
        lines[line], lines[other] = lines[other], lines[line]
        return "".join(lines)
    pattern = {"attribute": r'="[^"]*"', "number": r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?"}.get(op)
    if pattern is None:
        at = int(where * len(text))
        return text[:at] + payload + text[at + len(payload):]
    matches = list(re.finditer(pattern, text))
    if not matches:
        return text
    m = matches[int(where * len(matches))]
    replacement = f'="{payload}"' if op == "attribute" else payload
    return text[:m.start()] + replacement + text[m.end():]


GML_SEEDS = ("gml_all_gates.xml", "gml_quadrant2_gate.xml", "gml_ellipse1_gate.xml", "gml_poly3ns_gate.xml",
             "gml_matrix_transform_logicle_rect1_gate.xml", "gml_parent_quadrant_rect_gate.xml",
             "gml_boolean_and4_not_gate.xml", "gml_ratio_range1_gate.xml", "gml_transform_hyperlog_range2_gate.xml")
WSP_SEEDS = ("flowkit_simple_line/single_ellipse_51_events.wsp", "flowkit_simple_diamond/test_data_diamond_biex_rect.wsp",
             "flowkit_simple_line/simple_poly_and_rect.wsp")


@pytest.mark.shared_data
@given(seed=st.sampled_from(GML_SEEDS), mutations=st.lists(text_mutations, min_size=1, max_size=3))
@FUZZ
def test_gatingml_mutations_read_or_refuse(shared_data, tmp_path_factory, seed, mutations):
    text = (shared_data / "gatingml2_compliance" / "gml" / seed).read_text(encoding="utf-8")
    for mutation in mutations:
        text = apply_text(text, mutation)
    target = tmp_path_factory.mktemp("gml") / seed
    target.write_text(text, encoding="utf-8", errors="surrogatepass")
    hs.check_outcome(lambda: read_gatingml(target), target)


@pytest.mark.shared_data
@given(seed=st.sampled_from(WSP_SEEDS), mutations=st.lists(text_mutations, min_size=1, max_size=2))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_workspace_mutations_read_or_refuse(shared_data, tmp_path_factory, seed, mutations):
    text = (shared_data / "flowjo_workspaces" / seed).read_text(encoding="utf-8")
    for mutation in mutations:
        text = apply_text(text, mutation)
    target = tmp_path_factory.mktemp("wsp") / Path(seed).name
    target.write_text(text, encoding="utf-8", errors="surrogatepass")
    hs.check_outcome(lambda: read_workspace(target), target, seconds=15.0)
    hs.check_outcome(lambda: flowjo_counts(target), target)


# -- fixed findings -----------------------------------------------------------------------------------------

def test_ragged_spectrum_matrix_is_refused(tmp_path):
    """Finding GML-1: spectrum rows of different lengths gave numpy's ValueError."""
    target = tmp_path / "ragged.xml"
    target.write_text(
        GML_HEAD.replace(">", ' xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations">', 1)
        + '<transforms:spectrumMatrix transforms:id="M"><transforms:fluorochromes>'
        + '<data-type:fcs-dimension data-type:name="A"/><data-type:fcs-dimension data-type:name="B"/>'
        + '</transforms:fluorochromes><transforms:detectors><data-type:fcs-dimension data-type:name="A"/>'
        + '<data-type:fcs-dimension data-type:name="B"/></transforms:detectors>'
        + '<transforms:spectrum><transforms:coefficient transforms:value="1"/>'
        + '<transforms:coefficient transforms:value="0.1"/></transforms:spectrum>'
        + '<transforms:spectrum><transforms:coefficient transforms:value="1"/></transforms:spectrum>'
        + "</transforms:spectrumMatrix>" + RECT.format(id="R1", max="2") + "</gating:Gating-ML>")
    with pytest.raises(MsclabError, match=r"ragged.xml, spectrumMatrix 'M': spectrum 2 has 1 coefficients but "
                                          r"the matrix names 2 detectors"):
        read_gatingml(target)


_QUADRANT_DIVIDER = '<gating:divider gating:id="D1"><data-type:fcs-dimension data-type:name="FL1-H"/>{values}' \
                    '</gating:divider>'


@pytest.mark.parametrize("values, position, message", [
    ("", '<gating:position gating:divider_ref="D1" gating:location="5"/>', "divider 'D1' has no gating:value"),
    ("<gating:value>3</gating:value>", "", "quadrant 'Q1' has no gating:position"),
], ids=["divider_without_values", "quadrant_without_positions"])
def test_quadrant_without_values_or_positions_is_refused(tmp_path, values, position, message):
    """Finding GML-2: a divider without values (or a quadrant without positions) gave ValueError from validate()."""
    target = tmp_path / "quad.xml"
    target.write_text(
        GML_HEAD + '<gating:QuadrantGate gating:id="Q">' + _QUADRANT_DIVIDER.format(values=values)
        + f'<gating:Quadrant gating:id="Q1">{position}</gating:Quadrant></gating:QuadrantGate></gating:Gating-ML>')
    with pytest.raises(MsclabError, match=rf"quad.xml, gate 'Q': {message}"):
        read_gatingml(target)


@pytest.mark.parametrize("kind", ["gatingml", "workspace"])
def test_unknown_xml_encoding_is_refused(tmp_path, kind):
    """Finding XML-1: an XML declaration naming an unknown encoding gave LookupError."""
    target = tmp_path / "enc.xml"
    body = _gatingml("") if kind == "gatingml" else _workspace("")
    target.write_text(body.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-99"?>'))
    readers = [read_gatingml] if kind == "gatingml" else [read_workspace, flowjo_counts]
    for reader in readers:
        with pytest.raises(MsclabError, match=r"enc.xml, the XML declaration: not readable as .*UTF-99"):
            reader(target)


@pytest.mark.parametrize("count", ["abc", "1e3", "9" * 5000, "\u00b9"])
def test_flowjo_count_that_is_not_a_whole_number_is_refused(tmp_path, count):
    target = tmp_path / "counts.wsp"
    target.write_text(_workspace("").replace('count="10"', f'count="{count}"'))
    with pytest.raises(MsclabError, match=r"counts.wsp, sample 's1.fcs', population '/': count=.* is not a whole "
                                          r"number"):
        flowjo_counts(target)


# -- fixed findings -----------------------------------------------------------------------------------------

def test_deep_parent_chain_is_read_or_refused(tmp_path):
    gates = "".join(
        RECT.format(id=f"R{i}", max="2").replace(">", f' gating:parent_id="R{i - 1}">' if i else ">", 1)
        for i in reversed(range(1500)))
    target = tmp_path / "deep.xml"
    target.write_text(f'<?xml version="1.0"?>\n{GML_HEAD}{gates}</gating:Gating-ML>')
    try:
        assert len(read_gatingml(target)) == 1500
    except MsclabError as exc:
        assert "deep.xml" in str(exc)
