"""The review server: token, no files outside the page, saving overrides, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pandas as pd
import pytest

from msclab.flow.gating import read_gatingml
from msclab.flow.overrides import override_path
from msclab.review.data import ReviewStudy
from msclab.review.server import ReviewServer


@pytest.fixture
def server(study):
    srv = ReviewServer(ReviewStudy(study[1]), token="secret-token")
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(srv, path, data=None, token=True):
    url = f"http://127.0.0.1:{srv.server_address[1]}{path}"
    req = urllib.request.Request(url, data=data, headers={"X-Review-Token": srv.token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_token_is_required(server):
    assert server.server_address[0] == "127.0.0.1"
    assert _get(server, "/", token=False)[0] == 403
    assert _get(server, "/?token=wrong", token=False)[0] == 403
    assert _get(server, "/api/panels", token=False)[0] == 403
    status, body = _get(server, f"/?token={server.token}", token=False)
    assert status == 200 and b"review.js?token=secret-token" in body


@pytest.mark.parametrize("path", ["/../provenance.json", "/experiment.yaml", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/static/index.html", "/populations.csv"])
def test_no_file_is_served_outside_the_page(server, path):
    assert _get(server, path)[0] == 404


def test_panel_data_and_save(server, study):
    root, out = study
    status, body = _get(server, "/api/panel?name=treg")
    data = json.loads(body)
    assert status == 200 and data["gate_qc"] is True
    card = next(c for c in data["cards"] if c["sample_id"] == "D2_pbmc" and c["gate"] == "FoxP3pos")
    qc = pd.read_csv(out / "gate_qc.csv")
    row = qc[(qc["sample_id"] == "D2_pbmc") & (qc["panel"] == "treg") & (qc["gate"] == "FoxP3+")]
    assert len(row) == 1 and card["confidence"] == pytest.approx(float(row["confidence"].iloc[0]))
    assert sum(map(sum, card["density"])) == card["parent_count"] > 0
    (lo, hi), = card["bounds"]
    shape = {"type": "rectangle", "bounds": [[lo + 0.02, hi]]}
    payload = json.dumps({"panel": "treg", "gate": "FoxP3pos", "sample_ids": ["D2_pbmc", "D2_msc10"], "shape": shape})
    status, body = _get(server, "/api/save", data=payload.encode())
    assert status == 200, body
    for sid in ("D2_pbmc", "D2_msc10"):
        tree = read_gatingml(override_path(root, "treg", sid))
        assert tree.populations["FoxP3pos"].gate.bounds == ((lo + 0.02, hi),)
    status, body = _get(server, "/api/panel?name=treg")
    overridden = {c["sample_id"] for c in json.loads(body)["cards"] if c["override"]}
    assert overridden == {"D2_pbmc", "D2_msc10"}
    bad = json.dumps({"panel": "treg", "gate": "Lymphocytes", "sample_ids": ["D2_pbmc"], "shape": shape})
    assert _get(server, "/api/save", data=bad.encode())[0] == 400  # an ellipse is not edited as a rectangle


def test_ctrl_c_stops_cleanly(study):
    proc = subprocess.Popen([sys.executable, "-m", "msclab", "review", str(study[1]), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("Review page: http://127.0.0.1:") and "token=" in first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, (out, err)
    assert out.strip().splitlines()[-1] == "Review server stopped."
    assert "Traceback" not in err and err.strip() == ""


def test_confidence_from_gate_qc(study):
    """Rows of gate_qc.csv (gate labels as the protocol names them) reach their cards."""
    out = study[1]
    (out / "gate_qc.csv").write_text(
        "sample_id,panel,gate,method,confidence,flag,reason\n"
        "D1_pbmc,treg,FoxP3+,threshold,0.31,low_confidence,shallow valley\n"
        "D2_pbmc,treg,FoxP3+,threshold,0.95,,deep valley\n")
    cards = {(c["sample_id"], c["gate"]): c for c in ReviewStudy(out).panel_cards("treg")["cards"]}
    assert cards[("D1_pbmc", "FoxP3pos")]["confidence"] == 0.31
    assert cards[("D1_pbmc", "FoxP3pos")]["flag"] == "low_confidence"
    assert cards[("D2_pbmc", "FoxP3pos")]["confidence"] == 0.95
    assert cards[("D2_msc10", "FoxP3pos")]["confidence"] is None
